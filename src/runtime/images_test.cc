#include "runtime/images.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "runtime/samples.h"
#include "tensor/npy.h"

namespace qdiff::runtime {
namespace {

// Oracle values from torch and PIL, written by testdata/make_images.py.
#include "runtime/testdata/images_expected.inc"

namespace fs = std::filesystem;

const fs::path kData = fs::path(QDIFF_SOURCE_DIR) / "src/runtime/testdata";

// The pattern make_images.py writes into every test image.
int pattern(int64_t y, int64_t x, int64_t c) {
  return static_cast<int>((37 * y + 11 * x + 67 * c + 5) % 256);
}

// A graph with one input "image" of the given dtype and dims (-1: unknown).
ir::Graph one_input(DType dtype, const std::vector<int64_t>& dims) {
  ir::Graph g;
  ir::Value v;
  v.name = "image";
  v.type.dtype = dtype;
  std::vector<ir::Dim> d;
  for (int64_t s : dims) d.push_back({s, s < 0 ? "N" : ""});
  v.type.dims = d;
  g.inputs = {g.add_value(std::move(v))};
  return g;
}

ImagePreprocess spec(const std::string& s) {
  auto p = parse_preprocess(s);
  EXPECT_TRUE(p.ok()) << s << ": " << p.status().message();
  return p.ok() ? *p : ImagePreprocess{};
}

Result<Tensor> load(const std::string& file, DType dtype, const std::vector<int64_t>& dims,
                    const std::string& preprocess) {
  const ir::Graph g = one_input(dtype, dims);
  return load_image_sample(kData / file, g.value(g.inputs[0]), spec(preprocess));
}

std::vector<double> as_doubles(const Tensor& t) {
  std::vector<double> v;
  for (float f : t.to_f32_vector()) v.push_back(f);
  return v;
}

void expect_near(const std::vector<double>& actual, const std::vector<double>& expected,
                 double tol) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i)
    ASSERT_NEAR(actual[i], expected[i], tol) << "element " << i;
}

// A fresh directory for one test.
fs::path temp_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const fs::path dir = fs::temp_directory_path() /
                       ("qdiff_images_test_" + std::to_string(::getpid()) + "_" + info->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// --- the spec ------------------------------------------------------------------------------

TEST(Preprocess, ParsesTheCompactForm) {
  const ImagePreprocess p = spec(
      "resize=224x224,scale=0.00392156862745098,mean=0.485,0.456,0.406,std=0.229,0.224,0.225,"
      "rgb,nchw");
  EXPECT_EQ(p.resize_h, 224);
  EXPECT_EQ(p.resize_w, 224);
  EXPECT_EQ(p.resize_shorter, 0);
  EXPECT_EQ(p.scale, 0.00392156862745098);
  EXPECT_EQ(p.scale_divisor, 0);
  EXPECT_EQ(p.mean, (std::vector<double>{0.485, 0.456, 0.406}));
  EXPECT_EQ(p.std_dev, (std::vector<double>{0.229, 0.224, 0.225}));
  EXPECT_EQ(p.order, ChannelOrder::kRgb);
  EXPECT_EQ(p.layout, ImageLayout::kNchw);
  EXPECT_FALSE(p.dtype.has_value());

  const ImagePreprocess q =
      spec("resize=256, crop=224, antialias, scale=1/255, bgr, nhwc, dtype=uint8");
  EXPECT_EQ(q.resize_shorter, 256);
  EXPECT_EQ(q.resize_h, 0);
  EXPECT_EQ(q.crop_h, 224);
  EXPECT_EQ(q.crop_w, 224);
  EXPECT_TRUE(q.antialias);
  EXPECT_EQ(q.scale_divisor, 255);
  EXPECT_EQ(q.order, ChannelOrder::kBgr);
  EXPECT_EQ(q.layout, ImageLayout::kNhwc);
  EXPECT_EQ(q.dtype, DType::kUInt8);
  EXPECT_EQ(q.mean, std::vector<double>{0.0});  // defaults
  EXPECT_EQ(q.std_dev, std::vector<double>{1.0});

  const ImagePreprocess d = spec("");
  EXPECT_EQ(d.resize_h, 0);
  EXPECT_EQ(d.scale, 1.0);
  EXPECT_EQ(spec("order=bgr,layout=nhwc").to_string(), "scale=1,mean=0,std=1,bgr,nhwc");
}

TEST(Preprocess, ToStringAndJsonRoundTrip) {
  const std::string s =
      "resize=320x240,antialias,crop=300x200,scale=1/255,mean=0.485,0.456,0.406,"
      "std=0.229,0.224,0.225,bgr,nhwc,dtype=int8";
  const ImagePreprocess p = spec(s);
  EXPECT_EQ(p.to_string(), s);
  EXPECT_EQ(spec(p.to_string()).to_string(), s);
  const nlohmann::json j = preprocess_to_json(p);
  EXPECT_EQ(j, nlohmann::json::parse(R"({"resize": [320, 240], "antialias": true,
      "crop": [300, 200], "scale": "1/255", "mean": [0.485, 0.456, 0.406],
      "std": [0.229, 0.224, 0.225], "order": "bgr", "layout": "nhwc", "dtype": "int8"})"));
  auto back = preprocess_from_json(j);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->to_string(), s);

  auto k = preprocess_from_json(nlohmann::json::parse(R"({"resize": 256, "crop": 224,
      "scale": 0.5, "mean": 127.5, "std": [2]})"));
  ASSERT_TRUE(k.ok()) << k.status().message();
  EXPECT_EQ(k->to_string(), "resize=256,crop=224x224,scale=0.5,mean=127.5,std=2,rgb,nchw");
}

