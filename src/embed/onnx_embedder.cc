#include "embed/onnx_embedder.h"

#include <opencv2/imgproc.hpp>

#include "common/error.h"

namespace lineup {

OnnxEmbedder::OnnxEmbedder(const ModelManifest& manifest, const std::string& model_id,
                           const EmbedderOptions& options)
    : entry_(manifest.Model(model_id)), options_(options) {
  if (entry_.task != "embed") {
    throw Error(Context("model " + model_id, "is a '" + entry_.task + "' model, not an embedder"));
  }
  template_ = &TemplateByName(entry_.alignment);
  if (entry_.input.width != template_->size.width || entry_.input.height != template_->size.height) {
    throw Error(Context("model " + model_id, "input size does not match alignment '" +
                                                 entry_.alignment + "'"));
  }
  std::filesystem::path path = manifest.OpenModelFile(entry_);
  try {
    net_ = cv::dnn::readNetFromONNX(path.string());
  } catch (const cv::Exception& e) {
    throw Error(Context(path.string(), std::string("cannot load ONNX model: ") + e.what()));
  }
  net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  // Learn the output size from one forward pass rather than trusting the manifest.
  cv::Mat probe(template_->size, CV_8UC3, cv::Scalar::all(128));
  dimension_ = Forward({probe}).cols;
  if (entry_.output_dim && entry_.output_dim != dimension_) {
    throw Error(Context(path.string(), "produces " + std::to_string(dimension_) +
                                           "-d output, manifest says " +
                                           std::to_string(entry_.output_dim)));
  }
}

cv::Mat OnnxEmbedder::Forward(const std::vector<cv::Mat>& chips) {
  const ModelInput& in = entry_.input;
  bool swap_rb = in.color == "rgb";
  // blobFromImages subtracts the mean in the image's (BGR) order before swapping.
  cv::Scalar mean = swap_rb ? cv::Scalar(in.mean[2], in.mean[1], in.mean[0])
                            : cv::Scalar(in.mean[0], in.mean[1], in.mean[2]);
  cv::Mat blob = cv::dnn::blobFromImages(chips, in.scale, cv::Size(), mean, swap_rb, false, CV_32F);
  net_.setInput(blob);
  cv::Mat out = entry_.output.empty() ? net_.forward() : net_.forward(entry_.output);
  return out.reshape(1, static_cast<int>(chips.size())).clone();
}

cv::Mat OnnxEmbedder::EmbedChips(const std::vector<cv::Mat>& chips) {
  cv::Mat result(static_cast<int>(chips.size()), dimension_, CV_32F);
  for (size_t start = 0; start < chips.size(); start += options_.max_batch) {
    size_t end = std::min(chips.size(), start + options_.max_batch);
    std::vector<cv::Mat> batch(chips.begin() + start, chips.begin() + end);
    for (const cv::Mat& chip : batch) {
      if (chip.type() != CV_8UC3 || chip.size() != template_->size) {
        throw Error(Context("embedder " + entry_.id, "chip must be BGR " +
                                                         std::to_string(template_->size.width) + "x" +
                                                         std::to_string(template_->size.height)));
      }
    }
    cv::Mat descriptors = Forward(batch);
    if (options_.flip_average) {
      std::vector<cv::Mat> flipped(batch.size());
      for (size_t i = 0; i < batch.size(); ++i) cv::flip(batch[i], flipped[i], 1);
      descriptors += Forward(flipped);
    }
    for (int r = 0; r < descriptors.rows; ++r) {
      cv::Mat row = descriptors.row(r);
      double norm = cv::norm(row);
      if (norm > 0) row /= norm;
      row.copyTo(result.row(static_cast<int>(start) + r));
    }
  }
  return result;
}

cv::Mat OnnxEmbedder::EmbedFaces(const cv::Mat& image,
                                 const std::vector<std::vector<cv::Point2f>>& landmarks) {
  std::vector<cv::Mat> chips;
  chips.reserve(landmarks.size());
  for (const auto& points : landmarks) chips.push_back(AlignFace(image, points, *template_));
  if (chips.empty()) return cv::Mat(0, dimension_, CV_32F);
  return EmbedChips(chips);
}

}  // namespace lineup
