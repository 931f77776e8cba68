#include "runtime/images.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>

// stb_image from Debian's libstb-dev, compiled here (static functions, so nothing clashes with
// the libstb shared library) and limited to the formats qdiff reads.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
#include <stb/stb_image.h>

namespace qdiff::runtime {
namespace {

namespace fs = std::filesystem;

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::optional<double> parse_number(std::string_view s) {
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<int64_t> parse_positive(std::string_view s) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

std::string format_number(double v) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  QDIFF_ASSERT(ec == std::errc(), "to_chars of a double");
  return std::string(buf, end);
}

Status spec_error(const std::string& what) {
  return invalid_argument("preprocessing spec: " + what);
}

// "HxW" (or "S" when `square_ok`, meaning SxS) into h, w.
Status parse_size(const std::string& key, std::string_view v, int64_t* h, int64_t* w) {
  const size_t x = v.find('x');
  if (x == std::string_view::npos) {
    auto s = parse_positive(v);
    if (!s) return spec_error(key + "=" + std::string(v) + ": expected HxW or a positive size");
    *h = *w = *s;
    return Status();
  }
  auto hh = parse_positive(v.substr(0, x));
  auto ww = parse_positive(v.substr(x + 1));
  if (!hh || !ww) return spec_error(key + "=" + std::string(v) + ": expected HxW, e.g. 224x224");
  *h = *hh;
  *w = *ww;
  return Status();
}

Status parse_scale(std::string_view v, ImagePreprocess* p) {
  if (v.substr(0, 2) == "1/") {
    auto d = parse_positive(v.substr(2));
    if (!d)
      return spec_error("scale=" + std::string(v) + ": expected 1/D with a positive integer D");
    p->scale_divisor = *d;
    p->scale = 1.0 / static_cast<double>(*d);
    return Status();
  }
  auto s = parse_number(v);
  if (!s || *s == 0) return spec_error("scale=" + std::string(v) + ": expected a non-zero number");
  p->scale = *s;
  p->scale_divisor = 0;
  return Status();
}

Status parse_dtype(std::string_view v, ImagePreprocess* p) {
  if (v == "float32")
    p->dtype = DType::kFloat32;
  else if (v == "uint8")
    p->dtype = DType::kUInt8;
  else if (v == "int8")
    p->dtype = DType::kInt8;
  else
    return spec_error("dtype=" + std::string(v) + ": expected float32, uint8 or int8");
  return Status();
}

Status check_values(const std::string& key, const std::vector<double>& v) {
  if (v.empty()) return spec_error(key + ": no values");
  if (key == "std")
    for (double s : v)
      if (s == 0) return spec_error("std: 0 is not a valid standard deviation");
  return Status();
}

// Per output index of a resampled axis: the first input index and the weights from there on.
struct Taps {
  int64_t first = 0;
  std::vector<double> weights;
};

double triangle(double x) {
  x = std::abs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

std::vector<Taps> axis_taps(int64_t in, int64_t out, bool antialias, int64_t start, int64_t count) {
  std::vector<Taps> taps(static_cast<size_t>(count));
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  for (int64_t k = 0; k < count; ++k) {
    const int64_t o = start + k;
    Taps& t = taps[static_cast<size_t>(k)];
    if (!antialias || scale <= 1.0) {
      double src = (static_cast<double>(o) + 0.5) * scale - 0.5;
      if (src < 0) src = 0;
      int64_t i0 = static_cast<int64_t>(std::floor(src));
      if (i0 > in - 1) i0 = in - 1;
      const double f = src - static_cast<double>(i0);
      t.first = i0;
      if (i0 + 1 <= in - 1 && f > 0)
        t.weights = {1.0 - f, f};
      else
        t.weights = {1.0};
      continue;
    }
    // Triangle of half-width `scale` around the output pixel's centre, in input coordinates.
    const double center = (static_cast<double>(o) + 0.5) * scale;
    const int64_t lo = std::max<int64_t>(static_cast<int64_t>(center - scale + 0.5), 0);
    const int64_t hi = std::min<int64_t>(static_cast<int64_t>(center + scale + 0.5), in);
    double sum = 0;
    for (int64_t i = lo; i < hi; ++i) {
      // Distance between input pixel i's centre (i + 0.5) and `center`, in output pixels.
      const double w = triangle((static_cast<double>(i) + 0.5 - center) / scale);
      t.weights.push_back(w);
      sum += w;
    }
    t.first = lo;
    if (sum != 0)
      for (double& w : t.weights) w /= sum;
  }
  return taps;
}

struct InputGeometry {
  bool batch = false;  // rank 4: a leading batch dimension of 1
  int64_t c = -1, h = -1, w = -1;
};

Result<InputGeometry> input_geometry(const ir::Value& input, ImageLayout layout) {
  InputGeometry g;
  if (!input.type.dims) {
    g.batch = true;
    return g;
  }
  const std::vector<ir::Dim>& d = *input.type.dims;
  if (d.size() != 3 && d.size() != 4)
    return invalid_argument("input '" + input.name + "' is " + input.type.to_string() +
                            ": images need a rank-3 or rank-4 input");
  size_t i = 0;
  if (d.size() == 4) {
    g.batch = true;
    if (d[0].known() && d[0].size != 1)
      return invalid_argument("input '" + input.name + "' is " + input.type.to_string() +
                              ": images give one sample per file (batch 1)");
    i = 1;
  }
  auto size = [&](size_t k) { return d[k].known() ? d[k].size : -1; };
  if (layout == ImageLayout::kNchw) {
    g.c = size(i), g.h = size(i + 1), g.w = size(i + 2);
  } else {
    g.h = size(i), g.w = size(i + 1), g.c = size(i + 2);
  }
  if (g.c != -1 && g.c != 1 && g.c != 3)
    return invalid_argument("input '" + input.name + "' is " + input.type.to_string() + " (" +
                            (layout == ImageLayout::kNchw ? "NCHW" : "NHWC") +
                            "): " + std::to_string(g.c) + " channels; images give 1 or 3");
  return g;
}

template <typename T>
T saturate_round(double v) {
  const double r = std::nearbyint(v);  // half to even (the default rounding mode)
  const double lo = static_cast<double>(std::numeric_limits<T>::min());
  const double hi = static_cast<double>(std::numeric_limits<T>::max());
  return static_cast<T>(std::clamp(r, lo, hi));
}

}  // namespace

std::string ImagePreprocess::to_string() const {
  std::vector<std::string> items;
  if (resize_shorter > 0) items.push_back("resize=" + std::to_string(resize_shorter));
  if (resize_h > 0)
    items.push_back("resize=" + std::to_string(resize_h) + "x" + std::to_string(resize_w));
  if (antialias) items.push_back("antialias");
  if (crop_h > 0) items.push_back("crop=" + std::to_string(crop_h) + "x" + std::to_string(crop_w));
  items.push_back(scale_divisor > 0 ? "scale=1/" + std::to_string(scale_divisor)
                                    : "scale=" + format_number(scale));
  for (const auto* list : {&mean, &std_dev}) {
    std::string s = list == &mean ? "mean=" : "std=";
    for (size_t i = 0; i < list->size(); ++i) s += (i ? "," : "") + format_number((*list)[i]);
    items.push_back(s);
  }
  items.push_back(order == ChannelOrder::kRgb ? "rgb" : "bgr");
  items.push_back(layout == ImageLayout::kNchw ? "nchw" : "nhwc");
  if (dtype) items.push_back("dtype=" + std::string(dtype_name(*dtype)));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? "," : "") + items[i];
  return out;
}

Result<ImagePreprocess> parse_preprocess(std::string_view spec) {
  ImagePreprocess p;
  std::vector<std::string> items;
  if (!trim(spec).empty()) {
    size_t pos = 0;
    while (true) {
      const size_t comma = spec.find(',', pos);
      items.push_back(
          trim(spec.substr(pos, comma == std::string_view::npos ? spec.npos : comma - pos)));
      if (comma == std::string_view::npos) break;
      pos = comma + 1;
    }
  }
  std::vector<double>* list = nullptr;  // the mean/std list further numbers extend
  for (const std::string& item : items) {
    if (item.empty()) return spec_error("empty item in '" + std::string(spec) + "'");
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      if (auto v = parse_number(item); v && list) {
        list->push_back(*v);
        continue;
      }
      list = nullptr;
      if (item == "rgb")
        p.order = ChannelOrder::kRgb;
      else if (item == "bgr")
        p.order = ChannelOrder::kBgr;
      else if (item == "nchw")
        p.layout = ImageLayout::kNchw;
      else if (item == "nhwc")
        p.layout = ImageLayout::kNhwc;
      else if (item == "antialias")
        p.antialias = true;
      else
        return spec_error("unknown item '" + item +
                          "' (known: resize=, crop=, antialias, scale=, mean=, std=, rgb, bgr, "
                          "nchw, nhwc, dtype=)");
      continue;
    }
    list = nullptr;
    const std::string key = item.substr(0, eq);
    const std::string value = item.substr(eq + 1);
    if (key == "resize") {
      if (value.find('x') == std::string::npos) {
        auto s = parse_positive(value);
        if (!s) return spec_error("resize=" + value + ": expected HxW or a shorter-side size");
        p.resize_shorter = *s;
        p.resize_h = p.resize_w = 0;
      } else {
        QDIFF_RETURN_IF_ERROR(parse_size(key, value, &p.resize_h, &p.resize_w));
        p.resize_shorter = 0;
      }
    } else if (key == "crop") {
      QDIFF_RETURN_IF_ERROR(parse_size(key, value, &p.crop_h, &p.crop_w));
    } else if (key == "scale") {
      QDIFF_RETURN_IF_ERROR(parse_scale(value, &p));
    } else if (key == "mean" || key == "std") {
      list = key == "mean" ? &p.mean : &p.std_dev;
      auto v = parse_number(value);
      if (!v) return spec_error(key + "=" + value + ": expected a number");
      list->assign(1, *v);
    } else if (key == "order") {
      if (value != "rgb" && value != "bgr") return spec_error("order=" + value + ": rgb or bgr");
      p.order = value == "rgb" ? ChannelOrder::kRgb : ChannelOrder::kBgr;
    } else if (key == "layout") {
      if (value != "nchw" && value != "nhwc")
        return spec_error("layout=" + value + ": nchw or nhwc");
      p.layout = value == "nchw" ? ImageLayout::kNchw : ImageLayout::kNhwc;
    } else if (key == "dtype") {
      QDIFF_RETURN_IF_ERROR(parse_dtype(value, &p));
    } else {
      return spec_error("unknown key '" + key +
                        "' (known: resize, crop, antialias, scale, mean, std, order, layout, "
                        "dtype)");
    }
  }
  QDIFF_RETURN_IF_ERROR(check_values("std", p.std_dev));
  return p;
}

