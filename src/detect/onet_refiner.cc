#include "detect/onet_refiner.h"

#include <algorithm>
#include <cmath>

#include <opencv2/dnn.hpp>

#include "common/error.h"
#include "detect/mtcnn_detector.h"

namespace lineup {
namespace {

constexpr int kOnetSide = 48;
constexpr int kMaxOnetBatch = 64;  // crops per forward (bounds memory)

const char* kOnetProb = "onet_prob1";
const char* kOnetRegression = "onet_conv6_2_conv6_2";
const char* kOnetLandmarks = "onet_conv6_3_conv6_3";

cv::Rect2f ScaledAboutCentre(const cv::Rect2f& r, float factor) {
  float w = r.width * factor, h = r.height * factor;
  return {r.x + (r.width - w) / 2, r.y + (r.height - h) / 2, w, h};
}

bool Usable(const cv::Rect2f& r) {
  return r.width > 0.f && r.height > 0.f && std::isfinite(r.x) && std::isfinite(r.y) &&
         std::isfinite(r.width) && std::isfinite(r.height);
}

}  // namespace

struct OnetRefiner::Net {
  cv::dnn::Net net;
};

OnetRefiner::OnetRefiner(const std::filesystem::path& onet_onnx, const OnetRefinerOptions& options)
    : options_(options),
      net_(std::make_unique<Net>(
          Net{ReadMtcnnNet(onet_onnx, {kOnetProb, kOnetRegression, kOnetLandmarks})})) {
  if (options_.passes < 1 || options_.passes > 3) {
    throw Error(Context("OnetRefinerOptions", "passes must be 1, 2 or 3"));
  }
  if (!(options_.box_scale > 0.f)) throw Error(Context("OnetRefinerOptions", "box_scale must be > 0"));
}

OnetRefiner::~OnetRefiner() = default;

std::vector<OnetOutput> OnetRefiner::Run(const cv::Mat& bgr, const std::vector<cv::Rect2f>& squares) {
  std::vector<OnetOutput> results;
  results.reserve(squares.size());
  for (size_t begin = 0; begin < squares.size(); begin += kMaxOnetBatch) {
    std::vector<cv::Rect2f> batch(squares.begin() + begin,
                                  squares.begin() + std::min(squares.size(), begin + kMaxOnetBatch));
    std::vector<cv::Rect2f> cropped;
    net_->net.setInput(MtcnnInputBlob(bgr, batch, kOnetSide, &cropped));
    std::vector<cv::Mat> out;
    net_->net.forward(out, std::vector<std::string>{kOnetProb, kOnetRegression, kOnetLandmarks});
    const float* prob = out[0].ptr<float>();
    const float* reg = out[1].ptr<float>();
    const float* marks = out[2].ptr<float>();
    for (size_t j = 0; j < batch.size(); ++j) {
      OnetOutput o;
      o.crop = cropped[j];
      o.score = prob[2 * j + 1];
      o.box = ApplyBoxRegression(o.crop, reg + 4 * j);
      // Five x fractions, then five y fractions of the crop, already in
      // Landmark5 order (image-left eye first). The fractions are of the
      // crop's pixel-edge extent; -0.5 moves to pixel-centre coordinates.
      const float* m = marks + 10 * j;
      for (int k = 0; k < 5; ++k) {
        o.landmarks.emplace_back(o.crop.x + m[k] * o.crop.width - 0.5f,
                                 o.crop.y + m[k + 5] * o.crop.height - 0.5f);
      }
      results.push_back(std::move(o));
    }
  }
  return results;
}

std::vector<RefinedFace> OnetRefiner::Refine(const cv::Mat& image,
                                             const std::vector<DetectedFace>& faces) {
  std::vector<RefinedFace> refined(faces.size());
  for (size_t i = 0; i < faces.size(); ++i) refined[i].face = faces[i];
  if (image.empty() || image.type() != CV_8UC3) {
    if (faces.empty()) return refined;
    throw Error(Context("OnetRefiner", "image is not a non-empty 8-bit BGR image"));
  }

  // Faces still in play and the squares their next pass looks at.
  std::vector<size_t> active;
  std::vector<cv::Rect2f> squares;
  for (size_t i = 0; i < faces.size(); ++i) {
    if (!Usable(faces[i].box)) continue;
    active.push_back(i);
    squares.push_back(SquareAround(ScaledAboutCentre(faces[i].box, options_.box_scale)));
  }

  // Every pass runs on every usable face, even after a low score: a badly
  // framed first crop scores low but still regresses towards the face.
  std::vector<OnetOutput> outputs;
  for (int pass = 0; pass < options_.passes && !active.empty(); ++pass) {
    outputs = Run(image, squares);
    for (size_t j = 0; j < active.size(); ++j) {
      if (Usable(outputs[j].box)) squares[j] = SquareAround(outputs[j].box);
    }
  }
  for (size_t j = 0; j < active.size(); ++j) {
    RefinedFace& r = refined[active[j]];
    const OnetOutput& o = outputs[j];
    r.onet_score = o.score;
    r.refined = o.score >= options_.min_score && Usable(o.box);
    if (!r.refined) continue;
    r.face.box = o.box;
    r.face.landmarks = o.landmarks;
  }
  return refined;
}

}  // namespace lineup
