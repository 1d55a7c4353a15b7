// Non-maximum suppression over scored boxes that may carry points (landmarks).
//
// WeightedNms is MediaPipe's "weighted" overlap suppression: instead of
// keeping only the best box of a cluster of overlapping detections, it keeps
// the best box's score and replaces its geometry (box and points) with the
// score-weighted mean over the cluster. That averages out the jitter between
// neighbouring anchors, tiles and scales that all saw the same face.
#pragma once

#include <vector>

#include <opencv2/core.hpp>

namespace lineup {

struct ScoredBox {
  cv::Rect2f box;
  float score = 0.f;
  std::vector<cv::Point2f> points;  // blended index by index; same count in a cluster
};

// Intersection over union; 0 when either box is empty.
float IntersectionOverUnion(const cv::Rect2f& a, const cv::Rect2f& b);
// Intersection over the smaller box's area; 0 when either box is empty.
float IntersectionOverMinArea(const cv::Rect2f& a, const cv::Rect2f& b);

// Greedy: the highest-scoring remaining box seeds a cluster of every remaining
// box with IoU > iou_threshold (itself included); the cluster is replaced by one
// box with the seed's score and the score-weighted mean box and points.
// Boxes with different point counts never blend points (the seed's are kept).
// Output is sorted by descending score; no two outputs come from one cluster.
std::vector<ScoredBox> WeightedNms(std::vector<ScoredBox> boxes, float iou_threshold);

// Classic hard NMS: keeps the highest-scoring box of each cluster unchanged.
std::vector<ScoredBox> HardNms(std::vector<ScoredBox> boxes, float iou_threshold);

}  // namespace lineup