Result<ImagePreprocess> preprocess_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return spec_error("expected a JSON object");
  ImagePreprocess p;
  auto size_of = [](const std::string& key, const nlohmann::json& v, int64_t* h, int64_t* w,
                    int64_t* shorter) -> Status {
    if (v.is_number_integer() && v.get<int64_t>() > 0) {
      if (shorter) {
        *shorter = v.get<int64_t>();
      } else {
        *h = *w = v.get<int64_t>();
      }
      return Status();
    }
    if (v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer() &&
        v[0].get<int64_t>() > 0 && v[1].get<int64_t>() > 0) {
      *h = v[0].get<int64_t>();
      *w = v[1].get<int64_t>();
      return Status();
    }
    return spec_error(key + ": expected [H, W] or a positive integer, got " + v.dump());
  };
  auto numbers = [](const std::string& key, const nlohmann::json& v,
                    std::vector<double>* out) -> Status {
    out->clear();
    if (v.is_number()) {
      out->push_back(v.get<double>());
    } else if (v.is_array()) {
      for (const auto& e : v) {
        if (!e.is_number()) return spec_error(key + ": expected numbers, got " + v.dump());
        out->push_back(e.get<double>());
      }
    } else {
      return spec_error(key + ": expected a number or a list of numbers, got " + v.dump());
    }
    return check_values(key, *out);
  };
  auto text = [](const std::string& key, const nlohmann::json& v) -> Result<std::string> {
    if (!v.is_string()) return spec_error(key + ": expected a string, got " + v.dump());
    return v.get<std::string>();
  };
  for (const auto& [key, v] : j.items()) {
    if (key == "resize") {
      QDIFF_RETURN_IF_ERROR(size_of(key, v, &p.resize_h, &p.resize_w, &p.resize_shorter));
    } else if (key == "crop") {
      QDIFF_RETURN_IF_ERROR(size_of(key, v, &p.crop_h, &p.crop_w, nullptr));
    } else if (key == "antialias") {
      if (!v.is_boolean()) return spec_error("antialias: expected true or false");
      p.antialias = v.get<bool>();
    } else if (key == "scale") {
      if (v.is_number()) {
        QDIFF_RETURN_IF_ERROR(parse_scale(format_number(v.get<double>()), &p));
      } else {
        QDIFF_ASSIGN_OR_RETURN(std::string s, text(key, v));
        QDIFF_RETURN_IF_ERROR(parse_scale(s, &p));
      }
    } else if (key == "mean") {
      QDIFF_RETURN_IF_ERROR(numbers(key, v, &p.mean));
    } else if (key == "std") {
      QDIFF_RETURN_IF_ERROR(numbers(key, v, &p.std_dev));
    } else if (key == "order") {
      QDIFF_ASSIGN_OR_RETURN(std::string s, text(key, v));
      if (s != "rgb" && s != "bgr") return spec_error("order: expected rgb or bgr, got " + s);
      p.order = s == "rgb" ? ChannelOrder::kRgb : ChannelOrder::kBgr;
    } else if (key == "layout") {
      QDIFF_ASSIGN_OR_RETURN(std::string s, text(key, v));
      if (s != "nchw" && s != "nhwc") return spec_error("layout: expected nchw or nhwc, got " + s);
      p.layout = s == "nchw" ? ImageLayout::kNchw : ImageLayout::kNhwc;
    } else if (key == "dtype") {
      QDIFF_ASSIGN_OR_RETURN(std::string s, text(key, v));
      QDIFF_RETURN_IF_ERROR(parse_dtype(s, &p));
    } else {
      return spec_error("unknown key '" + key + "'");
    }
  }
  return p;
}

