// Service: opt-out by face (admin) and the maintenance job (erasures left
// unfinished, pending opt-outs, retention).
#include <cstdio>

#include "common/utc_time.h"
#include "engine/face_choice.h"
#include "gallery/erasure.h"
#include "gallery/optout.h"
#include "governance/retention.h"
#include "server/pipeline_pool.h"
#include "server/request_fields.h"
#include "server/service.h"

namespace lineup {

namespace {

nlohmann::json OptOutJson(const OptOut& e) {
  return {{"id", e.id},
          {"request_id", e.request_id},
          {"note", e.note},
          {"created_by", e.created_by},
          {"created_at", e.created_at},
          {"threshold", e.threshold},
          {"status", ToString(e.status)},
          {"faces_removed", e.faces_removed},
          {"images_removed", e.images_removed},
          {"completed_at", e.completed_at}};
}

nlohmann::json FacesJson(const std::vector<FaceResult>& faces) {
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < faces.size(); ++i) {
    const cv::Rect2f& b = faces[i].face.box;
    out.push_back({{"index", i}, {"box", {b.x, b.y, b.width, b.height}}, {"score", faces[i].face.score}});
  }
  return out;
}

// The actor of the maintenance job's audit records.
Caller SystemCaller() {
  Caller c;
  c.user.username = "system";
  c.client = "maintenance";
  return c;
}

}  // namespace

std::unique_ptr<Gallery> Service::WritableGallery(const Gallery& current) {
  GalleryOptions go = current.options();
  go.read_only = false;
  try {
    return Gallery::Open(go, current.model());
  } catch (const StoreInUseError&) {
    return nullptr;  // an ingest (or another writer) holds the store's write lock
  }
}

Blocklist& Service::WritableBlocklist(const GalleryModel& model) {
  std::lock_guard lock(write_mu_);
  if (!blocklist_) blocklist_ = std::make_unique<Blocklist>(options_.data_dir, model.model_id, model.dim, false);
  return *blocklist_;
}

nlohmann::json Service::ListOptOuts(const Caller& caller) {
  RequireRole(caller, {Role::kAdmin});
  nlohmann::json out = nlohmann::json::array();
  for (const OptOut& e : CurrentGallery()->blocklist().List()) out.push_back(OptOutJson(e));
  return {{"optouts", out}};
}

nlohmann::json Service::AddOptOut(const Caller& caller, const std::string& photo, const std::string& filename,
                                  const std::string& request_id, const std::string& note, std::optional<size_t> face) {
  RequireRole(caller, {Role::kAdmin});
  if (request_id.empty() || request_id.size() > 200) {
    throw ApiError(400, "bad_request", "request_id: the request's reference (1 to 200 characters)");
  }
  std::shared_ptr<Gallery> gallery = CurrentGallery();
  std::string extension;
  cv::Mat image = DecodeUpload(photo, filename, &extension);
  std::vector<FaceResult> faces;
  {
    auto pipeline = pipelines_->Acquire();
    faces = pipeline->Analyze(image);
  }
  if (faces.empty()) throw ApiError(422, "no_face", "no face found; an opt-out needs a photo that shows the face clearly");
  size_t chosen = 0;
  try {
    chosen = OptOutFaceIndex(faces, face, "the photo");
  } catch (const Error& e) {
    if (!e.is_client_error()) throw;
    throw ApiError(409, "choose_face", e.what(),
                   {{"faces", FacesJson(faces)}, {"width", image.cols}, {"height", image.rows}});
  }
  OptOut entry;
  entry.request_id = request_id;
  entry.note = note;
  entry.created_by = caller.user.username;
  entry.threshold = AsClientError([&] { return DefaultOptOutThreshold(gallery->model().model_id); });
  entry.descriptor = faces[chosen].embedding;
  Blocklist& blocklist = WritableBlocklist(gallery->model());
  int64_t id = AsClientError([&] { return blocklist.Add(entry); });
  // From here on the face is hidden from searches and refused at ingest.
  nlohmann::json result = {{"id", id}, {"request_id", request_id}, {"threshold", entry.threshold},
                           {"photo_kept", false}};
  std::lock_guard lock(write_mu_);
  std::unique_ptr<Gallery> writable = WritableGallery(*gallery);
  if (writable) {
    DeletionReport removed = RemoveOptedOutFaces(*writable, blocklist, id);
    result["faces_removed"] = removed.faces;
    result["images_removed"] = removed.images;
    result["pending"] = false;
  } else {
    result["pending"] = true;  // the maintenance job removes the matching faces
  }
  RecordAudit(caller, "optout_add", "", result);
  std::optional<OptOut> stored = blocklist.Get(id);
  return {{"optout", stored ? OptOutJson(*stored) : nlohmann::json(nullptr)}, {"pending", result["pending"]}};
}

