// The self-contained HTML page of a qdiff.diagnose/1 report (see html.h, docs/report.md).
//
// Reading: every access to the JSON goes through member()/number()/text(), which never throw
// (nlohmann throws on a wrong-type access); a malformed entry is skipped. Writing: the page is
// appended to one string; every text from the report passes through esc(); every number through
// a fixed std::to_chars format (locale-independent, so the same report gives the same bytes).
#include "report/html.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <map>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace qdiff::report {
namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kSchema = "qdiff.diagnose/1";
constexpr const char* kNone = "\u2013";  // an en dash: no value
constexpr double kBarMaxDb = 60;         // SQNR bars span 0..60 dB
constexpr int kBarWidth = 60;            // px
constexpr size_t kMaxMapCells = 100000;  // sample map cells drawn at most
constexpr size_t kMaxInlineArray = 16;   // evidence array elements shown inline

// The pairs of worlds, in the order the page shows them.
struct PairInfo {
  const char* key;
  const char* label;
};
constexpr PairInfo kPairs[] = {
    {"quantization", "float vs fake-quant"},
    {"arithmetic", "fake-quant vs integer"},
    {"total", "float vs integer"},
    {"device", "integer vs device"},
};

// ---- Reading the JSON without exceptions -------------------------------------------------

// The member `key` of `j`, or nullptr when `j` is not an object, lacks the key or holds null.
const Json* member(const Json* j, const char* key) {
  if (j == nullptr || !j->is_object()) return nullptr;
  auto it = j->find(key);
  if (it == j->end() || it->is_null()) return nullptr;
  return &*it;
}

const Json* object_member(const Json* j, const char* key) {
  const Json* m = member(j, key);
  return m && m->is_object() ? m : nullptr;
}

const Json* array_member(const Json* j, const char* key) {
  const Json* m = member(j, key);
  return m && m->is_array() ? m : nullptr;
}

// A number as the reports write them: a JSON number, or the strings "inf", "-inf", "nan".
// nullopt for null (NaN), absence or anything else.
std::optional<double> number(const Json* v) {
  if (v == nullptr) return std::nullopt;
  if (v->is_number()) return v->get<double>();
  if (v->is_string()) {
    const std::string& s = v->get_ref<const std::string&>();
    if (s == "inf" || s == "+inf") return std::numeric_limits<double>::infinity();
    if (s == "-inf") return -std::numeric_limits<double>::infinity();
  }
  return std::nullopt;
}

std::optional<double> number_member(const Json* j, const char* key) {
  return number(member(j, key));
}

// An integer-valued number (an index, a count), or nullopt.
std::optional<int64_t> integer(const Json* v) {
  if (v == nullptr) return std::nullopt;
  if (v->is_number_integer()) {
    if (v->is_number_unsigned()) {
      const uint64_t u = v->get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
      return static_cast<int64_t>(u);
    }
    return v->get<int64_t>();
  }
  if (v->is_number_float()) {
    const double d = v->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15)
      return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

// ---- Formatting -----------------------------------------------------------------------------

std::string format_double(double v, std::chars_format format, int precision) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[400];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, format, precision);
  if (r.ec != std::errc()) return "?";
  std::string s(buf, r.ptr);
  // "-0.00" (a tiny negative number) prints as "0.00".
  if (s.size() > 1 && s[0] == '-' && s.find_first_of("123456789") == std::string::npos)
    s.erase(0, 1);
  return s;
}

std::string fixed(double v, int precision) {
  return format_double(v, std::chars_format::fixed, precision);
}
std::string fixed(std::optional<double> v, int precision) {
  return v ? fixed(*v, precision) : kNone;
}
std::string general(double v) {
  return format_double(v, std::chars_format::general, 6);
}

// A fraction as a percentage that shows 100.00 or 0.00 only when it is exactly 1 or 0.
std::string percent(std::optional<double> fraction) {
  if (!fraction) return kNone;
  const double f = *fraction;
  if (!std::isfinite(f)) return general(f);
  if (f < 1 && f > 0.99995) return "&gt;99.99%";
  if (f > 0 && f < 0.00005) return "&lt;0.01%";
  return fixed(100 * f, 2) + "%";
}

// Appends `s` HTML-escaped (text and attribute values alike). Control characters other than
// tab and newline become spaces.
void escape_to(std::string& h, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '&':
        h += "&amp;";
        break;
      case '<':
        h += "&lt;";
        break;
      case '>':
        h += "&gt;";
        break;
      case '"':
        h += "&quot;";
        break;
      case '\'':
        h += "&#39;";
        break;
      case '\t':
      case '\n':
        h += c;
        break;
      default:
        h += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
    }
  }
}

std::string esc(std::string_view s) {
  std::string h;
  h.reserve(s.size());
  escape_to(h, s);
  return h;
}

// `s` cut to at most `max_bytes` bytes on a UTF-8 character boundary, with an ellipsis.
std::string truncated(const std::string& s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  size_t n = max_bytes;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n) + "\u2026";
}

// A scalar as text: strings as they are, numbers formatted (integers exactly), booleans.
std::string scalar_text(const Json& v) {
  if (v.is_string()) return v.get_ref<const std::string&>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) return general(v.get<double>());
  if (v.is_null()) return kNone;
  return "";
}

std::string text(const Json* v) {
  return v ? scalar_text(*v) : "";
}
std::string text_member(const Json* j, const char* key) {
  return text(member(j, key));
}

// A string member, or "" when it is absent or not a string.
std::string string_member(const Json* j, const char* key) {
  const Json* v = member(j, key);
  return v && v->is_string() ? v->get_ref<const std::string&>() : std::string();
}

