// Face-detection evaluation against WIDER FACE style ground truth.
//
// Ground truth file (official wider_face_{train,val}_bbx_gt.txt format):
//   <image relative path>
//   <number of faces N>
//   N lines "x1 y1 w h blur expression illumination invalid occlusion pose"
//   (an image with N = 0 is followed by one line of zeros, which is skipped;
//   a missing zero line is tolerated). Blank lines are skipped.
//
// Average precision, the WIDER way, at IoU >= iou_threshold (0.5):
// - Boxes are continuous (x, y, w, h); IoU = intersection / union of areas
//   w * h (no "+1 pixel" convention).
// - A gt face is IGNORED if it is marked invalid, or if min_face_size > 0 and
//   max(w, h) < min_face_size. Ignored faces are not positives.
// - Within each image, detections are taken in decreasing score order; each is
//   matched to the unmatched non-ignored face with the highest IoU >=
//   threshold (a true positive). Failing that, a detection that overlaps an
//   ignored face with IoU >= threshold is ignored (neither TP nor FP; an ignored
//   face may absorb any number of detections). Failing that, a detection
//   smaller than min_face_size (max(w, h) < min_face_size) is also ignored, so
//   that correctly found small faces do not count against "faces >= N px"
//   (the COCO area-range rule). Anything else is a false positive, including a
//   second detection of an already matched face.
// - All non-ignored detections are then ranked by score over the whole set
//   (ties: image order, then detection order) to trace the precision/recall
//   curve. AP is the all-points interpolated area (PASCAL VOC 2010+): the sum
//   over recall steps of (delta recall) * (max precision at this or higher
//   recall). AP is NaN (null in JSON) when there are no positives.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "detect/face.h"
#include "eval/svg_plot.h"

namespace lineup {

struct WiderFace {
  double x = 0, y = 0, w = 0, h = 0;
  int blur = 0, expression = 0, illumination = 0, invalid = 0, occlusion = 0, pose = 0;
};

struct WiderImage {
  std::string path;  // as written in the file, relative to the images folder
  std::vector<WiderFace> faces;
};

// Throws lineup::Error naming "source:line" on malformed input.
std::vector<WiderImage> ParseWiderGroundTruth(std::string_view text, const std::string& source);
std::vector<WiderImage> ReadWiderGroundTruth(const std::filesystem::path& path);

// One detection as the evaluation sees it. Not named ScoredBox: detect/nms.h has a
// lineup::ScoredBox of another layout, and two class types under one name break the
// one-definition rule (the linker kept one vector<ScoredBox> growth routine for both).
struct ScoredDetection {
  double x = 0, y = 0, w = 0, h = 0;
  double score = 0;
};

std::vector<ScoredDetection> ToScoredBoxes(const std::vector<DetectedFace>& faces);

struct DetectionEvalOptions {
  double iou_threshold = 0.5;
  double min_face_size = 0;  // pixels; 0 = keep faces of every size
};

struct PrPoint {
  double recall = 0, precision = 0, score = 0;  // after accepting detections >= score
};

struct DetectionReport {
  double iou_threshold = 0.5;
  double min_face_size = 0;
  int64_t num_images = 0;
  int64_t num_gt_faces = 0;       // all faces in the ground truth
  int64_t num_ignored_gt = 0;     // invalid or small: num_invalid_gt + num_small_gt
  int64_t num_invalid_gt = 0;     // marked invalid
  int64_t num_small_gt = 0;       // valid but smaller than min_face_size
  int64_t num_positives = 0;      // num_gt_faces - num_ignored_gt
  int64_t num_detections = 0;     // all detections given
  int64_t num_ignored_detections = 0;
  int64_t num_true_positives = 0;   // over all detections (lowest threshold)
  int64_t num_false_positives = 0;
  double average_precision = 0;
  std::vector<PrPoint> pr_curve;  // one point per non-ignored detection, by decreasing score
};

// detections[i] are the detections on ground_truth[i]; sizes must match.
DetectionReport EvaluateDetections(const std::vector<WiderImage>& ground_truth,
                                   const std::vector<std::vector<ScoredDetection>>& detections,
                                   const DetectionEvalOptions& options = {});

// Intersection over union of two (x, y, w, h) boxes; 0 when either is empty.
double BoxIou(double ax, double ay, double aw, double ah, double bx, double by, double bw,
              double bh);

nlohmann::json ToJson(const DetectionReport& report);

// The precision/recall curve as a chart series (x = recall, y = precision).
LineSeries PrSeries(const DetectionReport& report, const std::string& name);

}  // namespace lineup
