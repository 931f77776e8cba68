# Shared by the command-line test scripts (sourced; $1 is the qdiff binary): a scratch
# directory removed on exit, pass/fail counters and the bad-input check.
QDIFF=$1
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEMO=$ROOT/models/demo
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

# expect_error NAME EXPECTED_SUBSTRING COMMAND...: exit code 2, one-line error with the text.
expect_error() {
  local name=$1 want=$2
  shift 2
  local err rc
  err=$("$@" 2>&1 >/dev/null)
  rc=$?
  if [[ $rc -ne 2 ]]; then fail "$name: exit code $rc, expected 2 ($err)"; return; fi
  if [[ $(printf '%s\n' "$err" | wc -l) -ne 1 ]]; then fail "$name: error is not one line: $err"; return; fi
  if [[ "$err" != *"$want"* ]]; then fail "$name: error '$err' does not mention '$want'"; return; fi
  ok
}
