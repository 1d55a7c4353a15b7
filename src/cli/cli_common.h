// Pieces shared by the CLI's subcommands: the options every face command
// takes, loading the manifest and pipeline, and the stable JSON of a face.
#pragma once

#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "engine/face_pipeline.h"
#include "gallery/gallery.h"
#include "models/model_manifest.h"

namespace lineup::cli {

struct EngineFlags {
  std::string models_dir;  // "" = ModelsDir()
  std::string profile;     // "" = manifest default
  std::string detector;    // "" = profile's
  float min_face = 20.f;
  float min_face_score = 0.4f;
  bool no_flip = false;
};

// Adds --models, --profile, --detector, --min-face, --min-face-score and (with
// the embedder flags) --no-flip to `cmd`. The detection score is
// --min-face-score in every command; --min-score is only ever a similarity
// (`search`).
void AddEngineFlags(CLI::App* cmd, EngineFlags* flags, bool with_embedder_flags);

ModelManifest LoadManifest(const EngineFlags& flags);
PipelineOptions MakePipelineOptions(const EngineFlags& flags, bool embed);
FacePipeline MakePipeline(const ModelManifest& manifest, const EngineFlags& flags, bool embed);

// {"box": [x, y, w, h], "score", "landmarks": [[x, y] x5], "landmarks_refined",
//  "quality": {...}, "embedding": [...] (only when present)}
nlohmann::json FaceJson(const FaceResult& face);
// {"detector", "embedder", "profile", "embedder_licence"}
nlohmann::json ModelJson(FacePipeline& pipeline, bool embed);

// Writes a copy of `image` with numbered boxes and landmarks.
void WriteAnnotated(const cv::Mat& image, const std::vector<FaceResult>& faces,
                    const std::string& path);

// Where the gallery is: --data DIR (default $LINEUP_DATA or <var>/gallery)
// and --catalog LOCATION (default: DIR/catalog.db; or a PostgreSQL
// connection string).
struct GalleryFlags {
  std::string data;
  std::string catalog;
};
void AddGalleryFlags(CLI::App* cmd, GalleryFlags* flags);
GalleryOptions MakeGalleryOptions(const GalleryFlags& flags, bool read_only);
// The embedder a gallery is bound to, or nullopt for a gallery not yet
// written to. Throws Error if there is no gallery at all.
std::optional<GalleryModel> BoundModel(const GalleryFlags& flags);
// Opens the gallery with the model it is bound to (no models needed);
// throws Error for a gallery nothing was ingested into yet.
std::unique_ptr<Gallery> OpenBoundGallery(const GalleryFlags& flags, bool read_only);
// The profile to use with a gallery: --profile if given, else the default
// profile if its embedder matches the gallery, else the first profile whose
// embedder does. Sets engine->profile.
void ChooseProfileForGallery(const ModelManifest& manifest, const GalleryFlags& gallery, EngineFlags* engine);
GalleryModel ModelOfProfile(const ModelManifest& manifest, const std::string& profile);

// Cosine similarity of two unit vectors.
double Similarity(const std::vector<float>& a, const std::vector<float>& b);

// The Unix time of 00:00 UTC on the day a --since/--until flag names
// (YYYY-MM-DD); throws Error naming the flag otherwise.
int64_t DayFlag(const std::string& text, const std::string& flag);

// "1 image", "2 images", "0 images": a count with its noun agreeing.
// `plural` defaults to singular + "s".
std::string Counted(int64_t n, const std::string& singular, const std::string& plural = "");

}  // namespace lineup::cli
