#include "qdq/qdq_import.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "numerics/quant_params.h"
#include "qdq/constant_fold.h"

namespace qdiff::qdq {
namespace {

using ir::kNoValue;
using ir::NodeId;
using ir::ValueId;
using quant::Role;
using quant::TensorPlan;

constexpr NodeId kNoNode = UINT32_MAX;

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix.data(), suffix.size()) == 0;
}

std::string fmt(double v) {
  std::ostringstream os;
  os.precision(9);
  os << v;
  return os.str();
}

struct IntFormat {
  int bits;
  bool is_signed;
};

std::optional<IntFormat> int_format(DType t) {
  switch (t) {
    case DType::kUInt8:
      return IntFormat{8, false};
    case DType::kInt8:
      return IntFormat{8, true};
    case DType::kUInt16:
      return IntFormat{16, false};
    case DType::kInt16:
      return IntFormat{16, true};
    case DType::kInt32:
      return IntFormat{32, true};
    default:
      return std::nullopt;
  }
}

// Full integer range of a format (narrow range is decided later, for weights).
int64_t format_min(IntFormat f) {
  return f.is_signed ? -(int64_t{1} << (f.bits - 1)) : 0;
}
int64_t format_max(IntFormat f) {
  return f.is_signed ? (int64_t{1} << (f.bits - 1)) - 1 : (int64_t{1} << f.bits) - 1;
}
// ORT's symmetric zero point: 0 signed, 2^(bits-1) unsigned (rhe((qmin + qmax) / 2)).
int64_t symmetric_zp(IntFormat f) {
  return f.is_signed ? 0 : int64_t{1} << (f.bits - 1);
}

bool same_params(const QuantParams& a, const QuantParams& b) {
  return a.bits == b.bits && a.is_signed == b.is_signed && a.scales == b.scales &&
         a.zero_points == b.zero_points && a.axis == b.axis;
}

// The quantized model's view of an integer tensor: the real tensor it stands for.
struct QInfo {
  ValueId real = kNoValue;  // draft value holding the real (float) tensor
  QuantParams params;
  DType qtype = DType::kUInt8;
  bool dynamic = false;
  std::string source;
};

struct DraftNode {
  ir::Node node;
  std::vector<bool> read_quantized;  // per input: read through quantization in the model
  std::string problem;               // an error, reported if the node survives
  NodeId origin = UINT32_MAX;        // the quantized model's node it copies unchanged, if any
};

// Ops ORT runs directly on integer tensors (QDQ drop list, QOperator models): their output has
// the input's parameters.
bool is_data_movement(const std::string& op) {
  static const std::set<std::string> kOps = {"MaxPool", "Reshape",   "Transpose",    "Flatten",
                                             "Squeeze", "Unsqueeze", "Identity",     "Slice",
                                             "Gather",  "Resize",    "DepthToSpace", "SpaceToDepth",
                                             "Split",   "Expand",    "Tile"};
  return kOps.count(op) != 0;
}

class Converter {
 public:
  Converter(const ir::Graph& q, std::string what) : q_(q), what_(std::move(what)), folder_(q) {
    vals_ = q.values();
    qinfo_.resize(vals_.size());
    alias_.assign(vals_.size(), kNoValue);
    via_quant_.assign(vals_.size(), false);
    readers_.resize(vals_.size());
    for (NodeId i = 0; i < q.num_nodes(); ++i) {
      for (ValueId v : q.node(i).inputs)
        if (v != kNoValue) readers_[v].push_back(i);
      node_names_.insert(q.node(i).name);
    }
    for (const ir::Value& v : vals_) names_.insert(v.name);
    consumed_.assign(q.num_nodes(), false);
    for (ValueId in : q.inputs) is_q_input_.insert(in);
  }

  Result<ImportedQuantModel> run();

 private:
  // ---- value helpers ----
  ValueId new_value(ir::Value v) {
    v.producer = UINT32_MAX;
    names_.insert(v.name);
    vals_.push_back(std::move(v));
    qinfo_.emplace_back();
    alias_.push_back(kNoValue);
    via_quant_.push_back(false);
    return static_cast<ValueId>(vals_.size() - 1);
  }
  std::string unique_name(const std::string& base) {
    if (!names_.count(base)) return base;
    for (int i = 1;; ++i) {
      std::string n = base + "_" + std::to_string(i);
      if (!names_.count(n)) return n;
    }
  }
  void rename(ValueId v, const std::string& name) {
    vals_[v].name = name;
    names_.insert(name);
  }
  ValueId resolve(ValueId v) const {
    while (v != kNoValue && alias_[v] != kNoValue) v = alias_[v];
    return v;
  }
  const std::string& name(ValueId v) const { return vals_[v].name; }
  DType dtype(ValueId v) const {
    if (vals_[v].initializer) return vals_[v].initializer->dtype();
    return vals_[v].type.dtype;
  }
  // Dims (-1 unknown); nullopt when the rank is unknown.
  std::optional<std::vector<int64_t>> dims(ValueId v) {
    if (auto c = constant(v)) return c->shape();
    if (!vals_[v].type.dims) return std::nullopt;
    std::vector<int64_t> d;
    for (const ir::Dim& x : *vals_[v].type.dims) d.push_back(x.size);
    return d;
  }
  // A constant: an initializer (as this import has set it), or a value of the quantized model
  // that constant folding computes (Constant nodes, Identity/Cast/ConstantOfShape/... of
  // constants; see constant_fold.h).
  std::optional<Tensor> constant(ValueId v) {
    if (v == kNoValue) return std::nullopt;
    if (vals_[v].initializer) return vals_[v].initializer;
    if (v >= q_.num_values()) return std::nullopt;
    if (const Tensor* t = folder_.value(v)) return *t;
    return std::nullopt;
  }
  ValueId input(const ir::Node& n, size_t i) const {
    return i < n.inputs.size() ? n.inputs[i] : kNoValue;
  }
  std::string producer_text(ValueId v) const {
    if (v < q_.num_values() && q_.value(v).producer != UINT32_MAX)
      return q_.node(q_.value(v).producer).describe();
    return "no node";
  }

  // ---- parameters ----
  // Builds validated parameters. `axis` is the resolved channel axis for several scales.
  Result<QuantParams> make_params(const std::string& where, const std::string& sname,
                                  const std::string& zname, std::vector<float> scales,
                                  std::vector<int64_t> zps, DType qtype, int axis) {
    auto f = int_format(qtype);
    if (!f)
      return unsupported(where + ": quantized type " + std::string(dtype_name(qtype)) +
                         " is not supported (uint8, int8, uint16, int16, int32)");
    if (zps.size() == 1 && scales.size() > 1) zps.assign(scales.size(), zps[0]);
    if (zps.size() != scales.size())
      return invalid_model(where + ": " + std::to_string(scales.size()) + " scales in '" + sname +
                           "' but " + std::to_string(zps.size()) + " zero points in '" + zname +
                           "'");
    QuantParams p;
    p.bits = f->bits;
    p.is_signed = f->is_signed;
    p.axis = scales.size() > 1 ? axis : -1;
    bool symmetric = true;
    for (size_t c = 0; c < scales.size(); ++c) {
      const std::string chan = scales.size() > 1 ? " (channel " + std::to_string(c) + ")" : "";
      const float s = scales[c];
      if (!std::isfinite(s) || !(s > 0.0f))
        return invalid_model(where + ": scale '" + sname + "'" + chan + " is " + fmt(s) +
                             "; a scale must be positive and finite");
      const int64_t z = zps[c];
      if (z < format_min(*f) || z > format_max(*f))
        return invalid_model(where + ": zero point '" + zname + "'" + chan + " is " +
                             std::to_string(z) + ", outside the " + std::string(dtype_name(qtype)) +
                             " range [" + std::to_string(format_min(*f)) + ", " +
                             std::to_string(format_max(*f)) + "]");
      symmetric = symmetric && z == symmetric_zp(*f);
      p.scales.push_back(s);
      p.zero_points.push_back(static_cast<int32_t>(z));
    }
    p.symmetric = symmetric;
    Status st = p.validate();
    if (!st.ok()) return invalid_model(where + ": " + st.message());
    return p;
  }

