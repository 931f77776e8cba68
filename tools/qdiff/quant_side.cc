#include "quant_side.h"

namespace qdiff::cli {

void add_quant_side_options(CLI::App& cmd, QuantSideOptions& o) {
  cmd.add_option("--plan", o.plan, "Quantization plan JSON (qdiff calibrate -o)");
}

Result<QuantSide> load_quant_side(const onnx::ImportedModel& float_model,
                                  const QuantSideOptions& o) {
  const int given = !o.plan.empty() + !o.quantized.empty() + !o.encodings.empty();
  if (given != 1) return invalid_argument("give exactly one of --plan, --quantized, --encodings");
  QuantSide side;
  if (!o.plan.empty()) {
    QDIFF_ASSIGN_OR_RETURN(side.plan, quant::load_plan(o.plan));
  }
  Status s = quant::check_plan(side.plan, float_model.graph);
  if (!s.ok()) return s.with_context(o.plan + " against " + float_model.path.string());
  return side;
}

}  // namespace qdiff::cli
