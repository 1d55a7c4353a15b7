// SSD anchor centres for the BlazeFace family of models, generated from the
// anchor options MediaPipe publishes for them (see ssd_anchors_calculator in
// MediaPipe's documentation). BlazeFace uses fixed-size anchors, so only the
// centres matter: a regression is an offset from its anchor's centre plus an
// absolute width and height.
#pragma once

#include <vector>

#include <opencv2/core.hpp>

namespace lineup {

struct SsdAnchorOptions {
  int input_size = 128;      // square model input, pixels
  std::vector<int> strides;  // one per SSD layer; equal neighbours share a grid
  int anchors_per_layer = 2; // aspect ratio 1.0 plus the interpolated scale
  float offset = 0.5f;       // anchor centre within its cell, in cells
};

// MediaPipe's options for face_detection_front (128x128, "short range"):
// strides {8, 16, 16, 16} -> 16x16x2 + 8x8x6 = 896 anchors.
SsdAnchorOptions BlazeFaceFrontAnchorOptions();
// MediaPipe's options for face_detection_back (256x256, "long range"):
// strides {16, 32, 32, 32} -> 16x16x2 + 8x8x6 = 896 anchors.
SsdAnchorOptions BlazeFaceBackAnchorOptions();

// Anchor centres normalised to [0, 1] of the model input, in the order the
// model emits its regressions: layer groups (runs of equal strides) in order,
// then rows, then columns, then the anchors of one cell.
std::vector<cv::Point2f> GenerateSsdAnchorCentres(const SsdAnchorOptions& options);

}  // namespace lineup
