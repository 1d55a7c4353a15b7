// A face descriptor network run by OpenCV DNN from an ONNX file, configured
// entirely by its manifest entry (input size, colour order, normalisation,
// output blob, alignment template). Both built-in embedders (MobileFaceNet,
// dlib ResNet) and user-supplied ArcFace-style models run through this class.
//
// Invariant: every returned descriptor is L2-normalised (unit length), so the
// dot product of two descriptors is their cosine similarity.
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>

#include "align/face_aligner.h"
#include "models/model_manifest.h"

namespace lineup {

struct EmbedderOptions {
  // Average the descriptors of the chip and its mirror image (more accurate,
  // twice the work).
  bool flip_average = true;
  int max_batch = 16;
};

class OnnxEmbedder {
 public:
  // Loads the model after checking its checksum; throws Error naming the file.
  OnnxEmbedder(const ModelManifest& manifest, const std::string& model_id,
               const EmbedderOptions& options = {});

  const std::string& Id() const { return entry_.id; }
  int Dimension() const { return dimension_; }
  const AlignmentTemplate& Template() const { return *template_; }
  const ModelEntry& entry() const { return entry_; }

  // Chips are BGR CV_8UC3 of Template().size. Returns N x Dimension() CV_32F.
  cv::Mat EmbedChips(const std::vector<cv::Mat>& chips);
  // Aligns each face (five landmarks each) in `image` and embeds it.
  cv::Mat EmbedFaces(const cv::Mat& image, const std::vector<std::vector<cv::Point2f>>& landmarks);

 private:
  cv::Mat Forward(const std::vector<cv::Mat>& chips);

  ModelEntry entry_;
  EmbedderOptions options_;
  const AlignmentTemplate* template_;
  cv::dnn::Net net_;
  int dimension_ = 0;
};

}  // namespace lineup