TEST(Preprocess, BadSpecsAreErrorsNamingTheItem) {
  struct Case {
    const char* spec;
    const char* mentions;
  };
  for (const Case& c : std::vector<Case>{{"resize=224x224,colour=rgb", "unknown key 'colour'"},
                                         {"rgb,grayscale", "unknown item 'grayscale'"},
                                         {"resize=224by224", "resize=224by224"},
                                         {"resize=0x224", "resize=0x224"},
                                         {"crop=-3", "crop=-3"},
                                         {"scale=abc", "scale=abc"},
                                         {"scale=1/0", "scale=1/0"},
                                         {"mean=0.5,0.4,x", "unknown item 'x'"},
                                         {"std=0.2,0", "std"},
                                         {"0.5", "unknown item '0.5'"},
                                         {"rgb,,nchw", "empty item"},
                                         {"dtype=float64", "dtype=float64"},
                                         {"layout=chw", "layout=chw"}}) {
    auto p = parse_preprocess(c.spec);
    ASSERT_FALSE(p.ok()) << c.spec;
    EXPECT_EQ(p.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(p.status().message().find(c.mentions), std::string::npos)
        << c.spec << ": " << p.status().message();
  }
  auto j = preprocess_from_json(nlohmann::json::parse(R"({"sclae": 1})"));
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.status().message().find("sclae"), std::string::npos);
}

// --- decoding: PIL wrote the files, stb reads them back ------------------------------------

TEST(DecodeImage, PngAndBmpGiveThePixelsWritten) {
  for (const char* file : {"gray_5x7.png", "gray_5x7.bmp"}) {
    auto img = decode_image(kData / file);
    ASSERT_TRUE(img.ok()) << img.status().message();
    ASSERT_EQ(img->height, 5);
    ASSERT_EQ(img->width, 7);
    ASSERT_EQ(img->channels, 1);
    for (int64_t y = 0; y < 5; ++y)
      for (int64_t x = 0; x < 7; ++x)
        ASSERT_EQ(img->pixels[static_cast<size_t>(y * 7 + x)], pattern(y, x, 0)) << file;
  }
  for (const char* file : {"rgb_6x8.png", "rgb_6x8.bmp", "rgba_3x4.png"}) {
    auto img = decode_image(kData / file);
    ASSERT_TRUE(img.ok()) << img.status().message();
    ASSERT_EQ(img->channels, 3) << file;  // RGBA: alpha dropped
    for (int64_t y = 0; y < img->height; ++y)
      for (int64_t x = 0; x < img->width; ++x)
        for (int64_t c = 0; c < 3; ++c)
          ASSERT_EQ(img->pixels[static_cast<size_t>((y * img->width + x) * 3 + c)],
                    pattern(y, x, c))
              << file;
  }
  auto la = decode_image(kData / "gray_alpha_3x4.png");
  ASSERT_TRUE(la.ok());
  ASSERT_EQ(la->channels, 1);
  EXPECT_EQ(la->pixels[5], pattern(1, 1, 0));
  // JPEG is lossy and stb's decoder is not libjpeg's: a flat colour comes back within 3 levels.
  auto jpg = decode_image(kData / "flat_8x8.jpg");
  ASSERT_TRUE(jpg.ok()) << jpg.status().message();
  ASSERT_EQ(jpg->channels, 3);
  for (size_t i = 0; i < jpg->pixels.size(); ++i)
    ASSERT_NEAR(jpg->pixels[i], (std::vector<int>{100, 150, 200})[i % 3], 3) << i;
}

