// The face engine: image -> detect -> landmarks -> align -> embed, configured
// by a profile of the model manifest. The CLI and (later) the server use this
// class; it owns one detector, an optional landmark refiner and one embedder.
//
// Thread-compatible: use one FacePipeline per thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "detect/face.h"
#include "detect/face_detector.h"
#include "embed/onnx_embedder.h"
#include "models/model_manifest.h"

namespace lineup {

class OnetRefiner;

// Rough quality indicators, for ranking and for warning the user.
struct FaceQuality {
  float size_px = 0;       // inter-ocular distance in source pixels
  float sharpness = 0;     // variance of the Laplacian of the aligned 112 px grey chip
  float yaw_deg = 0;       // approximate head yaw from the 5 landmarks (+ = nose to image right)
  float roll_deg = 0;      // eye-line angle
};

struct FaceResult {
  DetectedFace face;
  bool landmarks_refined = false;  // landmarks from a landmark model (O-Net / MTCNN)
  FaceQuality quality;
  std::vector<float> embedding;    // unit length; empty unless embedded
};

struct PipelineOptions {
  std::string profile;             // "" = manifest default
  std::string detector;            // "" = profile's; "blazeface" or "mtcnn" to override
  float min_face_px = 20.f;        // smallest face side the detector must cover
  // BlazeFace proposals at or above this score go to O-Net ...
  float proposal_score = 0.3f;
  // ... and a face is reported when sqrt(detector score x O-Net score) (or,
  // for MTCNN, its own score) reaches this. Measured on the WIDER FACE
  // subset: proposals 0.3 + O-Net rescoring + 0.4 gives AP 0.683 / 0.804
  // (all / >= 24 px) against 0.635 / 0.759 for BlazeFace alone at 0.5, with
  // the same number of detections (docs/ACCURACY.md).
  float min_face_score = 0.4f;
  bool flip_average = true;        // see EmbedderOptions
  bool load_embedder = true;       // false: detection only (faster start)
};

class FacePipeline {
 public:
  // Loads the models named by the profile (checksums verified); throws Error.
  FacePipeline(const ModelManifest& manifest, const PipelineOptions& options = {});
  ~FacePipeline();

  // Faces (largest first) with landmarks and quality, no descriptors.
  std::vector<FaceResult> Detect(const cv::Mat& bgr);
  // Detect, then embed every face.
  std::vector<FaceResult> Analyze(const cv::Mat& bgr);
  // Embeds the given faces in place (their landmarks must be set).
  void Embed(const cv::Mat& bgr, std::vector<FaceResult>& faces);

  const Profile& profile() const { return profile_; }
  std::string DetectorId() const;
  OnnxEmbedder& embedder();  // throws Error if load_embedder was false
  // Cosine similarity at or above which two faces are called the same person.
  std::optional<double> SameThreshold() const;

 private:
  // Detector, landmark refinement, score filter, de-duplication.
  std::vector<FaceResult> DetectOnce(const cv::Mat& bgr);
  // DetectOnce; when nothing is found, again on the image with a margin.
  std::vector<FaceResult> DetectWithMarginRetry(const cv::Mat& bgr);

  Profile profile_;
  PipelineOptions options_;
  std::unique_ptr<FaceDetector> detector_;
  std::unique_ptr<OnetRefiner> refiner_;
  std::unique_ptr<OnnxEmbedder> embedder_;
  bool detector_has_landmarks_ = false;
};

// Faces scoring at least this are "confident"; lower-scoring ones (down to
// PipelineOptions::min_face_score) are reported for recall but are never
// picked as the face a command acts on by default.
inline constexpr float kConfidentFaceScore = 0.5f;

// The face a command uses when the user does not choose one: the largest
// confident face, else the largest face. `faces` is Detect()'s order; must
// not be empty.
size_t PrimaryFace(const std::vector<FaceResult>& faces);

// Quality indicators of a face with 5 landmarks in `bgr`.
FaceQuality EstimateQuality(const cv::Mat& bgr, const DetectedFace& face);

}  // namespace lineup