  // Parameters from node inputs `si` (scale) and `zi` (zero point, optional) for integer data
  // `data` of type `qtype`; `axis` is the node's axis (unnormalized) for several scales.
  Result<QuantParams> params_of(const ir::Node& n, size_t si, size_t zi, DType qtype, int64_t axis,
                                ValueId data) {
    const std::string where = n.describe();
    const ValueId sv = input(n, si);
    if (sv == kNoValue) return invalid_model(where + ": the scale input is missing");
    auto st = constant(sv);
    if (!st)
      return unsupported(where + ": scale '" + name(sv) +
                         "' is not a constant (nor computed from initializers and Constant nodes); "
                         "qdiff imports static quantization parameters only");
    if (!dtype_is_float(st->dtype()))
      return invalid_model(where + ": scale '" + name(sv) + "' is " +
                           std::string(dtype_name(st->dtype())) + ", not a float tensor");
    if (st->rank() > 1)
      return unsupported(where + ": scale '" + name(sv) + "' has shape " +
                         shape_to_string(st->shape()) + "; blocked quantization is not supported");
    std::vector<float> scales = st->to_f32_vector();
    std::vector<int64_t> zps(scales.size(), 0);
    std::string zname = "(absent, 0)";
    const ValueId zv = input(n, zi);
    if (zv != kNoValue) {
      auto zt = constant(zv);
      if (!zt)
        return unsupported(
            where + ": zero point '" + name(zv) +
            "' is not a constant (nor computed from initializers and Constant nodes)");
      zps = zt->to_i64_vector();
      zname = name(zv);
    }
    int resolved = -1;
    if (scales.size() > 1) {
      auto d = dims(data);
      if (!d)
        return unsupported(where + ": per-axis parameters for '" + name(data) +
                           "' whose rank is unknown");
      const auto rank = static_cast<int64_t>(d->size());
      const int64_t a = axis < 0 ? axis + rank : axis;
      if (a < 0 || a >= rank)
        return invalid_model(where + ": axis " + std::to_string(axis) + " is out of range for '" +
                             name(data) + "' of rank " + std::to_string(rank));
      const int64_t channels = (*d)[static_cast<size_t>(a)];
      if (channels >= 0 && channels != static_cast<int64_t>(scales.size()))
        return invalid_model(where + ": " + std::to_string(scales.size()) + " scales in '" +
                             name(sv) + "' for " + std::to_string(channels) + " channels of '" +
                             name(data) + "' along axis " + std::to_string(a));
      resolved = static_cast<int>(a);
    }
    return make_params(where, name(sv), zname, std::move(scales), std::move(zps), qtype, resolved);
  }

  // The integer type of `v` as the model stores it.
  DType qtype_of(ValueId v, const ir::Node& n, size_t zi) {
    if (qinfo_[v]) return qinfo_[v]->qtype;
    if (auto f = int_format(dtype(v))) return dtype(v);
    if (auto z = constant(input(n, zi))) return z->dtype();
    return DType::kUInt8;
  }

  // ---- plan ----
  Status add_plan(ValueId v, TensorPlan t) {
    auto it = plan_.find(v);
    if (it == plan_.end()) {
      plan_.emplace(v, std::move(t));
      return Status::ok_status();
    }
    if (it->second.dynamic == t.dynamic && same_params(it->second.params, t.params))
      return Status::ok_status();
    return unsupported("tensor '" + name(v) + "' is quantized twice with different parameters (" +
                       it->second.source + " and " + t.source + ")");
  }

  // A float initializer holding the dequantized values of integer constant `qt`.
  static Tensor dequantized(const Tensor& qt, const QuantParams& p) {
    Tensor out = Tensor::zeros(DType::kFloat32, qt.shape());
    const std::vector<int64_t> q = qt.to_i64_vector();
    float* o = out.mutable_data<float>();
    const auto& shape = qt.shape();
    int64_t inner = 1, channels = 1;
    if (p.per_channel()) {
      channels = shape[static_cast<size_t>(p.axis)];
      for (size_t d = static_cast<size_t>(p.axis) + 1; d < shape.size(); ++d) inner *= shape[d];
    }
    for (int64_t i = 0; i < qt.numel(); ++i) {
      const int64_t c = p.per_channel() ? (i / inner) % channels : 0;
      o[i] = dequantize(static_cast<int32_t>(q[static_cast<size_t>(i)]), p, c);
    }
    return out;
  }
  // Weights: narrow range when symmetric and qmin is never used.
  static void set_narrow(QuantParams& p, const Tensor& qt) {
    if (!p.symmetric || p.bits > 16) return;
    const int32_t lo = p.qmin();
    for (int64_t v : qt.to_i64_vector())
      if (v == lo) return;
    p.narrow_range = true;
  }

  // The name of the float weight made from integer initializer `v`: the original float name
  // when ORT's "_quantized" suffix can be stripped and the name is free, else `fallback`.
  std::string weight_name(ValueId v, const std::string& fallback) {
    const std::string& n = name(v);
    if (ends_with(n, "_quantized")) {
      std::string base = n.substr(0, n.size() - 10);
      if (!base.empty() && !names_.count(base)) return base;
    }
    return fallback;
  }

  // A new float initializer for integer constant `v` with parameters `p` (weight or bias).
  Result<ValueId> dequantized_value(ValueId v, const Tensor& qt, QuantParams p, Role role,
                                    const std::string& source) {
    const std::string nm = weight_name(v, unique_name(name(v) + "_dequantized"));
    ir::Value nv;
    nv.name = nm;
    nv.initializer = dequantized(qt, p);
    nv.type.dtype = DType::kFloat32;
    std::vector<ir::Dim> d;
    for (int64_t x : qt.shape()) d.push_back({x, ""});
    nv.type.dims = std::move(d);
    const ValueId id = new_value(std::move(nv));
    via_quant_[id] = true;
    if (role == Role::kWeight) set_narrow(p, qt);
    TensorPlan t;
    t.role = role;
    t.params = std::move(p);
    t.source = source;
    QDIFF_RETURN_IF_ERROR(add_plan(id, std::move(t)));
    return id;
  }

