// Service: opt-out by face (admin) and the maintenance job (erasures left
// unfinished, pending opt-outs, retention).
#include <cstdio>

#include "common/utc_time.h"
#include "common/utf8.h"
#include "engine/face_choice.h"
#include "gallery/erasure.h"
#include "gallery/optout.h"
#include "governance/audit_once.h"
#include "governance/retention.h"
#include "server/pipeline_pool.h"
#include "server/request_fields.h"
#include "server/service.h"

namespace lineup {

namespace {

// Text fields as stored; bytes that are not UTF-8 (entries stored before
// the fields were checked) shown as U+FFFD rather than failing the list.
nlohmann::json OptOutJson(const OptOut& e) {
  return {{"id", e.id},
          {"request_id", ToValidUtf8(e.request_id)},
          {"note", ToValidUtf8(e.note)},
          {"created_by", ToValidUtf8(e.created_by)},
          {"created_at", e.created_at},
          {"threshold", e.threshold},
          {"status", ToString(e.status)},
          {"faces_removed", e.faces_removed},
          {"images_removed", e.images_removed},
          {"completed_at", e.completed_at}};
}

nlohmann::json JobJson(const OptOutJob& j) {
  auto time = [](int64_t t) { return t == 0 ? nlohmann::json(nullptr) : nlohmann::json(IsoTime(t)); };
  return {{"id", j.id},
          {"kind", "optout_removal"},
          {"optout_id", j.optout_id},
          {"state", ToString(j.state)},
          {"phase", j.phase},
          {"progress",
           {{"faces_total", j.faces_total}, {"faces_scanned", j.faces_scanned}, {"faces_removed", j.faces_removed},
            {"images_removed", j.images_removed}}},
          {"message", j.message},
          {"created_by", j.created_by},
          {"created_at", time(j.created_at)},
          {"started_at", time(j.started_at)},
          {"finished_at", time(j.finished_at)}};
}

AuditEvent AuditEventOf(const Caller& caller) {
  AuditEvent e;
  e.actor_id = caller.user.id;
  e.actor = caller.user.username;
  e.role = caller.user.id != 0 ? ToString(caller.user.role) : "";
  e.client = caller.client;
  return e;
}

nlohmann::json FacesJson(const std::vector<FaceResult>& faces) {
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < faces.size(); ++i) {
    const cv::Rect2f& b = faces[i].face.box;
    out.push_back({{"index", i}, {"box", {b.x, b.y, b.width, b.height}}, {"score", faces[i].face.score}});
  }
  return out;
}

// The actor of the maintenance job's audit records (its action, case and
// details filled in per record).
AuditEvent SystemActor() {
  AuditEvent e;
  e.actor = "system";
  e.client = "maintenance";
  return e;
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
  ValidateOptOutText(request_id, note);  // 400 naming the field, before anything is read or changed
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
  const AuditEvent actor = AuditEventOf(caller);
  AuditOnce once(*db_, *audit_);
  const int64_t id = AsClientError([&] {
    return lineup::AddOptOut(blocklist, entry, {{"photo_kept", false}},
                             {AuditEventJson(actor, {}), once.Recorder()});
  });
  // From here on the face is hidden from searches and refused at ingest;
  // the matching gallery faces go in the background.
  OptOutJob job = optout_jobs_.Submit(id, caller.user.username, [this, id, actor](OptOutJobs::Control& control) {
    RunOptOutRemoval(id, actor, control);
  });
  std::optional<OptOut> stored = blocklist.Get(id);
  return {{"optout", stored ? OptOutJson(*stored) : nlohmann::json(nullptr)}, {"job", JobJson(job)}};
}

// A job's work: the removal of opt-out `optout_id`'s matches, with
// progress; deferred while another process writes the gallery.
void Service::RunOptOutRemoval(int64_t optout_id, const AuditEvent& actor, OptOutJobs::Control& control) {
  std::shared_ptr<Gallery> current = CurrentGallery();
  Blocklist& blocklist = WritableBlocklist(current->model());
  std::lock_guard lock(write_mu_);
  std::optional<OptOut> entry = blocklist.Get(optout_id);
  if (!entry) return control.Finish(JobState::kStopped, "the opt-out was withdrawn before its removal ran");
  if (entry->status == OptOutStatus::kDone) {
    control.Progress("done", 0, 0, entry->faces_removed, entry->images_removed);
    return;  // finished by the maintenance job meanwhile
  }
  std::unique_ptr<Gallery> writable = WritableGallery(*current);
  if (!writable) {
    return control.Finish(JobState::kDeferred, "another process is writing the gallery; the maintenance job "
                                               "removes the matching faces");
  }
  AuditOnce once(*db_, *audit_);
  RemovalControl removal;
  removal.progress = [&](const RemovalProgress& p) {
    control.Progress(p.phase, p.faces_total, p.faces_scanned, p.faces_removed, p.images_removed);
  };
  removal.stop_requested = [&] { return control.StopRequested(); };
  if (!RemoveOptedOutFaces(*writable, blocklist, optout_id, {AuditEventJson(actor, {}), once.Recorder()}, removal)) {
    control.Finish(JobState::kStopped, "the server stopped; the maintenance job finishes the removal");
  }
}

nlohmann::json Service::GetJob(const Caller& caller, int64_t job_id) {
  RequireRole(caller, {Role::kAdmin});
  std::optional<OptOutJob> job = optout_jobs_.Get(job_id);
  if (!job) throw ApiError(404, "not_found", "no such job (jobs are kept in memory until the server restarts)");
  return {{"job", JobJson(*job)}};
}

void Service::WaitForJobs() { optout_jobs_.WaitIdle(); }

nlohmann::json Service::WithdrawOptOut(const Caller& caller, int64_t id, const nlohmann::json& body) {
  RequireRole(caller, {Role::kAdmin});
  std::string reason = StringField(body, "reason", true);
  Blocklist& blocklist = WritableBlocklist(CurrentGallery()->model());
  AuditOnce once(*db_, *audit_);
  if (!lineup::WithdrawOptOut(blocklist, id, {{"reason", reason}}, {AuditEventJson(AuditEventOf(caller), {}), once.Recorder()})) {
    throw ApiError(404, "not_found", "no such opt-out");
  }
  return {{"withdrawn", id}};
}

nlohmann::json Service::RunMaintenance() {
  const AuditEvent system = SystemActor();
  AuditOnce once(*db_, *audit_);
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
    AuditEvent resumer = system;
    resumer.action = "erase";
    for (const ErasureReport& r : ResumeErasures(*gallery, {AuditEventJson(resumer, {}), once.Recorder()})) {
      erasures.push_back({{"selector", r.selector.Describe()}, {"images", r.deleted.images},
                          {"faces", r.deleted.faces}, {"resumed", true}});
    }
    nlohmann::json optouts = nlohmann::json::array();
    for (const ProcessedOptOut& p : ProcessPendingOptOuts(*gallery, {AuditEventJson(system, {}), once.Recorder()})) {
      optouts.push_back({{"id", p.id}, {"request_id", ToValidUtf8(p.request_id)},
                         {"faces_removed", p.removed.faces}, {"images_removed", p.removed.images}});
    }
    out["erasures"] = erasures;
    out["optouts"] = optouts;
  }
  if (gallery_busy) out["gallery"] = "busy: another process is writing it; the gallery part runs next time";
  RetentionReport retention =
      RunRetention(gallery.get(), *cases_, db_->Now(), {options_.case_retention_days, false}, *audit_, system);
  out["retention"] = RetentionJson(retention);
  return out;
}

void Service::StartMaintenance() {
  if (checkpointer_) checkpointer_->Start(std::chrono::duration<double>(options_.audit_checkpoint_seconds));
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
