#!/usr/bin/env bash
# The HTML report in a real browser: `qdiff report` renders the fixture, headless Chromium loads
# it and dumps the DOM, which must hold the verdict, the top finding's node and the mark the
# inline script sets (data-ready="1"). Also: `qdiff report` on a missing file and on a JSON that
# is not a diagnose report exits 2 with a one-line message naming the file.
# Chromium is a test dependency (scripts/install-deps.sh installs it): missing, the test fails.
#   chromium_test.sh QDIFF_BINARY
set -uo pipefail
source "$(dirname "$0")/../cli/lib.sh"
FIXTURE=$ROOT/src/report/testdata/diagnose_example.json

CHROMIUM=""
for c in chromium chromium-browser; do
  if command -v "$c" >/dev/null; then CHROMIUM=$(command -v "$c"); break; fi
done
if [[ -z "$CHROMIUM" ]]; then
  echo "FAIL: chromium not found (scripts/install-deps.sh installs it)"
  exit 1
fi

# --- render the fixture and load it in the browser ---------------------------------------------
HTML=$TMP/report.html
if "$QDIFF" report "$FIXTURE" -o "$HTML" >/dev/null && [[ -s "$HTML" ]]; then ok; else fail "qdiff report on the fixture"; fi

# Expected texts, from the fixture itself: the verdict and the node of the rank-1 finding
# (as the DOM serialises it: & < > escaped in text, quotes as they are).
read -r VERDICT TOP_NODE < <(/usr/bin/python3 - "$FIXTURE" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
top = min(r["findings"], key=lambda f: f["rank"])
node = top["node"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
print(r["summary"]["verdict"], node)
PY
)

DOM=$TMP/dom.html
timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
  --user-data-dir="$TMP/profile" --dump-dom "file://$HTML" >"$DOM" 2>"$TMP/chromium.log"
rc=$?
if [[ $rc -ne 0 || ! -s "$DOM" ]]; then
  fail "chromium exited $rc with no DOM: $(tail -n 5 "$TMP/chromium.log")"
else
  if grep -q 'data-ready="1"' "$DOM"; then ok; else fail "the inline script did not run (no data-ready=\"1\")"; fi
  if grep -qF "verdict-badge v-$VERDICT\">$VERDICT<" "$DOM"; then ok; else fail "verdict '$VERDICT' not in the DOM"; fi
  if grep -qF "<code>$TOP_NODE</code>" "$DOM"; then ok; else fail "top finding's node '$TOP_NODE' not in the DOM"; fi
  # The layer filter is shown only when the script runs.
  if grep -q 'id="layer-controls" hidden' "$DOM"; then fail "layer filter still hidden"; else ok; fi
fi

# --- bad input: exit 2, one line naming the file ------------------------------------------------
expect_error "missing file" "$TMP/missing.json" "$QDIFF" report "$TMP/missing.json" -o "$TMP/x.html"
printf '{"schema": "qdiff.compare/1", "tensors": []}\n' >"$TMP/compare.json"
expect_error "not a diagnose report" "$TMP/compare.json" "$QDIFF" report "$TMP/compare.json" -o "$TMP/x.html"
printf '{"schema": ' >"$TMP/truncated.json"
expect_error "bad JSON" "$TMP/truncated.json" "$QDIFF" report "$TMP/truncated.json" -o "$TMP/x.html"
expect_error "unwritable output" "$TMP/no/such/dir/x.html" "$QDIFF" report "$FIXTURE" -o "$TMP/no/such/dir/x.html"

echo "report_chromium: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
