#include "analysis/dump_reader.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "numerics/quant_params.h"
#include "tensor/float16.h"
#include "tensor/npy.h"

namespace qdiff::analysis {

namespace fs = std::filesystem;

namespace {

using Json = nlohmann::json;

std::string in_quotes(const std::string& s) {
  return "'" + s + "'";
}

// The .npy header (tensor/npy.h), its errors naming the tensor too.
Result<NpyHeader> read_npy_header(const fs::path& path, std::ifstream& in, const std::string& ctx) {
  Result<NpyHeader> h = qdiff::read_npy_header(in, path);
  if (!h.ok()) return invalid_argument(h.status().message() + " (" + ctx + ")");
  return h;
}

// Element types a dump may hold, and whether they can carry quantization parameters (their
// integers fit int32).
bool readable_dtype(DType t) {
  switch (t) {
    case DType::kFloat32:
    case DType::kFloat16:
    case DType::kBFloat16:
    case DType::kFloat64:
    case DType::kInt8:
    case DType::kUInt8:
    case DType::kInt16:
    case DType::kUInt16:
    case DType::kInt32:
    case DType::kInt64:
    case DType::kUInt32:
    case DType::kUInt64:
    case DType::kBool:
      return true;
    default:
      return false;
  }
}
bool quantizable_dtype(DType t) {
  return t == DType::kInt8 || t == DType::kUInt8 || t == DType::kInt16 || t == DType::kUInt16 ||
         t == DType::kInt32;
}

void dtype_range(DType t, int64_t* lo, int64_t* hi) {
  switch (t) {
    case DType::kInt8:
      *lo = -128, *hi = 127;
      break;
    case DType::kUInt8:
      *lo = 0, *hi = 255;
      break;
    case DType::kInt16:
      *lo = -32768, *hi = 32767;
      break;
    case DType::kUInt16:
      *lo = 0, *hi = 65535;
      break;
    default:
      *lo = INT32_MIN, *hi = INT32_MAX;
      break;
  }
}

// "scale": a positive finite number or a list of them.
Result<std::vector<float>> parse_scales(const Json& j, const std::string& ctx) {
  std::vector<float> out;
  auto one = [&](const Json& v) -> Status {
    if (!v.is_number())
      return invalid_argument(ctx + ": \"scale\" must be a number or a list of numbers");
    const double d = v.get<double>();
    const auto f = static_cast<float>(d);
    if (!(f > 0) || !std::isfinite(f))
      return invalid_argument(ctx + ": scale " + v.dump() + " is not a positive finite float32");
    out.push_back(f);
    return Status();
  };
  if (j.is_array()) {
    for (const Json& v : j) QDIFF_RETURN_IF_ERROR(one(v));
    if (out.empty()) return invalid_argument(ctx + ": empty \"scale\" list");
  } else {
    QDIFF_RETURN_IF_ERROR(one(j));
  }
  return out;
}

Result<std::vector<int32_t>> parse_zero_points(const Json& j, const std::string& ctx) {
  std::vector<int32_t> out;
  auto one = [&](const Json& v) -> Status {
    if (!v.is_number_integer())
      return invalid_argument(ctx + ": \"zero_point\" must be an integer or a list of integers");
    const int64_t z = v.get<int64_t>();
    if (z < INT32_MIN || z > INT32_MAX)
      return invalid_argument(ctx + ": zero point " + v.dump() + " out of the int32 range");
    out.push_back(static_cast<int32_t>(z));
    return Status();
  };
  if (j.is_array()) {
    for (const Json& v : j) QDIFF_RETURN_IF_ERROR(one(v));
    if (out.empty()) return invalid_argument(ctx + ": empty \"zero_point\" list");
  } else {
    QDIFF_RETURN_IF_ERROR(one(j));
  }
  return out;
}

// The quantization parameters of one manifest entry: top-level scale/zero_point/axis, else
// qdiff's "quant" object. Axis in the stored per-sample shape.
Result<std::optional<QuantGrid>> parse_quant(const Json& t, const DumpTensor& d,
                                             const std::string& ctx) {
  const Json* src = nullptr;
  if (t.contains("scale")) {
    src = &t;
  } else if (t.contains("quant")) {
    if (!t["quant"].is_object()) return invalid_argument(ctx + ": \"quant\" must be an object");
    src = &t["quant"];
    // Dynamic quantization: the parameters change from sample to sample and are not listed.
    if (!src->contains("scale") || src->value("dynamic", false)) return std::optional<QuantGrid>();
  } else {
    if (t.contains("zero_point"))
      return invalid_argument(ctx + ": \"zero_point\" without \"scale\"");
    return std::optional<QuantGrid>();
  }
  const Json& q = *src;
  QuantGrid g;
  QDIFF_ASSIGN_OR_RETURN(g.scales, parse_scales(q["scale"], ctx));
  if (q.contains("zero_point")) {
    QDIFF_ASSIGN_OR_RETURN(g.zero_points, parse_zero_points(q["zero_point"], ctx));
  } else {
    g.zero_points = {0};
  }
  if (g.zero_points.size() == 1 && g.scales.size() > 1)
    g.zero_points.assign(g.scales.size(), g.zero_points[0]);
  if (g.scales.size() == 1 && g.zero_points.size() > 1)
    g.scales.assign(g.zero_points.size(), g.scales[0]);
  if (g.zero_points.size() != g.scales.size())
    return invalid_argument(ctx + ": " + std::to_string(g.scales.size()) + " scales but " +
                            std::to_string(g.zero_points.size()) + " zero points");
  const auto rank = static_cast<int64_t>(d.stored_shape.size());
  if (g.scales.size() > 1) {
    if (!q.contains("axis") || !q["axis"].is_number_integer())
      return invalid_argument(ctx + ": " + std::to_string(g.scales.size()) +
                              " scales need an integer \"axis\"");
    int64_t axis = q["axis"].get<int64_t>();
    if (axis < -rank || axis >= rank)
      return invalid_argument(ctx + ": axis " + std::to_string(axis) + " out of range for shape " +
                              shape_to_string(d.stored_shape) + " (one sample)");
    if (axis < 0) axis += rank;
    const int64_t channels = d.stored_shape[static_cast<size_t>(axis)];
    if (static_cast<int64_t>(g.scales.size()) != channels)
      return invalid_argument(ctx + ": " + std::to_string(g.scales.size()) +
                              " scales/zero points for " + std::to_string(channels) +
                              " channels along axis " + std::to_string(axis) + " of shape " +
                              shape_to_string(d.stored_shape) + " (one sample)");
    // Stored NHWC, delivered NCHW: N->0, H->2, W->3, C->1.
    static constexpr int64_t kNhwcToNchw[4] = {0, 2, 3, 1};
    g.axis = d.nhwc ? kNhwcToNchw[axis] : axis;
  }
  if (q.contains("bits")) {
    if (!q["bits"].is_number_integer() || q["bits"].get<int64_t>() < 2 ||
        q["bits"].get<int64_t>() > 32)
      return invalid_argument(ctx + ": \"bits\" must be an integer in [2, 32]");
    const int64_t bits = q["bits"].get<int64_t>();
    const bool is_signed = q.value("signed", true);
    g.has_range = true;
    g.qmin = is_signed ? -(int64_t{1} << (bits - 1)) : 0;
    g.qmax = is_signed ? (int64_t{1} << (bits - 1)) - 1 : (int64_t{1} << bits) - 1;
  } else if (dtype_is_integer(d.dtype)) {
    g.has_range = true;
    dtype_range(d.dtype, &g.qmin, &g.qmax);
  }
  return std::optional<QuantGrid>(std::move(g));
}

Result<Shape> parse_shape(const Json& j, const std::string& ctx) {
  if (!j.is_array()) return invalid_argument(ctx + ": \"shape\" must be a list of integers");
  Shape s;
  for (const Json& v : j) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0)
      return invalid_argument(ctx + ": \"shape\" " + j.dump() + " must hold non-negative integers");
    s.push_back(v.get<int64_t>());
  }
  return s;
}

