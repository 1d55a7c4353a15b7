// Pins OnetRefiner: from a badly framed box around a known face it recovers
// MTCNN's own landmarks; batching changes nothing; non-faces and unusable
// boxes are flagged and returned unchanged.
#include "detect/onet_refiner.h"

#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "common/error.h"
#include "detect/mtcnn_detector.h"
#include "test_env.h"

namespace lineup {
namespace {

const char* kGroupPhoto = "@vladmandic/face-api/demo/sample5.jpg";  // five frontal faces

struct Fixture {
  std::filesystem::path pnet, rnet, onet;
  cv::Mat photo;
  std::vector<DetectedFace> faces;  // MTCNN's, the reference
};

// Detects the group photo once with the imported MTCNN stages.
const Fixture& Shared() {
  static const Fixture fixture = [] {
    Fixture f;
    std::filesystem::path dir = testing::ImportedModelsDir();
    f.pnet = dir / "pnet.onnx";
    f.rnet = dir / "rnet.onnx";
    f.onet = dir / "onet.onnx";
    std::filesystem::path photo = testing::PackageFile(kGroupPhoto);
    if (photo.empty()) return Fixture{};
    f.photo = cv::imread(photo.string());
    f.faces = MtcnnDetector(f.pnet, f.rnet, f.onet).Detect(f.photo);
    return f;
  }();
  return fixture;
}

#define REQUIRE_FIXTURE()                                                              \
  ASSERT_FALSE(Shared().photo.empty()) << "missing " << kGroupPhoto;                    \
  ASSERT_GE(Shared().faces.size(), 3u)

// `box` moved by (dx, dy) of its size and scaled about its centre.
cv::Rect2f Misframed(const cv::Rect2f& box, float dx, float dy, float scale) {
  float w = box.width * scale, h = box.height * scale;
  return {box.x + (box.width - w) / 2 + dx * box.width, box.y + (box.height - h) / 2 + dy * box.height,
          w, h};
}

float EyeDistance(const DetectedFace& f) {
  return float(cv::norm(f.landmarks[kRightEye] - f.landmarks[kLeftEye]));
}

TEST(OnetRefiner, MisframedBoxesRecoverMtcnnLandmarks) {
  REQUIRE_FIXTURE();
  OnetRefiner refiner(Shared().onet);
  for (const DetectedFace& reference : Shared().faces) {
    for (auto [dx, dy, scale] : {std::tuple{0.15f, 0.1f, 1.2f}, {-0.12f, -0.15f, 0.85f}}) {
      SCOPED_TRACE(::testing::Message() << reference.box << " dx " << dx << " dy " << dy);
      DetectedFace rough{Misframed(reference.box, dx, dy, scale), 0.42f, {}};
      std::vector<RefinedFace> out = refiner.Refine(Shared().photo, {rough});
      ASSERT_EQ(out.size(), 1u);
      EXPECT_TRUE(out[0].refined);
      EXPECT_GT(out[0].onet_score, 0.5f);
      EXPECT_FLOAT_EQ(out[0].face.score, 0.42f);  // the detector's score is kept
      ASSERT_EQ(out[0].face.landmarks.size(), 5u);
      // MTCNN's own landmarks move by ~0.05 of the eye distance between framings.
      const float tolerance = 0.12f * EyeDistance(reference);
      for (int k = 0; k < 5; ++k) {
        EXPECT_LT(cv::norm(out[0].face.landmarks[k] - reference.landmarks[k]), tolerance)
            << "landmark " << k;
      }
      EXPECT_GT((out[0].face.box & reference.box).area() / (out[0].face.box | reference.box).area(),
                0.7f);
    }
  }
}

TEST(OnetRefiner, BatchedEqualsOneByOne) {
  REQUIRE_FIXTURE();
  OnetRefiner refiner(Shared().onet);
  std::vector<DetectedFace> rough;
  for (const DetectedFace& f : Shared().faces) rough.push_back({Misframed(f.box, 0.05f, 0.1f, 1.1f), 1, {}});
  std::vector<RefinedFace> batched = refiner.Refine(Shared().photo, rough);
  ASSERT_EQ(batched.size(), rough.size());
  for (size_t i = 0; i < rough.size(); ++i) {
    std::vector<RefinedFace> single = refiner.Refine(Shared().photo, {rough[i]});
    EXPECT_NEAR(single[0].onet_score, batched[i].onet_score, 1e-4);
    for (int k = 0; k < 5; ++k) {
      EXPECT_LT(cv::norm(single[0].face.landmarks[k] - batched[i].face.landmarks[k]), 0.01);
    }
  }
}

TEST(OnetRefiner, NonFacesAndUnusableBoxesKeepTheirData) {
  REQUIRE_FIXTURE();
  OnetRefiner refiner(Shared().onet);
  cv::Mat blank(300, 300, CV_8UC3, cv::Scalar::all(128));
  std::vector<cv::Point2f> marks(5, cv::Point2f(7, 8));
  std::vector<DetectedFace> boxes = {
      {cv::Rect2f(50, 50, 100, 100), 0.9f, marks},    // featureless
      {cv::Rect2f(60, 60, 0, 40), 0.8f, marks},       // empty
      {cv::Rect2f(5000, 5000, 50, 50), 0.7f, {}},     // far outside
      {cv::Rect2f(-20, -20, 500, 500), 0.6f, marks},  // larger than the image
  };
  std::vector<RefinedFace> out = refiner.Refine(blank, boxes);
  ASSERT_EQ(out.size(), boxes.size());
  for (size_t i = 0; i < out.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_FALSE(out[i].refined) << out[i].onet_score;
    EXPECT_EQ(out[i].face.box, boxes[i].box);
    EXPECT_EQ(out[i].face.score, boxes[i].score);
    EXPECT_EQ(out[i].face.landmarks, boxes[i].landmarks);
  }
  EXPECT_TRUE(refiner.Refine(blank, {}).empty());
  EXPECT_TRUE(refiner.Refine(cv::Mat(), {}).empty());
  EXPECT_THROW(refiner.Refine(cv::Mat(), boxes), Error);
}

TEST(OnetRefiner, TinyImagesDoNotCrash) {
  REQUIRE_FIXTURE();
  OnetRefiner refiner(Shared().onet);
  cv::Mat tiny(5, 5, CV_8UC3, cv::Scalar(10, 200, 30));
  std::vector<RefinedFace> out = refiner.Refine(tiny, {{cv::Rect2f(0, 0, 5, 5), 1.f, {}}});
  ASSERT_EQ(out.size(), 1u);
}

TEST(OnetRefiner, BadModelFileThrowsNamingIt) {
  std::filesystem::path missing = testing::TempDir("onet-bad") / "missing-onet.onnx";
  try {
    OnetRefiner refiner(missing);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing-onet.onnx"), std::string::npos) << e.what();
  }
  REQUIRE_FIXTURE();
  EXPECT_THROW(OnetRefiner(Shared().rnet), Error);  // an R-Net has no landmark output
  OnetRefinerOptions bad;
  bad.passes = 0;
  EXPECT_THROW(OnetRefiner(Shared().onet, bad), Error);
}

}  // namespace
}  // namespace lineup
