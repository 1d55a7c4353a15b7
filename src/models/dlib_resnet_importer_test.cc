#include "models/dlib_resnet_importer.h"

#include <cmath>
#include <string>

#include <gtest/gtest.h>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/error.h"
#include "models/dlib_resnet_reference.h"
#include "test_env.h"

namespace lineup {
namespace {

constexpr char kManifest[] =
    "@vladmandic/face-api/model/face_recognition_model-weights_manifest.json";
constexpr char kSample[] = "@vladmandic/face-api/demo/sample1.jpg";

// The imported model and its source weights, built once for the whole suite.
struct Imported {
  TensorMap weights;
  std::filesystem::path onnx;

  static const Imported& Get(const std::filesystem::path& manifest) {
    static const Imported* imported = [&] {
      auto* m = new Imported;
      m->weights = ReadTfjsWeights(manifest);
      m->onnx = testing::TempDir("dlib_resnet") / "dlib_resnet.onnx";
      ImportDlibResnet(manifest, m->onnx);
      return m;
    }();
    return *imported;
  }
};

cv::Mat RandomImage(uint64_t seed) {
  cv::Mat img(kDlibResnetInputSize, kDlibResnetInputSize, CV_8UC3);
  cv::RNG rng(seed);
  rng.fill(img, cv::RNG::UNIFORM, 0, 256);
  return img;
}

// A hand-picked square crop of a demo photo, as RGB 150x150.
cv::Mat FaceCrop(const std::filesystem::path& sample, cv::Rect box) {
  cv::Mat bgr = cv::imread(sample.string(), cv::IMREAD_COLOR);
  if (bgr.empty()) throw Error(Context(sample.string(), "cannot decode"));
  cv::Mat rgb;
  cv::cvtColor(bgr(box), rgb, cv::COLOR_BGR2RGB);
  cv::resize(rgb, rgb, {kDlibResnetInputSize, kDlibResnetInputSize}, 0, 0, cv::INTER_AREA);
  return rgb;
}

// One embedding per row of the returned [N, 128] matrix.
cv::Mat Forward(cv::dnn::Net& net, const std::vector<cv::Mat>& rgb) {
  net.setInput(cv::dnn::blobFromImages(rgb));  // raw 0..255, NCHW, no swap
  cv::Mat out = net.forward("embedding");
  return out.reshape(1, static_cast<int>(rgb.size())).clone();
}

double Norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += double{x} * x;
  return std::sqrt(s);
}

// ONNX row vs reference: cosine and max |difference| relative to the reference norm.
void ExpectMatches(const cv::Mat& row, const std::vector<float>& ref, double max_rel) {
  ASSERT_EQ(row.total(), ref.size());
  double dot = 0, nn = 0, max_abs = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double a = row.at<float>(static_cast<int>(i));
    dot += a * ref[i];
    nn += a * a;
    max_abs = std::max(max_abs, std::abs(a - ref[i]));
  }
  const double cosine = dot / (std::sqrt(nn) * Norm(ref));
  EXPECT_GT(cosine, 0.99999);
  EXPECT_LT(max_abs / Norm(ref), max_rel);
}

TEST(DlibResnetTest, OnnxMatchesReferenceOnRandomImage) {
  LINEUP_REQUIRE_PACKAGE_FILE(manifest, kManifest);
  const Imported& m = Imported::Get(manifest);
  cv::dnn::Net net = cv::dnn::readNetFromONNX(m.onnx.string());
  const cv::Mat img = RandomImage(7);
  const cv::Mat onnx = Forward(net, {img});
  ASSERT_EQ(onnx.cols, kDlibResnetEmbeddingSize);
  ExpectMatches(onnx.row(0), DlibResnetReference(m.weights, img), 1e-4);
}

TEST(DlibResnetTest, OnnxMatchesReferenceOnRealFace) {
  LINEUP_REQUIRE_PACKAGE_FILE(manifest, kManifest);
  LINEUP_REQUIRE_PACKAGE_FILE(sample, kSample);
  const Imported& m = Imported::Get(manifest);
  cv::dnn::Net net = cv::dnn::readNetFromONNX(m.onnx.string());
  const cv::Mat face = FaceCrop(sample, {1413, 180, 292, 292});
  const std::vector<float> ref = DlibResnetReference(m.weights, face);
  ExpectMatches(Forward(net, {face}).row(0), ref, 1e-4);
  // dlib descriptors are not normalised but sit near unit length.
  EXPECT_GT(Norm(ref), 0.2);
  EXPECT_LT(Norm(ref), 5.0);
}