TEST(DecodeImage, BadFilesAreErrorsNamingTheFile) {
  const fs::path dir = temp_dir();
  const std::string png = read_file(kData / "rgb_6x8.png");
  write_file(dir / "truncated.png", png.substr(0, 40));
  write_file(dir / "garbage.png", "this is not an image at all");
  write_file(dir / "empty.bmp", "");
  for (const char* name : {"truncated.png", "garbage.png", "empty.bmp"}) {
    auto img = decode_image(dir / name);
    ASSERT_FALSE(img.ok()) << name;
    EXPECT_EQ(img.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(img.status().message().find((dir / name).string()), std::string::npos)
        << img.status().message();
  }
  auto missing = decode_image(dir / "nope.png");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ErrorCode::kIo);
  EXPECT_NE(missing.status().message().find("nope.png"), std::string::npos);
  auto deep = decode_image(kData / "gray16_2x2.png");
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.status().code(), ErrorCode::kUnsupported);
  EXPECT_NE(deep.status().message().find("gray16_2x2.png"), std::string::npos);
  fs::remove_all(dir);
}

// --- resize against torch and PIL ----------------------------------------------------------

TEST(ImageSample, BilinearUpscaleMatchesTorch) {
  for (const char* file : {"gray_5x7.png", "gray_5x7.bmp"}) {
    auto t = load(file, DType::kFloat32, {1, 1, 9, 11}, "resize=9x11,scale=1/255");
    ASSERT_TRUE(t.ok()) << t.status().message();
    EXPECT_EQ(t->shape(), (Shape{1, 1, 9, 11}));
    expect_near(as_doubles(*t), kGrayUp9x11, 1e-5);
  }
}

TEST(ImageSample, BilinearDownscaleWithoutAntialiasMatchesTorch) {
  auto t = load("rgb_6x8.png", DType::kFloat32, {1, 3, 4, 5}, "resize=4x5,scale=1/255");
  ASSERT_TRUE(t.ok()) << t.status().message();
  expect_near(as_doubles(*t), kRgbDown4x5, 1e-5);
}

TEST(ImageSample, AntialiasedDownscaleMatchesPil) {
  auto t = load("rgb_6x8.png", DType::kFloat32, {1, 3, 3, 3}, "resize=3x3,antialias,scale=1/255");
  ASSERT_TRUE(t.ok()) << t.status().message();
  expect_near(as_doubles(*t), kRgbAntialias3x3, 1e-5);
  // Upscaling is the same with or without antialias.
  auto up =
      load("gray_5x7.png", DType::kFloat32, {1, 1, 9, 11}, "resize=9x11,antialias,scale=1/255");
  ASSERT_TRUE(up.ok());
  expect_near(as_doubles(*up), kGrayUp9x11, 1e-5);
}

TEST(ImageSample, Uint8UpscaleWithinOneLevelOfPil) {
  auto t = load("gray_5x7.png", DType::kUInt8, {1, 1, 8, 12}, "resize=8x12");
  ASSERT_TRUE(t.ok()) << t.status().message();
  ASSERT_EQ(t->dtype(), DType::kUInt8);
  expect_near(as_doubles(*t), kGrayUpUint8x8x12, 1.0);
}

TEST(ImageSample, ShorterSideResizeThenCenterCropMatchesTorch) {
  // 6x8 -> shorter side 3 -> 3x4 -> center crop 3x2 at (0, 1).
  auto t = load("rgb_6x8.png", DType::kFloat32, {1, 3, 3, 2}, "resize=3,crop=3x2,scale=1/255");
  ASSERT_TRUE(t.ok()) << t.status().message();
  expect_near(as_doubles(*t), kRgbShorter3Crop3x2, 1e-5);
  // A crop without resize is a plain window: 6x8 -> 4x4 at (1, 2).
  auto c = load("rgb_6x8.png", DType::kUInt8, {1, 3, 4, 4}, "crop=4");
  ASSERT_TRUE(c.ok()) << c.status().message();
  for (int64_t ch = 0; ch < 3; ++ch)
    for (int64_t y = 0; y < 4; ++y)
      for (int64_t x = 0; x < 4; ++x)
        ASSERT_EQ(c->data<uint8_t>()[(ch * 4 + y) * 4 + x], pattern(y + 1, x + 2, ch));
}

