#include "report/html.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

namespace qdiff::report {
namespace {

using Json = nlohmann::ordered_json;

Json load_fixture() {
  const std::string path =
      std::string(QDIFF_SOURCE_DIR) + "/src/report/testdata/diagnose_example.json";
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "cannot open " << path;
    return Json();
  }
  return Json::parse(in);
}

std::string render(const Json& j) {
  Result<std::string> html = diagnose_html(j);
  EXPECT_TRUE(html.ok()) << html.status().message();
  return html.ok() ? html.value() : std::string();
}

std::string escaped(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t p = haystack.find(needle); p != std::string::npos;
       p = haystack.find(needle, p + needle.size()))
    ++n;
  return n;
}

// A minimal valid report: the schema and a table of tensors.
Json minimal_report() {
  Json j;
  j["schema"] = "qdiff.diagnose/1";
  j["tensors"] = Json::array();
  return j;
}

TEST(DiagnoseHtml, RendersTheFixture) {
  const Json report = load_fixture();
  const std::string html = render(report);
  ASSERT_FALSE(html.empty());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  // Verdict badge and counts.
  EXPECT_NE(html.find("<div class=\"verdict-badge v-degraded\">degraded</div>"), std::string::npos);
  EXPECT_NE(html.find("1 error &middot; 1 warning &middot; 2 info"), std::string::npos);
  // Header.
  EXPECT_NE(html.find(escaped(report["model"].get<std::string>())), std::string::npos);
  EXPECT_NE(html.find("ort-cpu"), std::string::npos);
  // Every section rendered, none "not run".
  for (const char* id : {"findings", "outputs", "divergence", "layers", "split", "samples"})
    EXPECT_NE(html.find(std::string("<section id=\"") + id + "\">"), std::string::npos) << id;
  EXPECT_EQ(html.find("not run"), std::string::npos);
  // One row per tensor, a finding's tensor highlighted, the divergence marked.
  EXPECT_EQ(count(html, "<tr id=\"t-"), report["tensors"].size());
  EXPECT_GE(count(html, "class=\"flagged"), 1u);
  EXPECT_GE(count(html, "diverged\""), 1u);
  EXPECT_NE(html.find("diverges: quantization"), std::string::npos);
  // Split curves and the heat grid.
  EXPECT_NE(html.find("<svg class=\"chart\""), std::string::npos);
  EXPECT_NE(html.find("<svg class=\"heat\""), std::string::npos);
  EXPECT_NE(html.find("Worst samples"), std::string::npos);
  // The script that marks the page ready.
  EXPECT_NE(html.find("document.body.dataset.ready = \"1\""), std::string::npos);
}

TEST(DiagnoseHtml, EscapesEveryText) {
  const std::string html = render(load_fixture());
  EXPECT_EQ(html.find("<b>"), std::string::npos);
  EXPECT_NE(html.find("&lt;b&gt;&amp;&quot;&#39;"), std::string::npos);
}

TEST(DiagnoseHtml, FindingsInRankOrderWithFixAndVerification) {
  const Json report = load_fixture();
  const std::string html = render(report);
  std::vector<Json> findings(report["findings"].begin(), report["findings"].end());
  ASSERT_GE(findings.size(), 3u);
  // The fixture lists them out of order: the page sorts by rank.
  EXPECT_FALSE(std::is_sorted(findings.begin(), findings.end(), [](const Json& a, const Json& b) {
    return a["rank"].get<int>() < b["rank"].get<int>();
  }));
  std::stable_sort(findings.begin(), findings.end(), [](const Json& a, const Json& b) {
    return a["rank"].get<int>() < b["rank"].get<int>();
  });
  size_t pos = 0;
  for (const Json& f : findings) {
    const std::string node = escaped(f["node"].get<std::string>());
    const std::string fix = escaped(f["fix"].get<std::string>());
    const size_t at = html.find("<code>" + node + "</code>", pos);
    ASSERT_NE(at, std::string::npos) << node;
    const size_t fix_at = html.find(fix, at);
    ASSERT_NE(fix_at, std::string::npos) << fix;
    pos = fix_at;
  }
  EXPECT_NE(html.find("not verified"), std::string::npos);
  EXPECT_NE(html.find("verified: output SQNR float vs fake-quant (dB) 12.3 &rarr; 30.1"),
            std::string::npos);
  EXPECT_GE(count(html, "<details><summary>evidence</summary>"), 3u);
  // Nested evidence objects as nested key/value tables.
  EXPECT_NE(
      html.find("<td>per-channel</td><td><table class=\"kv\"><tr><td>sqnr_db</td><td>30.1</td>"),
      std::string::npos);
}

