#include "cli/cli_common.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/error.h"
#include "common/file_util.h"
#include "common/paths.h"
#include "engine/face_choice.h"
#include "governance/governance_db.h"

namespace lineup::cli {

namespace {
double Round(double v, double unit) { return std::round(v / unit) * unit; }
}  // namespace

void AddEngineFlags(CLI::App* cmd, EngineFlags* flags, bool with_embedder_flags) {
  cmd->add_option("--models", flags->models_dir,
                  "Folder of imported models (default: $LINEUP_MODELS or <var>/models)");
  cmd->add_option("--profile", flags->profile,
                  "Model profile: accurate | licence-clean (default: the manifest's default)");
  cmd->add_option("--detector", flags->detector, "Override the profile's detector: blazeface | mtcnn")
      ->check(CLI::IsMember({"blazeface", "mtcnn"}));
  cmd->add_option("--min-face", flags->min_face, "Smallest face side in pixels to look for")
      ->check(CLI::Range(8.f, 10000.f))
      ->capture_default_str();
  cmd->add_option("--min-face-score", flags->min_face_score,
                  "Report faces whose detection score (detector x O-Net, 0..1) reaches this")
      ->check(CLI::Range(0.f, 1.f))
      ->capture_default_str();
  if (with_embedder_flags) {
    cmd->add_flag("--no-flip", flags->no_flip,
                  "Do not average each descriptor with its mirror image (faster, less accurate)");
  }
}

ModelManifest LoadManifest(const EngineFlags& flags) {
  return ModelManifest::Load(flags.models_dir.empty() ? ModelsDir()
                                                      : std::filesystem::path(flags.models_dir));
}

FacePipeline MakePipeline(const ModelManifest& manifest, const EngineFlags& flags, bool embed) {
  return FacePipeline(manifest, MakePipelineOptions(flags, embed));
}

PipelineOptions MakePipelineOptions(const EngineFlags& flags, bool embed) {
  PipelineOptions options;
  options.profile = flags.profile;
  options.detector = flags.detector;
  options.min_face_px = flags.min_face;
  options.min_face_score = flags.min_face_score;
  options.flip_average = !flags.no_flip;
  options.load_embedder = embed;
  return options;
}

void AddGalleryFlags(CLI::App* cmd, GalleryFlags* flags) {
  cmd->add_option("--data", flags->data,
                  "Gallery data directory (default: $LINEUP_DATA, else " + DefaultDataDir().string() + ")");
  cmd->add_option("--catalog", flags->catalog,
                  "Catalog location: a SQLite file (default: DATA/catalog.db) or a PostgreSQL connection "
                  "string such as \"postgresql://user@host/lineup\"");
}

GalleryOptions MakeGalleryOptions(const GalleryFlags& flags, bool read_only) {
  GalleryOptions options;
  options.data_dir = flags.data.empty() ? DefaultDataDir() : std::filesystem::path(flags.data);
  options.catalog = flags.catalog;
  options.read_only = read_only;
  return options;
}

std::optional<GalleryModel> BoundModel(const GalleryFlags& flags) {
  GalleryOptions options = MakeGalleryOptions(flags, true);
  if (options.catalog.empty() && !std::filesystem::exists(options.data_dir / "catalog.db")) {
    throw Error(Context(options.data_dir.string(),
                        "no gallery here yet (add photos with: lineup ingest FOLDER --collection NAME "
                        "--legal-basis TEXT)"));
  }
  std::unique_ptr<Catalog> catalog =
      OpenCatalog(options.catalog.empty() ? (options.data_dir / "catalog.db").string() : options.catalog);
  std::optional<std::string> model = catalog->GetSetting("embedder_model");
  std::optional<std::string> dim = catalog->GetSetting("embedder_dim");
  if (!model || !dim) return std::nullopt;
  return GalleryModel{*model, std::stoi(*dim)};
}

std::unique_ptr<Gallery> OpenBoundGallery(const GalleryFlags& flags, bool read_only) {
  std::optional<GalleryModel> model = BoundModel(flags);
  if (!model) throw Error("the gallery is empty (nothing ingested yet)");
  return Gallery::Open(MakeGalleryOptions(flags, read_only), *model);
}

GalleryModel ModelOfProfile(const ModelManifest& manifest, const std::string& profile) {
  const ModelEntry& embedder = manifest.Model(manifest.GetProfile(profile).embedder);
  return {embedder.id, embedder.output_dim};
}

void ChooseProfileForGallery(const ModelManifest& manifest, const GalleryFlags& gallery, EngineFlags* engine) {
  if (!engine->profile.empty()) return;
  std::optional<GalleryModel> bound = BoundModel(gallery);
  if (!bound || manifest.GetProfile("").embedder == bound->model_id) return;
  for (const Profile& p : manifest.profiles()) {
    if (p.embedder == bound->model_id) {
      engine->profile = p.name;
      return;
    }
  }
  throw Error("the gallery holds descriptors of " + bound->model_id +
              ", which no imported profile uses (lineup models list)");
}

nlohmann::json FaceJson(const FaceResult& f) {
  nlohmann::json landmarks = nlohmann::json::array();
  for (const auto& p : f.face.landmarks) landmarks.push_back({Round(p.x, 0.01), Round(p.y, 0.01)});
  nlohmann::json j = {
      {"box", {Round(f.face.box.x, 0.01), Round(f.face.box.y, 0.01), Round(f.face.box.width, 0.01),
               Round(f.face.box.height, 0.01)}},
      {"score", Round(f.face.score, 1e-4)},
      {"landmarks", landmarks},
      {"landmarks_refined", f.landmarks_refined},
      {"quality",
       {{"size_px", Round(f.quality.size_px, 0.01)}, {"sharpness", Round(f.quality.sharpness, 0.01)},
        {"yaw_deg", Round(f.quality.yaw_deg, 0.1)}, {"roll_deg", Round(f.quality.roll_deg, 0.1)}}}};
  if (!f.embedding.empty()) j["embedding"] = f.embedding;
  return j;
}

nlohmann::json ModelJson(FacePipeline& pipeline, bool embed) {
  nlohmann::json j = {{"profile", pipeline.profile().name}, {"detector", pipeline.DetectorId()}};
  if (embed) {
    j["embedder"] = pipeline.embedder().Id();
    j["embedder_licence"] = pipeline.embedder().entry().licence;
    j["dimension"] = pipeline.embedder().Dimension();
  }
  return j;
}

void WriteAnnotated(const cv::Mat& image, const std::vector<FaceResult>& faces,
                    const std::string& path) {
  cv::Mat canvas = image.clone();
  int thickness = std::max(1, std::min(canvas.cols, canvas.rows) / 400);
  for (size_t i = 0; i < faces.size(); ++i) {
    const auto& f = faces[i].face;
    cv::rectangle(canvas, cv::Rect(f.box), cv::Scalar(0, 255, 0), thickness);
    for (size_t k = 0; k < f.landmarks.size(); ++k) {
      cv::Scalar colour = k < 2 ? cv::Scalar(255, 0, 0) : k == 2 ? cv::Scalar(0, 255, 255)
                                                                 : cv::Scalar(0, 0, 255);
      cv::circle(canvas, f.landmarks[k], thickness + 1, colour, cv::FILLED);
    }
    cv::putText(canvas, std::to_string(FaceNumber(i)), cv::Point(int(f.box.x), int(f.box.y) - 3),
                cv::FONT_HERSHEY_SIMPLEX, 0.5 * thickness, cv::Scalar(0, 255, 0), thickness);
  }
  std::vector<uint8_t> bytes;
  std::string ext = std::filesystem::path(path).extension().string();
  if (ext.empty()) ext = ".png";
  if (!cv::imencode(ext, canvas, bytes)) throw Error(Context(path, "cannot encode image"));
  WriteFileAtomically(path, std::string(bytes.begin(), bytes.end()));
}

double Similarity(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) dot += double(a[i]) * b[i];
  return dot;
}

int64_t DayFlag(const std::string& text, const std::string& flag) {
  std::optional<int64_t> day = ParseIsoDay(text);
  if (!day) throw Error(Context(flag + " " + text, "expected a date as YYYY-MM-DD (UTC)"));
  return *day;
}

std::string Counted(int64_t n, const std::string& singular, const std::string& plural) {
  return std::to_string(n) + " " + (n == 1 ? singular : plural.empty() ? singular + "s" : plural);
}

}  // namespace lineup::cli
