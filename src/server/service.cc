#include "server/service.h"

#include <algorithm>
#include <chrono>

#include "common/error.h"
#include "server/pipeline_pool.h"

namespace lineup {

namespace fs = std::filesystem;

Service::Service(const ModelManifest& manifest, ServiceOptions options, Clock clock)
    : manifest_(manifest), options_(std::move(options)) {
  fs::create_directories(options_.data_dir);
  db_ = std::make_unique<GovernanceDb>(options_.data_dir / "governance.db", std::move(clock));
  audit_ = std::make_unique<AuditLog>(*db_);
  if (!options_.audit_key_file.empty()) {
    std::vector<std::unique_ptr<CheckpointSink>> sinks;
    if (!options_.audit_checkpoint_file.empty()) sinks.push_back(FileCheckpointSink(options_.audit_checkpoint_file));
    if (options_.audit_checkpoint_syslog) sinks.push_back(SyslogCheckpointSink());
    checkpointer_ = std::make_unique<AuditCheckpointer>(*db_, *audit_, AuditSigningKey::LoadOrCreate(options_.audit_key_file),
                                                        std::move(sinks));
  }
  accounts_ = std::make_unique<Accounts>(*db_, *audit_, options_.accounts);
  cases_ = std::make_unique<Cases>(*db_, options_.data_dir);
  pipelines_ = std::make_unique<PipelinePool>(manifest_, options_.profile, options_.pipelines);
  gallery_ = std::make_unique<GalleryReloader>(options_.data_dir / "vectors.lvs",
                                               std::chrono::duration<double>(options_.gallery_reopen_seconds),
                                               [this] { return OpenReadOnlyGallery(); });
}

Service::~Service() {
  {
    std::lock_guard lock(maintenance_mu_);
    stopping_ = true;
  }
  maintenance_cv_.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
  if (checkpointer_) checkpointer_->Stop();  // one last checkpoint of what this server recorded
}

// The gallery opened read-only on first use, and reopened in the background
// when its vector store changed size (an ingest or a compaction in another
// process), at most once per options_.gallery_reopen_seconds, because opening
// reads every face id (about a second per million faces). Searches never wait
// for a reopen, and those in flight keep the gallery they started with
// (server/gallery_reloader.h).
std::shared_ptr<Gallery> Service::CurrentGallery() {
  std::shared_ptr<Gallery> gallery = gallery_->Current();
  if (!gallery) {
    throw ApiError(503, "no_gallery", "the gallery is empty: ingest a collection first (lineup ingest)");
  }
  return gallery;
}

std::shared_ptr<Gallery> Service::OpenReadOnlyGallery() const {
  GalleryOptions go;
  go.data_dir = options_.data_dir;
  go.catalog = options_.catalog;
  go.read_only = true;
  const Profile& profile = manifest_.GetProfile(options_.profile);
  const ModelEntry& embedder = manifest_.Model(profile.embedder);
  return Gallery::Open(go, {embedder.id, embedder.output_dim});
}

int64_t Service::GalleryFaces() {
  try {
    return static_cast<int64_t>(CurrentGallery()->LiveFaces());
  } catch (const Error&) {
    return 0;
  }
}

void Service::RequireRole(const Caller& caller, std::initializer_list<Role> roles) const {
  if (std::find(roles.begin(), roles.end(), caller.user.role) == roles.end()) {
    throw ApiError(403, "forbidden", "your role (" + ToString(caller.user.role) + ") may not do this");
  }
}

bool Service::CanRead(const Caller& caller, const Case& c) const {
  switch (caller.user.role) {
    case Role::kInvestigator:
      return c.owner_id == caller.user.id;
    case Role::kSupervisor:
      return !caller.user.unit.empty() && c.unit == caller.user.unit;
    case Role::kAuditor:
      return true;
    case Role::kAdmin:
      return false;
  }
  return false;
}

Case Service::VisibleCase(const Caller& caller, int64_t case_id) {
  std::optional<Case> c = cases_->Get(case_id);
  if (!c || !CanRead(caller, *c)) throw ApiError(404, "not_found", "no such case");
  return *c;
}

Case Service::OwnCase(const Caller& caller, int64_t case_id) {
  std::optional<Case> c = cases_->Get(case_id);
  if (!c || caller.user.role != Role::kInvestigator || c->owner_id != caller.user.id) {
    if (c && CanRead(caller, *c)) throw ApiError(403, "forbidden", "only the case owner may do this");
    throw ApiError(404, "not_found", "no such case");
  }
  return *c;
}

void Service::RecordAudit(const Caller& caller, const std::string& action, const std::string& case_number,
                          const nlohmann::json& details) {
  AuditEvent e;
  e.actor_id = caller.user.id;
  e.actor = caller.user.username;
  e.role = caller.user.id != 0 ? ToString(caller.user.role) : "";
  e.action = action;
  e.client = caller.client;
  e.case_number = case_number;
  e.details_json = details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  e.request_id = caller.request_id;
  audit_->Append(e);
}

nlohmann::json UserJson(const User& u) {
  return {{"id", u.id},
          {"username", u.username},
          {"display_name", u.display_name},
          {"unit", u.unit},
          {"role", ToString(u.role)},
          {"active", u.active},
          {"totp_enabled", u.totp_enabled},
          {"created_at", IsoTime(u.created_at)},
          {"approved_by", u.approved_by},
          {"must_change_password", u.must_change_password},
          {"pending_role", u.pending_role ? nlohmann::json(ToString(*u.pending_role)) : nlohmann::json(nullptr)},
          {"pending_requested_by", u.pending_requested_by}};
}

}  // namespace lineup
