// Helpers the findings share across their files (findings.cc, device_findings.cc); not an API.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "analysis/findings.h"
#include "analysis/metrics.h"
#include "analysis/verifier.h"
#include "analysis/worlds.h"
#include "ir/graph.h"
#include "quant/plan.h"
#include "support/status.h"
#include "tensor/tensor.h"

namespace qdiff::analysis::internal {

// printf of one number.
std::string fmt(const char* f, double v);
// The unit a tensor's producer belongs to ("" for a graph input).
std::string unit_of_tensor(const ir::Graph& g, const quant::QuantPlan& plan, ir::ValueId v);
// The op type of the node named `node` ("" when none is).
std::string op_of(const ir::Graph& g, const std::string& node);
// Whether a pair's metrics at the first output, over all samples, show a damaged output
// (severity rules at the top of findings.h).
bool damaged(const std::optional<TensorMetrics>& m);
// Error of `test` against `ref`, tensor by tensor (one per sample).
Score tensor_score(const std::vector<Tensor>& ref, const std::vector<Tensor>& test);

// Findings of the device pair: at its first divergence, what explains the device's values (the
// input's preprocessing, a layout reading, one mechanism computed differently, the device's
// activation read as a table of its input), else a device-mismatch. `n`: verification samples.
Status device_findings(const WorldRunner& runner, const Verifier& verifier, size_t n,
                       std::vector<Finding>& findings, nlohmann::ordered_json& analyses);

}  // namespace qdiff::analysis::internal
