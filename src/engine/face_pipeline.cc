#include "engine/face_pipeline.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "align/face_aligner.h"
#include "common/error.h"
#include "detect/blazeface_detector.h"
#include "detect/mtcnn_detector.h"
#include "detect/nms.h"
#include "detect/onet_refiner.h"

namespace lineup {

namespace {

std::unique_ptr<FaceDetector> MakeMtcnn(const ModelManifest& m, const PipelineOptions& o) {
  MtcnnOptions options;
  options.min_face_size = o.min_face_px;
  return std::make_unique<MtcnnDetector>(m.OpenModelFile(m.Model("mtcnn-pnet")),
                                         m.OpenModelFile(m.Model("mtcnn-rnet")),
                                         m.OpenModelFile(m.Model("mtcnn-onet")), options);
}

double Degrees(double radians) { return radians * 180.0 / CV_PI; }

// Landmark refinement moves boxes: two detector boxes on one face (e.g. from
// different tiles or scales) can converge onto the same face. Keep the
// higher-scoring one of any pair that now overlaps by more than half.
void RemoveDuplicates(std::vector<FaceResult>& faces) {
  std::stable_sort(faces.begin(), faces.end(),
                   [](const FaceResult& a, const FaceResult& b) { return a.face.score > b.face.score; });
  std::vector<FaceResult> kept;
  for (FaceResult& f : faces) {
    bool duplicate = std::any_of(kept.begin(), kept.end(), [&](const FaceResult& k) {
      return IntersectionOverUnion(k.face.box, f.face.box) > 0.5f;
    });
    if (!duplicate) kept.push_back(std::move(f));
  }
  faces = std::move(kept);
}

}  // namespace

FaceQuality EstimateQuality(const cv::Mat& bgr, const DetectedFace& face) {
  FaceQuality q;
  if (face.landmarks.size() != 5) {
    q.size_px = std::max(face.box.width, face.box.height) * 0.4f;
    return q;
  }
  const auto& p = face.landmarks;
  cv::Point2f eye_vec = p[kRightEye] - p[kLeftEye];
  float eye_dist = std::hypot(eye_vec.x, eye_vec.y);
  q.size_px = eye_dist;
  q.roll_deg = static_cast<float>(Degrees(std::atan2(eye_vec.y, eye_vec.x)));
  if (eye_dist > 0) {
    // Offset of the nose from the eye/mouth midline, along the eye line, in
    // eye distances: about 0 frontal, about 0.5 near profile.
    cv::Point2f mid = (p[kLeftEye] + p[kRightEye] + p[kLeftMouth] + p[kRightMouth]) * 0.25f;
    cv::Point2f d = p[kNose] - mid;
    float along = (d.x * eye_vec.x + d.y * eye_vec.y) / (eye_dist * eye_dist);
    q.yaw_deg = static_cast<float>(Degrees(std::asin(std::clamp(along * 2.f, -1.f, 1.f))));
  }
  try {
    cv::Mat chip = AlignFace(bgr, face.landmarks, ArcFace112Template());
    cv::Mat grey, laplacian;
    cv::cvtColor(chip, grey, cv::COLOR_BGR2GRAY);
    cv::Laplacian(grey, laplacian, CV_32F);
    cv::Scalar mean, stddev;
    cv::meanStdDev(laplacian, mean, stddev);
    q.sharpness = static_cast<float>(stddev[0] * stddev[0]);
  } catch (const Error&) {
    // Degenerate landmarks: leave sharpness at 0.
  }
  return q;
}

FacePipeline::FacePipeline(const ModelManifest& manifest, const PipelineOptions& options)
    : profile_(manifest.GetProfile(options.profile)), options_(options) {
  std::string detector_kind = options.detector.empty() ? manifest.Model(profile_.detector).kind
                                                       : options.detector;
  if (detector_kind == "blazeface") {
    std::string id = options.detector.empty() ? profile_.detector : "blazeface-back-256";
    BlazeFaceOptions blaze;
    blaze.min_face_px = options.min_face_px;
    blaze.score_threshold = options.proposal_score;
    detector_ = std::make_unique<BlazeFaceDetector>(manifest.OpenModelFile(manifest.Model(id)), blaze);
  } else if (detector_kind == "mtcnn" || detector_kind == "mtcnn-pnet") {
    detector_ = MakeMtcnn(manifest, options);
    detector_has_landmarks_ = true;
  } else {
    throw Error(Context("profile " + profile_.name, "unknown detector '" + detector_kind +
                                                       "' (known: blazeface, mtcnn)"));
  }
  if (!detector_has_landmarks_ && !profile_.landmarks.empty()) {
    refiner_ = std::make_unique<OnetRefiner>(
        manifest.OpenModelFile(manifest.Model(profile_.landmarks)));
  }
  if (options.load_embedder) {
    EmbedderOptions embed;
    embed.flip_average = options.flip_average;
    embedder_ = std::make_unique<OnnxEmbedder>(manifest, profile_.embedder, embed);
  }
}

FacePipeline::~FacePipeline() = default;

std::string FacePipeline::DetectorId() const {
  std::string id = detector_->Id();
  if (refiner_) id += "+onet";
  return id;
}

OnnxEmbedder& FacePipeline::embedder() {
  if (!embedder_) throw Error("face pipeline: loaded without an embedder");
  return *embedder_;
}

std::optional<double> FacePipeline::SameThreshold() const {
  return embedder_ ? embedder_->entry().same_threshold : std::nullopt;
}

std::vector<FaceResult> FacePipeline::DetectOnce(const cv::Mat& bgr) {
  std::vector<DetectedFace> faces = detector_->Detect(bgr);
  std::vector<FaceResult> results;
  if (refiner_ && !faces.empty()) {
    for (RefinedFace& r : refiner_->Refine(bgr, faces)) {
      // Two independent opinions: the detector's and O-Net's on the refined crop.
      r.face.score = std::sqrt(r.face.score * std::max(r.onet_score, 0.f));
      if (r.face.score < options_.min_face_score) continue;
      results.push_back({std::move(r.face), r.refined, {}, {}});
    }
  } else {
    for (DetectedFace& f : faces) {
      if (f.score >= options_.min_face_score) results.push_back({std::move(f), detector_has_landmarks_, {}, {}});
    }
  }
  RemoveDuplicates(results);
  return results;
}

std::vector<FaceResult> FacePipeline::DetectWithMarginRetry(const cv::Mat& bgr) {
  std::vector<FaceResult> faces = DetectOnce(bgr);
  if (!faces.empty()) return faces;
  // A tight crop (the face fills the frame) is outside what detectors are
  // trained on; look again with a margin of 30% of the longer side around it.
  int margin = static_cast<int>(0.3 * std::max(bgr.cols, bgr.rows));
  cv::Mat padded;
  cv::copyMakeBorder(bgr, padded, margin, margin, margin, margin, cv::BORDER_REPLICATE);
  faces = DetectOnce(padded);
  for (FaceResult& f : faces) {
    f.face.box.x -= margin;
    f.face.box.y -= margin;
    for (auto& p : f.face.landmarks) p -= cv::Point2f(float(margin), float(margin));
  }
  return faces;
}

std::vector<FaceResult> FacePipeline::Detect(const cv::Mat& bgr) {
  if (bgr.empty() || bgr.type() != CV_8UC3) throw Error("face pipeline: expected a BGR image");
  std::vector<FaceResult> results = DetectWithMarginRetry(bgr);
  for (FaceResult& r : results) r.quality = EstimateQuality(bgr, r.face);
  std::stable_sort(results.begin(), results.end(), [](const FaceResult& a, const FaceResult& b) {
    return a.face.box.area() > b.face.box.area();
  });
  return results;
}

void FacePipeline::Embed(const cv::Mat& bgr, std::vector<FaceResult>& faces) {
  std::vector<std::vector<cv::Point2f>> landmarks;
  for (const FaceResult& f : faces) landmarks.push_back(f.face.landmarks);
  cv::Mat descriptors = embedder().EmbedFaces(bgr, landmarks);
  for (size_t i = 0; i < faces.size(); ++i) {
    const float* row = descriptors.ptr<float>(static_cast<int>(i));
    faces[i].embedding.assign(row, row + descriptors.cols);
  }
}

std::vector<FaceResult> FacePipeline::Analyze(const cv::Mat& bgr) {
  std::vector<FaceResult> faces = Detect(bgr);
  if (!faces.empty()) Embed(bgr, faces);
  return faces;
}

size_t PrimaryFace(const std::vector<FaceResult>& faces) {
  for (size_t i = 0; i < faces.size(); ++i) {  // largest first
    if (faces[i].face.score >= kConfidentFaceScore) return i;
  }
  return 0;
}

}  // namespace lineup
