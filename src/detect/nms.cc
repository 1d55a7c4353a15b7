#include "detect/nms.h"

#include <algorithm>

namespace lineup {
namespace {

float Area(const cv::Rect2f& r) { return std::max(0.f, r.width) * std::max(0.f, r.height); }

float IntersectionArea(const cv::Rect2f& a, const cv::Rect2f& b) {
  const float w = std::min(a.x + a.width, b.x + b.width) - std::max(a.x, b.x);
  const float h = std::min(a.y + a.height, b.y + b.height) - std::max(a.y, b.y);
  return (w > 0.f && h > 0.f) ? w * h : 0.f;
}

void SortByDescendingScore(std::vector<ScoredBox>& boxes) {
  std::stable_sort(boxes.begin(), boxes.end(),
                   [](const ScoredBox& a, const ScoredBox& b) { return a.score > b.score; });
}

// Score-weighted mean of the cluster's geometry; the seed (cluster[0]) keeps its score.
ScoredBox Blend(const std::vector<const ScoredBox*>& cluster) {
  const ScoredBox& seed = *cluster.front();
  ScoredBox out;
  out.score = seed.score;
  out.points.assign(seed.points.size(), cv::Point2f(0.f, 0.f));
  double total = 0, x = 0, y = 0, r = 0, b = 0;
  for (const ScoredBox* member : cluster) {
    const double w = member->score;
    total += w;
    x += w * member->box.x;
    y += w * member->box.y;
    r += w * (member->box.x + member->box.width);
    b += w * (member->box.y + member->box.height);
  }
  if (total <= 0) return seed;
  out.box = cv::Rect2f(static_cast<float>(x / total), static_cast<float>(y / total),
                       static_cast<float>((r - x) / total), static_cast<float>((b - y) / total));
  double point_total = 0;
  for (const ScoredBox* member : cluster) {
    if (member->points.size() != seed.points.size()) continue;
    point_total += member->score;
    for (size_t i = 0; i < seed.points.size(); ++i) out.points[i] += member->score * member->points[i];
  }
  for (cv::Point2f& p : out.points) p *= static_cast<float>(1.0 / point_total);
  return out;
}

}  // namespace

float IntersectionOverUnion(const cv::Rect2f& a, const cv::Rect2f& b) {
  const float inter = IntersectionArea(a, b);
  if (inter <= 0.f) return 0.f;
  return inter / (Area(a) + Area(b) - inter);
}

float IntersectionOverMinArea(const cv::Rect2f& a, const cv::Rect2f& b) {
  const float inter = IntersectionArea(a, b);
  if (inter <= 0.f) return 0.f;
  return inter / std::min(Area(a), Area(b));
}

std::vector<ScoredBox> WeightedNms(std::vector<ScoredBox> boxes, float iou_threshold) {
  SortByDescendingScore(boxes);
  std::vector<bool> taken(boxes.size(), false);
  std::vector<ScoredBox> kept;
  std::vector<const ScoredBox*> cluster;
  for (size_t i = 0; i < boxes.size(); ++i) {
    if (taken[i]) continue;
    cluster.clear();
    for (size_t j = i; j < boxes.size(); ++j) {
      if (taken[j]) continue;
      if (j == i || IntersectionOverUnion(boxes[i].box, boxes[j].box) > iou_threshold) {
        taken[j] = true;
        cluster.push_back(&boxes[j]);
      }
    }
    kept.push_back(Blend(cluster));
  }
  return kept;
}

std::vector<ScoredBox> HardNms(std::vector<ScoredBox> boxes, float iou_threshold) {
  SortByDescendingScore(boxes);
  std::vector<ScoredBox> kept;
  for (ScoredBox& candidate : boxes) {
    const bool suppressed = std::any_of(kept.begin(), kept.end(), [&](const ScoredBox& k) {
      return IntersectionOverUnion(k.box, candidate.box) > iou_threshold;
    });
    if (!suppressed) kept.push_back(std::move(candidate));
  }
  return kept;
}

}  // namespace lineup