  // The real tensor behind quantized activation `v` read by node `n` with parameters `p`.
  Result<ValueId> real_activation(ValueId v, const QuantParams& p, const ir::Node& n) {
    if (qinfo_[v]) {
      const QInfo& qi = *qinfo_[v];
      if (qi.dynamic)
        return unsupported(n.describe() + ": reads '" + name(v) +
                           "', quantized dynamically, with static parameters");
      if (!same_params(qi.params, p))
        return unsupported(n.describe() + ": reads '" + name(v) +
                           "' with parameters different from those it was quantized with (" +
                           qi.source + "); requantization is not supported");
      return qi.real;
    }
    if (is_q_input_.count(v) && int_format(dtype(v))) {
      notes_.push_back("graph input '" + name(v) + "' is " + std::string(dtype_name(dtype(v))) +
                       " in the quantized model; the float graph takes its real values "
                       "(float32)");
      vals_[v].type.dtype = DType::kFloat32;
      QInfo qi;
      qi.real = v;
      qi.params = p;
      qi.qtype = int_format(dtype(v)) ? dtype(v) : DType::kUInt8;
      qi.source = "input:" + n.name;
      qinfo_[v] = qi;
      TensorPlan t;
      t.params = p;
      t.source = "qdq:" + n.name;
      QDIFF_RETURN_IF_ERROR(add_plan(v, std::move(t)));
      return v;
    }
    return unsupported(n.describe() + ": reads the integer tensor '" + name(v) + "' produced by " +
                       producer_text(v) +
                       ", whose real values qdiff cannot recover (no QuantizeLinear, QLinear "
                       "op or DynamicQuantizeLinear made it)");
  }

  // ---- node handlers ----
  void emit(ir::Node n, std::vector<bool> read_q, std::string problem = {},
            NodeId origin = UINT32_MAX) {
    nodes_.push_back({std::move(n), std::move(read_q), std::move(problem), origin});
  }
  ir::Node float_node(const ir::Node& from, const std::string& op_type) {
    ir::Node n;
    n.name = from.name;
    if (ends_with(n.name, "_quant")) {
      std::string base = n.name.substr(0, n.name.size() - 6);
      if (!base.empty() && !node_names_.count(base)) n.name = base;
    }
    node_names_.insert(n.name);
    n.op_type = op_type;
    n.kind = ir::op_kind_from_onnx("", op_type);
    n.opset = q_.opsets.count("") ? q_.opsets.at("") : 13;
    return n;
  }
  void make_float(ValueId v) { vals_[v].type.dtype = DType::kFloat32; }

  void copy_node(const ir::Node& n, NodeId self) {
    ir::Node out = n;
    std::vector<bool> rq;
    std::string problem;
    for (ValueId& v : out.inputs) {
      if (v == kNoValue) {
        rq.push_back(false);
        continue;
      }
      rq.push_back(via_quant_[v]);
      const bool integer = qinfo_[v].has_value();
      v = resolve(v);
      if (integer && problem.empty())
        problem = ": reads the quantized integer tensor '" + name(v) +
                  "' directly; qdiff can only import it through DequantizeLinear, a QLinear op "
                  "or an integer op";
    }
    emit(std::move(out), std::move(rq), std::move(problem), self);
  }

  // A node that keeps the integers of a quantized tensor as they are: Identity, or a Cast to the
  // tensor's own integer type (torch writes QuantizeLinear -> Cast(uint8) -> DequantizeLinear).
  // Its output stands for the same real tensor with the same parameters; no node is emitted.
  bool preserves_integers(const ir::Node& n, const QInfo& qi) const {
    if (n.outputs.size() != 1 || n.outputs[0] == kNoValue) return false;
    if (n.op_type == "Identity") return true;
    if (n.op_type != "Cast") return false;
    auto to = n.attributes.get_int("to", 0);
    return to.ok() && dtype_from_onnx(static_cast<int>(*to)) == qi.qtype;
  }
  void look_through(const ir::Node& n) { qinfo_[n.outputs[0]] = qinfo_[n.inputs[0]]; }

  Status handle_quantize(const ir::Node& n) {
    const ValueId x = input(n, 0);
    const ValueId y = n.outputs.empty() ? kNoValue : n.outputs[0];
    if (x == kNoValue || y == kNoValue) return invalid_model(n.describe() + ": missing input");
    QDIFF_RETURN_IF_ERROR(check_block_size(n));
    DType qt = DType::kUInt8;
    if (auto z = constant(input(n, 2))) {
      qt = z->dtype();
    } else if (auto od = n.attributes.get_int("output_dtype", 0); od.ok() && *od != 0) {
      qt = dtype_from_onnx(static_cast<int>(*od)).value_or(DType::kUndefined);
    } else if (int_format(dtype(y))) {
      qt = dtype(y);
    }
    QDIFF_ASSIGN_OR_RETURN(const int64_t axis, n.attributes.get_int("axis", 1));
    QDIFF_ASSIGN_OR_RETURN(QuantParams p, params_of(n, 1, 2, qt, axis, x));
    QInfo qi;
    qi.params = p;
    qi.qtype = qt;
    qi.source = "qdq:" + n.name;
    if (auto c = constant(x); c && dtype_is_float(c->dtype())) {
      // A float weight with a Q -> DQ pair: the weight holds its quantize-dequantize.
      bool only_q = true;
      for (NodeId r : readers_[x]) only_q = only_q && q_.node(r).op_type == "QuantizeLinear";
      ValueId real = x;
      if (!only_q || !vals_[x].initializer) {
        ir::Value nv = vals_[x];
        nv.name = unique_name(name(x) + "_fake_quant");
        real = new_value(std::move(nv));
      }
      const Tensor f = c->cast(DType::kFloat32);
      Tensor qv = Tensor::zeros(DType::kInt64, f.shape());
      Tensor dv = Tensor::zeros(DType::kFloat32, f.shape());
      int64_t inner = 1, channels = 1;
      if (p.per_channel()) {
        channels = f.shape()[static_cast<size_t>(p.axis)];
        for (size_t d = static_cast<size_t>(p.axis) + 1; d < f.shape().size(); ++d)
          inner *= f.shape()[d];
      }
      for (int64_t i = 0; i < f.numel(); ++i) {
        const int64_t ch = p.per_channel() ? (i / inner) % channels : 0;
        const int32_t qq = quantize(f.data<float>()[i], p, ch);
        qv.mutable_data<int64_t>()[i] = qq;
        dv.mutable_data<float>()[i] = dequantize(qq, p, ch);
      }
      vals_[real].initializer = dv;
      vals_[real].type.dtype = DType::kFloat32;
      via_quant_[real] = true;
      QuantParams wp = p;
      set_narrow(wp, qv);
      TensorPlan t;
      t.role = Role::kWeight;
      t.params = wp;
      t.source = "qdq:" + n.name;
      QDIFF_RETURN_IF_ERROR(add_plan(real, std::move(t)));
      qi.real = real;
    } else {
      qi.real = resolve(x);
      if (qinfo_[qi.real])
        return unsupported(n.describe() + ": quantizes the integer tensor '" + name(x) + "'");
      TensorPlan t;
      t.params = p;
      t.source = qi.source;
      QDIFF_RETURN_IF_ERROR(add_plan(qi.real, std::move(t)));
    }
    qinfo_[y] = std::move(qi);
    return Status::ok_status();
  }

