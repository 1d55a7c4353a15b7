// Speed of Lineup's face engine on 1920x1080 photos, with dlib's HOG + 68-point
// shape predictor + face chip as the baseline measured in the same run.
//
//   build/lineup_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
//
// Benchmarks: DetectAlign/<method>/<set> (detection + 5 or 68 landmarks +
// aligned chip per face), Descriptor/<model>/batch:<n>/flip:<0|1> (EmbedChips
// on pre-aligned chips), Analyze/<profile>/1080p (detect + embed).
//
// Inputs: the six face-api demo group photos (var/packages), centre-cropped
// to 1920x1080. When /work/shared/data is present, the retinaface crowd photo
// (upscaled and cropped to 1920x1080) adds "crowd" rows to the detection
// benchmarks; the main rows never depend on it. Models are imported from
// var/packages into a temporary folder at start, so the user's var/models is
// never read. docs/PERFORMANCE.md holds measured figures.
//
// Timing: each iteration processes a whole input set and reports, through
// manual time, the wall time PER PHOTO (detection, Analyze) or PER FACE
// (descriptors). Read the "Time" column: "CPU" is the main thread's CPU time
// per whole set, not per item.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>
#include <dlib/image_transforms.h>
#include <dlib/matrix.h>
#include <dlib/serialize.h>
#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>
#include <unistd.h>

#include "align/face_aligner.h"
#include "common/error.h"
#include "common/paths.h"
#include "embed/onnx_embedder.h"
#include "engine/face_pipeline.h"
#include "image/image_loader.h"
#include "models/model_import.h"
#include "models/model_manifest.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kWidth = 1920;
constexpr int kHeight = 1080;
constexpr const char* kDlibShapePredictor = "/usr/share/dlib/shape_predictor_68_face_landmarks.dat";
constexpr const char* kCrowdPhoto = "/work/shared/data/pytorch_retinaface_media/curve/test.jpg";
constexpr int kDescriptorChips = 32;  // chips per descriptor iteration (a multiple of 16)

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Scales `image` to cover 1920x1080 (never changing its aspect ratio), then
// crops the centre. The face-api samples are 1920 wide, so they are only cropped.
cv::Mat To1080p(const cv::Mat& image) {
  double scale = std::max(double(kWidth) / image.cols, double(kHeight) / image.rows);
  cv::Mat scaled = image;
  if (scale != 1.0) {
    cv::resize(image, scaled, cv::Size(), scale, scale,
               scale < 1.0 ? cv::INTER_AREA : cv::INTER_LINEAR);
  }
  cv::Rect centre((scaled.cols - kWidth) / 2, (scaled.rows - kHeight) / 2, kWidth, kHeight);
  return scaled(centre).clone();
}

// Pipeline options for detection benchmarks: no embedder is loaded.
PipelineOptions DetectionOnly(const std::string& profile, const std::string& detector = "",
                              float min_face_px = 20.f) {
  PipelineOptions options;
  options.profile = profile;
  options.detector = detector;
  options.min_face_px = min_face_px;
  options.load_embedder = false;
  return options;
}

dlib::matrix<dlib::rgb_pixel> ToDlib(const cv::Mat& bgr) {
  dlib::matrix<dlib::rgb_pixel> out(bgr.rows, bgr.cols);
  for (int y = 0; y < bgr.rows; ++y) {
    const cv::Vec3b* row = bgr.ptr<cv::Vec3b>(y);
    for (int x = 0; x < bgr.cols; ++x) out(y, x) = dlib::rgb_pixel(row[x][2], row[x][1], row[x][0]);
  }
  return out;
}

struct PhotoSet {
  std::string name;                                  // "1080p" or "crowd"
  std::vector<cv::Mat> bgr;                          // 1920x1080 CV_8UC3
  std::vector<dlib::matrix<dlib::rgb_pixel>> dlib;   // the same pixels, RGB, for dlib
};

