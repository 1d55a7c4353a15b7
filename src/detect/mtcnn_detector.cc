#include "detect/mtcnn_detector.h"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "common/error.h"
#include "detect/nms.h"
#include "detect/onet_refiner.h"

namespace lineup {
namespace {

constexpr int kPnetCell = 12;    // P-Net's receptive field, source of a candidate box
constexpr int kPnetStride = 2;   // output cell pitch in level pixels
constexpr int kRnetSide = 24;
constexpr int kMaxRnetBatch = 256;   // R-Net crops per forward (bounds memory)

const char* kPnetProb = "pnet_prob1";
const char* kPnetRegression = "pnet_conv4_2_BiasAdd";
const char* kRnetProb = "rnet_prob1";
const char* kRnetRegression = "rnet_conv5_2_conv5_2";

// Per-stage NMS overlaps of the reference implementation.
constexpr float kPnetLevelNms = 0.5f;   // within one pyramid level (IoU)
constexpr float kPnetNms = 0.7f;        // across levels (IoU)
constexpr float kRnetNms = 0.7f;        // IoU
constexpr float kOnetNms = 0.7f;        // intersection over the smaller area

struct Candidate {
  cv::Rect2f box;
  float score = 0.f;
  std::array<float, 4> regression{};
  std::vector<cv::Point2f> landmarks;
};

// Greedy hard NMS: keeps the best-scoring candidate of each overlapping
// cluster unchanged; the result is sorted by descending score.
std::vector<Candidate> Suppress(std::vector<Candidate> candidates, float threshold,
                                bool over_min_area) {
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  std::vector<Candidate> kept;
  for (Candidate& c : candidates) {
    bool overlaps = std::any_of(kept.begin(), kept.end(), [&](const Candidate& k) {
      return (over_min_area ? IntersectionOverMinArea(k.box, c.box)
                            : IntersectionOverUnion(k.box, c.box)) > threshold;
    });
    if (!overlaps) kept.push_back(std::move(c));
  }
  return kept;
}

void RegressAndSquare(std::vector<Candidate>& candidates) {
  for (Candidate& c : candidates) c.box = SquareAround(ApplyBoxRegression(c.box, c.regression.data()));
}

// 3-channel 8-bit view of the input; throws on what a detector cannot read.
cv::Mat AsBgr(const cv::Mat& image) {
  if (image.depth() != CV_8U) throw Error(Context("MtcnnDetector", "image is not 8-bit"));
  cv::Mat bgr;
  switch (image.channels()) {
    case 3: return image;
    case 1: cv::cvtColor(image, bgr, cv::COLOR_GRAY2BGR); return bgr;
    case 4: cv::cvtColor(image, bgr, cv::COLOR_BGRA2BGR); return bgr;
    default: throw Error(Context("MtcnnDetector", "image has an unsupported channel count"));
  }
}

// `box` rounded to whole pixels, at least 1x1. A box that is not finite or
// absurdly larger than the image (a diverged regression) becomes a 1x1
// rectangle outside the image, i.e. a black crop, instead of a huge buffer.
cv::Rect WholePixels(const cv::Rect2f& box, cv::Size image) {
  const float limit = 8.f * std::max(image.width, image.height) + 1024.f;
  bool sane = std::isfinite(box.x) && std::isfinite(box.y) && std::isfinite(box.width) &&
              std::isfinite(box.height) && std::fabs(box.x) < limit && std::fabs(box.y) < limit &&
              box.width < limit && box.height < limit;
  if (!sane) return {-2, -2, 1, 1};
  int x1 = int(std::lround(box.x)), y1 = int(std::lround(box.y));
  int x2 = std::max(x1 + 1, int(std::lround(box.x + box.width)));
  int y2 = std::max(y1 + 1, int(std::lround(box.y + box.height)));
  return {x1, y1, x2 - x1, y2 - y1};
}

}  // namespace

// ---- Building blocks --------------------------------------------------------

cv::dnn::Net ReadMtcnnNet(const std::filesystem::path& path,
                          const std::vector<std::string>& outputs) {
  if (!std::filesystem::is_regular_file(path)) throw Error(Context(path.string(), "no such model file"));
  cv::dnn::Net net;
  try {
    net = cv::dnn::readNetFromONNX(path.string());
  } catch (const cv::Exception& e) {
    throw Error(Context(path.string(), std::string("not a readable ONNX graph: ") + e.what()));
  }
  if (net.empty()) throw Error(Context(path.string(), "empty ONNX graph"));
  for (const std::string& name : outputs) {
    if (net.getLayerId(name) < 0) {
      throw Error(Context(path.string(), "graph has no output '" + name + "' (not an MTCNN stage?)"));
    }
  }
  return net;
}

cv::Rect2f SquareAround(const cv::Rect2f& box) {
  float side = std::max(box.width, box.height);
  return {box.x + (box.width - side) / 2, box.y + (box.height - side) / 2, side, side};
}

cv::Rect2f ApplyBoxRegression(const cv::Rect2f& box, const float* r) {
  float x1 = box.x + r[0] * box.width, y1 = box.y + r[1] * box.height;
  float x2 = box.x + box.width + r[2] * box.width, y2 = box.y + box.height + r[3] * box.height;
  return {x1, y1, x2 - x1, y2 - y1};
}

cv::Mat MtcnnInputBlob(const cv::Mat& bgr, const std::vector<cv::Rect2f>& boxes, int side,
                       std::vector<cv::Rect2f>* cropped) {
  std::vector<cv::Mat> inputs;
  inputs.reserve(boxes.size());
  if (cropped) cropped->clear();
  const cv::Rect image_rect(0, 0, bgr.cols, bgr.rows);
  for (const cv::Rect2f& box : boxes) {
    cv::Rect whole = WholePixels(box, bgr.size());
    cv::Mat patch;
    if ((whole & image_rect) == whole) {
      patch = bgr(whole);
    } else {
      patch = cv::Mat(whole.size(), CV_8UC3, cv::Scalar::all(0));  // black outside the image
      cv::Rect inside = whole & image_rect;
      if (!inside.empty()) bgr(inside).copyTo(patch(inside - whole.tl()));
    }
    cv::Mat resized, transposed;
    bool shrinking = whole.width > side || whole.height > side;
    cv::resize(patch, resized, cv::Size(side, side), 0, 0,
               shrinking ? cv::INTER_AREA : cv::INTER_LINEAR);
    cv::transpose(resized, transposed);  // the nets read images column-major
    inputs.push_back(transposed);
    if (cropped) cropped->push_back(cv::Rect2f(whole));
  }
  // (v - 127.5) / 128, BGR -> RGB.
  return cv::dnn::blobFromImages(inputs, 1.0 / 128, cv::Size(), cv::Scalar::all(127.5), true, false,
                                 CV_32F);
}

// ---- MtcnnDetector ----------------------------------------------------------

struct MtcnnDetector::Nets {
  cv::dnn::Net pnet;
  cv::dnn::Net rnet;
  OnetRefiner onet;