  Status check_block_size(const ir::Node& n) {
    auto bs = n.attributes.get_int("block_size", 0);
    if (bs.ok() && *bs != 0)
      return unsupported(n.describe() + ": blocked quantization (block_size " +
                         std::to_string(*bs) + ") is not supported");
    return Status::ok_status();
  }

  Status handle_dequantize(const ir::Node& n) {
    const ValueId xq = input(n, 0);
    const ValueId d = n.outputs.empty() ? kNoValue : n.outputs[0];
    if (xq == kNoValue || d == kNoValue) return invalid_model(n.describe() + ": missing input");
    QDIFF_RETURN_IF_ERROR(check_block_size(n));
    const DType qt = qtype_of(xq, n, 2);
    QDIFF_ASSIGN_OR_RETURN(const int64_t axis, n.attributes.get_int("axis", 1));
    QDIFF_ASSIGN_OR_RETURN(QuantParams p, params_of(n, 1, 2, qt, axis, xq));
    if (!qinfo_[xq]) {
      if (auto c = constant(xq); c && int_format(c->dtype())) {
        // A weight (or an int32 bias): the DQ output becomes the float initializer.
        const Role role = c->dtype() == DType::kInt32 ? Role::kBias : Role::kWeight;
        ir::Value& dv = vals_[d];
        dv.initializer = dequantized(*c, p);
        dv.type.dtype = DType::kFloat32;
        std::vector<ir::Dim> dd;
        for (int64_t x : c->shape()) dd.push_back({x, ""});
        dv.type.dims = std::move(dd);
        const std::string nm = weight_name(xq, name(d));
        if (nm != name(d)) rename(d, nm);
        via_quant_[d] = true;
        if (role == Role::kWeight) set_narrow(p, *c);
        TensorPlan t;
        t.role = role;
        t.params = std::move(p);
        t.source = "qdq:" + n.name;
        return add_plan(d, std::move(t));
      }
    }
    QDIFF_ASSIGN_OR_RETURN(const ValueId real, real_activation(xq, p, n));
    alias_[d] = real;
    via_quant_[d] = true;
    return Status::ok_status();
  }

  Status handle_dynamic_quantize(const ir::Node& n) {
    const ValueId x = input(n, 0);
    if (x == kNoValue || n.outputs.size() < 3)
      return invalid_model(n.describe() + ": needs one input and three outputs");
    QuantParams p;
    p.bits = 8;
    p.is_signed = false;
    p.scales = {1.0f};
    p.zero_points = {0};
    QInfo qi;
    qi.real = resolve(x);
    qi.params = p;
    qi.qtype = DType::kUInt8;
    qi.dynamic = true;
    qi.source = "dynamic:" + n.name;
    TensorPlan t;
    t.params = p;
    t.dynamic = true;
    t.source = qi.source;
    QDIFF_RETURN_IF_ERROR(add_plan(qi.real, std::move(t)));
    qinfo_[n.outputs[0]] = qi;
    if (n.outputs[1] != kNoValue) dyn_scale_[n.outputs[1]] = n.outputs[0];
    if (n.outputs[2] != kNoValue) dyn_zp_[n.outputs[2]] = n.outputs[0];
    return Status::ok_status();
  }

  // The only reader of `v` in the quantized model, or kNoNode.
  NodeId only_reader(ValueId v) const {
    if (v == kNoValue || readers_[v].size() != 1) return kNoNode;
    for (ValueId o : q_.outputs)
      if (o == v) return kNoNode;
    return readers_[v][0];
  }

  // ConvInteger / MatMulInteger -> Cast -> Mul(s_x * s_w) [-> Add(bias)].
  Status handle_integer_op(const ir::Node& n, NodeId self) {
    const bool conv = n.op_type == "ConvInteger";
    const std::string where = n.describe();
    const ValueId a = input(n, 0), w = input(n, 1), azp = input(n, 2), wzp = input(n, 3);
    if (a == kNoValue || w == kNoValue || n.outputs.empty())
      return invalid_model(where + ": missing input");
    if (!qinfo_[a])
      return unsupported(where + ": its input '" + name(a) +
                         "' is not made by DynamicQuantizeLinear or QuantizeLinear");
    const QInfo qa = *qinfo_[a];
    if (qa.dynamic) {
      if (azp == kNoValue || !dyn_zp_.count(azp) || dyn_zp_.at(azp) != a)
        return unsupported(where +
                           ": its zero point input is not the zero point that "
                           "DynamicQuantizeLinear computed for '" +
                           name(a) + "'");
    } else {
      auto z = constant(azp);
      const int64_t zv = z ? z->to_i64_vector().at(0) : 0;
      if ((azp != kNoValue && !z) || zv != qa.params.zero_points[0])
        return unsupported(where + ": its zero point input does not match '" + name(a) + "'");
    }
    auto wt = constant(w);
    if (!wt || !int_format(wt->dtype()))
      return unsupported(where + ": its weight '" + name(w) + "' is not an integer constant");
    // Lookahead: Cast(to float) -> Mul by the scale product.
    const std::string pattern_error =
        where +
        ": the integer result is not rescaled by Cast(float) -> Mul(s_x * s_w) as ORT's "
        "dynamic quantizer writes it";
    const NodeId cast_id = only_reader(n.outputs[0]);
    if (cast_id == kNoNode || q_.node(cast_id).op_type != "Cast") return unsupported(pattern_error);
    const ir::Node& cast = q_.node(cast_id);
    auto to = cast.attributes.get_int("to", 0);
    if (!to.ok() || *to != 1) return unsupported(pattern_error);
    const NodeId mul_id = only_reader(cast.outputs[0]);
    if (mul_id == kNoNode || q_.node(mul_id).op_type != "Mul") return unsupported(pattern_error);
    const ir::Node& mul = q_.node(mul_id);
    const ValueId sprod = mul.inputs[0] == cast.outputs[0] ? mul.inputs[1] : mul.inputs[0];
    const NodeId sp_id = sprod < q_.num_values() ? q_.value(sprod).producer : kNoNode;
    if (sp_id == kNoNode || q_.node(sp_id).op_type != "Mul") return unsupported(pattern_error);
    const ir::Node& sp = q_.node(sp_id);
    // One factor is the activation scale, the other the weight scale.
    auto is_act_scale = [&](ValueId s) {
      if (qa.dynamic) return dyn_scale_.count(s) && dyn_scale_.at(s) == a;
      auto c = constant(s);
      return c && c->numel() == 1 && c->to_f32_vector()[0] == qa.params.scales[0];
    };
    ValueId ws = kNoValue;
    if (is_act_scale(sp.inputs[0]))
      ws = sp.inputs[1];
    else if (is_act_scale(sp.inputs[1]))
      ws = sp.inputs[0];
    auto wst = constant(ws);
    if (!wst) return unsupported(pattern_error + " (no constant weight scale)");
    std::vector<int64_t> wz = {0};
    std::string wzname = "(absent, 0)";
    if (wzp != kNoValue) {
      auto z = constant(wzp);
      if (!z) return unsupported(where + ": weight zero point '" + name(wzp) + "' is not constant");
      wz = z->to_i64_vector();
      wzname = name(wzp);
    }
    const int64_t channels = conv ? wt->dim(0) : wt->shape().back();
    const int axis = conv ? 0 : static_cast<int>(wt->rank() - 1);
    std::vector<float> wsv = wst->to_f32_vector();
    if (wsv.size() != 1 && static_cast<int64_t>(wsv.size()) != channels)
      return invalid_model(where + ": weight scale '" + name(ws) + "' has " +
                           std::to_string(wsv.size()) + " values for " + std::to_string(channels) +
                           " channels");
    QDIFF_ASSIGN_OR_RETURN(QuantParams wp,
                           make_params(where, name(ws), wzname, wsv, wz, wt->dtype(), axis));
    QDIFF_ASSIGN_OR_RETURN(const ValueId wreal,
                           dequantized_value(w, *wt, wp, Role::kWeight, "weight:" + n.name));
    ir::Node f = float_node(n, conv ? "Conv" : "MatMul");
    if (conv) f.attributes = n.attributes;
    f.inputs = {qa.real, wreal};
    std::vector<bool> rq = {true, true};
    ValueId out = mul.outputs[0];
    consumed_[cast_id] = consumed_[mul_id] = true;
    // Conv: fold a constant bias Add (possibly through Reshape) into the Conv.
    if (conv) {
      const NodeId add_id = only_reader(out);
      if (add_id != kNoNode && q_.node(add_id).op_type == "Add") {
        const ir::Node& add = q_.node(add_id);
        const ValueId b = add.inputs[0] == out ? add.inputs[1] : add.inputs[0];
        // The bias through a Reshape of a constant first, so that the Conv reads the model's
        // own bias tensor (its name) rather than the folded Reshape output.
        std::optional<Tensor> bt;
        ValueId bsrc = b;
        if (b < q_.num_values() && q_.value(b).producer != UINT32_MAX) {
          const ir::Node& r = q_.node(q_.value(b).producer);
          if (r.op_type == "Reshape" && constant(input(r, 1))) {
            bt = constant(input(r, 0));
            if (bt) bsrc = input(r, 0);
          }
        }
        if (!bt) bt = constant(b);
        if (bt && bt->dtype() == DType::kFloat32 && bt->numel() == channels) {
          ValueId bv = bsrc;
          if (bt->rank() != 1 || !vals_[bsrc].initializer) {
            ir::Value nv;
            nv.name = unique_name(name(bsrc) + "_bias");
            nv.initializer = bt->reshaped({channels});
            nv.type.dtype = DType::kFloat32;
            nv.type.dims = std::vector<ir::Dim>{{channels, ""}};
            bv = new_value(std::move(nv));
          }
          f.inputs.push_back(bv);
          rq.push_back(true);
          out = add.outputs[0];
          consumed_[add_id] = true;
        }
      }
    }
    (void)self;
    f.outputs = {out};
    make_float(out);
    emit(std::move(f), std::move(rq));
    return Status::ok_status();
  }

