// Pieces shared by the CLI's subcommands: the options every face command
// takes, loading the manifest and pipeline, and the stable JSON of a face.
#pragma once

#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "engine/face_pipeline.h"
#include "models/model_manifest.h"

namespace lineup::cli {

struct EngineFlags {
  std::string models_dir;  // "" = ModelsDir()
  std::string profile;     // "" = manifest default
  std::string detector;    // "" = profile's
  float min_face = 20.f;
  float min_score = 0.4f;
  bool no_flip = false;
};

// Adds --models, --profile, --detector, --min-face, --no-flip to `cmd`.
void AddEngineFlags(CLI::App* cmd, EngineFlags* flags, bool with_embedder_flags);

ModelManifest LoadManifest(const EngineFlags& flags);
FacePipeline MakePipeline(const ModelManifest& manifest, const EngineFlags& flags, bool embed);

// {"box": [x, y, w, h], "score", "landmarks": [[x, y] x5], "landmarks_refined",
//  "quality": {...}, "embedding": [...] (only when present)}
nlohmann::json FaceJson(const FaceResult& face);
// {"detector", "embedder", "profile", "embedder_licence"}
nlohmann::json ModelJson(FacePipeline& pipeline, bool embed);

// Writes a copy of `image` with numbered boxes and landmarks.
void WriteAnnotated(const cv::Mat& image, const std::vector<FaceResult>& faces,
                    const std::string& path);

// Cosine similarity of two unit vectors.
double Similarity(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace lineup::cli
