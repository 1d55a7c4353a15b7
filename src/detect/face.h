// A face found in an image. Coordinates are in source-image pixels of the
// upright (EXIF-rotated) image.
#pragma once

#include <vector>

#include <opencv2/core.hpp>

namespace lineup {

// Five-point landmark order used throughout Lineup (the ArcFace template
// order): image-left eye centre, image-right eye centre, nose tip,
// image-left mouth corner, image-right mouth corner.
enum Landmark5 { kLeftEye = 0, kRightEye = 1, kNose = 2, kLeftMouth = 3, kRightMouth = 4 };

struct DetectedFace {
  cv::Rect2f box;                      // x, y, width, height
  float score = 0.f;                   // detector confidence in [0, 1]
  std::vector<cv::Point2f> landmarks;  // 5 points in Landmark5 order, or empty
};

}  // namespace lineup
