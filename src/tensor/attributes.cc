#include "tensor/attributes.h"

namespace qdiff {
namespace {

template <typename T>
Result<T> get_typed(const std::map<std::string, AttributeValue>& values, const std::string& name,
                    T default_value, const char* type_name) {
  auto it = values.find(name);
  if (it == values.end()) return default_value;
  if (const T* v = std::get_if<T>(&it->second)) return *v;
  return invalid_model("attribute '" + name + "' must be of type " + type_name);
}

}  // namespace

Result<int64_t> Attributes::get_int(const std::string& name, int64_t default_value) const {
  return get_typed<int64_t>(values_, name, default_value, "int");
}

Result<float> Attributes::get_float(const std::string& name, float default_value) const {
  return get_typed<float>(values_, name, default_value, "float");
}

Result<std::string> Attributes::get_string(const std::string& name,
                                           std::string default_value) const {
  return get_typed<std::string>(values_, name, std::move(default_value), "string");
}

Result<std::vector<int64_t>> Attributes::get_ints(const std::string& name,
                                                  std::vector<int64_t> default_value) const {
  return get_typed<std::vector<int64_t>>(values_, name, std::move(default_value), "ints");
}

Result<std::vector<float>> Attributes::get_floats(const std::string& name,
                                                  std::vector<float> default_value) const {
  return get_typed<std::vector<float>>(values_, name, std::move(default_value), "floats");
}

Result<std::vector<std::string>> Attributes::get_strings(const std::string& name) const {
  return get_typed<std::vector<std::string>>(values_, name, {}, "strings");
}

Result<Tensor> Attributes::get_tensor(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return invalid_model("missing required attribute '" + name + "'");
  if (const Tensor* v = std::get_if<Tensor>(&it->second)) return *v;
  return invalid_model("attribute '" + name + "' must be a tensor");
}

}  // namespace qdiff
