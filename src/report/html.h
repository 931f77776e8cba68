// The HTML report of `qdiff diagnose`: one self-contained page (inline CSS, inline SVG, a few
// lines of inline JavaScript that only add a filter to the per-layer table) rendered from a
// qdiff.diagnose/1 JSON report. Nothing on the page refers to anything outside it: no URL,
// font, stylesheet, script or image. The page reads well without JavaScript.
//
// Top to bottom: header with the verdict, findings ranked (fix, verification, evidence),
// metrics of the graph outputs per pair of worlds, first divergence per pair, the per-layer
// table (an SQNR bar per pair, max LSB error and saturation of the arithmetic pair), split-point
// curves and the sample x layer map when the report has them. docs/report.md describes it.
//
// Deterministic: the same JSON gives the same bytes (numbers are printed with fixed formats
// that do not depend on the locale; no time stamp). Every text taken from the report is
// HTML-escaped.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "support/status.h"

namespace qdiff::report {

// The page for a qdiff.diagnose/1 report. Optional sections that are absent or null are shown
// as "not run" (or left out); malformed entries inside a section are skipped. Errors
// (invalid_argument): the JSON is not an object, its "schema" is not "qdiff.diagnose/1",
// "tensors" is not an array, or a top-level section has the wrong type. Never throws.
Result<std::string> diagnose_html(const nlohmann::ordered_json& report);

}  // namespace qdiff::report