nlohmann::json preprocess_to_json(const ImagePreprocess& p) {
  nlohmann::ordered_json j;
  if (p.resize_shorter > 0) j["resize"] = p.resize_shorter;
  if (p.resize_h > 0) j["resize"] = {p.resize_h, p.resize_w};
  if (p.antialias) j["antialias"] = true;
  if (p.crop_h > 0) j["crop"] = {p.crop_h, p.crop_w};
  if (p.scale_divisor > 0)
    j["scale"] = "1/" + std::to_string(p.scale_divisor);
  else
    j["scale"] = p.scale;
  j["mean"] = p.mean;
  j["std"] = p.std_dev;
  j["order"] = p.order == ChannelOrder::kRgb ? "rgb" : "bgr";
  j["layout"] = p.layout == ImageLayout::kNchw ? "nchw" : "nhwc";
  if (p.dtype) j["dtype"] = std::string(dtype_name(*p.dtype));
  return nlohmann::json::parse(j.dump());
}

bool is_image_file(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

Result<Image> decode_image(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error(path.string() + ": cannot open");
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  if (in.bad()) return io_error(path.string() + ": read error");
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    return invalid_argument(path.string() + ": image file over 2 GiB");
  const int len = static_cast<int>(bytes.size());
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(bytes.data(), len, &w, &h, &comp))
    return invalid_argument(path.string() + ": not a readable PNG, JPEG or BMP image (" +
                            stbi_failure_reason() + ")");
  if (stbi_is_16_bit_from_memory(bytes.data(), len))
    return unsupported(path.string() + ": 16-bit images are not supported (8 bits per channel)");
  // The decoder allocates w*h*comp bytes; the preprocessing holds ~8x that as doubles.
  const uint64_t need = static_cast<uint64_t>(w) * static_cast<uint64_t>(h) *
                        static_cast<uint64_t>(std::max(comp, 1)) * 8;
  if (need > tensor_byte_limit())
    return resource_limit(path.string() + ": a " + std::to_string(w) + "x" + std::to_string(h) +
                          " image exceeds the tensor memory limit");
  int n = 0;
  stbi_uc* data = stbi_load_from_memory(bytes.data(), len, &w, &h, &n, 0);
  if (!data)
    return invalid_argument(path.string() + ": cannot decode image (" + stbi_failure_reason() +
                            ")");
  Image img;
  img.height = h;
  img.width = w;
  img.channels = n <= 2 ? 1 : 3;  // gray(+alpha) or RGB(+alpha); alpha dropped
  const size_t pixels = static_cast<size_t>(w) * static_cast<size_t>(h);
  if (img.channels == 3) {
    // Gray stored as color (a palette BMP or PNG of grays, an RGB JPEG of a gray scan): R, G
    // and B equal everywhere. It is a gray image; nothing is lost.
    bool gray = true;
    for (size_t i = 0; gray && i < pixels; ++i) {
      const stbi_uc* px = data + i * static_cast<size_t>(n);
      gray = px[0] == px[1] && px[1] == px[2];
    }
    if (gray) img.channels = 1;
  }
  img.pixels.resize(pixels * static_cast<size_t>(img.channels));
  for (size_t i = 0; i < pixels; ++i)
    for (int64_t c = 0; c < img.channels; ++c)
      img.pixels[i * static_cast<size_t>(img.channels) + static_cast<size_t>(c)] =
          data[i * static_cast<size_t>(n) + static_cast<size_t>(c)];
  stbi_image_free(data);
  return img;
}

