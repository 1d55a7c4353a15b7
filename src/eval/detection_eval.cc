#include "eval/detection_eval.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file_util.h"
#include "eval/text_lines.h"

namespace lineup {

using eval_internal::LineContext;
using eval_internal::NumberedLine;
using eval_internal::ParseDouble;
using eval_internal::ParseInt64;
using eval_internal::SplitLines;
using eval_internal::SplitWhitespace;
using eval_internal::Trim;

namespace {

constexpr int kWiderFields = 10;

bool IsAllNumbers(const std::vector<std::string_view>& tokens) {
  double unused = 0;
  for (std::string_view t : tokens) {
    if (!ParseDouble(t, &unused)) return false;
  }
  return !tokens.empty();
}

WiderFace ParseWiderFace(const NumberedLine& line, const std::string& source) {
  const std::string where = LineContext(source, line.number);
  auto tokens = SplitWhitespace(line.text);
  if (tokens.size() != kWiderFields) {
    throw Error(Context(where, "expected 10 fields 'x1 y1 w h blur expression illumination "
                               "invalid occlusion pose', got " + std::to_string(tokens.size())));
  }
  double box[4];
  for (int i = 0; i < 4; ++i) {
    if (!ParseDouble(tokens[i], &box[i])) {
      throw Error(Context(where, "box field " + std::to_string(i + 1) + " '" +
                                     std::string(tokens[i]) + "' is not a number"));
    }
  }
  if (box[2] < 0 || box[3] < 0) throw Error(Context(where, "negative box width or height"));
  int64_t attributes[6];
  for (int i = 0; i < 6; ++i) {
    if (!ParseInt64(tokens[4 + i], &attributes[i]) || attributes[i] < 0 || attributes[i] > 9) {
      throw Error(Context(where, "attribute field " + std::to_string(5 + i) + " '" +
                                     std::string(tokens[4 + i]) +
                                     "' is not a small non-negative integer"));
    }
  }
  if (attributes[3] > 1) throw Error(Context(where, "invalid flag must be 0 or 1"));
  WiderFace face;
  face.x = box[0];
  face.y = box[1];
  face.w = box[2];
  face.h = box[3];
  face.blur = static_cast<int>(attributes[0]);
  face.expression = static_cast<int>(attributes[1]);
  face.illumination = static_cast<int>(attributes[2]);
  face.invalid = static_cast<int>(attributes[3]);
  face.occlusion = static_cast<int>(attributes[4]);
  face.pose = static_cast<int>(attributes[5]);
  return face;
}

bool IsZeroLine(const NumberedLine& line) {
  auto tokens = SplitWhitespace(line.text);
  if (tokens.size() != kWiderFields) return false;
  for (std::string_view t : tokens) {
    double v = 0;
    if (!ParseDouble(t, &v) || v != 0) return false;
  }
  return true;
}

double MaxSide(double w, double h) { return std::max(w, h); }

// Per-detection outcome of matching within one image.
enum class Outcome { kTruePositive, kFalsePositive, kIgnored };

struct RankedDetection {
  double score = 0;
  bool true_positive = false;
};

// Matches one image's detections (see the header for the rules).
std::vector<Outcome> MatchImage(const std::vector<WiderFace>& faces,
                                const std::vector<bool>& face_ignored,
                                const std::vector<ScoredDetection>& detections,
                                const std::vector<size_t>& order,
                                const DetectionEvalOptions& options) {
  std::vector<Outcome> outcomes(detections.size(), Outcome::kFalsePositive);
  std::vector<bool> matched(faces.size(), false);
  for (size_t d : order) {
    const ScoredDetection& det = detections[d];
    int best = -1;
    double best_iou = -1;
    bool overlaps_ignored = false;
    for (size_t f = 0; f < faces.size(); ++f) {
      const WiderFace& face = faces[f];
      double iou = BoxIou(det.x, det.y, det.w, det.h, face.x, face.y, face.w, face.h);
      if (iou < options.iou_threshold) continue;
      if (face_ignored[f]) {
        overlaps_ignored = true;
      } else if (!matched[f] && iou > best_iou) {
        best = static_cast<int>(f);
        best_iou = iou;
      }
    }
    if (best >= 0) {
      matched[best] = true;
      outcomes[d] = Outcome::kTruePositive;
    } else if (overlaps_ignored || (options.min_face_size > 0 &&
                                    MaxSide(det.w, det.h) < options.min_face_size)) {
      outcomes[d] = Outcome::kIgnored;
    }
  }
  return outcomes;
}

// All-points interpolated AP over a curve ordered by decreasing score.
double AllPointsAveragePrecision(const std::vector<PrPoint>& curve) {
  double ap = 0;
  double max_precision_to_the_right = 0;
  // Walk from the end so each step sees the best precision at >= its recall.
  for (size_t i = curve.size(); i-- > 0;) {
    max_precision_to_the_right = std::max(max_precision_to_the_right, curve[i].precision);
    const double previous_recall = i > 0 ? curve[i - 1].recall : 0.0;
    ap += (curve[i].recall - previous_recall) * max_precision_to_the_right;
  }
  return ap;
}

}  // namespace

std::vector<WiderImage> ParseWiderGroundTruth(std::string_view text, const std::string& source) {
  std::vector<NumberedLine> lines;
  for (const NumberedLine& line : SplitLines(text)) {
    if (!Trim(line.text).empty()) lines.push_back(line);
  }
  std::vector<WiderImage> images;
  size_t i = 0;
  while (i < lines.size()) {
    const NumberedLine& path_line = lines[i++];
    const std::string where = LineContext(source, path_line.number);
    if (IsAllNumbers(SplitWhitespace(path_line.text))) {
      throw Error(Context(where, "expected an image path, got numbers (does the face count "
                                 "of the previous image match its face lines?)"));
    }
    WiderImage image;
    image.path = std::string(Trim(path_line.text));
    if (i == lines.size()) throw Error(Context(where, "image path without a face count"));
    const NumberedLine& count_line = lines[i++];
    int64_t count = -1;
    if (!ParseInt64(Trim(count_line.text), &count) || count < 0 || count > 1000000) {
      throw Error(Context(LineContext(source, count_line.number),
                          "face count '" + std::string(Trim(count_line.text)) +
                              "' is not a non-negative integer"));
    }
    if (count == 0 && i < lines.size() && IsZeroLine(lines[i])) ++i;
    for (int64_t f = 0; f < count; ++f) {
      if (i == lines.size()) {
        throw Error(Context(LineContext(source, count_line.number),
                            "file ends after " + std::to_string(f) + " of " +
                                std::to_string(count) + " faces of " + image.path));
      }
      image.faces.push_back(ParseWiderFace(lines[i++], source));
    }
    images.push_back(std::move(image));
  }
  return images;
}

std::vector<WiderImage> ReadWiderGroundTruth(const std::filesystem::path& path) {
  return ParseWiderGroundTruth(ReadFileText(path), path.string());
}

std::vector<ScoredDetection> ToScoredBoxes(const std::vector<DetectedFace>& faces) {
  std::vector<ScoredDetection> boxes;
  boxes.reserve(faces.size());
  for (const DetectedFace& f : faces) {
    boxes.push_back({f.box.x, f.box.y, f.box.width, f.box.height, f.score});
  }
  return boxes;
}

double BoxIou(double ax, double ay, double aw, double ah, double bx, double by, double bw,
              double bh) {
  if (!(aw > 0 && ah > 0 && bw > 0 && bh > 0)) return 0;
  const double iw = std::min(ax + aw, bx + bw) - std::max(ax, bx);
  const double ih = std::min(ay + ah, by + bh) - std::max(ay, by);
  if (iw <= 0 || ih <= 0) return 0;
  const double intersection = iw * ih;
  return intersection / (aw * ah + bw * bh - intersection);
}

DetectionReport EvaluateDetections(const std::vector<WiderImage>& ground_truth,
                                   const std::vector<std::vector<ScoredDetection>>& detections,
                                   const DetectionEvalOptions& options) {
  if (ground_truth.size() != detections.size()) {
    throw Error("detection evaluation: " + std::to_string(detections.size()) +
                " detection lists for " + std::to_string(ground_truth.size()) + " images");
  }
  DetectionReport report;
  report.iou_threshold = options.iou_threshold;
  report.min_face_size = options.min_face_size;
  report.num_images = static_cast<int64_t>(ground_truth.size());
  std::vector<RankedDetection> ranked;
  for (size_t img = 0; img < ground_truth.size(); ++img) {
    const std::vector<WiderFace>& faces = ground_truth[img].faces;
    std::vector<bool> ignored(faces.size());
    for (size_t f = 0; f < faces.size(); ++f) {
      const bool invalid = faces[f].invalid != 0;
      const bool small = options.min_face_size > 0 &&
                         MaxSide(faces[f].w, faces[f].h) < options.min_face_size;
      ignored[f] = invalid || small;
      report.num_invalid_gt += invalid ? 1 : 0;
      report.num_small_gt += (small && !invalid) ? 1 : 0;
    }
    report.num_gt_faces += static_cast<int64_t>(faces.size());

    const std::vector<ScoredDetection>& dets = detections[img];
    for (const ScoredDetection& d : dets) {
      if (!std::isfinite(d.score) || !std::isfinite(d.x) || !std::isfinite(d.y) ||
          !std::isfinite(d.w) || !std::isfinite(d.h)) {
        throw Error(Context(ground_truth[img].path, "detection with a non-finite box or score"));
      }
    }
    std::vector<size_t> order(dets.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return dets[a].score > dets[b].score; });
    std::vector<Outcome> outcomes = MatchImage(faces, ignored, dets, order, options);
    for (size_t d : order) {
      if (outcomes[d] == Outcome::kIgnored) {
        ++report.num_ignored_detections;
      } else {
        ranked.push_back({dets[d].score, outcomes[d] == Outcome::kTruePositive});
      }
    }
    report.num_detections += static_cast<int64_t>(dets.size());
  }
  report.num_ignored_gt = report.num_invalid_gt + report.num_small_gt;
  report.num_positives = report.num_gt_faces - report.num_ignored_gt;

