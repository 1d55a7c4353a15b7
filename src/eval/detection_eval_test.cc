#include "eval/detection_eval.h"

#include <cmath>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace lineup {
namespace {

WiderFace Face(double x, double y, double w, double h, int invalid = 0) {
  WiderFace f;
  f.x = x;
  f.y = y;
  f.w = w;
  f.h = h;
  f.invalid = invalid;
  return f;
}

ScoredDetection Box(double x, double y, double w, double h, double score) {
  return {x, y, w, h, score};
}

TEST(EvalDetection, BoxIou) {
  EXPECT_DOUBLE_EQ(BoxIou(0, 0, 10, 10, 0, 0, 10, 10), 1.0);
  EXPECT_DOUBLE_EQ(BoxIou(0, 0, 10, 10, 5, 0, 10, 10), 50.0 / 150);
  EXPECT_DOUBLE_EQ(BoxIou(0, 0, 10, 10, 10, 0, 10, 10), 0.0);
  EXPECT_DOUBLE_EQ(BoxIou(0, 0, 0, 10, 0, 0, 10, 10), 0.0);
}

TEST(EvalDetection, PerfectDetectionsGiveApOne) {
  std::vector<WiderImage> gt = {{"a.jpg", {Face(0, 0, 20, 20), Face(50, 50, 30, 40)}},
                                {"b.jpg", {Face(10, 10, 15, 15)}},
                                {"empty.jpg", {}}};
  std::vector<std::vector<ScoredDetection>> dets = {
      {Box(0, 0, 20, 20, 0.9), Box(50, 50, 30, 40, 0.8)}, {Box(10, 10, 15, 15, 0.7)}, {}};
  DetectionReport r = EvaluateDetections(gt, dets);
  EXPECT_DOUBLE_EQ(r.average_precision, 1.0);
  EXPECT_EQ(r.num_positives, 3);
  EXPECT_EQ(r.num_true_positives, 3);
  EXPECT_EQ(r.num_false_positives, 0);
  ASSERT_EQ(r.pr_curve.size(), 3u);
  EXPECT_DOUBLE_EQ(r.pr_curve.back().recall, 1.0);
}

// Image A: faces F1, F2 and an invalid F3; image B: face G1. Detections ranked
// over both images: 0.95 FP (B, nothing there), 0.9 TP (F1), 0.8 FP (second hit
// on F1), 0.7 ignored (on invalid F3), 0.6 FP (A, nothing there), 0.5 TP (G1).
// Curve (R, P): (0, 0) (1/3, 1/2) (1/3, 1/3) (1/3, 1/4) (2/3, 2/5).
// AP = 1/3 * max(1/2, 1/3, 1/4, 2/5) + 1/3 * 2/5 = 1/6 + 2/15 = 0.3.
TEST(EvalDetection, HandComputedApWithDuplicateAndInvalidFace) {
  std::vector<WiderImage> gt = {
      {"a.jpg", {Face(0, 0, 10, 10), Face(20, 0, 10, 10), Face(40, 0, 10, 10, /*invalid=*/1)}},
      {"b.jpg", {Face(0, 0, 10, 10)}}};
  std::vector<std::vector<ScoredDetection>> dets = {
      {Box(0, 0, 10, 10, 0.9), Box(0, 0, 10, 10, 0.8), Box(40, 0, 10, 10, 0.7),
       Box(100, 100, 10, 10, 0.6)},
      {Box(0, 0, 10, 10, 0.5), Box(50, 50, 10, 10, 0.95)}};
  DetectionReport r = EvaluateDetections(gt, dets);
  EXPECT_NEAR(r.average_precision, 0.3, 1e-12);
  EXPECT_EQ(r.num_images, 2);
  EXPECT_EQ(r.num_gt_faces, 4);
  EXPECT_EQ(r.num_invalid_gt, 1);
  EXPECT_EQ(r.num_ignored_gt, 1);
  EXPECT_EQ(r.num_positives, 3);
  EXPECT_EQ(r.num_detections, 6);
  EXPECT_EQ(r.num_ignored_detections, 1);
  EXPECT_EQ(r.num_true_positives, 2);
  EXPECT_EQ(r.num_false_positives, 3);
  ASSERT_EQ(r.pr_curve.size(), 5u);
  EXPECT_DOUBLE_EQ(r.pr_curve[0].precision, 0.0);
  EXPECT_DOUBLE_EQ(r.pr_curve[0].score, 0.95);
  EXPECT_DOUBLE_EQ(r.pr_curve[1].precision, 0.5);
  EXPECT_DOUBLE_EQ(r.pr_curve[4].recall, 2.0 / 3);
  EXPECT_DOUBLE_EQ(r.pr_curve[4].precision, 0.4);
}

TEST(EvalDetection, ValidFaceIsPreferredOverOverlappingInvalidFace) {
  // The detection overlaps the invalid face more, but still finds the valid one.
  std::vector<WiderImage> gt = {{"a.jpg", {Face(0, 0, 10, 10, 1), Face(2, 0, 10, 10)}}};
  DetectionReport r = EvaluateDetections(gt, {{Box(0, 0, 10, 10, 0.9)}});
  EXPECT_EQ(r.num_true_positives, 1);
  EXPECT_DOUBLE_EQ(r.average_precision, 1.0);
}

TEST(EvalDetection, IouThresholdIsInclusive) {
  // IoU exactly 0.5: 10x10 face, 10x20 detection containing it.
  std::vector<WiderImage> gt = {{"a.jpg", {Face(0, 0, 10, 10)}}};
  DetectionReport r = EvaluateDetections(gt, {{Box(0, 0, 10, 20, 0.9)}});
  EXPECT_EQ(r.num_true_positives, 1);
}

TEST(EvalDetection, MinFaceSizeIgnoresSmallFacesAndSmallUnmatchedDetections) {
  std::vector<WiderImage> gt = {{"a.jpg", {Face(0, 0, 30, 30), Face(50, 50, 10, 10)}}};
  std::vector<std::vector<ScoredDetection>> dets = {{Box(0, 0, 30, 30, 0.9),        // TP
                                               Box(200, 200, 8, 8, 0.7),      // small, unmatched
                                               Box(300, 300, 40, 40, 0.6)}};  // FP
  // All sizes: TP, FP, FP; the 10 px face is missed. AP = 1/2 * 1.
  DetectionReport all = EvaluateDetections(gt, dets);
  EXPECT_DOUBLE_EQ(all.average_precision, 0.5);
  EXPECT_EQ(all.num_false_positives, 2);

  DetectionEvalOptions options;
  options.min_face_size = 24;
  DetectionReport large = EvaluateDetections(gt, dets, options);
  EXPECT_DOUBLE_EQ(large.average_precision, 1.0);
  EXPECT_EQ(large.num_positives, 1);
  EXPECT_EQ(large.num_small_gt, 1);
  EXPECT_EQ(large.num_ignored_gt, 1);
  EXPECT_EQ(large.num_ignored_detections, 1);
  EXPECT_EQ(large.num_false_positives, 1);

  // A detection of the small face is ignored, not a false positive.
  dets[0].push_back(Box(50, 50, 10, 10, 0.95));
  DetectionReport with_small = EvaluateDetections(gt, dets, options);
  EXPECT_EQ(with_small.num_ignored_detections, 2);
  EXPECT_DOUBLE_EQ(with_small.average_precision, 1.0);
}

TEST(EvalDetection, NoPositivesGivesNullAp) {
  DetectionReport r = EvaluateDetections({{"a.jpg", {}}}, {{Box(0, 0, 5, 5, 0.5)}});
  EXPECT_TRUE(std::isnan(r.average_precision));
  EXPECT_EQ(r.num_false_positives, 1);
  nlohmann::json j = ToJson(r);
  EXPECT_TRUE(j["average_precision"].is_null());
  EXPECT_EQ(j["false_positives"], 1);
  EXPECT_EQ(j["ap_interpolation"], "all_points");
}

TEST(EvalDetection, MismatchedSizesAreAnError) {
  EXPECT_THROW(EvaluateDetections({{"a.jpg", {}}}, {}), Error);
}

TEST(EvalDetection, ParsesWiderGroundTruth) {
  const std::string text =
      "0--Parade/0_Parade_marchingband_1_5.jpg\n"
      "2\n"
      "489 290 20 15 2 0 0 0 1 1 \n"
      "19.5 207 41 65 2 0 1 1 0 0 \n"
      "0--Parade/empty.jpg\n"
      "0\n"
      "0 0 0 0 0 0 0 0 0 0 \n"
      "0--Parade/no_zero_line.jpg\n"
      "0\n"
      "1--Handshaking/x.jpg\r\n"
      "1\r\n"
      "1 2 3 4 0 0 0 0 0 0\r\n";
  auto images = ParseWiderGroundTruth(text, "gt.txt");
  ASSERT_EQ(images.size(), 4u);
  EXPECT_EQ(images[0].path, "0--Parade/0_Parade_marchingband_1_5.jpg");
  ASSERT_EQ(images[0].faces.size(), 2u);
  EXPECT_DOUBLE_EQ(images[0].faces[0].x, 489);
  EXPECT_DOUBLE_EQ(images[0].faces[0].h, 15);
  EXPECT_EQ(images[0].faces[0].blur, 2);
  EXPECT_EQ(images[0].faces[0].occlusion, 1);
  EXPECT_EQ(images[0].faces[0].pose, 1);
  EXPECT_DOUBLE_EQ(images[0].faces[1].x, 19.5);
  EXPECT_EQ(images[0].faces[1].illumination, 1);
  EXPECT_EQ(images[0].faces[1].invalid, 1);
  EXPECT_TRUE(images[1].faces.empty());
  EXPECT_TRUE(images[2].faces.empty());
  EXPECT_EQ(images[3].path, "1--Handshaking/x.jpg");
  ASSERT_EQ(images[3].faces.size(), 1u);
  EXPECT_DOUBLE_EQ(images[3].faces[0].w, 3);
}

void ExpectParseError(const std::string& text, const std::string& needle) {
  try {
    ParseWiderGroundTruth(text, "gt.txt");
    ADD_FAILURE() << "no Error for: " << text;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(EvalDetection, MalformedWiderGroundTruthNamesLine) {
  ExpectParseError("a.jpg\n1\n1 2 3 4 0 0 0\n", "gt.txt:3");                  // 7 fields
  ExpectParseError("a.jpg\ntwo\n", "gt.txt:2");                               // bad count
  ExpectParseError("a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n", "gt.txt:2");            // truncated
  ExpectParseError("a.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n5 6 7 8 0 0 0 0 0 0\n", "gt.txt:4");
  ExpectParseError("a.jpg\n1\n1 2 -3 4 0 0 0 0 0 0\n", "gt.txt:3");           // negative w
  ExpectParseError("a.jpg\n1\n1 2 3 4 0 0 0 2 0 0\n", "gt.txt:3");            // invalid = 2
  ExpectParseError("a.jpg\n", "gt.txt:1");                                    // no count
}

TEST(EvalDetection, ScoredBoxesFromDetectedFaces) {
  DetectedFace face;
  face.box = cv::Rect2f(1, 2, 3, 4);
  face.score = 0.75f;
  auto boxes = ToScoredBoxes({face});
  ASSERT_EQ(boxes.size(), 1u);
  EXPECT_DOUBLE_EQ(boxes[0].y, 2);
  EXPECT_DOUBLE_EQ(boxes[0].h, 4);
  EXPECT_DOUBLE_EQ(boxes[0].score, 0.75);
}

}  // namespace
}  // namespace lineup