// --- normalisation, channel order, layout, dtype (hand-computed float32 values) -------------

TEST(ImageSample, MeanStdOrderAndLayout) {
  const std::string norm = "scale=1/255,mean=0.485,0.456,0.406,std=0.229,0.224,0.225";
  // Pixels (y=0, x=0) = (5, 72, 139) and (y=1, x=2) = (64, 131, 198).
  // (5/255 - 0.485)/0.229 in float32 = -2.0322802, and so on (numpy float32 by hand).
  auto nchw = load("rgb_6x8.png", DType::kFloat32, {1, 3, 6, 8}, norm + ",rgb,nchw");
  ASSERT_TRUE(nchw.ok()) << nchw.status().message();
  const float* v = nchw->data<float>();
  EXPECT_FLOAT_EQ(v[0], -2.0322802f);
  EXPECT_FLOAT_EQ(v[48], -0.77521f);
  EXPECT_FLOAT_EQ(v[96], 0.6182137f);
  EXPECT_FLOAT_EQ(v[10], -1.0219197f);
  EXPECT_FLOAT_EQ(v[48 + 10], 0.2577032f);
  EXPECT_FLOAT_EQ(v[96 + 10], 1.6465361f);
  // The decimal scale gives the same value here.
  auto dec = load("rgb_6x8.png", DType::kFloat32, {1, 3, 6, 8},
                  "scale=0.00392156862745098,mean=0.485,0.456,0.406,std=0.229,0.224,0.225");
  ASSERT_TRUE(dec.ok());
  EXPECT_FLOAT_EQ(dec->data<float>()[0], -2.0322802f);

  // BGR: the model's channel 0 is blue; mean/std are in the model's order.
  auto bgr = load("rgb_6x8.png", DType::kFloat32, {1, 3, 6, 8}, norm + ",bgr");
  ASSERT_TRUE(bgr.ok());
  const float* b = bgr->data<float>();
  EXPECT_FLOAT_EQ(b[0], 0.2624369f);  // (139/255 - 0.485)/0.229
  EXPECT_FLOAT_EQ(b[48], -0.77521f);
  EXPECT_FLOAT_EQ(b[96], -1.7172985f);  // (5/255 - 0.406)/0.225
  EXPECT_FLOAT_EQ(b[10], 1.2727973f);
  EXPECT_FLOAT_EQ(b[96 + 10], -0.68897593f);

  // NHWC: [1, 6, 8, 3], element (y=1, x=2, c) at (1*8 + 2)*3 + c.
  auto nhwc = load("rgb_6x8.png", DType::kFloat32, {1, 6, 8, 3}, norm + ",nhwc");
  ASSERT_TRUE(nhwc.ok()) << nhwc.status().message();
  EXPECT_EQ(nhwc->shape(), (Shape{1, 6, 8, 3}));
  const float* h = nhwc->data<float>();
  EXPECT_FLOAT_EQ(h[0], -2.0322802f);
  EXPECT_FLOAT_EQ(h[1], -0.77521f);
  EXPECT_FLOAT_EQ(h[2], 0.6182137f);
  EXPECT_FLOAT_EQ(h[30], -1.0219197f);
  EXPECT_FLOAT_EQ(h[31], 0.2577032f);
  EXPECT_FLOAT_EQ(h[32], 1.6465361f);
  // Rank 3 (no batch dimension).
  auto chw = load("rgb_6x8.png", DType::kFloat32, {3, 6, 8}, norm);
  ASSERT_TRUE(chw.ok()) << chw.status().message();
  EXPECT_EQ(chw->shape(), (Shape{3, 6, 8}));
  EXPECT_FLOAT_EQ(chw->data<float>()[96 + 10], 1.6465361f);
}

