// The detector abstraction: an image in, faces out. Implementations differ in
// models and in how they cover small faces (scales, tiles); all return boxes in
// source pixels, sorted by descending score, after non-maximum suppression.
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "detect/face.h"

namespace lineup {

class FaceDetector {
 public:
  virtual ~FaceDetector() = default;
  // `bgr` is CV_8UC3. Thread-compatible: one instance per thread.
  virtual std::vector<DetectedFace> Detect(const cv::Mat& bgr) = 0;
  // Stable identifier recorded with results, e.g. "blazeface-back-256".
  virtual std::string Id() const = 0;
};

}  // namespace lineup
