#include "models/model_manifest.h"

#include "common/error.h"
#include "common/file_util.h"

namespace lineup {

namespace {

using nlohmann::json;

constexpr int kManifestVersion = 1;

std::string ManifestPath(const std::filesystem::path& dir) { return (dir / "manifest.json").string(); }

template <typename T>
T Get(const json& j, const char* key, const T& fallback) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? fallback : it->get<T>();
}

ModelEntry EntryFromJson(const json& j) {
  ModelEntry e;
  e.id = j.at("id").get<std::string>();
  e.task = j.at("task").get<std::string>();
  e.kind = j.at("kind").get<std::string>();
  e.file = j.at("file").get<std::string>();
  e.sha256 = Get<std::string>(j, "sha256", "");
  e.version = Get<std::string>(j, "version", "");
  if (j.contains("input")) {
    const json& in = j["input"];
    e.input.width = Get<int>(in, "width", 0);
    e.input.height = Get<int>(in, "height", 0);
    e.input.color = Get<std::string>(in, "color", "rgb");
    e.input.mean = Get<std::vector<double>>(in, "mean", {0, 0, 0});
    e.input.scale = Get<double>(in, "scale", 1.0);
    e.input.transposed = Get<bool>(in, "transposed", false);
  }
  e.output = Get<std::string>(j, "output", "");
  e.output_dim = Get<int>(j, "output_dim", 0);
  e.alignment = Get<std::string>(j, "alignment", "");
  if (j.contains("same_threshold") && !j["same_threshold"].is_null()) {
    e.same_threshold = j["same_threshold"].get<double>();
  }
  e.threshold_source = Get<std::string>(j, "threshold_source", "");
  e.licence = Get<std::string>(j, "licence", "unknown");
  e.terms = Get<std::string>(j, "terms", "");
  e.origin = Get<std::string>(j, "origin", "");
  e.user_added = Get<bool>(j, "user_added", false);
  if (e.input.mean.size() != 3) throw Error("model " + e.id + ": input.mean needs 3 values");
  return e;
}

json EntryToJson(const ModelEntry& e) {
  json j = {{"id", e.id}, {"task", e.task}, {"kind", e.kind}, {"file", e.file},
            {"sha256", e.sha256}, {"version", e.version},
            {"input", {{"width", e.input.width}, {"height", e.input.height},
                       {"color", e.input.color}, {"mean", e.input.mean},
                       {"scale", e.input.scale}, {"transposed", e.input.transposed}}},
            {"output", e.output}, {"output_dim", e.output_dim}, {"alignment", e.alignment},
            {"threshold_source", e.threshold_source}, {"licence", e.licence},
            {"terms", e.terms}, {"origin", e.origin}, {"user_added", e.user_added}};
  j["same_threshold"] = e.same_threshold ? json(*e.same_threshold) : json(nullptr);
  return j;
}

}  // namespace

ModelManifest ModelManifest::Empty(const std::filesystem::path& dir) {
  ModelManifest m;
  m.dir_ = dir;
  return m;
}

ModelManifest ModelManifest::FromJson(const json& j, const std::filesystem::path& dir) {
  ModelManifest m;
  m.dir_ = dir;
  int version = Get<int>(j, "manifest_version", 0);
  if (version != kManifestVersion) {
    throw Error(Context(ManifestPath(dir), "manifest_version " + std::to_string(version) +
                                               " is not " + std::to_string(kManifestVersion) +
                                               "; re-run `lineup models import`"));
  }
  for (const json& entry : j.at("models")) m.models_.push_back(EntryFromJson(entry));
  for (const json& p : j.at("profiles")) {
    m.profiles_.push_back({p.at("name").get<std::string>(), Get<std::string>(p, "description", ""),
                           p.at("detector").get<std::string>(), Get<std::string>(p, "landmarks", ""),
                           p.at("embedder").get<std::string>()});
  }
  m.default_profile_ = Get<std::string>(j, "default_profile", "");
  return m;
}

ModelManifest ModelManifest::Load(const std::filesystem::path& dir) {
  std::filesystem::path path = dir / "manifest.json";
  if (!std::filesystem::exists(path)) {
    throw Error(Context(path.string(), "no model manifest; run `lineup models import` (set-up does)"));
  }
  try {
    return FromJson(json::parse(ReadFileText(path)), dir);
  } catch (const json::exception& e) {
    throw Error(Context(path.string(), std::string("invalid manifest: ") + e.what()));
  }
}

json ModelManifest::ToJson() const {
  json models = json::array();
  for (const auto& e : models_) models.push_back(EntryToJson(e));
  json profiles = json::array();
  for (const auto& p : profiles_) {
    profiles.push_back({{"name", p.name}, {"description", p.description}, {"detector", p.detector},
                        {"landmarks", p.landmarks}, {"embedder", p.embedder}});
  }
  return {{"manifest_version", kManifestVersion}, {"default_profile", default_profile_},
          {"models", models}, {"profiles", profiles}};
}

void ModelManifest::Save() const {
  WriteFileAtomically(dir_ / "manifest.json", ToJson().dump(2) + "\n");
}

const ModelEntry& ModelManifest::Model(const std::string& id) const {
  for (const auto& e : models_) {
    if (e.id == id) return e;
  }
  throw Error(Context(ManifestPath(dir_), "no model with id '" + id + "'"));
}

const Profile& ModelManifest::GetProfile(const std::string& name) const {
  const std::string& wanted = name.empty() ? default_profile_ : name;
  for (const auto& p : profiles_) {
    if (p.name == wanted) return p;
  }
  std::string known;
  for (const auto& p : profiles_) known += (known.empty() ? "" : ", ") + p.name;
  throw Error(Context(ManifestPath(dir_), "no profile '" + wanted + "' (known: " + known + ")"));
}

std::filesystem::path ModelManifest::OpenModelFile(const ModelEntry& entry) const {
  std::filesystem::path path = dir_ / entry.file;
  if (!std::filesystem::exists(path)) {
    throw Error(Context(path.string(), "model file of '" + entry.id +
                                           "' is missing; re-run `lineup models import`"));
  }
  if (!entry.sha256.empty()) {
    std::string actual = Sha256OfFile(path);
    if (actual != entry.sha256) {
      throw Error(Context(path.string(), "checksum mismatch for model '" + entry.id +
                                             "' (expected sha256 " + entry.sha256 + ", file has " +
                                             actual + "): the file was modified or damaged; "
                                             "re-run `lineup models import`"));
    }
  }
  return path;
}

void ModelManifest::Upsert(ModelEntry entry) {
  for (auto& e : models_) {
    if (e.id == entry.id) {
      e = std::move(entry);
      return;
    }
  }
  models_.push_back(std::move(entry));
}

void ModelManifest::UpsertProfile(Profile profile) {
  for (auto& p : profiles_) {
    if (p.name == profile.name) {
      p = std::move(profile);
      return;
    }
  }
  profiles_.push_back(std::move(profile));
}

void ModelManifest::SetDefaultProfile(const std::string& name) {
  GetProfile(name);
  default_profile_ = name;
}

}  // namespace lineup