TEST(DlibResnetTest, BatchOfThreeEqualsThreeSingles) {
  LINEUP_REQUIRE_PACKAGE_FILE(manifest, kManifest);
  const Imported& m = Imported::Get(manifest);
  cv::dnn::Net net = cv::dnn::readNetFromONNX(m.onnx.string());
  const std::vector<cv::Mat> images = {RandomImage(1), RandomImage(2), RandomImage(3)};
  const cv::Mat batch = Forward(net, images);
  ASSERT_EQ(batch.rows, 3);
  for (int i = 0; i < 3; ++i) {
    const cv::Mat single = Forward(net, {images[i]});
    std::vector<float> expected(single.begin<float>(), single.end<float>());
    ExpectMatches(batch.row(i), expected, 1e-5);
  }
}

TEST(DlibResnetTest, SameFaceIsCloserThanOtherFaces) {
  LINEUP_REQUIRE_PACKAGE_FILE(manifest, kManifest);
  LINEUP_REQUIRE_PACKAGE_FILE(sample1, kSample);
  LINEUP_REQUIRE_PACKAGE_FILE(sample3, "@vladmandic/face-api/demo/sample3.jpg");
  const Imported& m = Imported::Get(manifest);
  cv::dnn::Net net = cv::dnn::readNetFromONNX(m.onnx.string());
  // Rows 0-2: the right-hand woman of sample1 (two crops and a mirror image);
  // rows 3-6: four other people. Boxes are rough, not dlib-aligned chips.
  cv::Mat mirrored;
  cv::flip(FaceCrop(sample1, {1413, 180, 292, 292}), mirrored, 1);
  const cv::Mat e = Forward(net, {FaceCrop(sample1, {1413, 180, 292, 292}),
                                  FaceCrop(sample1, {1435, 205, 260, 260}), mirrored,
                                  FaceCrop(sample1, {338, 323, 292, 292}),
                                  FaceCrop(sample1, {792, 419, 292, 292}),
                                  FaceCrop(sample3, {529, 324, 292, 292}),
                                  FaceCrop(sample3, {1461, 300, 292, 292})});
  auto distance = [&](int a, int b) { return cv::norm(e.row(a) - e.row(b)); };
  double same_max = 0, other_min = 1e9;
  for (int a = 0; a < 3; ++a) {
    for (int b = a + 1; b < 3; ++b) same_max = std::max(same_max, distance(a, b));
    for (int b = 3; b < 7; ++b) other_min = std::min(other_min, distance(a, b));
  }
  // Measured: same <= 0.36, other >= 0.47; dlib's own threshold is 0.6.
  EXPECT_LT(same_max, 0.45);
  EXPECT_LT(same_max + 0.05, other_min);
}

TEST(DlibResnetTest, RejectsOtherModelsAndAlteredWeights) {
  LINEUP_REQUIRE_PACKAGE_FILE(manifest, kManifest);
  const Imported& m = Imported::Get(manifest);
  auto expect_error = [](const TensorMap& w, const std::string& needle) {
    OnnxBuilder builder("t");
    try {
      BuildDlibResnetGraph(w, "weights.json", &builder);
      ADD_FAILURE() << "no Error; expected one mentioning " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("weights.json"), std::string::npos) << e.what();
    }
  };
  TensorMap extra = m.weights;
  extra["conv512_1/conv1/conv/bias"] = {{4}, std::vector<float>(4)};
  expect_error(extra, "conv512_1/conv1/conv/bias");
  TensorMap missing = m.weights;
  missing.erase("conv128_2/conv2/scale/biases");
  expect_error(missing, "conv128_2/conv2/scale/biases");
  TensorMap misshapen = m.weights;
  misshapen["fc"].shape = {128, 256};
  expect_error(misshapen, "fc");

  // A different network's manifest fails with the manifest's name.
  LINEUP_REQUIRE_PACKAGE_FILE(landmarks,
                              "@vladmandic/face-api/model/face_landmark_68_model-weights_manifest.json");
  const auto out = testing::TempDir("dlib_resnet_bad") / "x.onnx";
  try {
    ImportDlibResnet(landmarks, out);
    ADD_FAILURE() << "imported a landmark model as dlib's ResNet";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(landmarks.string()), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST(DlibResnetTest, ReferenceRejectsWrongImage) {
  LINEUP_REQUIRE_PACKAGE_FILE(manifest, kManifest);
  const Imported& m = Imported::Get(manifest);
  EXPECT_THROW(DlibResnetReference(m.weights, cv::Mat(100, 150, CV_8UC3)), Error);
  EXPECT_THROW(DlibResnetReference(m.weights, cv::Mat(150, 150, CV_8UC1)), Error);
}

}  // namespace
}  // namespace lineup
