#include "align/face_aligner.h"

#include <cmath>

#include <opencv2/imgproc.hpp>

#include "common/error.h"

namespace lineup {

const AlignmentTemplate& ArcFace112Template() {
  static const AlignmentTemplate kTemplate{
      "arcface-112",
      {112, 112},
      {{{38.2946f, 51.6963f}, {73.5318f, 51.5014f}, {56.0252f, 71.7366f},
        {41.5493f, 92.3655f}, {70.7299f, 92.2041f}}}};
  return kTemplate;
}

const AlignmentTemplate& DlibChip150Template() {
  // (padding + mean_shape) / (2 * padding + 1) * 150 for the eye-contour
  // means, point 30 and points 48/54 of dlib's mean face (padding 0.25).
  static const AlignmentTemplate kTemplate{
      "dlib-chip-150",
      {150, 150},
      {{{47.5492f, 46.5990f}, {100.4761f, 46.5990f}, {74.0127f, 76.5625f},
        {50.4149f, 103.0233f}, {97.6104f, 103.0233f}}}};
  return kTemplate;
}

const AlignmentTemplate& TemplateByName(const std::string& name) {
  if (name == ArcFace112Template().name) return ArcFace112Template();
  if (name == DlibChip150Template().name) return DlibChip150Template();
  throw Error(Context("alignment", "unknown template '" + name +
                                       "' (known: arcface-112, dlib-chip-150)"));
}

cv::Matx23d EstimateSimilarity(const std::vector<cv::Point2f>& from,
                               const std::vector<cv::Point2f>& to) {
  if (from.size() != to.size() || from.size() < 2) {
    throw Error(Context("alignment", "need matching point sets of at least two points"));
  }
  const double n = static_cast<double>(from.size());
  cv::Point2d mean_from(0, 0), mean_to(0, 0);
  for (size_t i = 0; i < from.size(); ++i) {
    mean_from += cv::Point2d(from[i]);
    mean_to += cv::Point2d(to[i]);
  }
  mean_from *= 1.0 / n;
  mean_to *= 1.0 / n;
  // For centred p (from) and q (to): a = sum p.q, b = sum p x q, s = sum |p|^2;
  // the optimum is scale*cos = a / s, scale*sin = b / s.
  double a = 0, b = 0, s = 0;
  for (size_t i = 0; i < from.size(); ++i) {
    cv::Point2d p = cv::Point2d(from[i]) - mean_from;
    cv::Point2d q = cv::Point2d(to[i]) - mean_to;
    a += p.x * q.x + p.y * q.y;
    b += p.x * q.y - p.y * q.x;
    s += p.x * p.x + p.y * p.y;
  }
  if (s < 1e-12) throw Error(Context("alignment", "landmarks are degenerate (all coincide)"));
  double c = a / s, sn = b / s;
  double tx = mean_to.x - (c * mean_from.x - sn * mean_from.y);
  double ty = mean_to.y - (sn * mean_from.x + c * mean_from.y);
  return {c, -sn, tx, sn, c, ty};
}

cv::Mat AlignFace(const cv::Mat& image, const std::vector<cv::Point2f>& landmarks,
                  const AlignmentTemplate& tmpl) {
  if (landmarks.size() != 5) {
    throw Error(Context("alignment", "expected 5 landmarks, got " + std::to_string(landmarks.size())));
  }
  std::vector<cv::Point2f> to(tmpl.points.begin(), tmpl.points.end());
  cv::Matx23d m = EstimateSimilarity(landmarks, to);
  double scale = std::hypot(m(0, 0), m(1, 0));
  if (scale <= 0 || !std::isfinite(scale)) throw Error(Context("alignment", "invalid transform"));

  cv::Mat source = image;
  if (scale < 0.5) {
    // Downsample the region the chip samples from, so that the warp below
    // scales by about 0.5 at most and does not alias.
    cv::Matx23d inverse;
    cv::invertAffineTransform(m, inverse);
    std::vector<cv::Point2f> corners = {{0, 0}, {float(tmpl.size.width), 0},
                                        {0, float(tmpl.size.height)},
                                        {float(tmpl.size.width), float(tmpl.size.height)}};
    std::vector<cv::Point2f> mapped;
    cv::transform(corners, mapped, inverse);
    cv::Rect region = cv::boundingRect(mapped) & cv::Rect(0, 0, image.cols, image.rows);
    if (region.area() > 0) {
      double factor = scale * 2.0;
      cv::Mat small;
      cv::resize(image(region), small, cv::Size(), factor, factor, cv::INTER_AREA);
      // Source point p maps to (p - origin) * factor in `small`.
      cv::Matx33d to_small(factor, 0, -region.x * factor, 0, factor, -region.y * factor, 0, 0, 1);
      cv::Matx33d full(m(0, 0), m(0, 1), m(0, 2), m(1, 0), m(1, 1), m(1, 2), 0, 0, 1);
      cv::Matx33d combined = full * to_small.inv();
      m = cv::Matx23d(combined(0, 0), combined(0, 1), combined(0, 2), combined(1, 0),
                      combined(1, 1), combined(1, 2));
      source = small;
    }
  }
  cv::Mat chip;
  cv::warpAffine(source, chip, m, tmpl.size, cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar::all(0));
  return chip;
}

}  // namespace lineup