// Everything benchmarks share, built once before any benchmark runs; the
// models folder is a temporary import removed when the process exits.
class BenchEnv {
 public:
  BenchEnv() {
    models_dir_ = fs::temp_directory_path() / ("lineup-bench-" + std::to_string(getpid()));
    fs::remove_all(models_dir_);
    fs::create_directories(models_dir_);
    auto start = Clock::now();
    manifest_ = std::make_unique<ModelManifest>(
        ImportBuiltinModels({PackagesDir(), models_dir_, "accurate"}));
    std::fprintf(stderr, "lineup_bench: models imported into %s in %.2f s\n",
                 models_dir_.c_str(), Seconds(Clock::now() - start));
    sets_.push_back(LoadSamples());
    if (fs::exists(kCrowdPhoto)) {
      PhotoSet crowd{"crowd", {To1080p(LoadImage(kCrowdPhoto))}, {}};
      crowd.dlib.push_back(ToDlib(crowd.bgr[0]));
      sets_.push_back(std::move(crowd));
    }
  }
  ~BenchEnv() {
    std::error_code ignored;
    fs::remove_all(models_dir_, ignored);
  }

  const ModelManifest& manifest() const { return *manifest_; }
  const std::vector<PhotoSet>& sets() const { return sets_; }
  const PhotoSet& samples() const { return sets_[0]; }

  // kDescriptorChips chips aligned with `tmpl` from the faces the accurate
  // profile finds in the sample photos (repeated if there are fewer).
  std::vector<cv::Mat> Chips(const AlignmentTemplate& tmpl) const {
    std::vector<cv::Mat> chips;
    for (size_t p = 0; p < samples().bgr.size(); ++p) {
      for (const auto& landmarks : SampleLandmarks()[p]) {
        chips.push_back(AlignFace(samples().bgr[p], landmarks, tmpl));
      }
    }
    if (chips.empty()) throw Error("lineup_bench: no face found in the sample photos");
    for (size_t i = 0; chips.size() < kDescriptorChips; ++i) chips.push_back(chips[i]);
    chips.resize(kDescriptorChips);
    return chips;
  }

 private:
  static PhotoSet LoadSamples() {
    PhotoSet set{"1080p", {}, {}};
    for (int n = 1; n <= 6; ++n) {
      std::string file = "sample" + std::to_string(n) + ".jpg";
      fs::path path = PackagesDir() / "@vladmandic/face-api/demo" / file;
      set.bgr.push_back(To1080p(LoadImage(path.string())));
      set.dlib.push_back(ToDlib(set.bgr.back()));
    }
    return set;
  }

  // Per sample photo, the five landmarks of each face; detected on first use.
  const std::vector<std::vector<std::vector<cv::Point2f>>>& SampleLandmarks() const {
    if (sample_landmarks_.empty()) {
      FacePipeline pipeline(*manifest_, DetectionOnly("accurate"));
      for (const cv::Mat& photo : samples().bgr) {
        auto& faces = sample_landmarks_.emplace_back();
        for (const FaceResult& f : pipeline.Detect(photo)) {
          if (f.face.landmarks.size() == 5) faces.push_back(f.face.landmarks);
        }
      }
    }
    return sample_landmarks_;
  }

  fs::path models_dir_;
  std::unique_ptr<ModelManifest> manifest_;
  std::vector<PhotoSet> sets_;
  mutable std::vector<std::vector<std::vector<cv::Point2f>>> sample_landmarks_;
};

const BenchEnv& Env() {
  static const BenchEnv env;
  return env;
}

// Sets OpenCV's worker count for one benchmark and restores it afterwards.
class ScopedCvThreads {
 public:
  explicit ScopedCvThreads(int threads) : saved_(cv::getNumThreads()) {
    if (threads > 0) cv::setNumThreads(threads);
  }
  ~ScopedCvThreads() { cv::setNumThreads(saved_); }