  Nets(const std::filesystem::path& p, const std::filesystem::path& r,
       const std::filesystem::path& o)
      : pnet(ReadMtcnnNet(p, {kPnetProb, kPnetRegression})),
        rnet(ReadMtcnnNet(r, {kRnetProb, kRnetRegression})),
        onet(o) {}
};

MtcnnDetector::MtcnnDetector(const std::filesystem::path& pnet_onnx,
                             const std::filesystem::path& rnet_onnx,
                             const std::filesystem::path& onet_onnx, const MtcnnOptions& options)
    : options_(options), nets_(std::make_unique<Nets>(pnet_onnx, rnet_onnx, onet_onnx)) {
  if (!(options_.min_face_size > 0.f)) throw Error(Context("MtcnnOptions", "min_face_size must be > 0"));
  if (!(options_.pyramid_factor > 0.f && options_.pyramid_factor < 1.f)) {
    throw Error(Context("MtcnnOptions", "pyramid_factor must be in (0, 1)"));
  }
}

MtcnnDetector::~MtcnnDetector() = default;

std::vector<double> MtcnnDetector::PyramidScales(cv::Size size) const {
  std::vector<double> scales;
  if (size.width <= 0 || size.height <= 0) return scales;
  double scale = kPnetCell / double(options_.min_face_size);
  if (options_.max_image_side > 0) {
    scale = std::min(scale, options_.max_image_side / double(std::max(size.width, size.height)));
  }
  const int short_side = std::min(size.width, size.height);
  for (; short_side * scale >= kPnetCell; scale *= options_.pyramid_factor) scales.push_back(scale);
  return scales;
}

float MtcnnDetector::EffectiveMinFaceSize(cv::Size size) const {
  std::vector<double> scales = PyramidScales(size);
  return scales.empty() ? 0.f : float(kPnetCell / scales.front());
}

namespace {

// P-Net over one pyramid level (`level`, the source image resized): a
// candidate for every output cell whose face probability exceeds
// `threshold`, in source pixels.
std::vector<Candidate> RunPnetLevel(cv::dnn::Net& pnet, const cv::Mat& level, cv::Size source,
                                    float threshold) {
  cv::Mat transposed;
  cv::transpose(level, transposed);
  pnet.setInput(cv::dnn::blobFromImage(transposed, 1.0 / 128, cv::Size(), cv::Scalar::all(127.5),
                                       true, false, CV_32F));
  std::vector<cv::Mat> out;
  pnet.forward(out, std::vector<std::string>{kPnetProb, kPnetRegression});
  // Maps are [1, C, X, Y]: the first spatial axis runs along image x.
  const cv::Mat& prob = out[0];
  const cv::Mat& reg = out[1];
  const int nx = prob.size[2], ny = prob.size[3], plane = nx * ny;
  const float* face = prob.ptr<float>() + plane;  // channel 1
  const float* r = reg.ptr<float>();
  const double sx = double(level.cols) / source.width, sy = double(level.rows) / source.height;
  std::vector<Candidate> candidates;
  for (int ix = 0; ix < nx; ++ix) {
    for (int iy = 0; iy < ny; ++iy) {
      int i = ix * ny + iy;
      if (!(face[i] > threshold)) continue;
      Candidate c;
      c.score = face[i];
      c.box = cv::Rect2f(float(kPnetStride * ix / sx), float(kPnetStride * iy / sy),
                         float(kPnetCell / sx), float(kPnetCell / sy));
      for (int k = 0; k < 4; ++k) c.regression[k] = r[k * plane + i];
      candidates.push_back(std::move(c));
    }
  }
  return Suppress(std::move(candidates), kPnetLevelNms, false);
}

// R-Net over candidate squares (batched); keeps those above `threshold` with
// R-Net's score and regression.
std::vector<Candidate> RunRnet(cv::dnn::Net& rnet, const cv::Mat& bgr,
                               const std::vector<Candidate>& candidates, float threshold) {
  std::vector<Candidate> kept;
  for (size_t begin = 0; begin < candidates.size(); begin += kMaxRnetBatch) {
    size_t end = std::min(candidates.size(), begin + kMaxRnetBatch);
    std::vector<cv::Rect2f> squares;
    for (size_t i = begin; i < end; ++i) squares.push_back(candidates[i].box);
    std::vector<cv::Rect2f> cropped;
    rnet.setInput(MtcnnInputBlob(bgr, squares, kRnetSide, &cropped));
    std::vector<cv::Mat> out;
    rnet.forward(out, std::vector<std::string>{kRnetProb, kRnetRegression});
    const float* prob = out[0].ptr<float>();
    const float* reg = out[1].ptr<float>();
    for (size_t j = 0; j < squares.size(); ++j) {
      float score = prob[2 * j + 1];
      if (!(score > threshold)) continue;
      Candidate c;
      c.box = cropped[j];
      c.score = score;
      std::copy(reg + 4 * j, reg + 4 * j + 4, c.regression.begin());
      kept.push_back(std::move(c));
    }
  }
  return kept;
}

// A second O-Net pass on the squares around the final boxes (see
// MtcnnOptions::refine_landmarks); scores stay those of the detection pass.
void RerunOnet(OnetRefiner& onet, const cv::Mat& bgr, float threshold,
               std::vector<Candidate>& faces) {
  std::vector<cv::Rect2f> squares;
  for (const Candidate& c : faces) squares.push_back(SquareAround(c.box));
  std::vector<OnetOutput> again = onet.Run(bgr, squares);
  for (size_t i = 0; i < faces.size(); ++i) {
    if (!(again[i].score > threshold)) continue;
    faces[i].box = again[i].box;
    faces[i].landmarks = std::move(again[i].landmarks);
  }
}

}  // namespace

std::vector<DetectedFace> MtcnnDetector::Detect(const cv::Mat& image) {
  if (image.empty()) return {};
  const cv::Mat bgr = AsBgr(image);
  const auto& th = options_.thresholds;

  // Stage 1: P-Net pyramid.
  // Every level is resampled from the source image (INTER_AREA), as the
  // reference does; chaining levels is ~25% faster on P-Net but blurs the
  // small levels and changed which false positives survive.
  std::vector<Candidate> candidates;
  for (double scale : PyramidScales(bgr.size())) {
    cv::Size size(int(std::lround(bgr.cols * scale)), int(std::lround(bgr.rows * scale)));
    if (size.width < kPnetCell || size.height < kPnetCell) break;
    cv::Mat level;
    cv::resize(bgr, level, size, 0, 0, cv::INTER_AREA);
    std::vector<Candidate> found = RunPnetLevel(nets_->pnet, level, bgr.size(), th[0]);
    candidates.insert(candidates.end(), found.begin(), found.end());
  }
  candidates = Suppress(std::move(candidates), kPnetNms, false);
  RegressAndSquare(candidates);
  if (candidates.empty()) return {};

  // Stage 2: R-Net.
  candidates = Suppress(RunRnet(nets_->rnet, bgr, candidates, th[1]), kRnetNms, false);
  RegressAndSquare(candidates);
  if (candidates.empty()) return {};

  // Stage 3: O-Net; landmarks are relative to the crop, so they are final
  // before the box moves; NMS by the smaller area removes nested boxes.
  std::vector<cv::Rect2f> squares;
  for (const Candidate& c : candidates) squares.push_back(c.box);
  std::vector<Candidate> finals;
  for (OnetOutput& o : nets_->onet.Run(bgr, squares)) {
    if (!(o.score > th[2])) continue;
    finals.push_back(Candidate{o.box, o.score, {}, std::move(o.landmarks)});
  }
  finals = Suppress(std::move(finals), kOnetNms, true);
  if (options_.refine_landmarks) RerunOnet(nets_->onet, bgr, th[2], finals);

  std::vector<DetectedFace> faces;
  for (Candidate& c : finals) faces.push_back(DetectedFace{c.box, c.score, std::move(c.landmarks)});
  return faces;
}

}  // namespace lineup