TEST(ImageSample, IntegerInputs) {
  // uint8: raw pixels.
  auto u = load("rgb_6x8.png", DType::kUInt8, {1, 6, 8, 3}, "nhwc");
  ASSERT_TRUE(u.ok()) << u.status().message();
  ASSERT_EQ(u->dtype(), DType::kUInt8);
  for (int64_t i = 0; i < 6 * 8 * 3; ++i)
    ASSERT_EQ(u->data<uint8_t>()[i], pattern(i / 24, i / 3 % 8, i % 3)) << i;
  // int8: pixel - 128; (64 - 128) = -64, (5 - 128) = -123, (198 - 128) = 70.
  auto s = load("rgb_6x8.png", DType::kInt8, {1, 3, 6, 8}, "mean=128");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->data<int8_t>()[0], -123);
  EXPECT_EQ(s->data<int8_t>()[10], -64);
  EXPECT_EQ(s->data<int8_t>()[96 + 10], 70);
  // Saturation and rounding: pixel 5 * 0.5 = 2.5 -> 2 (half to even); 198 * 2 = 396 -> 255.
  auto r = load("rgb_6x8.png", DType::kUInt8, {1, 3, 6, 8}, "scale=0.5");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data<uint8_t>()[0], 2);
  auto sat = load("rgb_6x8.png", DType::kUInt8, {1, 3, 6, 8}, "scale=2");
  ASSERT_TRUE(sat.ok());
  EXPECT_EQ(sat->data<uint8_t>()[96 + 10], 255);
  EXPECT_EQ(sat->data<uint8_t>()[0], 10);
  // A spec dtype that is not the model's is an error.
  auto wrong = load("rgb_6x8.png", DType::kFloat32, {1, 3, 6, 8}, "dtype=uint8");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("rgb_6x8.png"), std::string::npos);
}

TEST(ImageSample, Channels) {
  // Gray to a 3-channel model: replicated.
  auto rep = load("gray_5x7.png", DType::kUInt8, {1, 3, 5, 7}, "rgb");
  ASSERT_TRUE(rep.ok()) << rep.status().message();
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t i = 0; i < 35; ++i)
      ASSERT_EQ(rep->data<uint8_t>()[c * 35 + i], pattern(i / 7, i % 7, 0));
  // RGBA to a 3-channel model: alpha dropped.
  auto rgba = load("rgba_3x4.png", DType::kUInt8, {1, 3, 3, 4}, "rgb");
  ASSERT_TRUE(rgba.ok()) << rgba.status().message();
  EXPECT_EQ(rgba->data<uint8_t>()[2 * 12 + 5], pattern(1, 1, 2));
  // Gray + alpha to a 1-channel model.
  auto la = load("gray_alpha_3x4.png", DType::kUInt8, {1, 1, 3, 4}, "rgb");
  ASSERT_TRUE(la.ok()) << la.status().message();
  EXPECT_EQ(la->data<uint8_t>()[11], pattern(2, 3, 0));
  // Unknown channel/size dims take the image's.
  auto dyn = load("rgb_6x8.png", DType::kFloat32, {-1, -1, -1, -1}, "rgb");
  ASSERT_TRUE(dyn.ok()) << dyn.status().message();
  EXPECT_EQ(dyn->shape(), (Shape{1, 3, 6, 8}));
  // RGB to a 1-channel model: an error naming the file and the expected shape.
  auto bad = load("rgb_6x8.png", DType::kFloat32, {1, 1, 6, 8}, "rgb");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("rgb_6x8.png"), std::string::npos);
  EXPECT_NE(bad.status().message().find("float32[1,1,6,8]"), std::string::npos)
      << bad.status().message();
  // A 4-channel model cannot take images.
  auto four = load("rgb_6x8.png", DType::kFloat32, {1, 4, 6, 8}, "rgb");
  ASSERT_FALSE(four.ok());
  EXPECT_NE(four.status().message().find("rgb_6x8.png"), std::string::npos);
  // Three mean values for a 1-channel model.
  auto means = load("gray_5x7.png", DType::kFloat32, {1, 1, 5, 7}, "mean=0.1,0.2,0.3");
  ASSERT_FALSE(means.ok());
  EXPECT_NE(means.status().message().find("gray_5x7.png"), std::string::npos);
}

TEST(ImageSample, SizeMismatchNamesFileAndShape) {
  auto t = load("gray_5x7.png", DType::kFloat32, {1, 1, 28, 28}, "scale=1/255");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), ErrorCode::kInvalidArgument);
  const std::string m = t.status().message();
  EXPECT_NE(m.find("gray_5x7.png"), std::string::npos) << m;
  EXPECT_NE(m.find("5x7"), std::string::npos) << m;
  EXPECT_NE(m.find("float32[1,1,28,28]"), std::string::npos) << m;
  EXPECT_NE(m.find("resize="), std::string::npos) << m;
  // After a resize to the wrong size, too.
  auto r = load("gray_5x7.png", DType::kFloat32, {1, 1, 28, 28}, "resize=27x28");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("27x28 after preprocessing"), std::string::npos);
  // A crop larger than the image.
  auto c = load("gray_5x7.png", DType::kFloat32, {1, 1, 6, 6}, "crop=6");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("gray_5x7.png"), std::string::npos);
}