// One row's bytes -> float32 values (and int32 integers when dequantizing), stored order.
void convert_row(const DumpTensor& t, const char* raw, int64_t n, float* values,
                 int32_t* integers) {
  auto load = [&](auto tag) {
    using T = decltype(tag);
    for (int64_t i = 0; i < n; ++i) {
      T v;
      std::memcpy(&v, raw + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
      if constexpr (std::is_integral_v<T> && sizeof(T) <= 4 && !std::is_same_v<T, uint32_t>) {
        if (integers) {
          integers[i] = static_cast<int32_t>(v);
          continue;
        }
      }
      values[i] = static_cast<float>(v);
    }
  };
  switch (t.dtype) {
    case DType::kFloat32:
      std::memcpy(values, raw, static_cast<size_t>(n) * 4);
      return;
    case DType::kFloat64:
      load(double{});
      return;
    case DType::kInt8:
      load(int8_t{});
      break;
    case DType::kUInt8:
      load(uint8_t{});
      break;
    case DType::kInt16:
      load(int16_t{});
      break;
    case DType::kUInt16:
      load(uint16_t{});
      break;
    case DType::kInt32:
      load(int32_t{});
      break;
    case DType::kInt64:
      load(int64_t{});
      return;
    case DType::kUInt32:
      load(uint32_t{});
      return;
    case DType::kUInt64:
      load(uint64_t{});
      return;
    case DType::kBool:
      for (int64_t i = 0; i < n; ++i) values[i] = raw[i] ? 1.0f : 0.0f;
      return;
    case DType::kFloat16:
    case DType::kBFloat16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, raw + 2 * i, 2);
        values[i] = t.dtype == DType::kFloat16 ? half_to_float(h) : bfloat16_to_float(h);
      }
      return;
    default:
      QDIFF_ASSERT(false, "unreadable dump dtype");
  }
  if (integers) {
    const QuantGrid& g = *t.quant;
    // Channels in the stored layout: the grid's axis is in the delivered layout.
    int64_t axis = g.axis;
    if (t.nhwc && axis >= 0) {
      static constexpr int64_t kNchwToNhwc[4] = {0, 3, 1, 2};
      axis = kNchwToNhwc[axis];
    }
    int64_t inner = 1;
    int64_t channels = 1;
    if (axis >= 0) {
      channels = t.stored_shape[static_cast<size_t>(axis)];
      for (size_t d = static_cast<size_t>(axis) + 1; d < t.stored_shape.size(); ++d)
        inner *= t.stored_shape[d];
    }
    for (int64_t i = 0; i < n; ++i) {
      const auto c = static_cast<size_t>(channels == 1 ? 0 : (i / inner) % channels);
      values[i] = dequantize(integers[i], g.scales[c], g.zero_points[c]);
    }
  }
}

