// Alignment: warps a face so that its five landmarks land on a template, with
// the least-squares similarity transform (rotation, uniform scale,
// translation) between the detected points and the template's.
//
// Embedders are trained on one alignment and lose accuracy with another
// (MobileFaceNet: ArcFace 112 px template; dlib ResNet: dlib's 150 px chips
// with padding 0.25), so each embedder names its template in the manifest.
#pragma once

#include <array>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace lineup {

struct AlignmentTemplate {
  std::string name;
  cv::Size size;
  std::array<cv::Point2f, 5> points;  // Landmark5 order (detect/face.h)
};

// The standard ArcFace 112x112 five-point template.
const AlignmentTemplate& ArcFace112Template();
// dlib's face chip (150 px, padding 0.25) expressed as five points: eye
// centres (means of dlib's mean-face eye contours), nose tip and mouth
// corners of dlib's mean face shape, mapped as get_face_chip_details maps them.
const AlignmentTemplate& DlibChip150Template();
// By name ("arcface-112", "dlib-chip-150"); throws Error for an unknown name.
const AlignmentTemplate& TemplateByName(const std::string& name);

// Least-squares similarity transform mapping `from` onto `to` (Umeyama's
// closed form in 2-D). Returns a 2x3 matrix; throws Error if the points are
// degenerate (all coincident).
cv::Matx23d EstimateSimilarity(const std::vector<cv::Point2f>& from,
                               const std::vector<cv::Point2f>& to);

// The aligned chip (template size, same type as `image`). Faces much larger
// than the chip are area-downsampled first so the chip is not aliased.
// Throws Error unless `landmarks` holds five points.
cv::Mat AlignFace(const cv::Mat& image, const std::vector<cv::Point2f>& landmarks,
                  const AlignmentTemplate& tmpl);

}  // namespace lineup
