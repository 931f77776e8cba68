// Image samples: decoding (PNG, JPEG, BMP through stb_image) and the preprocessing that turns a
// decoded image into a model input tensor.
//
// Pipeline, in this order (each step documented on ImagePreprocess):
//   decode (8 bits per channel) -> channels (alpha dropped; gray replicated to 3 channels when
//   the model wants 3) -> resize -> center crop -> channel order -> scale, mean, std ->
//   layout (NCHW or NHWC, with a leading batch dimension of 1 when the input has rank 4) ->
//   dtype (the model input's: float32, uint8 or int8).
//
// Decoding: stb_image (Debian libstb-dev). PNG and BMP decode exactly; baseline and progressive
// JPEG decode with stb's IDCT and chroma upsampling, which can differ from libjpeg (PIL, OpenCV)
// by a few levels per pixel. EXIF orientation is ignored (as PIL does unless asked). 16-bit PNGs
// are refused rather than silently reduced to 8 bits.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ir/graph.h"
#include "support/status.h"
#include "tensor/tensor.h"

namespace qdiff::runtime {

enum class ChannelOrder : uint8_t { kRgb, kBgr };
enum class ImageLayout : uint8_t { kNchw, kNhwc };

// How image pixels become a model input. Parsed from a compact string (parse_preprocess) or
// JSON (preprocess_from_json); to_string() gives the compact form back.
struct ImagePreprocess {
  // Resize (0 = none). Either both resize_h and resize_w (exact size), or resize_shorter: the
  // shorter side becomes resize_shorter and the longer one floor(resize_shorter * long / short)
  // (torchvision's Resize(int) size rule).
  //
  // Bilinear with half-pixel centres: output pixel (y, x) samples the input at
  //   sy = (y + 0.5) * in_h / out_h - 0.5,  sx = (x + 0.5) * in_w / out_w - 0.5,
  // clamped to [0, in - 1], from the 2x2 neighbours with weights (1 - fy, fy) x (1 - fx, fx)
  // where fy = sy - floor(sy). This is torch.nn.functional.interpolate(mode='bilinear',
  // align_corners=False, antialias=False) and cv2.resize(INTER_LINEAR) on float images.
  // Computed in double on the decoded 8-bit values and not rounded (except for uint8/int8
  // outputs, see below).
  //
  // With `antialias`, a downscale widens the triangle filter to the scale factor (each output
  // pixel averages every input pixel under a triangle of half-width in/out, weights normalised
  // over the pixels inside the image): PIL's Image.resize(BILINEAR) on a float ('F') image,
  // which torchvision's Resize applies to PIL images. Upscaling is the same with or without.
  int64_t resize_h = 0, resize_w = 0;
  int64_t resize_shorter = 0;
  bool antialias = false;
  // Center crop after the resize (0 = none): top = round_half_even((h - crop_h) / 2), left
  // likewise (torchvision's CenterCrop). A crop larger than the image is an error.
  int64_t crop_h = 0, crop_w = 0;
  ChannelOrder order = ChannelOrder::kRgb;  // channel order the model expects
  // value = (pixel * scale - mean[c]) / std_dev[c], per channel c (in the model's channel order;
  // one value applies to every channel). For float32 inputs each step is a float32 operation (as
  // torchvision's ToTensor + Normalize); a scale written as "1/D" divides by D instead of
  // multiplying by a rounded 1/D, which reproduces ToTensor's pixel / 255 exactly. For uint8 /
  // int8 inputs the value is computed in double, rounded half to even and saturated.
  double scale = 1.0;
  int64_t scale_divisor = 0;  // > 0: scale was given as 1/scale_divisor
  std::vector<double> mean{0.0};
  std::vector<double> std_dev{1.0};  // "std" in the spec
  ImageLayout layout = ImageLayout::kNchw;
  // Expected model input dtype (float32, uint8 or int8); nullopt: the model input's own.
  std::optional<DType> dtype;

  std::string to_string() const;
};

// Parses the compact form: comma-separated items, `key=value` or a bare flag.
//   resize=HxW | resize=S   crop=HxW | crop=S   antialias
//   scale=X | scale=1/D     mean=A[,B,C]   std=A[,B,C]   (values following mean=/std= are
//                                                          numbers without a key)
//   rgb | bgr | order=rgb|bgr     nchw | nhwc | layout=nchw|nhwc     dtype=float32|uint8|int8
// Example: "resize=224x224,scale=1/255,mean=0.485,0.456,0.406,std=0.229,0.224,0.225,rgb,nchw".
// An unknown key or a malformed value is an error naming it.
Result<ImagePreprocess> parse_preprocess(std::string_view spec);

// JSON form: {"resize": [H, W] | S, "antialias": bool, "crop": [H, W] | S, "order": "rgb"|"bgr",
// "scale": number | "1/D", "mean": [..], "std": [..], "layout": "nchw"|"nhwc",
// "dtype": "float32"|"uint8"|"int8"}; every key optional, unknown keys are errors.
Result<ImagePreprocess> preprocess_from_json(const nlohmann::json& j);
nlohmann::json preprocess_to_json(const ImagePreprocess& p);

// True for the extensions read as images: .png, .jpg, .jpeg, .bmp (any case).
bool is_image_file(const std::filesystem::path& path);

// A decoded image: 8-bit, interleaved (row-major H x W x channels), channels 1 (gray) or 3
// (RGB); an alpha channel is dropped (not composited). A color image whose R, G and B are equal
// at every pixel (a palette of grays, gray saved as RGB) is gray.
struct Image {
  int64_t height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;
};
Result<Image> decode_image(const std::filesystem::path& path);

// Resamples an interleaved float image (see ImagePreprocess for the convention) to out_h x
// out_w, keeping only rows [top, top + rows) and columns [left, left + cols) of the result.
std::vector<double> resize_bilinear(const std::vector<double>& src, int64_t height, int64_t width,
                                    int64_t channels, int64_t out_h, int64_t out_w, bool antialias,
                                    int64_t top, int64_t rows, int64_t left, int64_t cols);

// Decodes `path` and preprocesses it into a tensor for graph input `input`, checking the
// channel count and size against the input's shape (errors name the file and the shape).
Result<Tensor> load_image_sample(const std::filesystem::path& path, const ir::Value& input,
                                 const ImagePreprocess& preprocess);

}  // namespace qdiff::runtime