// [N,H,W,C] -> [N,C,H,W].
template <typename T>
void nhwc_to_nchw(const Shape& stored, const T* in, T* out) {
  const int64_t n = stored[0], h = stored[1], w = stored[2], c = stored[3];
  for (int64_t a = 0; a < n; ++a)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        for (int64_t k = 0; k < c; ++k)
          out[((a * c + k) * h + y) * w + x] = in[((a * h + y) * w + x) * c + k];
}

}  // namespace

Status DumpTensorStream::next(DumpRow* row) {
  const DumpTensor& t = *t_;
  const std::string ctx = "tensor " + in_quotes(t.name);
  if (next_ >= rows_)
    return invalid_argument(t.path.string() + ": no sample " + std::to_string(next_) + " (" + ctx +
                            " has " + std::to_string(rows_) + ")");
  buf_.resize(t.row_bytes);
  if (t.row_bytes && !in_.read(buf_.data(), static_cast<std::streamsize>(t.row_bytes)))
    return io_error(t.path.string() + ": read failed at sample " + std::to_string(next_) + " (" +
                    ctx + ")");
  const int64_t n = static_cast<int64_t>(t.row_bytes / dtype_size(t.dtype));
  QDIFF_ASSIGN_OR_RETURN(Tensor values,
                         Tensor::create_for_overwrite(DType::kFloat32, t.stored_shape));
  Tensor integers;
  if (t.dequantized) {
    QDIFF_ASSIGN_OR_RETURN(integers, Tensor::create_for_overwrite(DType::kInt32, t.stored_shape));
  }
  convert_row(t, buf_.data(), n, values.mutable_data<float>(),
              t.dequantized ? integers.mutable_data<int32_t>() : nullptr);
  if (t.nhwc) {
    Tensor v2 = Tensor::zeros(DType::kFloat32, t.shape);
    nhwc_to_nchw(t.stored_shape, values.data<float>(), v2.mutable_data<float>());
    values = std::move(v2);
    if (t.dequantized) {
      Tensor i2 = Tensor::zeros(DType::kInt32, t.shape);
      nhwc_to_nchw(t.stored_shape, integers.data<int32_t>(), i2.mutable_data<int32_t>());
      integers = std::move(i2);
    }
  }
  row->values = std::move(values);
  row->integers = std::move(integers);
  ++next_;
  return Status();
}