// --- SampleReader over image files ---------------------------------------------------------

TEST(ImageSamples, DirectoryGivesOneSamplePerImageSortedByName) {
  const fs::path dir = temp_dir();
  fs::copy_file(kData / "gray_5x7.png", dir / "b.png");
  fs::copy_file(kData / "gray_5x7.bmp", dir / "a.BMP");
  fs::copy_file(kData / "gray_5x7.png", dir / "c.png");
  write_file(dir / "notes.txt", "ignored");
  const ir::Graph g = one_input(DType::kFloat32, {1, 1, 9, 11});
  auto reader = SampleReader::open(g, {dir.string()}, spec("resize=9x11,scale=1/255"));
  ASSERT_TRUE(reader.ok()) << reader.status().message();
  EXPECT_EQ(reader->files(), 3u);
  std::vector<std::string> names;
  std::vector<Tensor> inputs;
  std::string name;
  while (true) {
    auto more = reader->next(&inputs, &name);
    ASSERT_TRUE(more.ok()) << more.status().message();
    if (!*more) break;
    names.push_back(name);
    ASSERT_EQ(inputs.size(), 1u);
    expect_near(as_doubles(inputs[0]), kGrayUp9x11, 1e-5);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"a.BMP", "b.png", "c.png"}));

  // One image file as the input.
  auto one = load_samples(g, {(dir / "b.png").string()}, spec("resize=9x11,scale=1/255"));
  ASSERT_TRUE(one.ok()) << one.status().message();
  EXPECT_EQ(one->names, std::vector<std::string>{"b.png"});

  // A corrupt image among them: the error names it when it is read.
  write_file(dir / "bb.png", "broken");
  auto bad = load_samples(g, {dir.string()}, spec("resize=9x11"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bb.png"), std::string::npos) << bad.status().message();
  fs::remove_all(dir);
}

TEST(ImageSamples, ErrorsAndNpyUnchanged) {
  const fs::path dir = temp_dir();
  const ir::Graph g = one_input(DType::kFloat32, {1, 1, 5, 7});
  fs::create_directories(dir / "npy");
  const Tensor x = Tensor::from_vector<float>({1, 1, 5, 7}, std::vector<float>(35, 0.25f));
  ASSERT_TRUE(write_npy(dir / "npy" / "s1.npy", x).ok());
  ASSERT_TRUE(write_npy(dir / "npy" / "s0.npy", x).ok());
  auto npy = load_samples(g, {(dir / "npy").string()});
  ASSERT_TRUE(npy.ok()) << npy.status().message();
  EXPECT_EQ(npy->names, (std::vector<std::string>{"s0.npy", "s1.npy"}));
  EXPECT_EQ(npy->inputs[1][0].values<float>()[34], 0.25f);

  // .npy with a preprocessing spec: an error (the spec would be ignored).
  auto spec_npy = load_samples(g, {(dir / "npy").string()}, spec("scale=1/255"));
  ASSERT_FALSE(spec_npy.ok());
  EXPECT_NE(spec_npy.status().message().find("preprocess"), std::string::npos);

  // Images without a spec.
  fs::create_directories(dir / "img");
  fs::copy_file(kData / "gray_5x7.png", dir / "img" / "a.png");
  auto nospec = load_samples(g, {(dir / "img").string()});
  ASSERT_FALSE(nospec.ok());
  EXPECT_NE(nospec.status().message().find("--preprocess"), std::string::npos);
  EXPECT_NE(nospec.status().message().find((dir / "img").string()), std::string::npos);

  // Mixed .npy and images.
  ASSERT_TRUE(write_npy(dir / "img" / "b.npy", x).ok());
  auto mixed = load_samples(g, {(dir / "img").string()}, spec("rgb"));
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.status().message().find((dir / "img").string()), std::string::npos);
  EXPECT_NE(mixed.status().message().find("both"), std::string::npos) << mixed.status().message();

  // Missing image file.
  auto missing = load_samples(g, {(dir / "nope.png").string()}, spec("rgb"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope.png"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace qdiff::runtime