TEST(DiagnoseHtml, Deterministic) {
  const Json report = load_fixture();
  const std::string a = render(report);
  const std::string b = render(report);
  const std::string c = render(Json::parse(report.dump()));
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, c);
}

TEST(DiagnoseHtml, SelfContained) {
  const std::string html = render(load_fixture());
  for (const char* bad : {"http://", "https://", "<link", "<script src", "@import", "url(", "<img",
                          "<iframe", "src="})
    EXPECT_EQ(html.find(bad), std::string::npos) << bad;
  EXPECT_EQ(count(html, "<script"), 1u);
  EXPECT_EQ(count(html, "<script>"), 1u);
}

TEST(DiagnoseHtml, RejectsWhatIsNotADiagnoseReport) {
  auto error = [](const Json& j) {
    Result<std::string> r = diagnose_html(j);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    return r.ok() ? std::string() : r.status().message();
  };
  Json wrong_schema = minimal_report();
  wrong_schema["schema"] = "qdiff.compare/1";
  EXPECT_NE(error(wrong_schema).find("qdiff.compare/1"), std::string::npos);
  Json no_schema = minimal_report();
  no_schema.erase("schema");
  EXPECT_NE(error(no_schema).find("schema"), std::string::npos);
  Json numeric_schema = minimal_report();
  numeric_schema["schema"] = 1;
  EXPECT_NE(error(numeric_schema).find("schema"), std::string::npos);
  EXPECT_NE(error(Json::array({1, 2})).find("object"), std::string::npos);
  EXPECT_NE(error(Json()).find("object"), std::string::npos);
  EXPECT_NE(error(Json("text")).find("object"), std::string::npos);
  Json tensors_string = minimal_report();
  tensors_string["tensors"] = "all";
  EXPECT_NE(error(tensors_string).find("\"tensors\""), std::string::npos);
  Json no_tensors = minimal_report();
  no_tensors.erase("tensors");
  EXPECT_NE(error(no_tensors).find("\"tensors\""), std::string::npos);
  Json findings_number = minimal_report();
  findings_number["findings"] = 3;
  EXPECT_NE(error(findings_number).find("\"findings\""), std::string::npos);
  Json summary_array = minimal_report();
  summary_array["summary"] = Json::array();
  EXPECT_NE(error(summary_array).find("\"summary\""), std::string::npos);
}

TEST(DiagnoseHtml, SkipsGarbageInsideSections) {
  const Json j = Json::parse(R"({
    "schema": "qdiff.diagnose/1", "model": 5, "target": null, "samples": "many",
    "analyses": [1, null, {"a": 1}],
    "summary": {"verdict": 3, "outputs": "none", "findings": {"error": "lots"}},
    "findings": [1, "x", null, [], {"rank": "first", "node": 5, "tensor": ["t"],
                 "severity": 2, "evidence": [1, [2, 3], {"k": "v"}], "fix_verified": "yes"},
                 {"rank": null, "evidence": {"a": {"b": [1, 2]}, "c": null, "d": "inf"}}],
    "first_divergence": {"quantization": 5, "arithmetic": null, "total": {"tensor": []}},
    "tensors": [3, null, {"tensor": 7, "quantization": "bad",
                "arithmetic": {"sqnr_db": "x", "saturation": [1], "max_error_lsb": {}}},
                {"tensor": "y", "index": "zero", "total": {"sqnr_db": "-inf"}},
                {"tensor": "z", "total": {"sqnr_db": 1e308, "cosine": -1e-300}}],
    "split_curves": {"forward": [1, {"k": "a", "sqnr_db": {}}, {"k": 1e300, "sqnr_db": 5}],
                     "reverse": "x", "other": [{"k": -3, "sqnr_db": "inf"}]},
    "sample_map": {"tensors": [1, "t", null], "samples": {"s": 1},
                   "sqnr_db": [5, [null, "inf", -400, 7], "row"],
                   "worst_samples": [{"a": 1}, 7, null, -1, [1]]}
  })");
  const std::string html = render(j);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  EXPECT_NE(html.find("NO VERDICT"), std::string::npos);
}