// Any JSON value as escaped HTML: scalars as text, small arrays of scalars inline, objects as a
// nested key/value table (three levels deep), anything else as compact JSON (shortened).
std::string value_html(const Json& v, int depth = 0) {
  if (v.is_array()) {
    const bool scalars =
        std::all_of(v.begin(), v.end(), [](const Json& e) { return e.is_primitive(); });
    if (scalars) {
      std::string s = "[";
      size_t i = 0;
      for (const Json& e : v) {
        if (i == kMaxInlineArray) {
          s += ", \u2026 " + std::to_string(v.size()) + " values";
          break;
        }
        if (i++) s += ", ";
        s += scalar_text(e);
      }
      return esc(s + "]");
    }
  }
  if (v.is_object() && !v.empty() && depth < 3) {
    std::string t = "<table class=\"kv\">";
    for (auto it = v.begin(); it != v.end(); ++it)
      t += "<tr><td>" + esc(it.key()) + "</td><td>" + value_html(it.value(), depth + 1) +
           "</td></tr>";
    return t + "</table>";
  }
  if (v.is_structured())
    return esc(truncated(v.dump(-1, ' ', false, Json::error_handler_t::replace), 300));
  return esc(scalar_text(v));
}

// Colour class of an SQNR: h0 (< 10 dB) .. h5 (>= 50 dB), hn when unknown.
const char* sqnr_class(std::optional<double> db) {
  if (!db || std::isnan(*db)) return "hn";
  const double d = *db;
  if (d < 10) return "h0";
  if (d < 20) return "h1";
  if (d < 30) return "h2";
  if (d < 40) return "h3";
  if (d < 50) return "h4";
  return "h5";
}

// ---- The page -------------------------------------------------------------------------------

