// The model manifest (ModelsDir()/manifest.json): what each imported model is,
// how to feed it, where it came from, its checksum and its licence, plus the
// profiles that combine models into a pipeline.
//
// Invariants: every entry's `file` is relative to the manifest's folder;
// `sha256` is the checksum of that file as imported, and OpenModelFile()
// refuses a file whose bytes no longer match (tampered or damaged). Users may
// add entries of their own (e.g. an ArcFace-style ONNX embedder) and profiles
// that use them; `lineup models import` keeps such entries.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lineup {

struct ModelInput {
  int width = 0;
  int height = 0;
  std::string color = "rgb";           // "rgb" or "bgr": channel order the model expects
  std::vector<double> mean = {0, 0, 0};  // subtracted per channel (in that order) ...
  double scale = 1.0;                  // ... then multiplied
  bool transposed = false;             // input is W x H (MTCNN's column-major weights)
};

struct ModelEntry {
  std::string id;        // unique, e.g. "mobilefacenet-192"
  std::string task;      // "detect", "landmarks", "embed"
  std::string kind;      // implementation: "blazeface", "mtcnn-pnet", ..., "onnx-embedder"
  std::string file;      // relative to the manifest folder
  std::string sha256;
  std::string version;
  ModelInput input;
  std::string output;    // output blob name ("" = the network's only/first output)
  int output_dim = 0;    // embedders: descriptor length
  std::string alignment; // embedders: "arcface-112" or "dlib-chip-150"
  // Embedders: cosine similarity at which `compare` says "same person",
  // with where that number was measured.
  std::optional<double> same_threshold;
  std::string threshold_source;
  std::string licence;   // licence of the weights
  std::string terms;     // plain-language use restrictions (training data etc.)
  std::string origin;    // package@version and path the weights came from
  bool user_added = false;
};

struct Profile {
  std::string name;
  std::string description;
  std::string detector;   // model id (task detect)
  std::string landmarks;  // model id (task landmarks), "" = detector's own
  std::string embedder;   // model id (task embed)
};

class ModelManifest {
 public:
  // Loads dir/manifest.json; throws Error if missing (hint: run `lineup models import`) or invalid.
  static ModelManifest Load(const std::filesystem::path& dir);
  // A manifest with no models, to be filled by the importer.
  static ModelManifest Empty(const std::filesystem::path& dir);
  static ModelManifest FromJson(const nlohmann::json& json, const std::filesystem::path& dir);
  nlohmann::json ToJson() const;
  void Save() const;  // atomically, to dir()/manifest.json

  const std::filesystem::path& dir() const { return dir_; }
  const std::vector<ModelEntry>& models() const { return models_; }
  const std::vector<Profile>& profiles() const { return profiles_; }
  const std::string& default_profile() const { return default_profile_; }

  const ModelEntry& Model(const std::string& id) const;  // throws Error if unknown
  const Profile& GetProfile(const std::string& name) const;  // "" = default; throws if unknown
  // Absolute path of the entry's file after checking that it exists and
  // matches its sha256; throws Error naming the file otherwise.
  std::filesystem::path OpenModelFile(const ModelEntry& entry) const;

  void Upsert(ModelEntry entry);
  void UpsertProfile(Profile profile);
  void SetDefaultProfile(const std::string& name);

 private:
  std::filesystem::path dir_;
  std::vector<ModelEntry> models_;
  std::vector<Profile> profiles_;
  std::string default_profile_;
};

}  // namespace lineup