const DumpTensor* DumpReader::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

Result<DumpTensorStream> DumpReader::stream(size_t index) const {
  QDIFF_ASSERT(index < tensors_.size(), "tensor index out of range");
  DumpTensorStream s(tensors_[index], sample_count());
  const DumpTensor& t = tensors_[index];
  s.in_.open(t.path, std::ios::binary);
  if (!s.in_) return io_error(t.path.string() + ": cannot open (tensor " + in_quotes(t.name) + ")");
  s.in_.seekg(static_cast<std::streamoff>(t.data_offset));
  return s;
}

Result<DumpReader> DumpReader::open(const fs::path& dir) {
  DumpReader r;
  r.dir_ = dir;
  const fs::path manifest_path = dir / "manifest.json";
  const std::string mp = manifest_path.string();
  std::ifstream in(manifest_path);
  if (!in) return io_error(mp + ": cannot open (not a dump directory?)");
  Json manifest;
  try {
    in >> manifest;
  } catch (const std::exception& e) {
    return invalid_argument(mp + ": invalid JSON: " + e.what());
  }
  if (!manifest.is_object() || !manifest.contains("tensors") || !manifest["tensors"].is_array())
    return invalid_argument(mp + ": expected an object with a \"tensors\" list");
  if (manifest.contains("model") && manifest["model"].is_string())
    r.model_ = manifest["model"].get<std::string>();
  if (manifest.contains("mode") && manifest["mode"].is_string())
    r.mode_ = manifest["mode"].get<std::string>();
  if (manifest.contains("samples")) {
    if (!manifest["samples"].is_array())
      return invalid_argument(mp + ": \"samples\" must be a list of names");
    for (const Json& s : manifest["samples"]) {
      if (!s.is_string()) return invalid_argument(mp + ": \"samples\" must be a list of names");
      r.samples_.push_back(s.get<std::string>());
    }
    r.has_sample_names_ = true;
  }
  std::optional<int64_t> rows_seen;
  std::string rows_first;
  for (size_t k = 0; k < manifest["tensors"].size(); ++k) {
    const Json& t = manifest["tensors"][k];
    const std::string entry = mp + ": tensor #" + std::to_string(k);
    if (!t.is_object()) return invalid_argument(entry + ": expected an object");
    if (!t.contains("name") || !t["name"].is_string())
      return invalid_argument(entry + ": \"name\" missing or not a string");
    DumpTensor d;
    d.name = t["name"].get<std::string>();
    const std::string ctx = mp + ": tensor " + in_quotes(d.name);
    if (r.by_name_.count(d.name)) return invalid_argument(ctx + ": listed twice");
    if (!t.contains("file") || !t["file"].is_string())
      return invalid_argument(ctx + ": \"file\" missing or not a string");
    d.file = t["file"].get<std::string>();
    d.path = dir / d.file;
    std::optional<DType> dtype;
    if (t.contains("dtype") && !t["dtype"].is_null()) {
      const std::string name =
          t["dtype"].is_string() ? t["dtype"].get<std::string>() : t["dtype"].dump();
      dtype = dtype_from_name(name);
      if (!dtype || !readable_dtype(*dtype))
        return invalid_argument(ctx + ": unknown dtype '" + name +
                                "' (float32, float16, int8, uint8, int16, int32, ...)");
    }
    std::optional<Shape> shape;
    if (t.contains("shape") && !t["shape"].is_null()) {
      QDIFF_ASSIGN_OR_RETURN(shape, parse_shape(t["shape"], ctx));
    }
    std::string layout;
    if (t.contains("layout") && !t["layout"].is_null()) {
      layout = t["layout"].is_string() ? t["layout"].get<std::string>() : t["layout"].dump();
      if (layout != "NCHW" && layout != "NHWC")
        return invalid_argument(ctx + ": layout '" + layout + "' (expected NCHW or NHWC)");
    }
    if (t.contains("output") && !t["output"].is_boolean())
      return invalid_argument(ctx + ": \"output\" must be true or false");
    d.output = t.value("output", false);

    const std::string fctx = d.path.string();
    const std::string tctx = "tensor " + in_quotes(d.name);
    std::ifstream f(d.path, std::ios::binary);
    if (!f || fs::is_directory(d.path)) return io_error(fctx + ": cannot open (" + tctx + ")");
    std::error_code ec;
    const uint64_t file_size = fs::file_size(d.path, ec);
    if (ec) return io_error(fctx + ": cannot read its size (" + tctx + ")");
    int64_t rows = 0;
    std::string ext = d.path.extension().string();
    for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (ext == ".npy") {
      QDIFF_ASSIGN_OR_RETURN(NpyHeader h, read_npy_header(d.path, f, tctx));
      if (!readable_dtype(h.dtype))
        return invalid_argument(fctx + ": unsupported dtype " + std::string(dtype_name(h.dtype)) +
                                " (" + tctx + ")");
      if (dtype && *dtype != h.dtype)
        return invalid_argument(fctx + ": holds " + std::string(dtype_name(h.dtype)) +
                                " but the manifest says " + std::string(dtype_name(*dtype)) + " (" +
                                tctx + ")");
      if (h.shape.empty())
        return invalid_argument(fctx + ": a 0-d array has no sample dimension (" + tctx + ")");
      const Shape per_sample(h.shape.begin() + 1, h.shape.end());
      if (shape && *shape != h.shape && *shape != per_sample)
        return invalid_argument(fctx + ": shape " + shape_to_string(h.shape) +
                                " in the .npy header, the manifest says " +
                                shape_to_string(*shape) + " (" + tctx + ")");
      d.dtype = h.dtype;
      d.stored_shape = per_sample;
      d.data_offset = h.data_offset;
      rows = h.shape[0];
    } else {
      if (!dtype || !shape)
        return invalid_argument(
            fctx + ": a raw file needs \"dtype\" and \"shape\" in the manifest (" + tctx + ")");
      d.dtype = *dtype;
      d.stored_shape = *shape;
    }
    // Absurd shapes are refused before anything is allocated.
    const auto numel = shape_numel(d.stored_shape);
    if (!numel)
      return invalid_argument(fctx + ": shape " + shape_to_string(d.stored_shape) + " overflows (" +
                              tctx + ")");
    // Rows are read as stored and converted to float32 (4 bytes an element).
    const uint64_t limit = tensor_byte_limit();
    const uint64_t elem = std::max<uint64_t>(dtype_size(d.dtype), 4);
    if (static_cast<uint64_t>(*numel) > limit / elem)
      return resource_limit(fctx + ": one sample of shape " + shape_to_string(d.stored_shape) +
                            " exceeds the tensor size limit of " + std::to_string(limit >> 20) +
                            " MiB (" + tctx + ")");
    d.row_bytes = static_cast<uint64_t>(*numel) * dtype_size(d.dtype);
    if (ext == ".npy") {
      const uint64_t available = file_size > d.data_offset ? file_size - d.data_offset : 0;
      if (d.row_bytes && static_cast<uint64_t>(rows) > available / d.row_bytes)
        return invalid_argument(fctx + ": data truncated: " + std::to_string(available) +
                                " bytes for " + std::to_string(rows) + " samples of " +
                                std::to_string(d.row_bytes) + " bytes (" + tctx + ")");
    } else if (d.row_bytes == 0) {
      rows = r.has_sample_names_ ? static_cast<int64_t>(r.samples_.size()) : 0;
    } else {
      if (file_size % d.row_bytes != 0)
        return invalid_argument(fctx + ": " + std::to_string(file_size) +
                                " bytes is not a whole number of samples of " +
                                std::string(dtype_name(d.dtype)) + shape_to_string(d.stored_shape) +
                                " (" + std::to_string(d.row_bytes) + " bytes each; " + tctx +
                                "; for a raw file \"shape\" is one sample's)");
      rows = static_cast<int64_t>(file_size / d.row_bytes);
    }
    // Layout.
    d.shape = d.stored_shape;
    if (layout == "NHWC") {
      if (d.stored_shape.size() != 4)
        return invalid_argument(ctx + ": layout NHWC needs a rank-4 sample, got " +
                                shape_to_string(d.stored_shape));
      d.nhwc = true;
      d.shape = {d.stored_shape[0], d.stored_shape[3], d.stored_shape[1], d.stored_shape[2]};
    }
    QDIFF_ASSIGN_OR_RETURN(d.quant, parse_quant(t, d, ctx));
    if (d.quant && dtype_is_integer(d.dtype)) {
      if (!quantizable_dtype(d.dtype))
        return invalid_argument(ctx + ": " + std::string(dtype_name(d.dtype)) +
                                " cannot be dequantized (int8, uint8, int16, uint16 or int32)");
      d.dequantized = true;
    } else if (d.quant && d.dtype == DType::kBool) {
      return invalid_argument(ctx + ": bool cannot be dequantized");
    }
    // Sample counts.
    const std::string where = ext == ".npy" ? "" : " (for a raw file \"shape\" is one sample's)";
    if (r.has_sample_names_ && rows != static_cast<int64_t>(r.samples_.size()))
      return invalid_argument(fctx + ": " + std::to_string(rows) + " samples, the manifest lists " +
                              std::to_string(r.samples_.size()) + " (" + tctx + ")" + where);
    if (rows_seen && rows != *rows_seen)
      return invalid_argument(fctx + ": " + std::to_string(rows) + " samples, tensor " +
                              in_quotes(rows_first) + " has " + std::to_string(*rows_seen) + " (" +
                              tctx + ")" + where);
    if (!rows_seen) {
      rows_seen = rows;
      rows_first = d.name;
    }
    r.by_name_[d.name] = r.tensors_.size();
    r.tensors_.push_back(std::move(d));
  }
  if (!r.has_sample_names_)
    for (int64_t i = 0; i < rows_seen.value_or(0); ++i) r.samples_.push_back(std::to_string(i));
  return r;
}

}  // namespace qdiff::analysis
