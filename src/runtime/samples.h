// Input samples for a run, from .npy files: one file = one sample (its shape is the model
// input's), one file with one more leading dimension = a stack of samples, or a directory of
// .npy files (sorted by name).
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "support/status.h"

namespace qdiff::runtime {

struct Samples {
  std::vector<std::string> names;           // one per sample: "x.npy" or "x.npy[3]"
  std::vector<std::vector<Tensor>> inputs;  // per sample: one tensor per graph input
};

// `specs`: "PATH" (the model has one input) or "NAME=PATH" per graph input. Every input gets
// the same number of samples. float16 data is accepted for float32 inputs (converted exactly);
// any other dtype or shape mismatch is an error naming the file and the input.
Result<Samples> load_samples(const ir::Graph& graph, const std::vector<std::string>& specs);

}  // namespace qdiff::runtime