constexpr const char* kStyle = R"CSS(
:root{--ok:#15803d;--warn:#d97706;--bad:#b91c1c;--info:#2563eb;--muted:#6b7280;--line:#e5e7eb}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#111827;background:#f9fafb}
main{max-width:1440px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:20px;margin:0 0 8px}
h2{font-size:17px;margin:28px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
a{color:#1d4ed8;text-decoration:none}
a:hover{text-decoration:underline}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
header.top{display:flex;gap:24px;align-items:center;justify-content:space-between;flex-wrap:wrap;background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0}
dl.meta dt{color:var(--muted)}
dl.meta dd{margin:0;word-break:break-all}
.verdict{text-align:center;min-width:220px}
.verdict-badge{display:inline-block;font-size:28px;font-weight:700;letter-spacing:.08em;color:#fff;padding:10px 28px;border-radius:10px}
.v-healthy{background:var(--ok)}
.v-degraded{background:var(--warn)}
.v-broken{background:var(--bad)}
.v-unknown{background:var(--muted)}
.counts{margin-top:8px;color:#374151}
nav.toc{margin:12px 0 0;font-size:13px}
nav.toc a{margin-right:16px}
.badge{display:inline-block;font-size:11.5px;font-weight:700;padding:1px 8px;border-radius:999px;color:#fff;text-transform:uppercase;letter-spacing:.04em}
.s-error{background:var(--bad)}
.s-warning{background:var(--warn)}
.s-info{background:var(--info)}
.s-other{background:var(--muted)}
.finding{background:#fff;border:1px solid var(--line);border-left:5px solid var(--muted);border-radius:6px;padding:10px 14px;margin:10px 0}
.finding.f-error{border-left-color:var(--bad)}
.finding.f-warning{border-left-color:var(--warn)}
.finding.f-info{border-left-color:var(--info)}
.finding .head{display:flex;gap:10px;align-items:baseline;flex-wrap:wrap}
.finding .rank{font-weight:700}
.finding .category{font-family:ui-monospace,Menlo,Consolas,monospace;color:#374151}
.finding p{margin:5px 0}
.finding .summary{font-weight:600}
.verified.yes{color:var(--ok)}
.verified.no{color:var(--muted)}
details summary{cursor:pointer;color:#374151;font-size:13px}
table{border-collapse:collapse;background:#fff}
th,td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:middle}
th{background:#f3f4f6;font-weight:600;font-size:12.5px}
th small{font-weight:400;color:var(--muted)}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.kv{margin:6px 0}
table.kv td:first-child{color:var(--muted);font-family:ui-monospace,Menlo,Consolas,monospace}
.na{color:var(--muted);font-style:italic}
.scroll{overflow-x:auto}
#layer-table thead th{position:sticky;top:0;z-index:1}
#layer-table tr.flagged td{background:#fef3c7}
#layer-table tr.diverged td:first-child{border-left:4px solid var(--bad)}
#layer-table td.sq{white-space:nowrap;font-variant-numeric:tabular-nums}
#layer-table{font-size:13px}
.note{display:block;white-space:nowrap}
.note.div{color:var(--bad);font-weight:600}
svg.bar{vertical-align:middle;background:#e5e7eb;margin-right:6px}
.h0{fill:#b91c1c;background:#b91c1c}
.h1{fill:#ea580c;background:#ea580c}
.h2{fill:#f59e0b;background:#f59e0b}
.h3{fill:#a3b818;background:#a3b818}
.h4{fill:#4d9a2a;background:#4d9a2a}
.h5{fill:#166534;background:#166534}
.hn{fill:#d1d5db;background:#d1d5db}
.legend{font-size:12.5px;color:#374151;margin:6px 0}
.legend .sw{display:inline-block;width:12px;height:12px;vertical-align:middle;margin:0 3px 0 10px;border-radius:2px}
.controls{margin:6px 0;font-size:13px}
.controls input[type=search]{width:260px;padding:3px 6px}
svg.chart,svg.heat{background:#fff;border:1px solid var(--line)}
svg.chart text,svg.heat text{font-size:11px;fill:#374151;font-family:system-ui,sans-serif}
svg.chart .grid{stroke:#e5e7eb}
svg.chart .axis{stroke:#9ca3af}
footer{margin-top:32px;color:var(--muted);font-size:12px}
)CSS";

// Filtering of the per-layer table; the controls stay hidden without JavaScript.
constexpr const char* kScript = R"JS(
(function () {
  document.body.dataset.ready = "1";
  var controls = document.getElementById("layer-controls");
  var table = document.getElementById("layer-table");
  if (!controls || !table) return;
  controls.hidden = false;
  var query = document.getElementById("layer-filter");
  var only = document.getElementById("layer-only");
  var rows = table.tBodies[0].rows;
  function apply() {
    var q = query.value.toLowerCase();
    for (var i = 0; i < rows.length; i++) {
      var r = rows[i];
      var text = (r.cells[1].textContent + " " + r.cells[2].textContent).toLowerCase();
      var marked = r.classList.contains("flagged") || r.classList.contains("diverged");
      r.hidden = (q !== "" && text.indexOf(q) < 0) || (only.checked && !marked);
    }
  }
  query.addEventListener("input", apply);
  only.addEventListener("change", apply);
})();
)JS";

struct Finding {
  const Json* j = nullptr;
  std::string rank;    // as shown
  std::string anchor;  // element id
  std::string severity;
};

// What the per-layer table marks: findings and divergences by tensor (or node) name.
struct Marks {
  std::map<std::string, std::vector<const Finding*>> by_tensor, by_node;
  std::map<std::string, std::vector<std::string>> divergence_pairs;  // tensor -> pairs
};

// The CSS key of a severity: "error", "warning", "info", or "other".
std::string severity_key(const std::string& severity) {
  if (severity == "error" || severity == "warning" || severity == "info") return severity;
  return "other";
}

std::string plural(int64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// Findings sorted by rank (stable; unranked ones last, in report order).
std::vector<Finding> sorted_findings(const Json* findings) {
  std::vector<std::pair<double, const Json*>> ranked;
  if (findings) {
    for (const Json& f : *findings) {
      if (!f.is_object()) continue;
      ranked.emplace_back(number_member(&f, "rank").value_or(std::numeric_limits<double>::max()),
                          &f);
    }
  }
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Finding> out;
  for (size_t i = 0; i < ranked.size(); ++i) {
    Finding f;
    f.j = ranked[i].second;
    const Json* rank = member(f.j, "rank");
    f.rank = rank ? text(rank) : std::to_string(i + 1);
    f.anchor = "finding-" + std::to_string(i + 1);
    f.severity = text_member(f.j, "severity");
    out.push_back(std::move(f));
  }
  return out;
}

void render_header(std::string& h, const Json& r, const std::vector<Finding>& findings,
                   bool findings_run) {
  const Json* summary = object_member(&r, "summary");
  const std::string verdict = string_member(summary, "verdict");
  std::string verdict_class = "v-unknown";
  if (verdict == "healthy" || verdict == "degraded" || verdict == "broken")
    verdict_class = "v-" + verdict;

  h += "<header class=\"top\">\n<div>\n<h1>qdiff diagnose</h1>\n<dl class=\"meta\">\n";
  auto row = [&](const char* name, const std::string& value) {
    h +=
        "<dt>" + std::string(name) + "</dt><dd>" + (value.empty() ? kNone : esc(value)) + "</dd>\n";
  };
  row("model", text_member(&r, "model"));
  row("target", text_member(&r, "target"));
  row("quantization", text_member(&r, "quantization"));
  row("samples", text_member(&r, "samples"));
  if (const Json* analyses = array_member(&r, "analyses")) {
    std::string list;
    for (const Json& a : *analyses) list += (list.empty() ? "" : ", ") + scalar_text(a);
    row("analyses", list);
  }
  h += "</dl>\n</div>\n<div class=\"verdict\">\n<div class=\"verdict-badge " + verdict_class +
       "\">" + (verdict.empty() ? std::string("NO VERDICT") : esc(verdict)) + "</div>\n";

  // Counts from the summary, else counted from the findings.
  std::optional<int64_t> errors, warnings, infos;
  if (const Json* counts = object_member(summary, "findings")) {
    errors = integer(member(counts, "error"));
    warnings = integer(member(counts, "warning"));
    infos = integer(member(counts, "info"));
  } else if (findings_run) {
    errors = warnings = infos = 0;
    for (const Finding& f : findings) {
      if (f.severity == "error") ++*errors;
      if (f.severity == "warning") ++*warnings;
      if (f.severity == "info") ++*infos;
    }
  }
  h += "<div class=\"counts\">";
  if (errors || warnings || infos) {
    h += plural(errors.value_or(0), "error", "errors") + " &middot; " +
         plural(warnings.value_or(0), "warning", "warnings") + " &middot; " +
         std::to_string(infos.value_or(0)) + " info";
  } else {
    h += "findings not run";
  }
  h += "</div>\n</div>\n</header>\n";
  h += "<nav class=\"toc\"><a href=\"#findings\">Findings</a><a href=\"#outputs\">Outputs</a>"
       "<a href=\"#divergence\">First divergence</a><a href=\"#layers\">Layers</a>"
       "<a href=\"#split\">Split points</a><a href=\"#samples\">Samples</a></nav>\n";
}

void render_evidence(std::string& h, const Json* evidence) {
  if (evidence == nullptr) {
    h += "<p class=\"na\">No evidence recorded.</p>\n";
    return;
  }
  h += "<details><summary>evidence</summary>\n<table class=\"kv\">\n";
  if (evidence->is_object()) {
    for (auto it = evidence->begin(); it != evidence->end(); ++it)
      h += "<tr><td>" + esc(it.key()) + "</td><td>" + value_html(it.value()) + "</td></tr>\n";
  } else {
    h += "<tr><td>value</td><td>" + value_html(*evidence) + "</td></tr>\n";
  }
  h += "</table>\n</details>\n";
}

void render_findings(std::string& h, const std::vector<Finding>& findings, bool run) {
  h += "<section id=\"findings\">\n<h2>Findings</h2>\n";
  if (!run) {
    h += "<p class=\"na\">Findings: not run (the report has no findings section).</p>\n";
  } else if (findings.empty()) {
    h += "<p class=\"none\">No findings: no analysis flagged a problem.</p>\n";
  }
  for (const Finding& f : findings) {
    const Json* j = f.j;
    const std::string sev = severity_key(f.severity);
    h += "<article class=\"finding f-" + sev + "\" id=\"" + f.anchor + "\">\n";
    h += "<div class=\"head\"><span class=\"rank\">#" + esc(f.rank) +
         "</span><span class=\"badge s-" + sev + "\">" +
         (f.severity.empty() ? std::string("unknown") : esc(f.severity)) + "</span>";
    const std::string category = text_member(j, "category");
    if (!category.empty()) h += "<span class=\"category\">" + esc(category) + "</span>";
    const std::string node = text_member(j, "node");
    const std::string tensor = text_member(j, "tensor");
    const std::string op = text_member(j, "op_type");
    h += "<span class=\"where\">";
    if (!node.empty()) h += "node <code>" + esc(node) + "</code>";
    if (!op.empty()) h += " (" + esc(op) + ")";
    if (!tensor.empty()) h += " &rarr; tensor <code>" + esc(tensor) + "</code>";
    h += "</span></div>\n";
    const std::string summary = text_member(j, "summary");
    if (!summary.empty()) h += "<p class=\"summary\">" + esc(summary) + "</p>\n";
    const std::string fix = text_member(j, "fix");
    h += "<p class=\"fix\"><strong>Fix:</strong> " + (fix.empty() ? std::string(kNone) : esc(fix)) +
         "</p>\n";
    const Json* verified = object_member(j, "fix_verified");
    if (verified) {
      h += "<p class=\"verified yes\">verified: " + esc(text_member(verified, "metric")) + " " +
           esc(text_member(verified, "before")) + " &rarr; " + esc(text_member(verified, "after")) +
           "</p>\n";
    } else {
      h += "<p class=\"verified no\">not verified</p>\n";
    }
    render_evidence(h, member(j, "evidence"));
    h += "</article>\n";
  }
  h += "</section>\n";
}

std::string top1_text(const Json* metrics) {
  const Json* top1 = object_member(metrics, "top1");
  if (!top1) return kNone;
  std::string s = percent(number_member(top1, "agreement"));
  const auto agree = integer(member(top1, "agree"));
  const auto rows = integer(member(top1, "rows"));
  if (agree && rows) s += " (" + std::to_string(*agree) + "/" + std::to_string(*rows) + ")";
  return s;
}

void render_outputs(std::string& h, const Json& r) {
  h += "<section id=\"outputs\">\n<h2>Outputs</h2>\n";
  const Json* outputs = array_member(object_member(&r, "summary"), "outputs");
  if (!outputs) {
    h += "<p class=\"na\">Output summary: not run.</p>\n</section>\n";
    return;
  }
  h += "<table>\n<thead><tr><th>Output</th><th>Worlds</th><th class=\"num\">Cosine</th>"
       "<th class=\"num\">SQNR (dB)</th><th class=\"num\">Top-1 agreement</th>"
       "<th class=\"num\">Max error (LSB)</th><th class=\"num\">Exact match</th></tr></thead>\n"
       "<tbody>\n";
  size_t shown = 0;
  for (const Json& out : *outputs) {
    if (!out.is_object()) continue;
    std::vector<const PairInfo*> pairs;
    for (const PairInfo& p : kPairs)
      if (object_member(&out, p.key)) pairs.push_back(&p);
    const std::string name = esc(text_member(&out, "tensor"));
    if (pairs.empty()) {
      h += "<tr><td><code>" + name +
           "</code></td><td colspan=\"6\" class=\"na\">no metrics</td></tr>\n";
      ++shown;
      continue;
    }
    for (size_t i = 0; i < pairs.size(); ++i) {
      const Json* m = object_member(&out, pairs[i]->key);
      h += "<tr>";
      if (i == 0)
        h += "<td rowspan=\"" + std::to_string(pairs.size()) + "\"><code>" + name + "</code></td>";
      h += "<td>" + std::string(pairs[i]->key) + " <small>(" + pairs[i]->label + ")</small></td>";
      h += "<td class=\"num\">" + fixed(number_member(m, "cosine"), 6) + "</td>";
      h += "<td class=\"num\">" + fixed(number_member(m, "sqnr_db"), 2) + "</td>";
      h += "<td class=\"num\">" + top1_text(m) + "</td>";
      h += "<td class=\"num\">" + fixed(number_member(m, "max_error_lsb"), 2) + "</td>";
      h += "<td class=\"num\">" + percent(number_member(m, "exact_match")) + "</td></tr>\n";
      ++shown;
    }
  }
  if (shown == 0) h += "<tr><td colspan=\"7\" class=\"na\">No outputs listed.</td></tr>\n";
  h += "</tbody>\n</table>\n</section>\n";
}

// The anchor of the per-layer row of a tensor, or "" when the table has no such tensor.
using RowAnchors = std::map<std::string, std::string>;

void render_divergences(std::string& h, const Json& r, const RowAnchors& rows) {
  h += "<section id=\"divergence\">\n<h2>First divergence</h2>\n";
  const Json* first = object_member(&r, "first_divergence");
  if (!first) {
    h += "<p class=\"na\">First divergence: not run.</p>\n</section>\n";
    return;
  }
  h += "<table>\n<thead><tr><th>Worlds</th><th>Tensor</th><th>Node (op)</th>"
       "<th class=\"num\">Index</th><th>Rule</th><th>Numbers</th></tr></thead>\n<tbody>\n";
  for (const PairInfo& p : kPairs) {
    if (!first->contains(p.key)) continue;
    h += "<tr><td>" + std::string(p.key) + " <small>(" + p.label + ")</small></td>";
    const Json* d = member(first, p.key);
    if (!d) {
      h += "<td colspan=\"5\" class=\"na\">none: every tensor within its budget</td></tr>\n";
      continue;
    }
    if (!d->is_object()) {
      h += "<td colspan=\"5\" class=\"na\">malformed entry</td></tr>\n";
      continue;
    }
    const std::string tensor = text_member(d, "tensor");
    const auto anchor = rows.find(tensor);
    h += "<td>";
    if (anchor != rows.end()) h += "<a href=\"#" + anchor->second + "\">";
    h += "<code>" + esc(tensor) + "</code>";
    if (anchor != rows.end()) h += "</a>";
    h += "</td><td><code>" + esc(text_member(d, "node")) + "</code> " +
         esc(text_member(d, "op_type")) + "</td>";
    h += "<td class=\"num\">" + esc(text_member(d, "index")) + "</td>";
    h += "<td>" + esc(text_member(d, "rule")) + "</td><td>";
    bool any = false;
    for (auto it = d->begin(); it != d->end(); ++it) {
      const std::string& key = it.key();
      if (key == "pair" || key == "index" || key == "tensor" || key == "node" || key == "op_type" ||
          key == "rule")
        continue;
      h += std::string(any ? ", " : "") + esc(key) + " = " + value_html(it.value(), 3);
      any = true;
    }
    h += "</td></tr>\n";
  }
  h += "</tbody>\n</table>\n</section>\n";
}

// The SQNR cell of the per-layer table: a bar (0..60 dB) and the number.
std::string sqnr_cell(const Json* metrics) {
  if (!metrics) return "<td class=\"sq na\">" + std::string(kNone) + "</td>";
  const std::optional<double> db = number_member(metrics, "sqnr_db");
  std::string cell = "<td class=\"sq\"><svg class=\"bar\" width=\"" + std::to_string(kBarWidth) +
                     "\" height=\"10\">";
  if (db && !std::isnan(*db)) {
    const double clamped = std::clamp(*db, 0.0, kBarMaxDb);
    cell += "<rect class=\"" + std::string(sqnr_class(db)) + "\" width=\"" +
            fixed(clamped / kBarMaxDb * kBarWidth, 1) + "\" height=\"10\"/>";
  }
  cell += "</svg>" + fixed(db, 2) + "</td>";
  return cell;
}

void render_layers(std::string& h, const Json& tensors, const Marks& marks) {
  h += "<section id=\"layers\">\n<h2>Layers</h2>\n";
  // Pairs that at least one tensor has.
  std::vector<const PairInfo*> pairs;
  for (const PairInfo& p : kPairs) {
    for (const Json& t : tensors) {
      if (object_member(&t, p.key)) {
        pairs.push_back(&p);
        break;
      }
    }
  }
  const bool arithmetic = std::any_of(pairs.begin(), pairs.end(), [](const PairInfo* p) {
    return std::string_view(p->key) == "arithmetic";
  });
  h += "<p class=\"legend\">SQNR per pair of worlds, bars clamped to 0&ndash;60 dB:";
  const char* buckets[] = {"&lt;10",      "10&ndash;20", "20&ndash;30",
                           "30&ndash;40", "40&ndash;50", "&ge;50 dB"};
  for (int i = 0; i < 6; ++i)
    h += "<span class=\"sw h" + std::to_string(i) + "\"></span>" + buckets[i];
  h += ". Highlighted rows: tensors named in a finding; a red left edge: a first "
       "divergence.</p>\n";
  h += "<div class=\"controls\" id=\"layer-controls\" hidden><input type=\"search\" "
       "id=\"layer-filter\" placeholder=\"filter by tensor, node or op\" aria-label=\"filter\"> "
       "<label><input type=\"checkbox\" id=\"layer-only\"> only flagged or "
       "divergent</label></div>\n";
  h += "<div class=\"scroll\">\n<table id=\"layer-table\">\n<thead><tr><th class=\"num\">#</th>"
       "<th>Tensor</th><th>Op <small>(node)</small></th>";
  for (const PairInfo* p : pairs)
    h += "<th>SQNR dB<br><small>" + std::string(p->key) + ": " + p->label + "</small></th>";
  if (arithmetic)
    h += "<th class=\"num\">Max LSB<br><small>arithmetic</small></th>"
         "<th class=\"num\">Saturation<br><small>arithmetic</small></th>";
  h += "<th>Notes</th></tr></thead>\n<tbody>\n";

  size_t row = 0;
  for (const Json& t : tensors) {
    ++row;
    if (!t.is_object()) continue;
    const std::string name = text_member(&t, "tensor");
    const std::string node = text_member(&t, "node");
    std::vector<const Finding*> flagged;
    if (auto it = marks.by_tensor.find(name); it != marks.by_tensor.end()) flagged = it->second;
    if (auto it = marks.by_node.find(node); !node.empty() && it != marks.by_node.end()) {
      for (const Finding* f : it->second)
        if (std::find(flagged.begin(), flagged.end(), f) == flagged.end()) flagged.push_back(f);
    }
    const auto div = marks.divergence_pairs.find(name);
    std::string cls;
    if (!flagged.empty()) cls += "flagged";
    if (div != marks.divergence_pairs.end()) cls += cls.empty() ? "diverged" : " diverged";
    h += "<tr id=\"t-" + std::to_string(row) + "\"" +
         (cls.empty() ? "" : " class=\"" + cls + "\"") + ">";
    const Json* index = member(&t, "index");
    h += "<td class=\"num\">" + (index ? esc(text(index)) : std::to_string(row - 1)) + "</td>";
    h += "<td><code>" + esc(name) + "</code></td>";
    const std::string op = text_member(&t, "op_type");
    h += "<td>" +
         (op.empty() && node.empty() ? std::string("<span class=\"na\">input</span>") : esc(op));
    if (!node.empty() && node != name) h += "<br><small><code>" + esc(node) + "</code></small>";
    h += "</td>";
    for (const PairInfo* p : pairs) h += sqnr_cell(object_member(&t, p->key));
    if (arithmetic) {
      const Json* m = object_member(&t, "arithmetic");
      h += "<td class=\"num\">" + fixed(number_member(m, "max_error_lsb"), 1) + "</td>";
      h += "<td class=\"num\">" + percent(number_member(m, "saturation")) + "</td>";
    }
    h += "<td>";
    if (div != marks.divergence_pairs.end()) {
      for (const std::string& pair : div->second)
        h += "<span class=\"note div\">&#9670; diverges: " + esc(pair) + "</span>";
    }
    for (const Finding* f : flagged)
      h += "<span class=\"note\"><a href=\"#" + f->anchor + "\">&#9873; finding #" + esc(f->rank) +
           "</a></span>";
    h += "</td></tr>\n";
  }
  h += "</tbody>\n</table>\n</div>\n</section>\n";
}

// ---- Split-point curves ----------------------------------------------------------------------

struct Point {
  double k = 0;
  std::optional<double> db;
  std::string node;
};

void render_split_curves(std::string& h, const Json& r) {
  h += "<section id=\"split\">\n<h2>Split points</h2>\n";
  const Json* curves = object_member(&r, "split_curves");
  std::vector<std::pair<std::string, std::vector<Point>>> series;
  if (curves) {
    for (auto it = curves->begin(); it != curves->end(); ++it) {
      if (!it.value().is_array()) continue;
      std::vector<Point> points;
      size_t pos = 0;
      for (const Json& p : it.value()) {
        ++pos;
        if (!p.is_object()) continue;
        Point pt;
        const auto k = number_member(&p, "k");
        pt.k = k && std::isfinite(*k) ? *k : static_cast<double>(pos - 1);
        pt.db = number_member(&p, "sqnr_db");
        pt.node = text_member(&p, "node");
        points.push_back(std::move(pt));
      }
      if (!points.empty()) series.emplace_back(it.key(), std::move(points));
    }
  }
  if (series.empty()) {
    h += "<p class=\"na\">Split-point curves: not run.</p>\n</section>\n";
    return;
  }
  // Ranges: k over all points; dB over the finite values, rounded out to 10 dB, 0 included.
  double k_min = std::numeric_limits<double>::max(), k_max = std::numeric_limits<double>::lowest();
  double y_min = 0, y_max = 10;
  for (const auto& [name, points] : series) {
    for (const Point& p : points) {
      k_min = std::min(k_min, p.k);
      k_max = std::max(k_max, p.k);
      if (p.db && std::isfinite(*p.db)) {
        y_min = std::min(y_min, std::floor(*p.db / 10) * 10);
        y_max = std::max(y_max, std::ceil(*p.db / 10) * 10);
      }
    }
  }
  double k_span = k_max - k_min;
  if (!(k_span > 0) || !std::isfinite(k_span)) k_span = k_span > 0 ? 1e300 : 1;
  y_min = std::max(y_min, -1000.0);
  y_max = std::min(y_max, 1000.0);
  double y_step = 10;
  while ((y_max - y_min) / y_step > 8) y_step *= 2;

  const double width = 720, height = 280, left = 48, right = 16, top = 14, bottom = 40;
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  auto x_of = [&](double k) { return left + (k - k_min) / k_span * plot_w; };
  auto y_of = [&](double db) {
    const double c = std::clamp(db, y_min, y_max);
    return top + (y_max - c) / (y_max - y_min) * plot_h;
  };
  const char* colors[] = {"#2563eb", "#ea580c", "#16a34a", "#9333ea"};

  h += "<p class=\"legend\">SQNR of the outputs (dB) against the split point k:";
  for (size_t s = 0; s < series.size(); ++s)
    h += "<span class=\"sw\" style=\"background:" + std::string(colors[s % 4]) + "\"></span>" +
         esc(series[s].first);
  h += "</p>\n<div class=\"scroll\">\n<svg class=\"chart\" width=\"" + fixed(width, 0) +
       "\" height=\"" + fixed(height, 0) + "\" role=\"img\" aria-label=\"split-point curves\">\n";
  for (int i = 0; y_min + y_step * i <= y_max; ++i) {
    const double y = y_min + y_step * i;
    const std::string py = fixed(y_of(y), 1);
    h += "<line class=\"grid\" x1=\"" + fixed(left, 1) + "\" x2=\"" + fixed(left + plot_w, 1) +
         "\" y1=\"" + py + "\" y2=\"" + py + "\"/><text x=\"" + fixed(left - 6, 1) + "\" y=\"" +
         fixed(y_of(y) + 4, 1) + "\" text-anchor=\"end\">" + fixed(y, 0) + "</text>\n";
  }
  h += "<line class=\"axis\" x1=\"" + fixed(left, 1) + "\" x2=\"" + fixed(left + plot_w, 1) +
       "\" y1=\"" + fixed(top + plot_h, 1) + "\" y2=\"" + fixed(top + plot_h, 1) + "\"/>\n";
  // About ten integer ticks on the k axis.
  const double k_step = std::max(1.0, std::ceil(k_span / 10));
  for (int i = 0; i <= 10; ++i) {
    const double k = std::ceil(k_min) + k_step * i;
    if (k > k_max) break;
    h += "<text x=\"" + fixed(x_of(k), 1) + "\" y=\"" + fixed(top + plot_h + 16, 1) +
         "\" text-anchor=\"middle\">" + fixed(k, 0) + "</text>\n";
  }
  h += "<text x=\"" + fixed(left + plot_w / 2, 1) + "\" y=\"" + fixed(height - 6, 1) +
       "\" text-anchor=\"middle\">split point k</text>\n";
  for (size_t s = 0; s < series.size(); ++s) {
    const char* color = colors[s % 4];
    std::string path;
    bool pen_down = false;
    for (const Point& p : series[s].second) {
      if (!p.db || std::isnan(*p.db)) {
        pen_down = false;
        continue;
      }
      path += (pen_down ? "L" : "M") + fixed(x_of(p.k), 1) + " " + fixed(y_of(*p.db), 1);
      pen_down = true;
    }
    if (!path.empty())
      h += "<path d=\"" + path + "\" fill=\"none\" stroke=\"" + color + "\" stroke-width=\"2\"/>\n";
    for (const Point& p : series[s].second) {
      if (!p.db || std::isnan(*p.db)) continue;
      h += "<circle cx=\"" + fixed(x_of(p.k), 1) + "\" cy=\"" + fixed(y_of(*p.db), 1) +
           "\" r=\"3\" fill=\"" + color + "\"><title>" + esc(series[s].first) +
           " k=" + general(p.k) + (p.node.empty() ? "" : " (" + esc(p.node) + ")") + ": " +
           fixed(*p.db, 2) + " dB</title></circle>\n";
    }
  }
  h += "</svg>\n</div>\n<details><summary>data</summary>\n";
  for (const auto& [name, points] : series) {
    h += "<table class=\"kv\"><thead><tr><th>" + esc(name) +
         " k</th><th>node</th><th class=\"num\">SQNR (dB)</th></tr></thead><tbody>\n";
    for (const Point& p : points)
      h += "<tr><td>" + general(p.k) + "</td><td><code>" + esc(p.node) +
           "</code></td><td class=\"num\">" + fixed(p.db, 2) + "</td></tr>\n";
    h += "</tbody></table>\n";
  }
  h += "</details>\n</section>\n";
}

// ---- Sample x layer map ----------------------------------------------------------------------

std::string worst_sample_text(const Json& w, const Json* samples) {
  if (w.is_object()) {
    std::string s;
    for (auto it = w.begin(); it != w.end(); ++it)
      s += (s.empty() ? "" : ", ") + esc(it.key()) + ": " + value_html(it.value(), 3);
    return s;
  }
  if (const auto i = integer(&w);
      i && samples && *i >= 0 && static_cast<size_t>(*i) < samples->size())
    return esc(scalar_text((*samples)[static_cast<size_t>(*i)])) + " (#" + std::to_string(*i) + ")";
  return value_html(w);
}

void render_sample_map(std::string& h, const Json& r) {
  h += "<section id=\"samples\">\n<h2>Samples &times; layers</h2>\n";
  const Json* map = object_member(&r, "sample_map");
  const Json* tensors = array_member(map, "tensors");
  const Json* rows = array_member(map, "sqnr_db");
  const Json* samples = array_member(map, "samples");
  if (!tensors || !rows || tensors->empty() || rows->empty()) {
    h += "<p class=\"na\">Sample map: not run.</p>\n</section>\n";
    return;
  }
  const size_t n_cols = tensors->size();
  const size_t n_rows_all = rows->size();
  const size_t n_rows = std::min(n_rows_all, std::max<size_t>(1, kMaxMapCells / n_cols));
  auto sample_name = [&](size_t i) {
    if (samples && i < samples->size()) return scalar_text((*samples)[i]);
    return "#" + std::to_string(i);
  };
  size_t label_chars = 4;
  for (size_t i = 0; i < n_rows; ++i) label_chars = std::max(label_chars, sample_name(i).size());
  size_t top_chars = 4;
  for (const Json& t : *tensors) top_chars = std::max(top_chars, scalar_text(t).size());
  // Column labels are rotated by -60 degrees: a label of L px rises 0.87 L and leans 0.5 L right.
  const double cell = n_cols <= 60 ? 20 : 14;
  const double label_px = 6 * static_cast<double>(std::min<size_t>(top_chars, 33));
  const double left = 10 + 6.5 * static_cast<double>(std::min<size_t>(label_chars, 33));
  const double top = 12 + 0.87 * label_px;
  const double width = left + cell * static_cast<double>(n_cols) + 0.5 * label_px + 10;
  const double height = top + cell * static_cast<double>(n_rows) + 10;

  h += "<p class=\"legend\">SQNR (dB) of each sample at each layer:";
  const char* buckets[] = {"&lt;10",      "10&ndash;20", "20&ndash;30",
                           "30&ndash;40", "40&ndash;50", "&ge;50"};
  for (int i = 0; i < 6; ++i)
    h += "<span class=\"sw h" + std::to_string(i) + "\"></span>" + buckets[i];
  h += "<span class=\"sw hn\"></span>no value.";
  if (n_rows < n_rows_all)
    h += " First " + std::to_string(n_rows) + " of " + std::to_string(n_rows_all) +
         " samples shown.";
  h += "</p>\n<div class=\"scroll\">\n<svg class=\"heat\" width=\"" + fixed(width, 0) +
       "\" height=\"" + fixed(height, 0) + "\" role=\"img\" aria-label=\"sample map\">\n";
  for (size_t c = 0; c < n_cols; ++c) {
    const double x = left + cell * static_cast<double>(c) + cell / 2;
    h += "<text transform=\"translate(" + fixed(x, 1) + " " + fixed(top - 4, 1) +
         ") rotate(-60)\">" + esc(truncated(scalar_text((*tensors)[c]), 32)) + "</text>\n";
  }
  for (size_t i = 0; i < n_rows; ++i) {
    const double y = top + cell * static_cast<double>(i);
    const std::string name = sample_name(i);
    h += "<text x=\"" + fixed(left - 6, 1) + "\" y=\"" + fixed(y + cell / 2 + 4, 1) +
         "\" text-anchor=\"end\">" + esc(truncated(name, 32)) + "</text>\n";
    const Json& row = (*rows)[i];
    for (size_t c = 0; c < n_cols; ++c) {
      const Json* v = row.is_array() && c < row.size() ? &row[c] : nullptr;
      const std::optional<double> db = number(v);
      h += "<rect class=\"" + std::string(sqnr_class(db)) + "\" x=\"" +
           fixed(left + cell * static_cast<double>(c), 1) + "\" y=\"" + fixed(y, 1) +
           "\" width=\"" + fixed(cell - 1, 0) + "\" height=\"" + fixed(cell - 1, 0) + "\"><title>" +
           esc(name) + " &middot; " + esc(scalar_text((*tensors)[c])) + ": " + fixed(db, 2) +
           " dB</title></rect>\n";
    }
  }
  h += "</svg>\n</div>\n";
  if (const Json* worst = array_member(map, "worst_samples"); worst && !worst->empty()) {
    h += "<h3>Worst samples</h3>\n<ol class=\"worst\">\n";
    for (const Json& w : *worst) h += "<li>" + worst_sample_text(w, samples) + "</li>\n";
    h += "</ol>\n";
  }
  h += "</section>\n";
}

// ---- Validation and assembly -----------------------------------------------------------------

std::string type_name(const Json& j) {
  return std::string("of type ") + j.type_name();
}

Status check_report(const Json& r) {
  const std::string what = std::string("not a ") + kSchema + " report: ";
  if (!r.is_object())
    return invalid_argument(what + "the JSON is " + type_name(r) + ", expected an object");
  const Json* schema = member(&r, "schema");
  if (!schema) return invalid_argument(what + "it has no \"schema\"");
  if (!schema->is_string() || schema->get_ref<const std::string&>() != kSchema)
    return invalid_argument(
        what + "its schema is " +
        truncated(schema->dump(-1, ' ', false, Json::error_handler_t::replace), 80));
  const Json* tensors = member(&r, "tensors");
  if (!tensors) return invalid_argument(what + "it has no \"tensors\" array");
  if (!tensors->is_array())
    return invalid_argument(what + "\"tensors\" is " + type_name(*tensors) + ", expected an array");
  struct Section {
    const char* key;
    bool array;
  };
  const Section sections[] = {{"analyses", true},      {"findings", true},
                              {"summary", false},      {"first_divergence", false},
                              {"split_curves", false}, {"sample_map", false}};
  for (const Section& s : sections) {
    const Json* v = member(&r, s.key);
    if (v && (s.array ? !v->is_array() : !v->is_object()))
      return invalid_argument(what + "\"" + s.key + "\" is " + type_name(*v) + ", expected " +
                              (s.array ? "an array" : "an object"));
  }
  return Status::ok_status();
}

std::string render(const Json& r) {
  const Json& tensors = *member(&r, "tensors");  // checked: an array
  const Json* findings_json = array_member(&r, "findings");
  const std::vector<Finding> findings = sorted_findings(findings_json);

  Marks marks;
  for (const Finding& f : findings) {
    const std::string tensor = text_member(f.j, "tensor");
    const std::string node = text_member(f.j, "node");
    if (!tensor.empty()) marks.by_tensor[tensor].push_back(&f);
    if (!node.empty()) marks.by_node[node].push_back(&f);
  }
  if (const Json* first = object_member(&r, "first_divergence")) {
    for (const PairInfo& p : kPairs) {
      const std::string tensor = text_member(object_member(first, p.key), "tensor");
      if (!tensor.empty()) marks.divergence_pairs[tensor].push_back(p.key);
    }
  }
  RowAnchors anchors;
  size_t row = 0;
  for (const Json& t : tensors) {
    ++row;
    const std::string name = text_member(&t, "tensor");
    if (t.is_object() && !anchors.count(name)) anchors[name] = "t-" + std::to_string(row);
  }

  std::string h;
  h.reserve(64 * 1024 + 700 * tensors.size());
  const std::string verdict = string_member(object_member(&r, "summary"), "verdict");
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  h += "<title>qdiff diagnose: " + esc(text_member(&r, "model")) +
       (verdict.empty() ? "" : " (" + esc(verdict) + ")") + "</title>\n";
  h += "<style>" + std::string(kStyle) + "</style>\n</head>\n<body>\n<main>\n";
  render_header(h, r, findings, findings_json != nullptr);
  render_findings(h, findings, findings_json != nullptr);
  render_outputs(h, r);
  render_divergences(h, r, anchors);
  render_layers(h, tensors, marks);
  render_split_curves(h, r);
  render_sample_map(h, r);
  h += "<footer>Rendered by qdiff from a " + std::string(kSchema) +
       " report. Self-contained: no external resources.</footer>\n</main>\n";
  h += "<script>" + std::string(kScript) + "</script>\n</body>\n</html>\n";
  return h;
}

}  // namespace

Result<std::string> diagnose_html(const nlohmann::ordered_json& report) {
  try {
    QDIFF_RETURN_IF_ERROR(check_report(report));
    return render(report);
  } catch (const std::exception& e) {
    // Not expected (every access is guarded); a report that still trips the renderer is bad
    // input rather than a crash.
    return invalid_argument(std::string("cannot render the diagnose report: ") + e.what());
  }
}

}  // namespace qdiff::report