  // A data input of a QLinear op: an integer constant (weight, per channel along `waxis`) or a
  // quantized activation.
  Result<ValueId> qlinear_operand(const ir::Node& n, size_t di, size_t si, size_t zi, int waxis,
                                  QuantParams* params_out) {
    const ValueId v = input(n, di);
    if (v == kNoValue) return invalid_model(n.describe() + ": missing input " + std::to_string(di));
    const DType qt = qtype_of(v, n, zi);
    if (!qinfo_[v]) {
      if (auto c = constant(v); c && int_format(c->dtype())) {
        QDIFF_ASSIGN_OR_RETURN(QuantParams p, params_of(n, si, zi, qt, waxis, v));
        *params_out = p;
        return dequantized_value(v, *c, p, Role::kWeight, "weight:" + n.name);
      }
    }
    QDIFF_ASSIGN_OR_RETURN(QuantParams p, params_of(n, si, zi, qt, 0, v));
    if (p.per_channel())
      return unsupported(n.describe() + ": per-axis parameters for the activation '" + name(v) +
                         "' are not supported");
    *params_out = p;
    return real_activation(v, p, n);
  }

  // The output of a QLinear op: float, planned with (y_scale, y_zero_point).
  Status qlinear_output(const ir::Node& n, size_t si, size_t zi, DType in_type) {
    const ValueId y = n.outputs.empty() ? kNoValue : n.outputs[0];
    if (y == kNoValue) return invalid_model(n.describe() + ": missing output");
    DType qt = in_type;
    if (auto z = constant(input(n, zi))) qt = z->dtype();
    QDIFF_ASSIGN_OR_RETURN(QuantParams p, params_of(n, si, zi, qt, 0, y));
    make_float(y);
    QInfo qi;
    qi.real = y;
    qi.params = p;
    qi.qtype = qt;
    qi.source = "qlinear:" + n.name;
    qinfo_[y] = qi;
    TensorPlan t;
    t.params = p;
    t.source = qi.source;
    return add_plan(y, std::move(t));
  }

  // An int32 bias constant with scale f32(s_in * s_w[c]) * extra.
  Result<ValueId> qlinear_bias(const ir::Node& n, size_t bi, const QuantParams& in,
                               const QuantParams& w, float extra, int axis) {
    const ValueId b = input(n, bi);
    auto bt = constant(b);
    if (!bt || bt->dtype() != DType::kInt32)
      return unsupported(n.describe() + ": bias '" + name(b) + "' is not an int32 constant");
    QDIFF_ASSIGN_OR_RETURN(QuantParams bp, quant::bias_params(in, w));
    bp.symmetric = true;  // zero point 0
    if (extra != 1.0f)
      for (float& s : bp.scales) s = s * extra;
    if (bp.per_channel()) bp.axis = axis;
    if (bp.per_channel() &&
        (bp.axis >= bt->rank() || bt->dim(bp.axis) != static_cast<int64_t>(bp.scales.size())))
      return invalid_model(n.describe() + ": bias '" + name(b) + "' of shape " +
                           shape_to_string(bt->shape()) + " does not match " +
                           std::to_string(bp.scales.size()) + " weight channels");
    return dequantized_value(b, *bt, bp, Role::kBias, "weight:" + n.name);
  }