std::vector<double> resize_bilinear(const std::vector<double>& src, int64_t height, int64_t width,
                                    int64_t channels, int64_t out_h, int64_t out_w, bool antialias,
                                    int64_t top, int64_t rows, int64_t left, int64_t cols) {
  QDIFF_ASSERT(static_cast<int64_t>(src.size()) == height * width * channels, "resize size");
  QDIFF_ASSERT(top >= 0 && rows >= 0 && top + rows <= out_h, "resize rows");
  QDIFF_ASSERT(left >= 0 && cols >= 0 && left + cols <= out_w, "resize cols");
  const std::vector<Taps> tx = axis_taps(width, out_w, antialias, left, cols);
  const std::vector<Taps> ty = axis_taps(height, out_h, antialias, top, rows);
  const auto C = static_cast<size_t>(channels);
  // Horizontal pass over every input row, then vertical.
  std::vector<double> mid(static_cast<size_t>(height) * static_cast<size_t>(cols) * C, 0.0);
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < cols; ++x) {
      const Taps& t = tx[static_cast<size_t>(x)];
      double* dst =
          &mid[(static_cast<size_t>(y) * static_cast<size_t>(cols) + static_cast<size_t>(x)) * C];
      for (size_t k = 0; k < t.weights.size(); ++k) {
        const double* s = &src[(static_cast<size_t>(y) * static_cast<size_t>(width) +
                                static_cast<size_t>(t.first) + k) *
                               C];
        for (size_t c = 0; c < C; ++c) dst[c] += t.weights[k] * s[c];
      }
    }
  std::vector<double> out(static_cast<size_t>(rows) * static_cast<size_t>(cols) * C, 0.0);
  for (int64_t y = 0; y < rows; ++y) {
    const Taps& t = ty[static_cast<size_t>(y)];
    for (size_t k = 0; k < t.weights.size(); ++k) {
      const double* s = &mid[(static_cast<size_t>(t.first) + k) * static_cast<size_t>(cols) * C];
      double* dst = &out[static_cast<size_t>(y) * static_cast<size_t>(cols) * C];
      for (size_t i = 0; i < static_cast<size_t>(cols) * C; ++i) dst[i] += t.weights[k] * s[i];
    }
  }
  return out;
}

