// Targeted changes to an existing plan: the fixes a diagnosis proposes and verifies (a unit in
// int16 or float, a weight per channel, an activation's range). Everything the change does not
// touch keeps its parameters exactly, whatever made the plan (a calibration, a QDQ model, an
// encodings file), so a before/after comparison measures the change alone.
//
// How: the planner lays out the plan's structure again with the edited precisions (which
// tensors an int16 or float node makes 16-bit or leaves unquantized, which tensors share their
// input's parameters) and computes parameters for it from the plan's own activation ranges
// (each activation grid read back as its range [(qmin - zp) * s, (qmax - zp) * s]) and the
// weights' values, in the target's scheme. A tensor takes those new parameters only when the
// edit affects it:
//   - an activation whose range is edited or whose bit width changes, and the tensors sharing
//     its parameters through data movement (Reshape, MaxPool...);
//   - a weight named in `per_channel` (per channel along its output-channel axis);
//   - a bias whose data input or weight is affected (its scale is s_in * s_w), and with
//     `consistent_biases` every 32-bit bias whose scale is not s_in * s_w;
//   - a tensor the plan did not quantize and the edit needs (the 16-bit inputs of an int16
//     unit, a weight of a unit raised from float).
// The others keep the plan's TensorPlan. Weights and biases of nodes that become float leave
// the plan, and so do activations the edit makes unnecessary (quantized before the edit, not
// after: produced and read by float nodes only); tensors the plan quantizes outside the
// planner's structure are kept.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>

#include "ir/graph.h"
#include "quant/plan.h"
#include "quant/planner.h"
#include "support/status.h"

namespace qdiff::quant {

struct PlanEdit {
  // Unit (its first node's name, as NodePlan::unit) or node name -> precision of every node of
  // that unit.
  std::map<std::string, Precision> precision;
  // Activation tensor -> its new calibrated range (min, max).
  std::map<std::string, std::pair<float, float>> ranges;
  // Weight tensors to quantize per channel.
  std::set<std::string> per_channel;
  // Re-derive every 32-bit bias whose scale is not s_in * s_w of its node's data input and
  // weight (a plan whose activation was re-scaled by hand, or a quantized model built so).
  bool consistent_biases = false;
  // Recorded as the edited tensors' source ("diagnose: per-channel fix").
  std::string why = "edit";

  bool empty() const {
    return precision.empty() && ranges.empty() && per_channel.empty() && !consistent_biases;
  }
};

// The plan with the edit applied (see the top); the result passes check_plan. Errors name the
// unknown node or tensor, a range edit of a tensor that is no activation of the plan, a
// per-channel edit of a tensor that is no weight.
Result<QuantPlan> apply_plan_edit(const QuantPlan& plan, const ir::Graph& graph,
                                  const Scheme& scheme, const PlanEdit& edit);

// The float range [(qmin - zp) * s, (qmax - zp) * s] a per-tensor grid covers.
std::pair<float, float> grid_range(const QuantParams& p);

}  // namespace qdiff::quant