  // Stable: equal scores keep image order, then within-image score order.
  std::stable_sort(ranked.begin(), ranked.end(), [](const RankedDetection& a,
                                                    const RankedDetection& b) {
    return a.score > b.score;
  });
  for (const RankedDetection& r : ranked) {
    (r.true_positive ? report.num_true_positives : report.num_false_positives)++;
    const double tp = static_cast<double>(report.num_true_positives);
    const double recall =
        report.num_positives > 0 ? tp / static_cast<double>(report.num_positives) : 0.0;
    const double precision =
        tp / static_cast<double>(report.num_true_positives + report.num_false_positives);
    report.pr_curve.push_back({recall, precision, r.score});
  }
  report.average_precision = report.num_positives > 0
                                 ? AllPointsAveragePrecision(report.pr_curve)
                                 : std::numeric_limits<double>::quiet_NaN();
  return report;
}

nlohmann::json ToJson(const DetectionReport& report) {
  using nlohmann::json;
  json curve = json::array();
  for (const PrPoint& p : report.pr_curve) {
    curve.push_back({{"recall", p.recall}, {"precision", p.precision}, {"score", p.score}});
  }
  const double ap = report.average_precision;
  return {
      {"iou_threshold", report.iou_threshold},
      {"min_face_size", report.min_face_size},
      {"images", report.num_images},
      {"gt_faces", report.num_gt_faces},
      {"ignored_gt_faces", report.num_ignored_gt},
      {"invalid_gt_faces", report.num_invalid_gt},
      {"small_gt_faces", report.num_small_gt},
      {"positives", report.num_positives},
      {"detections", report.num_detections},
      {"ignored_detections", report.num_ignored_detections},
      {"true_positives", report.num_true_positives},
      {"false_positives", report.num_false_positives},
      {"average_precision", std::isfinite(ap) ? json(ap) : json(nullptr)},
      {"ap_interpolation", "all_points"},
      {"pr_curve", curve},
  };
}

LineSeries PrSeries(const DetectionReport& report, const std::string& name) {
  LineSeries series;
  series.name = name;
  for (const PrPoint& p : report.pr_curve) series.points.push_back({p.recall, p.precision});
  return series;
}

}  // namespace lineup