 private:
  int saved_;
};

// Runs `body`, turning an Error (e.g. a model that fails to load) into a
// reported benchmark error instead of terminating the run.
template <typename Body>
void Guarded(benchmark::State& state, Body body) {
  try {
    body();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

// Runs `per_photo` (which returns the number of faces it handled) over every
// photo of `set` each iteration, after one untimed warm-up call; reports wall
// time per photo, faces per photo and wall time per face.
template <typename PerPhoto>
void RunPerPhoto(benchmark::State& state, const PhotoSet& set, PerPhoto per_photo) {
  per_photo(0);  // warm-up outside the timed loop
  size_t faces = 0, photos = 0;
  double seconds = 0;
  for (auto _ : state) {
    auto start = Clock::now();
    for (size_t i = 0; i < set.bgr.size(); ++i) faces += per_photo(i);
    double elapsed = Seconds(Clock::now() - start);
    seconds += elapsed;
    photos += set.bgr.size();
    state.SetIterationTime(elapsed / set.bgr.size());
  }
  state.counters["faces_per_photo"] = double(faces) / photos;
  state.counters["ms_per_face"] = faces ? 1e3 * seconds / faces : 0.0;
}

// 1. Detection + 5-point landmarks + alignment with Lineup's pipeline.
void BM_DetectAlign(benchmark::State& state, const PhotoSet* set, PipelineOptions options,
                    int cv_threads) {
  Guarded(state, [&] {
    ScopedCvThreads threads(cv_threads);
    FacePipeline pipeline(Env().manifest(), options);
    const AlignmentTemplate& tmpl =
        TemplateByName(Env().manifest().Model(pipeline.profile().embedder).alignment);
    RunPerPhoto(state, *set, [&](size_t i) {
      const cv::Mat& photo = set->bgr[i];
      std::vector<FaceResult> faces = pipeline.Detect(photo);
      for (const FaceResult& f : faces) {
        if (f.face.landmarks.size() != 5) continue;
        benchmark::DoNotOptimize(AlignFace(photo, f.face.landmarks, tmpl));
      }
      return faces.size();
    });
  });
}

// 2. Baseline: dlib HOG frontal detector (no upsampling) + 68-point shape
// predictor + 150 px face chip with padding 0.25 (what dlib's face
// recognition example feeds its ResNet).
void BM_DlibHogDetectAlign(benchmark::State& state, const PhotoSet* set) {
  Guarded(state, [&] {
    if (!fs::exists(kDlibShapePredictor)) {
      state.SkipWithError((std::string(kDlibShapePredictor) +
                           " missing (Debian package libdlib-data); dlib baseline skipped")
                              .c_str());
      return;
    }
    dlib::frontal_face_detector detector = dlib::get_frontal_face_detector();
    dlib::shape_predictor predictor;
    dlib::deserialize(kDlibShapePredictor) >> predictor;
    RunPerPhoto(state, *set, [&](size_t i) {
      const dlib::matrix<dlib::rgb_pixel>& image = set->dlib[i];
      std::vector<dlib::rectangle> boxes = detector(image);
      for (const dlib::rectangle& box : boxes) {
        dlib::full_object_detection shape = predictor(image, box);
        dlib::matrix<dlib::rgb_pixel> chip;
        dlib::extract_image_chip(image, dlib::get_face_chip_details(shape, 150, 0.25), chip);
        benchmark::DoNotOptimize(chip);
      }
      return boxes.size();
    });
  });
}

// 3. Descriptor per face on pre-aligned chips, `batch` chips per EmbedChips call.
void BM_Descriptor(benchmark::State& state, std::string model_id, int batch, bool flip) {
  Guarded(state, [&] {
    EmbedderOptions options;
    options.flip_average = flip;
    options.max_batch = 16;
    OnnxEmbedder embedder(Env().manifest(), model_id, options);
    const std::vector<cv::Mat> chips = Env().Chips(embedder.Template());
    // Warm-up outside the timed loop (OpenCV DNN allocates on the first pass of a shape).
    embedder.EmbedChips(std::vector<cv::Mat>(chips.begin(), chips.begin() + batch));
    for (auto _ : state) {
      auto start = Clock::now();
      for (size_t i = 0; i < chips.size(); i += batch) {
        std::vector<cv::Mat> group(chips.begin() + i, chips.begin() + i + batch);
        benchmark::DoNotOptimize(embedder.EmbedChips(group));
      }
      state.SetIterationTime(Seconds(Clock::now() - start) / chips.size());
    }
    state.counters["dim"] = embedder.Dimension();
  });
}

// 4. Whole-photo Analyze (detect, landmarks, align, embed with flip averaging).
void BM_Analyze(benchmark::State& state, const PhotoSet* set, std::string profile) {
  Guarded(state, [&] {
    PipelineOptions options;
    options.profile = profile;
    FacePipeline pipeline(Env().manifest(), options);
    RunPerPhoto(state, *set, [&](size_t i) { return pipeline.Analyze(set->bgr[i]).size(); });
  });
}

// Minimum MANUAL time per repetition. Manual time is per photo or per face
// while an iteration covers a whole set, so the wall time of a repetition is
// about min_time x items; these values keep a 3-repetition run near 3 minutes
// on 2 cores (they override --benchmark_min_time).
constexpr double kPhotoMinTime = 0.3;
constexpr double kFaceMinTime = 0.1;

void RegisterAll() {
  using benchmark::RegisterBenchmark;
  auto per_item = [](benchmark::internal::Benchmark* b, double min_time) {
    b->UseManualTime()->Unit(benchmark::kMillisecond)->MinTime(min_time);
  };
  for (const PhotoSet& set : Env().sets()) {
    const PhotoSet* s = &set;
    const std::string n = "/" + set.name;
    per_item(RegisterBenchmark(("DetectAlign/accurate" + n).c_str(), BM_DetectAlign, s,
                               DetectionOnly("accurate"), 0),
             kPhotoMinTime);
    per_item(RegisterBenchmark(("DetectAlign/accurate_1thread" + n).c_str(), BM_DetectAlign, s,
                               DetectionOnly("accurate"), 1),
             kPhotoMinTime);
    for (float min_face : {20.f, 40.f}) {
      std::string name = "DetectAlign/mtcnn_min" + std::to_string(int(min_face)) + n;
      per_item(RegisterBenchmark(name.c_str(), BM_DetectAlign, s,
                                 DetectionOnly("accurate", "mtcnn", min_face), 0),
               kPhotoMinTime);
    }
    per_item(RegisterBenchmark(("DetectAlign/dlib_hog_sp68_chip150" + n).c_str(),
                               BM_DlibHogDetectAlign, s),
             kPhotoMinTime);
  }
  for (const char* model : {"mobilefacenet-192", "dlib-resnet-128"}) {
    for (int batch : {1, 16}) {
      for (bool flip : {false, true}) {
        std::string name = std::string("Descriptor/") + model + "/batch:" + std::to_string(batch) +
                           "/flip:" + (flip ? "1" : "0");
        per_item(RegisterBenchmark(name.c_str(), BM_Descriptor, std::string(model), batch, flip),
                 kFaceMinTime);
      }
    }
  }
  for (const char* profile : {"accurate", "licence-clean"}) {
    std::string name = std::string("Analyze/") + profile + "/1080p";
    per_item(RegisterBenchmark(name.c_str(), BM_Analyze, &Env().samples(), std::string(profile)),
             kPhotoMinTime);
  }
}

}  // namespace
}  // namespace lineup

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  try {
    lineup::RegisterAll();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lineup_bench: set-up failed: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "lineup_bench: OpenCV %s, %d OpenCV threads\n", CV_VERSION,
               cv::getNumThreads());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