nlohmann::json Service::WithdrawOptOut(const Caller& caller, int64_t id, const nlohmann::json& body) {
  RequireRole(caller, {Role::kAdmin});
  std::string reason = StringField(body, "reason", true);
  Blocklist& blocklist = WritableBlocklist(CurrentGallery()->model());
  std::optional<OptOut> e = blocklist.Get(id);
  if (!e) throw ApiError(404, "not_found", "no such opt-out");
  RecordAudit(caller, "optout_remove", "", {{"id", id}, {"request_id", e->request_id}, {"reason", reason}});
  blocklist.Remove(id);
  return {{"withdrawn", id}};
}

nlohmann::json Service::RunMaintenance() {
  const Caller system = SystemCaller();
  auto audit = [&](const std::string& action, const std::string& case_number, const nlohmann::json& details) {
    RecordAudit(system, action, case_number, details);
  };
  nlohmann::json out = nlohmann::json::object();
  std::lock_guard lock(write_mu_);
  std::unique_ptr<Gallery> gallery;
  bool gallery_busy = false;
  try {
    gallery = WritableGallery(*CurrentGallery());
    gallery_busy = !gallery;
  } catch (const ApiError&) {
    // no gallery yet: only the cases' retention applies
  }
  if (gallery) {
    nlohmann::json erasures = nlohmann::json::array();
    for (const ErasureReport& r : ResumeErasures(*gallery)) {
      nlohmann::json d = {{"selector", r.selector.Describe()}, {"images", r.deleted.images},
                          {"faces", r.deleted.faces}, {"resumed", true}};
      audit("erase", "", d);
      erasures.push_back(d);
    }
    nlohmann::json optouts = nlohmann::json::array();
    for (const ProcessedOptOut& p : ProcessPendingOptOuts(*gallery)) {
      nlohmann::json d = {{"id", p.id}, {"request_id", p.request_id}, {"faces_removed", p.removed.faces},
                          {"images_removed", p.removed.images}};
      audit("optout_process", "", d);
      optouts.push_back(d);
    }
    out["erasures"] = erasures;
    out["optouts"] = optouts;
  }
  if (gallery_busy) out["gallery"] = "busy: another process is writing it; the gallery part runs next time";
  RetentionReport retention =
      RunRetention(gallery.get(), *cases_, db_->Now(), {options_.case_retention_days, false}, audit);
  out["retention"] = RetentionJson(retention);
  return out;
}

void Service::StartMaintenance() {
  if (options_.maintenance_hours <= 0 || maintenance_.joinable()) return;
  maintenance_ = std::thread([this] { MaintenanceLoop(); });
}

void Service::MaintenanceLoop() {
  auto wait = std::chrono::seconds(60);  // the first run: a minute after start
  while (true) {
    {
      std::unique_lock lock(maintenance_mu_);
      if (maintenance_cv_.wait_for(lock, wait, [&] { return stopping_; })) return;
    }
    try {
      nlohmann::json r = RunMaintenance();
      std::printf("maintenance %s: %s\n", IsoUtc(UnixNow()).c_str(), r.dump().c_str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "maintenance %s failed (retried next time): %s\n", IsoUtc(UnixNow()).c_str(), e.what());
    }
    std::fflush(stdout);
    wait = std::chrono::seconds(static_cast<int64_t>(options_.maintenance_hours * 3600));
  }
}

}  // namespace lineup
