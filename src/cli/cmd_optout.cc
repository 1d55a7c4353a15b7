// lineup optout add | list | rm | process: opt-out by face
// (gallery/blocklist.h, gallery/optout.h); every change audited.
#include <cstdio>
#include <iostream>
#include <map>
#include <set>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cli/local_audit.h"
#include "common/error.h"
#include "engine/face_choice.h"
#include "gallery/optout.h"
#include "governance/audit_once.h"
#include "image/image_loader.h"

namespace lineup::cli {

namespace {

struct OptOutFlags {
  std::vector<std::string> photos;
  std::string request_id;
  std::string note;
  std::vector<int> faces;  // per photo, in order: face numbers from 1; 0 = the only face
  double threshold = 0;    // 0 = the model's default
  bool dry_run = false;
  bool json = false;
  int64_t id = 0;
  std::string reason;
  EngineFlags engine;
  GalleryFlags gallery;
};

// A photo's requester face: its descriptor, or why the photo gave none.
struct PhotoFace {
  std::string photo;
  std::vector<float> descriptor;  // empty when `error` is set
  std::string error;
};

// One entry per photo, in order; the photo itself only in memory. A photo
// that cannot be read, shows no face or several without --face is an error
// of its own: the other photos still count.
std::vector<PhotoFace> DescriptorsOf(const OptOutFlags& flags) {
  if (!flags.faces.empty() && flags.faces.size() != flags.photos.size()) {
    throw Error("--face: give one number per photo, in the order of the photos (0 for a photo with one face)");
  }
  EngineFlags engine = flags.engine;
  ModelManifest manifest = LoadManifest(engine);
  ChooseProfileForGallery(manifest, flags.gallery, &engine);
  FacePipeline pipeline = MakePipeline(manifest, engine, true);
  std::vector<PhotoFace> out;
  for (size_t i = 0; i < flags.photos.size(); ++i) {
    PhotoFace p{flags.photos[i], {}, ""};
    try {
      cv::Mat image = LoadImage(p.photo);
      std::vector<FaceResult> faces = pipeline.Analyze(image);
      std::optional<size_t> choice;
      if (!flags.faces.empty() && flags.faces[i] > 0) choice = static_cast<size_t>(flags.faces[i]) - 1;
      p.descriptor = faces[OptOutFaceIndex(faces, choice, p.photo)].embedding;
    } catch (const Error& e) {
      p.error = e.what();
      if (!flags.json) std::cerr << "error: " << p.error << "\n";
    }
    out.push_back(std::move(p));
  }
  return out;
}

size_t FailedPhotos(const std::vector<PhotoFace>& photos) {
  size_t failed = 0;
  for (const PhotoFace& p : photos) failed += p.error.empty() ? 0 : 1;
  return failed;
}

nlohmann::json FailuresJson(const std::vector<PhotoFace>& photos) {
  nlohmann::json out = nlohmann::json::array();
  for (const PhotoFace& p : photos) {
    if (!p.error.empty()) out.push_back({{"photo", p.photo}, {"error", p.error}});
  }
  return out;
}

// Exit status 1 (after the output) when any photo gave no face.
void ThrowIfAnyFailed(const std::vector<PhotoFace>& photos) {
  const size_t failed = FailedPhotos(photos);
  if (failed == 0) return;
  throw Error(std::to_string(failed) + " of " + std::to_string(photos.size()) +
              " photo(s) could not be used (each is reported); the others were processed");
}

double ThresholdOf(const OptOutFlags& flags, const Gallery& g) {
  if (flags.threshold != 0) {
    if (!(flags.threshold > 0 && flags.threshold <= 1)) throw Error("--threshold: a similarity in (0, 1]");
    return flags.threshold;
  }
  return DefaultOptOutThreshold(g.model().model_id);
}

// What a dry run shows of one matching gallery face: where it came from.
nlohmann::json MatchJson(const FaceMatch& m, const FaceProvenance* p, bool whole_image) {
  nlohmann::json j = {{"face_id", m.face_id}, {"score", m.score}, {"whole_image", whole_image}};
  if (p == nullptr) return j;
  j["image_id"] = p->image.id;
  j["collection"] = p->collection.name;
  j["original_name"] = p->image.original_name;
  j["source_url"] = p->source ? p->source->source_url : "";
  j["title"] = p->source ? p->source->title : "";
  return j;
}

void PrintMatch(const nlohmann::json& m) {
  const std::string where = m.value("source_url", "").empty() ? m.value("original_name", "") : m.value("source_url", "");
  std::printf("  face %lld  score %.3f  image %lld (%s)%s  %s\n", m["face_id"].get<long long>(), m["score"].get<double>(),
              m.value("image_id", 0LL), m.value("collection", "?").c_str(),
              m["whole_image"].get<bool>() ? ", the whole image goes" : "", where.c_str());
}

// Lists every face a real run would remove, with its provenance (text: the
// first kShown of each photo), so an operator sees what goes before it goes.
void DryRun(const OptOutFlags& flags, Gallery& g, const std::vector<PhotoFace>& photos, double threshold) {
  constexpr size_t kShown = 20;
  nlohmann::json out = nlohmann::json::array();
  for (const PhotoFace& p : photos) {
    if (!p.error.empty()) {
      out.push_back({{"photo", p.photo}, {"error", p.error}});
      continue;
    }
    OptOutPreview preview = PreviewOptOut(g, p.descriptor, threshold);
    std::vector<int64_t> ids;
    for (const FaceMatch& m : preview.matches) ids.push_back(m.face_id);
    std::map<int64_t, FaceProvenance> provenance;
    for (FaceProvenance& f : g.DescribeVisibleFaces(ids)) provenance.emplace(f.face.id, std::move(f));
    const std::set<int64_t> whole(preview.whole_images.begin(), preview.whole_images.end());
    nlohmann::json faces = nlohmann::json::array();
    for (const FaceMatch& m : preview.matches) {
      auto it = provenance.find(m.face_id);
      const FaceProvenance* f = it == provenance.end() ? nullptr : &it->second;
      faces.push_back(MatchJson(m, f, f != nullptr && whole.count(f->image.id) > 0));
    }
    out.push_back({{"photo", p.photo}, {"matching_faces", preview.matches.size()},
                   {"whole_images", preview.whole_images.size()}, {"faces", faces}});
    if (flags.json) continue;
    std::printf("%s: %s match at >= %.3f; %s would go whole\n", p.photo.c_str(),
                Counted(preview.matches.size(), "gallery face").c_str(), threshold,
                Counted(preview.whole_images.size(), "image").c_str());
    for (size_t i = 0; i < faces.size() && i < kShown; ++i) PrintMatch(faces[i]);
    if (faces.size() > kShown) std::printf("  ... and %zu more (--json lists them all)\n", faces.size() - kShown);
  }
  if (flags.json) std::cout << nlohmann::json({{"dry_run", true}, {"threshold", threshold}, {"photos", out}}).dump(2) << "\n";
  else std::printf("dry run: nothing was added or removed\n");
}

// This operator's opt-out records, written once each (gallery/optout.h).
struct LocalOptOutAudit {
  explicit LocalOptOutAudit(const std::filesystem::path& data_dir)
      : db(OpenLocalTrail(data_dir, "optout")), log(*db), once(*db, log) {}
  OptOutAudit audit() { return {AuditEventJson(LocalAuditEvent("optout", nlohmann::json::object()), {}), once.Recorder()}; }
  std::unique_ptr<GovernanceDb> db;
  AuditLog log;
  AuditOnce once;
};

void Add(const OptOutFlags& flags) {
  if (flags.request_id.empty()) throw Error("optout add: --request ID is required (the request's reference)");
  std::unique_ptr<Gallery> g = OpenBoundGallery(flags.gallery, flags.dry_run);
  const double threshold = ThresholdOf(flags, *g);
  std::vector<PhotoFace> photos = DescriptorsOf(flags);
  if (FailedPhotos(photos) == photos.size()) {
    if (flags.json) std::cout << nlohmann::json({{"entries", nlohmann::json::array()}, {"failed_photos", FailuresJson(photos)}}).dump(2) << "\n";
    throw Error("optout add: no photo gave a face; nothing was added (each photo's error is reported)");
  }
  if (flags.dry_run) {
    DryRun(flags, *g, photos, threshold);
    return ThrowIfAnyFailed(photos);
  }
  ValidateOptOutText(flags.request_id, flags.note);
  LocalOptOutAudit trail(g->options().data_dir);
  nlohmann::json entries = nlohmann::json::array();
  DeletionReport total;
  size_t added = 0;
  for (const PhotoFace& p : photos) {
    if (!p.error.empty()) continue;
    OptOut entry;
    entry.request_id = flags.request_id;
    entry.note = flags.note;
    entry.created_by = LocalActor();
    entry.threshold = threshold;
    entry.descriptor = p.descriptor;
    int64_t id = AddOptOut(g->blocklist(), entry, {{"photos_kept", false}}, trail.audit());
    DeletionReport removed = RemoveOptedOutFaces(*g, g->blocklist(), id, trail.audit()).value_or(DeletionReport{});
    total.faces += removed.faces;
    total.images += removed.images;
    ++added;
    entries.push_back({{"id", id}, {"photo", p.photo}, {"faces_removed", removed.faces},
                       {"images_removed", removed.images}});
  }
  nlohmann::json result = {{"request_id", flags.request_id}, {"threshold", threshold}, {"entries", entries},
                           {"faces_removed", total.faces}, {"images_removed", total.images},
                           {"photos_kept", false}};
  if (flags.json) {
    result["failed_photos"] = FailuresJson(photos);
    std::cout << result.dump(2) << "\n";
  } else {
    std::printf("opt-out %s: %zu descriptor(s) added to the blocklist; removed %lld face(s) and %lld image(s) that "
                "matched at >= %.3f. Matching faces are now refused at ingest and hidden from searches. The photos "
                "were not stored.\n",
                flags.request_id.c_str(), added, static_cast<long long>(total.faces),
                static_cast<long long>(total.images), threshold);
  }
  ThrowIfAnyFailed(photos);
}

void List(const OptOutFlags& flags) {
  std::unique_ptr<Gallery> g = OpenBoundGallery(flags.gallery, true);
  nlohmann::json all = nlohmann::json::array();
  for (const OptOut& e : g->blocklist().List()) {
    all.push_back({{"id", e.id}, {"request_id", e.request_id}, {"note", e.note}, {"created_by", e.created_by},
                   {"created_at", e.created_at}, {"threshold", e.threshold}, {"status", ToString(e.status)},
                   {"faces_removed", e.faces_removed}, {"images_removed", e.images_removed},
                   {"completed_at", e.completed_at}});
    if (!flags.json) {
      std::printf("%lld  %-20s %-8s %s by %s  threshold %.3f  removed %lld faces, %lld images\n",
                  static_cast<long long>(e.id), e.request_id.c_str(), ToString(e.status).c_str(),
                  e.created_at.c_str(), e.created_by.c_str(), e.threshold, static_cast<long long>(e.faces_removed),
                  static_cast<long long>(e.images_removed));
    }
  }
  if (flags.json) std::cout << all.dump(2) << "\n";
  else if (all.empty()) std::printf("no opt-outs\n");
}

void Remove(const OptOutFlags& flags) {
  if (flags.reason.empty()) throw Error("optout rm: --reason is required (why the opt-out is withdrawn)");
  std::unique_ptr<Gallery> g = OpenBoundGallery(flags.gallery, false);
  std::optional<OptOut> e = g->blocklist().Get(flags.id);
  if (!e) throw Error("optout rm: no opt-out " + std::to_string(flags.id) + " (`lineup optout list`)");
  LocalOptOutAudit trail(g->options().data_dir);
  WithdrawOptOut(g->blocklist(), flags.id, {{"reason", flags.reason}}, trail.audit());
  std::printf("opt-out %lld (%s) removed: matching faces are no longer refused or hidden\n",
              static_cast<long long>(e->id), e->request_id.c_str());
}

void Process(const OptOutFlags& flags) {
  std::unique_ptr<Gallery> g = OpenBoundGallery(flags.gallery, false);
  LocalOptOutAudit trail(g->options().data_dir);
  std::vector<ProcessedOptOut> done = ProcessPendingOptOuts(*g, trail.audit());
  for (const ProcessedOptOut& p : done) {
    std::printf("opt-out %lld (%s): removed %lld face(s), %lld image(s)\n", static_cast<long long>(p.id),
                p.request_id.c_str(), static_cast<long long>(p.removed.faces),
                static_cast<long long>(p.removed.images));
  }
  if (done.empty()) std::printf("no pending opt-outs\n");
}

}  // namespace

void RegisterOptOut(CLI::App& app) {
  auto flags = std::make_shared<OptOutFlags>();
  auto* cmd = app.add_subcommand(
      "optout", "Opt-out by face: keep a person out of the gallery and of every search result: add, list, rm, process");
  cmd->require_subcommand(1);

  auto* add = cmd->add_subcommand(
      "add", "Add the face in each photo to the blocklist and remove every gallery face that matches it; the photos "
             "are read, never stored");
  // No CLI::ExistingFile: a missing photo is reported as one failed photo.
  add->add_option("photos", flags->photos, "Photos of the requester (one face each, or say which with --face)")
      ->required();
  add->add_option("--request", flags->request_id, "The request's reference (ticket number); required");
  add->add_option("--note", flags->note, "Free text, e.g. how the requester's identity was checked");
  add->add_option("--face", flags->faces, "Per photo, the number of the requester's face (see the error listing "
                                          "the faces), from 1; 0 for a photo with one face")
      ->check(CLI::NonNegativeNumber);
  add->add_option("--threshold", flags->threshold,
                  "Similarity at which a gallery face counts as the requester (default: the model's 'strong' band, "
                  "a false match rate of 1e-4)");
  add->add_flag("--dry-run", flags->dry_run, "Show how many gallery faces match; change nothing");
  add->add_flag("--json", flags->json, "Print JSON");
  AddEngineFlags(add, &flags->engine, true);
  AddGalleryFlags(add, &flags->gallery);
  add->callback([flags] { Add(*flags); });

  auto* list = cmd->add_subcommand("list", "The opt-outs, with what each removed (no descriptors shown)");
  list->add_flag("--json", flags->json, "Print JSON");
  AddGalleryFlags(list, &flags->gallery);
  list->callback([flags] { List(*flags); });

  auto* rm = cmd->add_subcommand("rm", "Withdraw an opt-out (matching faces may be ingested and found again)");
  rm->add_option("id", flags->id, "Opt-out id (`lineup optout list`)")->required();
  rm->add_option("--reason", flags->reason, "Why it is withdrawn; kept in the audit trail")->required();
  AddGalleryFlags(rm, &flags->gallery);
  rm->callback([flags] { Remove(*flags); });

  auto* process = cmd->add_subcommand(
      "process", "Remove the matching faces of opt-outs still pending (entered while the gallery was busy, or "
                 "interrupted)");
  AddGalleryFlags(process, &flags->gallery);
  process->callback([flags] { Process(*flags); });
}

}  // namespace lineup::cli
