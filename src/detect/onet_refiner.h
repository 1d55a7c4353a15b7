// Refines faces found by another detector (BlazeFace: good boxes, rough
// landmarks, no mouth corners) with MTCNN's O-Net, which returns a face
// probability, a regressed box and five landmarks for a 48x48 crop.
//
// Each face's box is made square (and scaled by OnetRefinerOptions::box_scale)
// and all faces go through O-Net in one batched forward. With passes == 2,
// O-Net runs a second time on the square around the box it regressed, so
// the landmarks come from a crop framed the way O-Net was trained on,
// whatever the first detector's box convention was.
#pragma once

#include <filesystem>
#include <memory>
#include <vector>

#include <opencv2/core.hpp>

#include "detect/face.h"

namespace lineup {

struct OnetRefinerOptions {
  // Side of the first crop relative to max(width, height) of the given box.
  // With two passes 0.9-1.1 are equivalent; larger hurts (see below).
  float box_scale = 1.0f;
  // 1 to 3; see the file comment. Measured on dlib's 68-point faces (mean
  // 5-point error / inter-ocular distance, boxes jittered by +-15% in
  // position and scale): 1 pass 0.082, 2 passes 0.055, 3 passes 0.056.
  int passes = 2;
  // A face whose final O-Net probability is below this keeps its original
  // data and is reported with refined == false. Jittered true faces score
  // >= 0.95 in 99% of cases; 1.4% of random non-face squares exceed 0.5.
  float min_score = 0.5f;
};

// O-Net's answer for one square crop, in source pixels.
struct OnetOutput {
  cv::Rect2f crop;  // the whole-pixel square O-Net saw
  float score = 0.f;
  cv::Rect2f box;   // the regressed box (not square)
  std::vector<cv::Point2f> landmarks;  // 5, Landmark5 order
};

struct RefinedFace {
  // When refined: O-Net's box and landmarks, with the original detector's
  // score. Otherwise the face exactly as given.
  DetectedFace face;
  float onet_score = 0.f;  // O-Net probability of the last pass run
  bool refined = false;
};

class OnetRefiner {
 public:
  // Throws Error naming `onet_onnx` if it is missing or not an O-Net graph.
  explicit OnetRefiner(const std::filesystem::path& onet_onnx,
                       const OnetRefinerOptions& options = {});
  ~OnetRefiner();

  // One result per input face, in the same order. `bgr` is CV_8UC3.
  std::vector<RefinedFace> Refine(const cv::Mat& bgr, const std::vector<DetectedFace>& faces);

  // One batched O-Net forward over `squares` (source pixels), one output each.
  std::vector<OnetOutput> Run(const cv::Mat& bgr, const std::vector<cv::Rect2f>& squares);

  const OnetRefinerOptions& options() const { return options_; }

 private:
  struct Net;
  OnetRefinerOptions options_;
  std::unique_ptr<Net> net_;
};

}  // namespace lineup
