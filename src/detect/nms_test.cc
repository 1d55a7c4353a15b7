#include "detect/nms.h"

#include <gtest/gtest.h>

namespace lineup {
namespace {

ScoredBox Box(float x, float y, float w, float h, float score,
              std::vector<cv::Point2f> points = {}) {
  ScoredBox b;
  b.box = cv::Rect2f(x, y, w, h);
  b.score = score;
  b.points = std::move(points);
  return b;
}

TEST(NmsOverlap, IntersectionOverUnionOfKnownBoxes) {
  EXPECT_FLOAT_EQ(IntersectionOverUnion({0, 0, 10, 10}, {0, 0, 10, 10}), 1.f);
  EXPECT_FLOAT_EQ(IntersectionOverUnion({0, 0, 10, 10}, {20, 0, 10, 10}), 0.f);
  EXPECT_FLOAT_EQ(IntersectionOverUnion({0, 0, 10, 10}, {10, 0, 10, 10}), 0.f);  // touching
  // Half of each box overlaps: 50 / (100 + 100 - 50).
  EXPECT_FLOAT_EQ(IntersectionOverUnion({0, 0, 10, 10}, {5, 0, 10, 10}), 50.f / 150.f);
  EXPECT_FLOAT_EQ(IntersectionOverUnion({0, 0, 0, 10}, {0, 0, 10, 10}), 0.f);  // empty
}

TEST(NmsOverlap, IntersectionOverMinAreaOfNestedBoxes) {
  EXPECT_FLOAT_EQ(IntersectionOverMinArea({0, 0, 100, 100}, {10, 10, 20, 20}), 1.f);
  EXPECT_FLOAT_EQ(IntersectionOverMinArea({0, 0, 10, 10}, {5, 0, 10, 10}), 0.5f);
}

TEST(NmsWeighted, EmptyInputGivesEmptyOutput) {
  EXPECT_TRUE(WeightedNms({}, 0.3f).empty());
  EXPECT_TRUE(HardNms({}, 0.3f).empty());
}

TEST(NmsWeighted, BlendsAClusterByScoreAndKeepsTheBestScore) {
  // Two views of one face (IoU 0.82) and a distant face.
  std::vector<ScoredBox> boxes = {
      Box(100, 100, 10, 10, 0.25f, {{100, 100}}),
      Box(0, 0, 10, 10, 0.75f, {{0, 0}}),
      Box(1, 0, 10, 10, 0.25f, {{4, 0}}),
  };
  const std::vector<ScoredBox> out = WeightedNms(boxes, 0.3f);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FLOAT_EQ(out[0].score, 0.75f);
  EXPECT_NEAR(out[0].box.x, 0.25f, 1e-5);  // (0.75 * 0 + 0.25 * 1) / 1.0
  EXPECT_NEAR(out[0].box.y, 0.f, 1e-5);
  EXPECT_NEAR(out[0].box.width, 10.f, 1e-5);
  EXPECT_NEAR(out[0].box.height, 10.f, 1e-5);
  ASSERT_EQ(out[0].points.size(), 1u);
  EXPECT_NEAR(out[0].points[0].x, 1.f, 1e-5);  // (0.75 * 0 + 0.25 * 4) / 1.0
  EXPECT_FLOAT_EQ(out[1].score, 0.25f);
  EXPECT_EQ(out[1].box, cv::Rect2f(100, 100, 10, 10));
}

TEST(NmsWeighted, BoxesAtOrBelowTheThresholdStaySeparate) {
  // IoU exactly 1/3: not above a 1/3 threshold, above a 0.3 one.
  std::vector<ScoredBox> boxes = {Box(0, 0, 10, 10, 0.9f), Box(5, 0, 10, 10, 0.8f)};
  EXPECT_EQ(WeightedNms(boxes, 0.34f).size(), 2u);
  EXPECT_EQ(WeightedNms(boxes, 0.3f).size(), 1u);
}

TEST(NmsWeighted, OutputIsSortedByDescendingScore) {
  std::vector<ScoredBox> boxes;
  for (int i = 0; i < 10; ++i) boxes.push_back(Box(i * 20.f, 0, 10, 10, 0.05f * ((i * 7) % 10 + 1)));
  const std::vector<ScoredBox> out = WeightedNms(boxes, 0.3f);
  ASSERT_EQ(out.size(), 10u);
  for (size_t i = 1; i < out.size(); ++i) EXPECT_GE(out[i - 1].score, out[i].score);
}

TEST(NmsWeighted, AChainIsClusteredAroundTheSeedOnly) {
  // B overlaps A and C, but A and C do not overlap: A's cluster takes B; C stays.
  std::vector<ScoredBox> boxes = {Box(0, 0, 10, 10, 0.9f), Box(4, 0, 10, 10, 0.8f),
                                  Box(8, 0, 10, 10, 0.7f)};
  const std::vector<ScoredBox> out = WeightedNms(boxes, 0.3f);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FLOAT_EQ(out[1].score, 0.7f);
  EXPECT_EQ(out[1].box, cv::Rect2f(8, 0, 10, 10));
}

TEST(NmsWeighted, MismatchedPointCountsDoNotCorruptPoints) {
  std::vector<ScoredBox> boxes = {Box(0, 0, 10, 10, 0.9f, {{2, 2}, {4, 4}}),
                                  Box(0, 0, 10, 10, 0.5f, {{100, 100}})};
  const std::vector<ScoredBox> out = WeightedNms(boxes, 0.3f);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].points.size(), 2u);
  EXPECT_EQ(out[0].points[0], cv::Point2f(2, 2));
  EXPECT_EQ(out[0].points[1], cv::Point2f(4, 4));
}

TEST(NmsHard, KeepsTheBestBoxOfEachClusterUnchanged) {
  std::vector<ScoredBox> boxes = {Box(1, 0, 10, 10, 0.5f), Box(0, 0, 10, 10, 0.9f),
                                  Box(50, 50, 10, 10, 0.4f)};
  const std::vector<ScoredBox> out = HardNms(boxes, 0.3f);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].box, cv::Rect2f(0, 0, 10, 10));
  EXPECT_FLOAT_EQ(out[0].score, 0.9f);
  EXPECT_EQ(out[1].box, cv::Rect2f(50, 50, 10, 10));
}

}  // namespace
}  // namespace lineup