TEST(DiagnoseHtml, SaysSoWhenThereAreNoFindings) {
  Json j = load_fixture();
  j["findings"] = Json::array();
  j["summary"]["findings"] = {{"error", 0}, {"warning", 0}, {"info", 0}};
  j["summary"]["verdict"] = "healthy";
  const std::string html = render(j);
  EXPECT_NE(html.find("No findings"), std::string::npos);
  EXPECT_NE(html.find("v-healthy"), std::string::npos);
  EXPECT_EQ(count(html, "class=\"flagged"), 0u);
}

TEST(DiagnoseHtml, MissingOptionalSectionsAreNotRun) {
  const std::string html = render(minimal_report());
  EXPECT_NE(html.find("</html>"), std::string::npos);
  EXPECT_NE(html.find("NO VERDICT"), std::string::npos);
  EXPECT_NE(html.find("Findings: not run"), std::string::npos);
  EXPECT_NE(html.find("Output summary: not run"), std::string::npos);
  EXPECT_NE(html.find("First divergence: not run"), std::string::npos);
  EXPECT_NE(html.find("Split-point curves: not run"), std::string::npos);
  EXPECT_NE(html.find("Sample map: not run"), std::string::npos);

  // The fixture with each optional section removed or null in turn.
  for (const char* key : {"summary", "findings", "first_divergence", "split_curves", "sample_map",
                          "analyses", "model", "samples"}) {
    Json j = load_fixture();
    j.erase(key);
    EXPECT_TRUE(diagnose_html(j).ok()) << key;
    j[key] = nullptr;
    EXPECT_TRUE(diagnose_html(j).ok()) << key;
  }
  // Today's diagnose output: no summary, findings, curves or map.
  Json today = load_fixture();
  for (const char* key : {"summary", "findings", "split_curves", "sample_map"}) today.erase(key);
  const std::string page = render(today);
  EXPECT_NE(page.find("findings not run"), std::string::npos);
}

TEST(DiagnoseHtml, NumbersAreFixedFormatsAndInfinities) {
  Json j = minimal_report();
  j["tensors"] = Json::parse(R"([
    {"index": 0, "tensor": "a", "node": "n", "op_type": "Conv",
     "quantization": {"sqnr_db": "inf", "cosine": 1.0},
     "arithmetic": {"sqnr_db": 23.456, "max_error_lsb": 2.0, "saturation": 0.000001}},
    {"index": 1, "tensor": "b", "node": "m", "op_type": "Relu",
     "quantization": {"sqnr_db": null}, "arithmetic": {"sqnr_db": -3.5, "saturation": 0.25}}])");
  const std::string html = render(j);
  EXPECT_NE(html.find("width=\"60.0\""), std::string::npos);  // inf: a full bar
  EXPECT_NE(html.find(">inf</td>"), std::string::npos);
  EXPECT_NE(html.find(">23.46</td>"), std::string::npos);
  EXPECT_NE(html.find("width=\"23.5\""), std::string::npos);
  EXPECT_NE(html.find(">-3.50</td>"), std::string::npos);
  EXPECT_NE(html.find("width=\"0.0\""), std::string::npos);  // negative: clamped to 0
  EXPECT_NE(html.find(">2.0</td>"), std::string::npos);
  EXPECT_NE(html.find("&lt;0.01%"), std::string::npos);
  EXPECT_NE(html.find("25.00%"), std::string::npos);
}

TEST(DiagnoseHtml, ManyTensorsStayAPlainTable) {
  Json j = minimal_report();
  for (int i = 0; i < 600; ++i) {
    Json t;
    t["index"] = i;
    t["tensor"] = "t" + std::to_string(i);
    t["node"] = "n" + std::to_string(i);
    t["op_type"] = "Conv";
    t["quantization"] = {{"sqnr_db", 30.0 + i % 7}, {"cosine", 0.999}};
    t["arithmetic"] = {{"sqnr_db", 40.0}, {"max_error_lsb", 1.0}, {"saturation", 0.0}};
    t["total"] = {{"sqnr_db", 29.0}};
    j["tensors"].push_back(t);
  }
  const std::string html = render(j);
  EXPECT_EQ(count(html, "<tr id=\"t-"), 600u);
  EXPECT_LT(html.size(), 1000000u);
}

}  // namespace
}  // namespace qdiff::report
