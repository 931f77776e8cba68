// Node attributes as plain values: what a kernel needs to know about its node, and nothing of
// the graph. Lookups return the default when absent and a Status when present with a wrong type.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "support/status.h"
#include "tensor/tensor.h"

namespace qdiff {

using AttributeValue = std::variant<int64_t, float, std::string, Tensor, std::vector<int64_t>,
                                    std::vector<float>, std::vector<std::string>>;

class Attributes {
 public:
  void set(const std::string& name, AttributeValue value) { values_[name] = std::move(value); }
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  const std::map<std::string, AttributeValue>& all() const { return values_; }

  Result<int64_t> get_int(const std::string& name, int64_t default_value) const;
  Result<float> get_float(const std::string& name, float default_value) const;
  Result<std::string> get_string(const std::string& name, std::string default_value) const;
  Result<std::vector<int64_t>> get_ints(const std::string& name,
                                        std::vector<int64_t> default_value = {}) const;
  Result<std::vector<float>> get_floats(const std::string& name,
                                        std::vector<float> default_value = {}) const;
  Result<std::vector<std::string>> get_strings(const std::string& name) const;
  // A required tensor attribute (Constant's value, ConstantOfShape's value).
  Result<Tensor> get_tensor(const std::string& name) const;

 private:
  std::map<std::string, AttributeValue> values_;
};

}  // namespace qdiff