Result<Tensor> load_image_sample(const fs::path& path, const ir::Value& input,
                                 const ImagePreprocess& p) {
  const std::string file = path.string();
  auto geometry = input_geometry(input, p.layout);
  if (!geometry.ok()) return invalid_argument(file + ": " + geometry.status().message());
  const InputGeometry g = *geometry;
  const std::string expected = "input '" + input.name + "' expects " + input.type.to_string() +
                               " (" + (p.layout == ImageLayout::kNchw ? "NCHW" : "NHWC") + ")";

  DType dtype = input.type.dtype;
  if (p.dtype && dtype != DType::kUndefined && *p.dtype != dtype)
    return invalid_argument(file + ": the preprocessing gives " +
                            std::string(dtype_name(*p.dtype)) + " but " + expected);
  if (dtype == DType::kUndefined) dtype = p.dtype.value_or(DType::kFloat32);
  if (dtype != DType::kFloat32 && dtype != DType::kUInt8 && dtype != DType::kInt8)
    return unsupported(file + ": " + expected + "; images give float32, uint8 or int8");

  QDIFF_ASSIGN_OR_RETURN(Image img, decode_image(path));
  const int64_t channels = g.c == -1 ? img.channels : g.c;
  if (channels == 1 && img.channels == 3)
    return invalid_argument(file + ": a color (RGB) image, but " + expected + " (1 channel)");
  const auto C = static_cast<size_t>(channels);
  for (const auto* list : {&p.mean, &p.std_dev})
    if (list->size() != 1 && list->size() != C)
      return invalid_argument(file + ": the preprocessing gives " + std::to_string(list->size()) +
                              " " + (list == &p.mean ? "mean" : "std") + " values but " + expected +
                              " (" + std::to_string(C) + " channels)");

  // Sizes after resize and crop.
  int64_t rh = img.height, rw = img.width;
  if (p.resize_h > 0) {
    rh = p.resize_h, rw = p.resize_w;
  } else if (p.resize_shorter > 0) {
    const bool h_short = img.height <= img.width;
    const int64_t s = h_short ? img.height : img.width, l = h_short ? img.width : img.height;
    const int64_t long_side = p.resize_shorter * l / s;  // floor, as torchvision's int()
    rh = h_short ? p.resize_shorter : long_side;
    rw = h_short ? long_side : p.resize_shorter;
  }
  int64_t top = 0, left = 0, fh = rh, fw = rw;
  if (p.crop_h > 0) {
    if (p.crop_h > rh || p.crop_w > rw)
      return invalid_argument(file + ": crop " + std::to_string(p.crop_h) + "x" +
                              std::to_string(p.crop_w) + " is larger than the image (" +
                              std::to_string(rh) + "x" + std::to_string(rw) +
                              (rh != img.height || rw != img.width ? " after resize)" : ")"));
    top = static_cast<int64_t>(std::nearbyint(static_cast<double>(rh - p.crop_h) / 2.0));
    left = static_cast<int64_t>(std::nearbyint(static_cast<double>(rw - p.crop_w) / 2.0));
    fh = p.crop_h, fw = p.crop_w;
  }
  if ((g.h != -1 && g.h != fh) || (g.w != -1 && g.w != fw)) {
    const bool resized = p.resize_h > 0 || p.resize_shorter > 0 || p.crop_h > 0;
    return invalid_argument(file + ": the image is " + std::to_string(fh) + "x" +
                            std::to_string(fw) + (resized ? " after preprocessing" : "") +
                            " (HxW), but " + expected +
                            (resized ? "" : "; give a size with resize=HxW or crop=HxW"));
  }

  // Pixel values of the fh x fw window, interleaved, img.channels per pixel.
  const auto IC = static_cast<size_t>(img.channels);
  std::vector<double> values;
  if (rh != img.height || rw != img.width) {
    std::vector<double> src(img.pixels.begin(), img.pixels.end());
    values = resize_bilinear(src, img.height, img.width, img.channels, rh, rw, p.antialias, top, fh,
                             left, fw);
  } else {
    values.resize(static_cast<size_t>(fh * fw) * IC);
    for (int64_t y = 0; y < fh; ++y)
      for (int64_t x = 0; x < fw; ++x)
        for (size_t c = 0; c < IC; ++c)
          values[(static_cast<size_t>(y * fw + x)) * IC + c] =
              img.pixels[(static_cast<size_t>((y + top) * img.width + x + left)) * IC + c];
  }

  Shape shape = p.layout == ImageLayout::kNchw ? Shape{channels, fh, fw} : Shape{fh, fw, channels};
  if (g.batch) shape.insert(shape.begin(), 1);
  QDIFF_ASSIGN_OR_RETURN(Tensor t, Tensor::create_for_overwrite(dtype, shape));
  const size_t plane = static_cast<size_t>(fh * fw);
  for (size_t c = 0; c < C; ++c) {
    // Model channel c reads image channel: gray replicated; BGR reverses RGB.
    const size_t ic = img.channels == 1 ? 0 : (p.order == ChannelOrder::kBgr ? 2 - c : c);
    const double mean = p.mean.size() == 1 ? p.mean[0] : p.mean[c];
    const double sd = p.std_dev.size() == 1 ? p.std_dev[0] : p.std_dev[c];
    for (size_t i = 0; i < plane; ++i) {
      const double v = values[i * IC + ic];
      const size_t at = p.layout == ImageLayout::kNchw ? c * plane + i : i * C + c;
      if (dtype == DType::kFloat32) {
        float x = static_cast<float>(v);
        x = p.scale_divisor > 0 ? x / static_cast<float>(p.scale_divisor)
                                : x * static_cast<float>(p.scale);
        t.mutable_data<float>()[at] = (x - static_cast<float>(mean)) / static_cast<float>(sd);
      } else {
        const double scaled =
            p.scale_divisor > 0 ? v / static_cast<double>(p.scale_divisor) : v * p.scale;
        const double x = (scaled - mean) / sd;
        if (dtype == DType::kUInt8)
          t.mutable_data<uint8_t>()[at] = saturate_round<uint8_t>(x);
        else
          t.mutable_data<int8_t>()[at] = saturate_round<int8_t>(x);
      }
    }
  }
  return t;
}

}  // namespace qdiff::runtime