  Status handle_qlinear(const ir::Node& n) {
    const std::string& op = n.op_type;
    const std::string where = n.describe();
    auto in_type = [&](size_t di, size_t zi) { return qtype_of(input(n, di), n, zi); };
    QuantParams pa, pb;
    if (op == "QLinearConv") {
      ir::Node f = float_node(n, "Conv");
      f.attributes = n.attributes;
      QDIFF_ASSIGN_OR_RETURN(ValueId x, qlinear_operand(n, 0, 1, 2, 0, &pa));
      QDIFF_ASSIGN_OR_RETURN(ValueId w, qlinear_operand(n, 3, 4, 5, 0, &pb));
      f.inputs = {x, w};
      if (input(n, 8) != kNoValue) {
        QDIFF_ASSIGN_OR_RETURN(ValueId b, qlinear_bias(n, 8, pa, pb, 1.0f, 0));
        f.inputs.push_back(b);
      }
      QDIFF_RETURN_IF_ERROR(qlinear_output(n, 6, 7, in_type(0, 2)));
      f.outputs = {n.outputs[0]};
      std::vector<bool> rq(f.inputs.size(), true);
      emit(std::move(f), std::move(rq));
      return Status::ok_status();
    }
    if (op == "QLinearMatMul") {
      ir::Node f = float_node(n, "MatMul");
      auto bd = dims(input(n, 3));
      const int baxis = bd ? static_cast<int>(bd->size()) - 1 : 1;
      QDIFF_ASSIGN_OR_RETURN(ValueId a, qlinear_operand(n, 0, 1, 2, -2, &pa));
      QDIFF_ASSIGN_OR_RETURN(ValueId b, qlinear_operand(n, 3, 4, 5, baxis, &pb));
      f.inputs = {a, b};
      QDIFF_RETURN_IF_ERROR(qlinear_output(n, 6, 7, in_type(0, 2)));
      f.outputs = {n.outputs[0]};
      emit(std::move(f), {true, true});
      return Status::ok_status();
    }
    if (op == "QGemm") {
      ir::Node f = float_node(n, "Gemm");
      QDIFF_ASSIGN_OR_RETURN(const int64_t trans_a, n.attributes.get_int("transA", 0));
      QDIFF_ASSIGN_OR_RETURN(const int64_t trans_b, n.attributes.get_int("transB", 0));
      QDIFF_ASSIGN_OR_RETURN(const float alpha, n.attributes.get_float("alpha", 1.0f));
      f.attributes.set("transA", trans_a);
      f.attributes.set("transB", trans_b);
      f.attributes.set("alpha", alpha);
      f.attributes.set("beta", 1.0f);
      QDIFF_ASSIGN_OR_RETURN(ValueId a, qlinear_operand(n, 0, 1, 2, -2, &pa));
      QDIFF_ASSIGN_OR_RETURN(ValueId b, qlinear_operand(n, 3, 4, 5, trans_b ? 0 : 1, &pb));
      f.inputs = {a, b};
      if (input(n, 6) != kNoValue) {
        auto cd = dims(input(n, 6));
        const int caxis = cd && cd->size() == 2 ? 1 : 0;
        QDIFF_ASSIGN_OR_RETURN(ValueId c, qlinear_bias(n, 6, pa, pb, alpha, caxis));
        f.inputs.push_back(c);
      }
      if (input(n, 7) != kNoValue) {
        QDIFF_RETURN_IF_ERROR(qlinear_output(n, 7, 8, in_type(0, 2)));
      } else {
        make_float(n.outputs[0]);
      }
      f.outputs = {n.outputs[0]};
      std::vector<bool> rq(f.inputs.size(), true);
      emit(std::move(f), std::move(rq));
      return Status::ok_status();
    }
    if (op == "QLinearAdd" || op == "QLinearMul") {
      ir::Node f = float_node(n, op == "QLinearAdd" ? "Add" : "Mul");
      QDIFF_ASSIGN_OR_RETURN(ValueId a, qlinear_operand(n, 0, 1, 2, -1, &pa));
      QDIFF_ASSIGN_OR_RETURN(ValueId b, qlinear_operand(n, 3, 4, 5, -1, &pb));
      f.inputs = {a, b};
      QDIFF_RETURN_IF_ERROR(qlinear_output(n, 6, 7, in_type(0, 2)));
      f.outputs = {n.outputs[0]};
      emit(std::move(f), {true, true});
      return Status::ok_status();
    }
    if (op == "QLinearGlobalAveragePool" || op == "QLinearAveragePool" ||
        op == "QLinearLeakyRelu" || op == "QLinearSigmoid") {
      auto cl = n.attributes.get_int("channels_last", 0);
      if (cl.ok() && *cl != 0)
        return unsupported(where + ": channels_last layout is not supported");
      const std::string fop = op.substr(7);  // drop "QLinear"
      ir::Node f = float_node(n, fop);
      for (const auto& [k, v] : n.attributes.all())
        if (k != "channels_last") f.attributes.set(k, v);
      QDIFF_ASSIGN_OR_RETURN(ValueId x, qlinear_operand(n, 0, 1, 2, -1, &pa));
      f.inputs = {x};
      QDIFF_RETURN_IF_ERROR(qlinear_output(n, 3, 4, in_type(0, 2)));
      f.outputs = {n.outputs[0]};
      emit(std::move(f), {true});
      return Status::ok_status();
    }
    if (op == "QLinearConcat") {
      ir::Node f = float_node(n, "Concat");
      f.attributes = n.attributes;
      if (n.inputs.size() < 5 || (n.inputs.size() - 2) % 3 != 0)
        return invalid_model(where +
                             ": expects Y_scale, Y_zero_point and (X, scale, zero point) "
                             "triples");
      for (size_t i = 2; i < n.inputs.size(); i += 3) {
        QDIFF_ASSIGN_OR_RETURN(ValueId x, qlinear_operand(n, i, i + 1, i + 2, -1, &pa));
        f.inputs.push_back(x);
      }
      QDIFF_RETURN_IF_ERROR(qlinear_output(n, 0, 1, in_type(2, 4)));
      f.outputs = {n.outputs[0]};
      std::vector<bool> rq(f.inputs.size(), true);
      emit(std::move(f), std::move(rq));
      return Status::ok_status();
    }
    return unsupported(where + ": unsupported quantized op");
  }

  // A data-movement op on a quantized integer tensor: runs on the real tensor; its outputs
  // carry the input's parameters.
  Status handle_data_movement(const ir::Node& n, NodeId self) {
    const QInfo qi = *qinfo_[n.inputs[0]];
    if (qi.dynamic) {
      copy_node(n, self);
      return Status::ok_status();
    }
    ir::Node f = n;
    std::vector<bool> rq;
    for (size_t i = 0; i < f.inputs.size(); ++i) {
      if (i == 0) {
        f.inputs[0] = qi.real;
        rq.push_back(true);
      } else {
        rq.push_back(f.inputs[i] != kNoValue && via_quant_[f.inputs[i]]);
        f.inputs[i] = resolve(f.inputs[i]);
      }
    }
    for (ValueId o : f.outputs) {
      if (o == kNoValue) continue;
      make_float(o);
      QInfo oi = qi;
      oi.real = o;
      oi.source = "qlinear:" + n.name;
      qinfo_[o] = oi;
      TensorPlan t;
      t.params = qi.params;
      t.source = oi.source;
      QDIFF_RETURN_IF_ERROR(add_plan(o, std::move(t)));
    }
    emit(std::move(f), std::move(rq));
    return Status::ok_status();
  }

  Result<ir::Graph> materialize(quant::QuantPlan* plan);
  void plan_nodes(const ir::Graph& g, const std::vector<ValueId>& new_of,
                  const std::map<std::string, std::vector<bool>>& read_q, quant::QuantPlan* plan);

  const ir::Graph& q_;
  std::string what_;
  std::vector<ir::Value> vals_;  // draft values; the first q_.num_values() mirror q_
  std::vector<std::optional<QInfo>> qinfo_;
  std::vector<ValueId> alias_;
  std::vector<bool> via_quant_;
  std::vector<std::vector<NodeId>> readers_;  // in q_
  std::vector<bool> consumed_;
  std::set<ValueId> is_q_input_;
  std::set<std::string> names_;
  std::set<std::string> node_names_;
  std::map<ValueId, ValueId> dyn_scale_, dyn_zp_;
  std::map<ValueId, TensorPlan> plan_;
  std::vector<DraftNode> nodes_;
  std::vector<ValueId> outputs_;
  std::vector<std::string> notes_;
  ConstantFolder folder_;  // over q_
};

