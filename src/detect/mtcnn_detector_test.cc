// Pins MtcnnDetector on the packaged MTCNN weights: faces in a group photo
// with landmarks in Lineup's order, landmarks that follow a rotated face, no
// faces in featureless images, no crash on tiny ones, clear errors for bad
// model files.
#include "detect/mtcnn_detector.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/error.h"
#include "test_env.h"

namespace lineup {
namespace {

const char* kGroupPhoto = "@vladmandic/face-api/demo/sample5.jpg";  // five frontal faces

struct MtcnnModels {
  std::filesystem::path pnet, rnet, onet;
};

// The three MTCNN stages as set-up's import writes them (once per test binary).
const MtcnnModels& Models() {
  static const MtcnnModels models = [] {
    std::filesystem::path dir = testing::ImportedModelsDir();
    return MtcnnModels{dir / "pnet.onnx", dir / "rnet.onnx", dir / "onet.onnx"};
  }();
  return models;
}

float EyeLineDegrees(const DetectedFace& f) {
  cv::Point2f d = f.landmarks[kRightEye] - f.landmarks[kLeftEye];
  return float(std::atan2(d.y, d.x) * 180.0 / CV_PI);
}

void ExpectPlausibleUprightFace(const DetectedFace& f, cv::Size image) {
  ASSERT_EQ(f.landmarks.size(), 5u);
  cv::Point2f centre(f.box.x + f.box.width / 2, f.box.y + f.box.height / 2);
  EXPECT_TRUE(cv::Rect2f(0, 0, image.width, image.height).contains(centre)) << f.box;
  EXPECT_GT(f.box.width, 0.f);
  EXPECT_GT(f.box.height, 0.f);
  EXPECT_GE(f.score, 0.7f);
  EXPECT_LE(f.score, 1.f);
  for (const cv::Point2f& p : f.landmarks) EXPECT_TRUE(f.box.contains(p)) << p << " not in " << f.box;
  const auto& lm = f.landmarks;
  EXPECT_LT(lm[kLeftEye].x, lm[kRightEye].x);
  EXPECT_LT(lm[kLeftMouth].x, lm[kRightMouth].x);
  float eyes_y = (lm[kLeftEye].y + lm[kRightEye].y) / 2;
  float mouth_y = (lm[kLeftMouth].y + lm[kRightMouth].y) / 2;
  EXPECT_LT(eyes_y, lm[kNose].y);
  EXPECT_LT(lm[kNose].y, mouth_y);
}

TEST(MtcnnDetector, FindsTheFacesOfAGroupPhotoWithOrderedLandmarks) {
  LINEUP_REQUIRE_PACKAGE_FILE(photo_path, kGroupPhoto);
  cv::Mat photo = cv::imread(photo_path.string());
  ASSERT_FALSE(photo.empty());
  MtcnnDetector detector(Models().pnet, Models().rnet, Models().onet);
  std::vector<DetectedFace> faces = detector.Detect(photo);
  EXPECT_GE(faces.size(), 4u);
  EXPECT_LE(faces.size(), 7u);
  for (size_t i = 0; i < faces.size(); ++i) {
    SCOPED_TRACE(i);
    ExpectPlausibleUprightFace(faces[i], photo.size());
    if (i > 0) {
      EXPECT_GE(faces[i - 1].score, faces[i].score);
    }
  }
}

TEST(MtcnnDetector, LandmarksFollowARotatedFace) {
  LINEUP_REQUIRE_PACKAGE_FILE(photo_path, kGroupPhoto);
  cv::Mat photo = cv::imread(photo_path.string());
  MtcnnDetector detector(Models().pnet, Models().rnet, Models().onet);
  std::vector<DetectedFace> faces = detector.Detect(photo);
  ASSERT_FALSE(faces.empty());
  const DetectedFace& face = faces.front();

  // The face with a generous margin, pasted into a grey canvas.
  const float side = 2.2f * std::max(face.box.width, face.box.height);
  cv::Point2f centre(face.box.x + face.box.width / 2, face.box.y + face.box.height / 2);
  cv::Rect crop = cv::Rect(cv::Point(int(centre.x - side / 2), int(centre.y - side / 2)),
                           cv::Size(int(side), int(side))) &
                  cv::Rect(0, 0, photo.cols, photo.rows);
  cv::Mat canvas(crop.height + 200, crop.width + 200, CV_8UC3, cv::Scalar::all(128));
  photo(crop).copyTo(canvas(cv::Rect(100, 100, crop.width, crop.height)));
  const cv::Point2f to_canvas(100.f - crop.x, 100.f - crop.y);

  for (double degrees : {15.0, -15.0}) {
    SCOPED_TRACE(degrees);
    cv::Point2f pivot(canvas.cols / 2.f, canvas.rows / 2.f);
    cv::Mat rotation = cv::getRotationMatrix2D(pivot, degrees, 1.0);
    cv::Mat rotated;
    cv::warpAffine(canvas, rotated, rotation, canvas.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT,
                   cv::Scalar::all(128));
    std::vector<cv::Point2f> expected;
    for (const cv::Point2f& p : face.landmarks) expected.push_back(p + to_canvas);
    cv::transform(expected, expected, rotation);

    std::vector<DetectedFace> found = detector.Detect(rotated);
    ASSERT_FALSE(found.empty());
    const DetectedFace& r = found.front();
    ASSERT_EQ(r.landmarks.size(), 5u);
    // Image rotation by +degrees (counter-clockwise on screen, y down)
    // turns the eye line by -degrees.
    EXPECT_NEAR(EyeLineDegrees(r), EyeLineDegrees(face) - degrees, 4.0);
    const float eye_distance = float(cv::norm(expected[kRightEye] - expected[kLeftEye]));
    for (int k = 0; k < 5; ++k) {
      EXPECT_LT(cv::norm(r.landmarks[k] - expected[k]), 0.2 * eye_distance) << "landmark " << k;
    }
  }
}

TEST(MtcnnDetector, FeaturelessImagesHaveNoFaces) {
  MtcnnDetector detector(Models().pnet, Models().rnet, Models().onet);
  for (int value : {0, 128, 255}) {
    EXPECT_TRUE(detector.Detect(cv::Mat(480, 640, CV_8UC3, cv::Scalar::all(value))).empty()) << value;
  }
  cv::Mat gradient(300, 400, CV_8UC3);
  for (int y = 0; y < gradient.rows; ++y) gradient.row(y).setTo(cv::Scalar::all(y * 255 / 300));
  EXPECT_TRUE(detector.Detect(gradient).empty());
}

TEST(MtcnnDetector, TinyAndOddImagesDoNotCrash) {
  MtcnnDetector detector(Models().pnet, Models().rnet, Models().onet);
  EXPECT_TRUE(detector.Detect(cv::Mat()).empty());
  for (cv::Size size : {cv::Size(1, 1), cv::Size(5, 5), cv::Size(11, 30), cv::Size(12, 12),
                        cv::Size(13, 40), cv::Size(400, 13)}) {
    cv::Mat noise(size, CV_8UC3);
    cv::randu(noise, 0, 255);
    EXPECT_NO_THROW(detector.Detect(noise)) << size;
  }
  cv::Mat grey(50, 60, CV_8UC1, cv::Scalar(90));
  EXPECT_NO_THROW(detector.Detect(grey));
  EXPECT_THROW(detector.Detect(cv::Mat(20, 20, CV_32FC3)), Error);
}

TEST(MtcnnDetector, PyramidHonoursMinFaceAndMaxSide) {
  MtcnnOptions options;
  options.min_face_size = 40;
  options.max_image_side = 0;
  MtcnnDetector uncapped(Models().pnet, Models().rnet, Models().onet, options);
  std::vector<double> scales = uncapped.PyramidScales(cv::Size(1920, 1080));
  ASSERT_FALSE(scales.empty());
  EXPECT_DOUBLE_EQ(scales.front(), 12.0 / 40);
  EXPECT_GE(1080 * scales.back(), 12.0);
  EXPECT_LT(1080 * scales.back() * options.pyramid_factor, 12.0);
  EXPECT_FLOAT_EQ(uncapped.EffectiveMinFaceSize(cv::Size(1920, 1080)), 40.f);

  options.min_face_size = 10;
  options.max_image_side = 960;
  MtcnnDetector capped(Models().pnet, Models().rnet, Models().onet, options);
  EXPECT_DOUBLE_EQ(capped.PyramidScales(cv::Size(1920, 1080)).front(), 0.5);
  EXPECT_FLOAT_EQ(capped.EffectiveMinFaceSize(cv::Size(1920, 1080)), 24.f);
  EXPECT_TRUE(capped.PyramidScales(cv::Size(5, 5)).empty());
}

TEST(MtcnnDetector, BadModelFilesThrowNamingTheFile) {
  std::filesystem::path missing = testing::TempDir("mtcnn-bad") / "no-such-rnet.onnx";
  try {
    MtcnnDetector detector(Models().pnet, missing, Models().onet);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-rnet.onnx"), std::string::npos) << e.what();
  }
  std::filesystem::path junk = testing::TempDir("mtcnn-bad") / "junk-onet.onnx";
  std::ofstream(junk) << "this is not an ONNX graph";
  try {
    MtcnnDetector detector(Models().pnet, Models().rnet, junk);
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("junk-onet.onnx"), std::string::npos) << e.what();
  }
  // A valid graph of the wrong stage lacks the expected outputs.
  EXPECT_THROW(MtcnnDetector(Models().onet, Models().rnet, Models().onet), Error);
}

}  // namespace
}  // namespace lineup
