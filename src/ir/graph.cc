#include "ir/graph.h"

#include <queue>

namespace qdiff::ir {

bool TensorType::fully_known() const {
  if (!dims) return false;
  for (const Dim& d : *dims)
    if (!d.known()) return false;
  return true;
}

Shape TensorType::shape() const {
  QDIFF_ASSERT(fully_known(), "shape() of a partially known type");
  Shape s;
  for (const Dim& d : *dims) s.push_back(d.size);
  return s;
}

std::string TensorType::to_string() const {
  std::string s(dtype_name(dtype));
  if (!dims) return s + "[?]";
  s += "[";
  for (size_t i = 0; i < dims->size(); ++i) {
    if (i) s += ",";
    const Dim& d = (*dims)[i];
    s += d.known() ? std::to_string(d.size) : (d.param.empty() ? "?" : d.param);
  }
  return s + "]";
}

std::string Node::describe() const {
  return "node '" + name + "' (" + op_type + ")";
}

ValueId Graph::add_value(Value v) {
  const auto id = static_cast<ValueId>(values_.size());
  if (!v.name.empty()) by_name_.emplace(v.name, id);
  values_.push_back(std::move(v));
  return id;
}

NodeId Graph::add_node(Node n) {
  const auto id = static_cast<NodeId>(nodes_.size());
  for (ValueId out : n.outputs)
    if (out != kNoValue) values_[out].producer = id;
  nodes_.push_back(std::move(n));
  return id;
}

std::optional<ValueId> Graph::find_value(const std::string& value_name) const {
  auto it = by_name_.find(value_name);
  if (it == by_name_.end()) return std::nullopt;
  return it->second;
}

Status Graph::sort_topologically() {
  const size_t n = nodes_.size();
  std::vector<int> pending(n, 0);
  std::vector<std::vector<NodeId>> users(n);
  for (NodeId i = 0; i < n; ++i) {
    for (ValueId in : nodes_[i].inputs) {
      if (in == kNoValue) continue;
      const Value& v = values_[in];
      if (v.producer != UINT32_MAX) {
        ++pending[i];
        users[v.producer].push_back(i);
      } else if (!v.initializer) {
        bool is_input = false;
        for (ValueId g : inputs) is_input = is_input || g == in;
        if (!is_input)
          return invalid_model(nodes_[i].describe() + ": input '" + v.name +
                               "' is not produced by any node, initializer or graph input");
      }
    }
  }
  // Kahn's algorithm with a min-heap on the original index keeps file order where possible.
  std::priority_queue<NodeId, std::vector<NodeId>, std::greater<>> ready;
  for (NodeId i = 0; i < n; ++i)
    if (pending[i] == 0) ready.push(i);
  std::vector<NodeId> order;
  while (!ready.empty()) {
    NodeId i = ready.top();
    ready.pop();
    order.push_back(i);
    for (NodeId u : users[i])
      if (--pending[u] == 0) ready.push(u);
  }
  if (order.size() != n) {
    for (NodeId i = 0; i < n; ++i)
      if (pending[i] > 0) return invalid_model(nodes_[i].describe() + " is part of a cycle");
  }
  std::vector<Node> sorted;
  sorted.reserve(n);
  for (NodeId i : order) sorted.push_back(std::move(nodes_[i]));
  nodes_ = std::move(sorted);
  for (NodeId i = 0; i < n; ++i)
    for (ValueId out : nodes_[i].outputs)
      if (out != kNoValue) values_[out].producer = i;
  return Status();
}

Status Graph::verify() const {
  std::vector<bool> available(values_.size(), false);
  for (ValueId in : inputs) {
    if (in >= values_.size()) return invalid_model("graph input id out of range");
    available[in] = true;
  }
  for (ValueId v = 0; v < values_.size(); ++v)
    if (values_[v].initializer) available[v] = true;
  for (NodeId i = 0; i < nodes_.size(); ++i) {
    const Node& node = nodes_[i];
    for (ValueId in : node.inputs) {
      if (in == kNoValue) continue;
      if (in >= values_.size()) return invalid_model(node.describe() + ": input id out of range");
      if (!available[in])
        return invalid_model(node.describe() + ": input '" + values_[in].name +
                             "' is used before it is produced");
    }
    for (ValueId out : node.outputs) {
      if (out == kNoValue) continue;
      if (out >= values_.size()) return invalid_model(node.describe() + ": output id out of range");
      if (available[out])
        return invalid_model(node.describe() + ": output '" + values_[out].name +
                             "' is produced more than once");
      available[out] = true;
    }
  }
  for (ValueId out : outputs)
    if (out >= values_.size() || !available[out])
      return invalid_model("graph output '" + (out < values_.size() ? values_[out].name : "?") +
                           "' is never produced");
  return Status();
}

}  // namespace qdiff::ir