bool is_qdq_domain(const std::string& d) {
  return d.empty() || d == "com.microsoft";
}

Result<ImportedQuantModel> Converter::run() {
  static const std::set<std::string> kQLinear = {
      "QLinearConv",        "QLinearMatMul",   "QGemm",         "QLinearAdd",
      "QLinearMul",         "QLinearSigmoid",  "QLinearConcat", "QLinearGlobalAveragePool",
      "QLinearAveragePool", "QLinearLeakyRelu"};
  int counts[4] = {0, 0, 0, 0};  // qdq, qlinear, integer, dynamic
  for (NodeId i = 0; i < q_.num_nodes(); ++i) {
    if (consumed_[i]) continue;
    const ir::Node& n = q_.node(i);
    Status s;
    if (is_qdq_domain(n.domain) && n.op_type == "QuantizeLinear") {
      s = handle_quantize(n);
      ++counts[0];
    } else if (is_qdq_domain(n.domain) && n.op_type == "DequantizeLinear") {
      s = handle_dequantize(n);
      ++counts[0];
    } else if (n.domain.empty() && n.op_type == "DynamicQuantizeLinear") {
      s = handle_dynamic_quantize(n);
      ++counts[3];
    } else if (n.domain.empty() && (n.op_type == "ConvInteger" || n.op_type == "MatMulInteger")) {
      s = handle_integer_op(n, i);
      ++counts[2];
    } else if (is_qdq_domain(n.domain) && kQLinear.count(n.op_type)) {
      s = handle_qlinear(n);
      ++counts[1];
    } else if (n.domain.empty() && !n.inputs.empty() && n.inputs[0] != kNoValue &&
               qinfo_[n.inputs[0]] && preserves_integers(n, *qinfo_[n.inputs[0]])) {
      look_through(n);
    } else if (n.domain.empty() && is_data_movement(n.op_type) && !n.inputs.empty() &&
               n.inputs[0] != kNoValue && qinfo_[n.inputs[0]]) {
      s = handle_data_movement(n, i);
    } else {
      copy_node(n, i);
    }
    if (!s.ok()) return s.with_context(what_);
  }
  std::ostringstream os;
  os << "imported " << counts[0] << " QuantizeLinear/DequantizeLinear, " << counts[1]
     << " QLinear, " << counts[2] << " integer and " << counts[3] << " DynamicQuantizeLinear nodes";
  notes_.insert(notes_.begin(), os.str());

  // Graph outputs: the real tensor, under the output's name where possible.
  for (ValueId o : q_.outputs) {
    ValueId r = resolve(o);
    if (qinfo_[r] && qinfo_[r]->real != r) {
      notes_.push_back("graph output '" + name(o) + "' is " +
                       std::string(dtype_name(qinfo_[r]->qtype)) +
                       " in the quantized model; the float graph outputs its real values");
      r = qinfo_[r]->real;
    }
    outputs_.push_back(r);
  }
  std::set<ValueId> out_set(q_.outputs.begin(), q_.outputs.end());
  for (size_t k = 0; k < outputs_.size(); ++k) {
    const ValueId o = q_.outputs[k];
    const ValueId r = outputs_[k];
    if (r == o) continue;
    size_t same = 0;
    for (ValueId x : outputs_) same += x == r ? 1 : 0;
    const bool renamable =
        !is_q_input_.count(r) && !vals_[r].initializer && !out_set.count(r) && same == 1;
    if (renamable) {
      rename(r, name(o));
      continue;
    }
    ir::Node id;
    id.name = unique_name(name(o) + "_output");
    node_names_.insert(id.name);
    id.op_type = "Identity";
    id.kind = ir::op_kind_from_onnx("", "Identity");
    id.opset = q_.opsets.count("") ? q_.opsets.at("") : 13;
    id.inputs = {r};
    id.outputs = {o};
    vals_[o].type = vals_[r].type;
    qinfo_[o].reset();
    emit(std::move(id), {false});
    outputs_[k] = o;
  }

  quant::QuantPlan plan;
  QDIFF_ASSIGN_OR_RETURN(ir::Graph g, materialize(&plan));
  plan.origin = "qdq import of " + what_;
  Status s = quant::check_plan(plan, g);
  if (!s.ok()) return Status(ErrorCode::kInternal, what_ + ": imported plan: " + s.message());
  ImportedQuantModel out;
  out.float_graph = std::move(g);
  out.plan = std::move(plan);
  out.notes = std::move(notes_);
  return out;
}

Result<ir::Graph> Converter::materialize(quant::QuantPlan* plan) {
  // Dead code: keep nodes whose outputs are graph outputs or read by kept nodes.
  std::vector<bool> live(vals_.size(), false);
  for (ValueId o : outputs_) live[o] = true;
  // Constant folding: a live node copied unchanged from the quantized model whose outputs are
  // all constants becomes initializers (unless it makes a graph output).
  std::vector<bool> is_output(vals_.size(), false);
  for (ValueId o : outputs_) is_output[o] = true;
  auto folds = [&](const DraftNode& d) {
    if (d.origin == UINT32_MAX || d.node.inputs != q_.node(d.origin).inputs) return false;
    for (ValueId o : d.node.outputs)
      if (o != kNoValue && is_output[o]) return false;
    return folder_.node_folds(d.origin);
  };
  size_t folded = 0;
  std::vector<bool> keep(nodes_.size(), false);
  for (size_t k = nodes_.size(); k-- > 0;) {
    const ir::Node& n = nodes_[k].node;
    bool any = false;
    for (ValueId o : n.outputs) any = any || (o != kNoValue && live[o]);
    if (!any) continue;
    if (folds(nodes_[k])) {
      for (ValueId o : n.outputs) {
        if (o == kNoValue) continue;
        const Tensor& t = *folder_.value(o);
        vals_[o].initializer = t;
        vals_[o].type.dtype = t.dtype();
        std::vector<ir::Dim> dd;
        for (int64_t x : t.shape()) dd.push_back({x, ""});
        vals_[o].type.dims = std::move(dd);
      }
      ++folded;
      continue;
    }
    keep[k] = true;
    for (ValueId v : n.inputs)
      if (v != kNoValue) live[v] = true;
  }
  if (folded > 0)
    notes_.push_back("constant folding: " + std::to_string(folded) +
                     " nodes of the float graph computed only constants and became "
                     "initializers");
  for (size_t k = 0; k < nodes_.size(); ++k)
    if (keep[k] && !nodes_[k].problem.empty())
      return unsupported(what_ + ": " + nodes_[k].node.describe() + nodes_[k].problem);

  ir::Graph g;
  g.name = q_.name;
  g.opsets = q_.opsets;
  std::vector<ValueId> new_of(vals_.size(), kNoValue);
  std::vector<bool> used(vals_.size(), false);
  for (ValueId in : q_.inputs) used[in] = true;
  for (ValueId o : outputs_) used[o] = true;
  for (size_t k = 0; k < nodes_.size(); ++k) {
    if (!keep[k]) continue;
    for (ValueId v : nodes_[k].node.inputs)
      if (v != kNoValue) used[v] = true;
    for (ValueId v : nodes_[k].node.outputs)
      if (v != kNoValue) used[v] = true;
  }
  std::set<std::string> seen;
  for (ValueId v = 0; v < vals_.size(); ++v) {
    if (!used[v]) continue;
    ir::Value nv = vals_[v];
    nv.producer = UINT32_MAX;
    if (!seen.insert(nv.name).second)
      return Status(ErrorCode::kInternal,
                    what_ + ": qdq import made two tensors named '" + nv.name + "'");
    new_of[v] = g.add_value(std::move(nv));
  }
  std::map<std::string, std::vector<bool>> read_q;
  for (size_t k = 0; k < nodes_.size(); ++k) {
    if (!keep[k]) continue;
    ir::Node n = nodes_[k].node;
    for (ValueId& v : n.inputs)
      if (v != kNoValue) v = new_of[v];
    for (ValueId& v : n.outputs)
      if (v != kNoValue) v = new_of[v];
    read_q[n.name] = nodes_[k].read_quantized;
    g.add_node(std::move(n));
  }
  for (ValueId in : q_.inputs) g.inputs.push_back(new_of[in]);
  for (ValueId o : outputs_) g.outputs.push_back(new_of[o]);
  Status s = g.sort_topologically();
  if (!s.ok()) return unsupported(what_ + ": the float graph is incomplete: " + s.message());
  s = g.verify();
  if (!s.ok()) return unsupported(what_ + ": the float graph is incomplete: " + s.message());

  // Tensors, in the float graph's order.
  std::vector<std::pair<ValueId, TensorPlan>> entries;
  for (auto& [v, t] : plan_) {
    if (new_of[v] == kNoValue) continue;  // quantized, but nothing reads it any more
    TensorPlan e = t;
    e.name = g.value(new_of[v]).name;
    entries.emplace_back(new_of[v], std::move(e));
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [id, t] : entries) plan->tensors.push_back(std::move(t));
  plan_nodes(g, new_of, read_q, plan);
  return g;
}

