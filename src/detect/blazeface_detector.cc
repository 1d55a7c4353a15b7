#include "detect/blazeface_detector.h"

#include <algorithm>
#include <cmath>

#include <onnx/onnx_pb.h>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>

#include "common/error.h"
#include "common/file_util.h"
#include "detect/anchors.h"
#include "detect/nms.h"

namespace lineup {
namespace {

constexpr int kCoordsPerAnchor = 16;  // box (cx, cy, w, h) + 6 keypoints (x, y)
constexpr float kLogitClip = 100.f;   // MediaPipe clips raw scores to +-100
// Mouth width / eye distance in the ArcFace 5-point template (29.18 / 35.24).
constexpr float kMouthHalfWidthPerEyeDistance = 0.414f;

// Measured by pasting 80 real faces (with their surroundings) into model-sized
// tiles at known sizes: the back model finds all of them from 12 px to ~160 px,
// the front model from 18 px to ~64 px. 14 leaves a margin for harder (blurred,
// turned) faces; 64 is the tile overlap, a quarter of the back model's input.
constexpr float kBackModelMinFace = 14.f;
constexpr float kBackModelMaxFace = 64.f;
constexpr float kFrontModelMinFace = 18.f;
constexpr float kFrontModelMaxFace = 48.f;

// Reads the square NHWC input size from the ONNX graph: dims [1, S, S, 3].
int InputSizeOf(const onnx::ModelProto& model, const std::string& name) {
  if (model.graph().input_size() < 1) throw Error(Context(name, "ONNX graph has no input"));
  const auto& shape = model.graph().input(0).type().tensor_type().shape();
  if (shape.dim_size() != 4 || shape.dim(3).dim_value() != 3 ||
      shape.dim(1).dim_value() != shape.dim(2).dim_value()) {
    throw Error(Context(name, "input is not NHWC [1, S, S, 3]; not a BlazeFace model"));
  }
  return static_cast<int>(shape.dim(1).dim_value());
}

float Logit(float p) {
  p = std::clamp(p, 1e-6f, 1.f - 1e-6f);
  return std::log(p / (1.f - p));
}

// Tile origins along one axis: `count` tiles of `tile` pixels spread evenly
// over `extent` pixels, first at 0, last ending at `extent`.
std::vector<int> TileOrigins(int extent, int tile, int overlap) {
  if (extent <= tile) return {0};
  const int stride = tile - overlap;
  const int count = 1 + (extent - tile + stride - 1) / stride;
  std::vector<int> origins(count);
  for (int i = 0; i < count; ++i) {
    origins[i] = static_cast<int>(std::lround(static_cast<double>(i) * (extent - tile) / (count - 1)));
  }
  return origins;
}

// Ownership bounds along one axis: tile i owns [bounds[i], bounds[i + 1]),
// split at the middle of each overlap. The outer bounds reach a tile beyond
// the image (a face centre can lie just outside it) but stay small, so that
// float rectangles built from them keep sub-pixel precision.
std::vector<float> OwnershipBounds(const std::vector<int>& origins, int tile, int extent) {
  std::vector<float> bounds(origins.size() + 1);
  bounds.front() = static_cast<float>(-tile);
  bounds.back() = static_cast<float>(std::max(extent, tile) + tile);
  for (size_t i = 1; i < origins.size(); ++i) {
    bounds[i] = 0.5f * (origins[i] + origins[i - 1] + tile);
  }
  return bounds;
}

void AppendLevelTiles(int level, cv::Size level_size, int tile, int overlap,
                      std::vector<BlazeFaceTile>& tiles) {
  const std::vector<int> xs = TileOrigins(level_size.width, tile, overlap);
  const std::vector<int> ys = TileOrigins(level_size.height, tile, overlap);
  const std::vector<float> x_bounds = OwnershipBounds(xs, tile, level_size.width);
  const std::vector<float> y_bounds = OwnershipBounds(ys, tile, level_size.height);
  for (size_t j = 0; j < ys.size(); ++j) {
    for (size_t i = 0; i < xs.size(); ++i) {
      BlazeFaceTile t;
      t.level = level;
      t.rect = cv::Rect(xs[i], ys[j], tile, tile);
      t.own = cv::Rect2f(x_bounds[i], y_bounds[j], x_bounds[i + 1] - x_bounds[i],
                         y_bounds[j + 1] - y_bounds[j]);
      tiles.push_back(t);
    }
  }
}

cv::Size ScaledSize(cv::Size size, double scale) {
  return cv::Size(std::max(1, static_cast<int>(std::lround(size.width * scale))),
                  std::max(1, static_cast<int>(std::lround(size.height * scale))));
}

// BlazeFace's boxes are square-ish and sit low on the face (brows to below
// the chin). Lineup reports boxes in the WIDER FACE annotation convention
// (hairline to chin, narrower than tall), the one detection AP is measured
// against. Measured on widerface_train_dev (1,435 matched faces): relative to
// the annotated box, BlazeFace's centre is 0.072 heights lower, its width
// 1.127x and its height 0.884x. Keypoints are not affected.
cv::Rect2f ToAnnotationConvention(const cv::Rect2f& b) {
  const float width = b.width / 1.127f;
  const float height = b.height / 0.884f;
  const float centre_x = b.x + 0.5f * b.width;
  const float centre_y = b.y + 0.5f * b.height - 0.072f * height;
  return cv::Rect2f(centre_x - 0.5f * width, centre_y - 0.5f * height, width, height);
}

// levels[i] = `image` scaled by scales[i] (ascending). Built fine to coarse,
// each level from the next finer one: area averaging where the step shrinks
// by more than 2x (aliasing), bilinear otherwise (4-10x cheaper).
void BuildPyramid(const cv::Mat& image, const std::vector<double>& scales,
                  std::vector<cv::Mat>& levels) {
  levels.resize(scales.size());
  for (size_t i = scales.size(); i-- > 0;) {
    const bool from_source = i + 1 == scales.size();
    const cv::Mat& finer = from_source ? image : levels[i + 1];
    const double step = from_source ? scales[i] : scales[i] / scales[i + 1];
    const int interpolation = step < 0.5 ? cv::INTER_AREA : cv::INTER_LINEAR;
    cv::resize(finer, levels[i], ScaledSize(image.size(), scales[i]), 0, 0, interpolation);
  }
}

// Lineup's 5 points from BlazeFace's keypoints (see Detect's comment).
std::vector<cv::Point2f> FivePointLandmarks(const std::array<cv::Point2f, 6>& k) {
  const cv::Point2f eye_vector = k[kBlazeLeftEye] - k[kBlazeRightEye];  // image left -> right
  const cv::Point2f half_mouth = kMouthHalfWidthPerEyeDistance * eye_vector;
  return {k[kBlazeRightEye], k[kBlazeLeftEye], k[kBlazeNoseTip],
          k[kBlazeMouthCentre] - half_mouth, k[kBlazeMouthCentre] + half_mouth};
}

}  // namespace

struct BlazeFaceDetector::Model {
  std::string name;     // model file, for messages
  std::string variant;  // "front" or "back"
  int input_size = 0;
  float min_face = 0.f;  // reliable face size range, model-input pixels
  float max_face = 0.f;
  cv::dnn::Net net;
  std::vector<cv::Point2f> anchors;  // model-input pixels
  // Output names per anchor group (in anchor order) and where each group starts.
  std::vector<std::string> output_names;  // scores then regressors, per group
  std::vector<int> group_sizes;
  // Reused buffers.
  cv::Mat blob;       // 1 x S x S x 3 float
  cv::Mat blob_view;  // S x S CV_32FC3 over blob's memory
  cv::Mat tile_bgr;   // S x S CV_8UC3
  cv::Mat tile_rgb;
  std::vector<cv::Mat> levels;  // one scaled copy of the image per pyramid level
  std::vector<cv::Mat> outputs;
};

BlazeFaceDetector::BlazeFaceDetector(const std::filesystem::path& model_path,
                                     const BlazeFaceOptions& options)
    : options_(options), model_(std::make_unique<Model>()) {
  Model& m = *model_;
  m.name = model_path.string();
  const std::vector<uint8_t> bytes = ReadFileBytes(model_path, int64_t{64} << 20);
  onnx::ModelProto proto;
  if (!proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    throw Error(Context(m.name, "not a valid ONNX model"));
  }
  m.input_size = InputSizeOf(proto, m.name);
  SsdAnchorOptions anchor_options;
  if (m.input_size == 128) {
    m.variant = "front";
    anchor_options = BlazeFaceFrontAnchorOptions();
    m.min_face = kFrontModelMinFace;
    m.max_face = kFrontModelMaxFace;
  } else if (m.input_size == 256) {
    m.variant = "back";
    anchor_options = BlazeFaceBackAnchorOptions();
    m.min_face = kBackModelMinFace;
    m.max_face = kBackModelMaxFace;
  } else {
    throw Error(Context(m.name, "unsupported BlazeFace input size " +
                                    std::to_string(m.input_size) + " (expected 128 or 256)"));
  }
  m.anchors = GenerateSsdAnchorCentres(anchor_options);
  for (cv::Point2f& a : m.anchors) a *= static_cast<float>(m.input_size);

  try {
    m.net = cv::dnn::readNetFromONNX(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  } catch (const cv::Exception& e) {
    throw Error(Context(m.name, std::string("OpenCV DNN cannot load it: ") + e.what()));
  }
  const int S = m.input_size;
  const int dims[] = {1, S, S, 3};
  m.blob.create(4, dims, CV_32F);
  m.blob.setTo(0);
  m.blob_view = cv::Mat(S, S, CV_32FC3, m.blob.ptr<float>());
  m.tile_bgr.create(S, S, CV_8UC3);

  // Identify outputs by shape: [1, n, 1] scores and [1, n, 16] regressors per
  // anchor group; the group with more anchors (the finer grid) comes first.
  const std::vector<std::string> names = m.net.getUnconnectedOutLayersNames();
  try {
    m.net.setInput(m.blob);
    m.net.forward(m.outputs, names);
  } catch (const cv::Exception& e) {
    throw Error(Context(m.name, std::string("OpenCV DNN cannot run it: ") + e.what()));
  }
  struct Out { std::string name; int anchors; int coords; };
  std::vector<Out> outs;
  for (size_t i = 0; i < names.size(); ++i) {
    const cv::Mat& o = m.outputs[i];
    if (o.dims != 3 || o.size[0] != 1) continue;
    outs.push_back({names[i], o.size[1], o.size[2]});
  }
  std::sort(outs.begin(), outs.end(), [](const Out& a, const Out& b) {
    return a.anchors != b.anchors ? a.anchors > b.anchors : a.coords < b.coords;
  });
  int total = 0;
  for (size_t i = 0; i + 1 < outs.size(); i += 2) {
    if (outs[i].anchors != outs[i + 1].anchors || outs[i].coords != 1 ||
        outs[i + 1].coords != kCoordsPerAnchor) {
      break;
    }
    m.output_names.push_back(outs[i].name);
    m.output_names.push_back(outs[i + 1].name);
    m.group_sizes.push_back(outs[i].anchors);
    total += outs[i].anchors;
  }
  if (options_.model_min_face > 0) m.min_face = options_.model_min_face;
  if (options_.model_max_face > 0) m.max_face = options_.model_max_face;
  m.max_face = std::max(m.max_face, 1.25f * m.min_face);
  if (m.group_sizes.empty() || total != static_cast<int>(m.anchors.size())) {
    throw Error(Context(m.name, "outputs do not match BlazeFace's " +
                                    std::to_string(m.anchors.size()) + " anchors"));
  }
}

BlazeFaceDetector::~BlazeFaceDetector() = default;

int BlazeFaceDetector::input_size() const { return model_->input_size; }

std::string BlazeFaceDetector::Id() const {
  std::string id = "blazeface-" + model_->variant + "-" + std::to_string(model_->input_size);
  if (options_.max_tiles > 1) id += "-multiscale";
  return id;
}

BlazeFaceTilePlan BlazeFaceDetector::PlanTiles(cv::Size image_size) const {
  BlazeFaceTilePlan plan;
  if (image_size.width <= 0 || image_size.height <= 0) return plan;
  const int S = model_->input_size;
  const float small = model_->min_face;
  const float large = model_->max_face;
  const int overlap = std::min(S / 2, static_cast<int>(std::ceil(large)));
  const double step = large / small;
  const double coarse = static_cast<double>(S) / std::max(image_size.width, image_size.height);

  // Levels: coarse, then geometric steps of at most `step` up to `finest`;
  // if that needs too many tiles, lower `finest` until it fits.
  double finest = std::max(coarse, static_cast<double>(small) / options_.min_face_px);
  for (;;) {
    plan.level_scales.assign(1, coarse);
    plan.tiles.clear();
    const int steps = static_cast<int>(std::ceil(std::log(finest / coarse) / std::log(step) - 1e-6));
    for (int i = 1; i <= steps; ++i) {
      plan.level_scales.push_back(coarse * std::pow(finest / coarse, static_cast<double>(i) / steps));
    }
    AppendLevelTiles(0, ScaledSize(image_size, coarse), S, 0, plan.tiles);
    for (size_t l = 1; l < plan.level_scales.size(); ++l) {
      AppendLevelTiles(static_cast<int>(l), ScaledSize(image_size, plan.level_scales[l]), S,
                       overlap, plan.tiles);
    }
    if (static_cast<int>(plan.tiles.size()) <= std::max(1, options_.max_tiles) ||
        finest <= coarse) {
      break;
    }
    finest = std::max(coarse, finest / 1.05);
  }
  plan.min_face_px = static_cast<float>(small / plan.level_scales.back());
  return plan;
}

std::vector<DetectedFace> BlazeFaceDetector::Detect(const cv::Mat& bgr) {
  std::vector<DetectedFace> faces;
  for (BlazeFaceDetection& d : DetectDetailed(bgr)) faces.push_back(std::move(d.face));
  return faces;
}

std::vector<BlazeFaceDetection> BlazeFaceDetector::DetectDetailed(const cv::Mat& bgr) {
  if (bgr.empty() || bgr.type() != CV_8UC3) {
    throw Error(Context(Id(), "Detect needs a non-empty CV_8UC3 image"));
  }
  Model& m = *model_;
  const float large = m.max_face;
  const float logit_threshold = Logit(options_.score_threshold);
  const BlazeFaceTilePlan plan = PlanTiles(bgr.size());

  BuildPyramid(bgr, plan.level_scales, m.levels);

  std::vector<ScoredBox> candidates;
  for (const BlazeFaceTile& tile : plan.tiles) {
    const cv::Mat& level_image = m.levels[tile.level];
    // Source pixels per level pixel, per axis (level sizes are rounded). Pixel
    // i spans [i, i + 1) in both images, so mapping is a pure scale.
    const float to_source_x = static_cast<float>(bgr.cols) / level_image.cols;
    const float to_source_y = static_cast<float>(bgr.rows) / level_image.rows;
    // Tile pixels: the level image where the tile overlaps it, mid-grey elsewhere.
    const cv::Rect inside = tile.rect & cv::Rect(0, 0, level_image.cols, level_image.rows);
    if (inside != tile.rect) m.tile_bgr.setTo(cv::Scalar::all(128));
    level_image(inside).copyTo(m.tile_bgr(inside - tile.rect.tl()));
    cv::cvtColor(m.tile_bgr, m.tile_rgb, cv::COLOR_BGR2RGB);
    m.tile_rgb.convertTo(m.blob_view, CV_32FC3, 1.0 / 127.5, -1.0);
    m.net.setInput(m.blob);
    m.net.forward(m.outputs, m.output_names);

    int anchor_base = 0;
    for (size_t g = 0; g < m.group_sizes.size(); ++g) {
      const float* scores = m.outputs[2 * g].ptr<float>();
      const float* regs = m.outputs[2 * g + 1].ptr<float>();
      for (int i = 0; i < m.group_sizes[g]; ++i) {
        const float logit = std::clamp(scores[i], -kLogitClip, kLogitClip);
        if (logit < logit_threshold) continue;
        const float* r = regs + static_cast<size_t>(i) * kCoordsPerAnchor;
        const cv::Point2f anchor = m.anchors[anchor_base + i];
        const cv::Point2f centre(tile.rect.x + anchor.x + r[0], tile.rect.y + anchor.y + r[1]);
        if (!tile.own.contains(centre)) continue;  // another tile sees this face whole
        // Faces larger than the overlap belong to a coarser level, which sees them whole.
        if (tile.level > 0 && std::max(r[2], r[3]) > large * 1.5f) continue;
        ScoredBox box;
        box.score = 1.f / (1.f + std::exp(-logit));
        box.box = cv::Rect2f((centre.x - 0.5f * r[2]) * to_source_x,
                             (centre.y - 0.5f * r[3]) * to_source_y, r[2] * to_source_x,
                             r[3] * to_source_y);
        box.points.resize(6);
        for (int k = 0; k < 6; ++k) {
          box.points[k] = cv::Point2f((tile.rect.x + anchor.x + r[4 + 2 * k]) * to_source_x,
                                      (tile.rect.y + anchor.y + r[5 + 2 * k]) * to_source_y);
        }
        candidates.push_back(std::move(box));
      }
      anchor_base += m.group_sizes[g];
    }
  }

  std::vector<BlazeFaceDetection> detections;
  for (const ScoredBox& merged : WeightedNms(std::move(candidates), options_.nms_iou)) {
    BlazeFaceDetection d;
    d.face.box = ToAnnotationConvention(merged.box);
    d.face.score = merged.score;
    std::copy(merged.points.begin(), merged.points.end(), d.keypoints.begin());
    d.face.landmarks = FivePointLandmarks(d.keypoints);
    detections.push_back(std::move(d));
  }
  return detections;
}

}  // namespace lineup