void Converter::plan_nodes(const ir::Graph& g, const std::vector<ValueId>& new_of,
                           const std::map<std::string, std::vector<bool>>& read_q,
                           quant::QuantPlan* plan) {
  std::map<ValueId, const TensorPlan*> planned;
  for (const auto& [v, t] : plan_)
    if (new_of[v] != kNoValue) planned[new_of[v]] = &t;
  std::vector<int> readers(g.num_values(), 0);
  for (const ir::Node& n : g.nodes()) {
    std::set<ValueId> distinct(n.inputs.begin(), n.inputs.end());
    for (ValueId v : distinct)
      if (v != kNoValue) ++readers[v];
  }
  std::vector<bool> is_out(g.num_values(), false);
  for (ValueId o : g.outputs) is_out[o] = true;
  auto is_float = [&](ValueId v) {
    const ir::Value& val = g.value(v);
    const DType t = val.initializer ? val.initializer->dtype() : val.type.dtype;
    return t == DType::kFloat32 || t == DType::kUndefined;
  };
  const size_t nn = g.num_nodes();
  std::vector<bool> quantized(nn, false);
  std::vector<NodeId> unit(nn);
  int also_unquantized = 0;
  std::string first_unquantized;
  for (NodeId i = 0; i < nn; ++i) {
    const ir::Node& n = g.node(i);
    const std::vector<bool>& rq = read_q.at(n.name);
    bool has_float = false, all_ok = true;
    NodeId from = kNoNode;
    for (size_t j = 0; j < n.inputs.size(); ++j) {
      const ValueId v = n.inputs[j];
      if (v == kNoValue || !is_float(v)) continue;
      // A constant operand the quantized model left in float (Clip bounds, a Mul's constant)
      // does not make the node float.
      if (g.value(v).initializer && !planned.count(v)) continue;
      has_float = true;
      if (j < rq.size() && rq[j]) continue;
      if (planned.count(v) && !g.value(v).initializer) {
        if (also_unquantized++ == 0)
          first_unquantized = "'" + g.value(v).name + "' by " + n.describe();
      }
      const NodeId p = g.value(v).producer;
      // An unquantized tensor between quantized nodes is internal to its producer's unit
      // (x * hardsigmoid(x) reads it twice); the check below splits units it leaves.
      if (p != UINT32_MAX && quantized[p] && !planned.count(v) && !is_out[v]) {
        if (from == kNoNode) from = p;
        continue;
      }
      all_ok = false;
    }
    quantized[i] = has_float && all_ok;
    unit[i] = quantized[i] && from != kNoNode ? unit[from] : i;
  }
  // A unit must end in quantized tensors; otherwise its members stand alone.
  for (NodeId h = 0; h < nn; ++h) {
    std::vector<NodeId> members;
    for (NodeId i = h; i < nn; ++i)
      if (unit[i] == h) members.push_back(i);
    if (members.size() < 2) continue;
    bool closed = true;
    for (NodeId m : members) {
      for (ValueId o : g.node(m).outputs) {
        if (o == kNoValue || planned.count(o)) continue;
        bool leaves = is_out[o];
        for (NodeId r = 0; r < nn && !leaves; ++r) {
          if (unit[r] == h) continue;
          for (ValueId v : g.node(r).inputs) leaves = leaves || v == o;
        }
        closed = closed && !leaves;
      }
    }
    if (closed) continue;
    for (NodeId m : members) {
      if (m == h) continue;
      unit[m] = m;
      quantized[m] = false;
    }
  }
  // A unit is int16 when any of its members reads or writes a 16-bit activation.
  std::vector<bool> wide(nn, false);
  for (NodeId i = 0; i < nn; ++i) {
    if (!quantized[i]) continue;
    const ir::Node& n = g.node(i);
    for (const auto* vs : {&n.inputs, &n.outputs})
      for (ValueId v : *vs)
        if (v != kNoValue && planned.count(v) && planned.at(v)->role == Role::kActivation &&
            planned.at(v)->params.bits == 16)
          wide[unit[i]] = true;
  }
  for (NodeId i = 0; i < nn; ++i) {
    const ir::Node& n = g.node(i);
    quant::NodePlan np;
    np.name = n.name;
    np.unit = g.node(unit[i]).name;
    if (!quantized[i]) {
      np.precision = quant::Precision::kFloat;
      np.unit = n.name;
    } else {
      np.precision = wide[unit[i]] ? quant::Precision::kInt16 : quant::Precision::kInt8;
    }
    plan->nodes.push_back(std::move(np));
  }
  if (also_unquantized > 0)
    notes_.push_back(std::to_string(also_unquantized) +
                     " reads of quantized tensors are unquantized in the quantized model (first: " +
                     first_unquantized + "); the plan quantizes a tensor for every reader");
}

}  // namespace

Result<ImportedQuantModel> import_quantized(const ir::Graph& quantized,
                                            const std::string& display_name) {
  Converter c(quantized, display_name);
  return c.run();
}

}  // namespace qdiff::qdq
