// The Lineup service: what `lineup serve` offers, independent of HTTP.
// Every operation takes the authenticated Caller, enforces the role and
// ownership rules of docs/API.md, writes the audit trail, and returns the
// JSON body of the answer or throws ApiError (status, code, message).
//
// Invariants:
//  - Role rules: investigators act only within their own cases; supervisors
//    read (never act on) the cases of their unit; auditors read every case
//    and the audit trail and cannot search; admins manage accounts and see
//    collections and jobs but not case content.
//  - An object the caller may not see is reported as not found (404), so
//    that ids cannot be probed.
//  - A search, a decision and a case deletion are committed in one
//    transaction with their audit records; opt-outs, erasures and retention
//    (other stores than the trail) carry their record until it is written,
//    exactly once (governance/audit_once.h): neither or both. A candidate
//    view, export, login and account change is audited before the answer is
//    returned.
//  - Gallery media (crops, images) are served only to callers who can see a
//    search that showed the face.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "engine/face_pipeline.h"
#include "gallery/gallery.h"
#include "governance/accounts.h"
#include "governance/audit_checkpointer.h"
#include "governance/audit_log.h"
#include "governance/cases.h"
#include "governance/governance_db.h"
#include "models/model_manifest.h"
#include "server/api_error.h"
#include "server/gallery_reloader.h"
#include "server/optout_jobs.h"

namespace lineup {

class PipelinePool;

struct Caller {
  User user;
  std::string client;    // remote address
  bool via_token = false;
  TokenScope token_scope = TokenScope::kAdmin;  // what a bearer token may do; sessions: everything
  std::string request_id;  // the request's X-Request-Id, kept in its audit records; "" outside HTTP
};

// Whether an API token of `scope` may call the route (`method`, OpenAPI
// path such as "/api/v1/cases/{id}/probes"); the role rules apply on top.
bool TokenScopeAllows(TokenScope scope, const std::string& method, const std::string& route);

struct ServiceOptions {
  std::filesystem::path data_dir;
  std::string catalog;            // "" = data_dir/catalog.db
  std::string profile;            // "" = manifest default (must match the gallery's embedder)
  int pipelines = 2;              // concurrent probe analyses
  int default_candidates = 20;    // like the FBI's NGI-IPS candidate lists
  int max_candidates = static_cast<int>(kMaxCandidates);
  int64_t max_upload_bytes = 20 << 20;
  // Uploaded photos (probes, opt-outs): a JPEG over this is decoded at 1/2,
  // 1/4 or 1/8 size, any other image over it refused from its header.
  int64_t max_upload_pixels = 40'000'000;
  double gallery_reopen_seconds = 5;  // least time between reopenings of a grown gallery
  AccountPolicy accounts;
  // The maintenance job (RunMaintenance): every this many hours, the first
  // run a minute after start; 0 = never.
  double maintenance_hours = 24;
  int64_t case_retention_days = 0;    // probe photos of cases without their own retention; 0 = keep
  // Signed checkpoints of the audit chain (docs/SECURITY.md): the Ed25519
  // key (created on first start; "" = no checkpoints), where they go, and
  // how often the head is checkpointed when it moved.
  std::filesystem::path audit_key_file;
  std::filesystem::path audit_checkpoint_file;  // "" = not to a file (then verify cannot read them back)
  bool audit_checkpoint_syslog = false;
  double audit_checkpoint_seconds = 5;
};

// Generated text to send, with its MIME type.
struct FileText {
  std::string text;
  std::string content_type;
};

// A file to send: path and MIME type.
struct FileReply {
  std::filesystem::path path;
  std::string content_type;
};

class Service {
 public:
  Service(const ModelManifest& manifest, ServiceOptions options, Clock clock = SystemClock());
  ~Service();

  // --- accounts (service_accounts.cc)
  // On a fresh governance database: creates `admin` with a random password
  // and returns it (to print once); "" when accounts exist already. The
  // password is one-time: the admin must replace it before doing anything.
  std::string EnsureAdmin();
  // `caller`: no user yet, the client address and request id.
  LoginResult Login(const nlohmann::json& body, const Caller& caller);
  void Logout(const Caller& caller, const std::string& session_token);
  nlohmann::json Register(const nlohmann::json& body, const Caller& caller);
  nlohmann::json Me(const Caller& caller);
  nlohmann::json ListUsers(const Caller& caller);
  nlohmann::json CreateUser(const Caller& caller, const nlohmann::json& body);
  nlohmann::json UpdateUser(const Caller& caller, int64_t user_id, const nlohmann::json& body);
  // Clears the login lock-out of the account's name, from every address (admin).
  nlohmann::json UnlockUser(const Caller& caller, int64_t user_id);
  // {user, one_time_password}: the only time the password is known.
  nlohmann::json ResetUserPassword(const Caller& caller, int64_t user_id);
  nlohmann::json PendingApprovals(const Caller& caller);
  nlohmann::json Approve(const Caller& caller, int64_t user_id);
  // {rejected: "account" | "role_grant", user?}: the account is gone, or its grant withdrawn.
  nlohmann::json Reject(const Caller& caller, int64_t user_id);
  // {name, scope, days, password, code}: the password (and the TOTP code
  // when TOTP is on) are asked again.
  nlohmann::json CreateToken(const Caller& caller, const nlohmann::json& body);
  nlohmann::json ListTokens(const Caller& caller);
  nlohmann::json RevokeToken(const Caller& caller, int64_t token_id);
  // Own password: {current, new}. Ends the caller's sessions, revokes their tokens.
  nlohmann::json ChangePassword(const Caller& caller, const nlohmann::json& body);
  // Replacing or removing an enabled TOTP needs {password} or {code}.
  nlohmann::json BeginTotp(const Caller& caller, const nlohmann::json& body);
  nlohmann::json ConfirmTotp(const Caller& caller, const nlohmann::json& body);
  nlohmann::json DisableTotp(const Caller& caller, const nlohmann::json& body);

  // --- cases and searches (service_cases.cc)
  nlohmann::json CreateCase(const Caller& caller, const nlohmann::json& body);
  nlohmann::json ListCases(const Caller& caller);
  nlohmann::json GetCase(const Caller& caller, int64_t case_id);
  // Deletes a case with its probe photos, searches and decisions (the audit
  // records stay). The owner, or a supervisor of the case's unit.
  nlohmann::json DeleteCase(const Caller& caller, int64_t case_id);
  nlohmann::json AddProbe(const Caller& caller, int64_t case_id, const std::string& bytes, const std::string& filename);
  FileReply ProbeImage(const Caller& caller, int64_t probe_id);
  nlohmann::json Search(const Caller& caller, const nlohmann::json& body);
  nlohmann::json GetSearch(const Caller& caller, int64_t search_id);
  // The newest searches the caller may read (own / unit / all), without candidates.
  nlohmann::json RecentSearches(const Caller& caller, int64_t limit);
  nlohmann::json GetCandidate(const Caller& caller, int64_t search_id, int64_t face_id);
  nlohmann::json RecordDecision(const Caller& caller, int64_t search_id, const nlohmann::json& body);
  FileReply FaceMedia(const Caller& caller, int64_t face_id, bool full_image);
  nlohmann::json Collections(const Caller& caller);
  nlohmann::json Jobs(const Caller& caller);

  // --- opt-out and maintenance (service_optout.cc)
  nlohmann::json ListOptOuts(const Caller& caller);
  // Validates every field first (400 naming it: request_id, note; nothing
  // is changed), then adds the face in the photo to the blocklist with its
  // audit record (gallery/optout.h: neither or both) and answers with the
  // entry and a job: the face is hidden from searches from then on, and the
  // job removes the gallery faces that match it in the background (left
  // pending, for the maintenance job, while an ingest holds the gallery or
  // when the server stops first). The photo is never stored. 409
  // choose_face (with the faces) when the photo shows several and `face` is
  // not given.
  nlohmann::json AddOptOut(const Caller& caller, const std::string& photo, const std::string& filename,
                           const std::string& request_id, const std::string& note, std::optional<size_t> face);
  nlohmann::json WithdrawOptOut(const Caller& caller, int64_t id, const nlohmann::json& body);
  // A background job (an opt-out's removal) of this server: state and
  // progress. Admins; 404 for an unknown id.
  nlohmann::json GetJob(const Caller& caller, int64_t job_id);
  // Blocks until no background job is queued or running (tests).
  void WaitForJobs();
  // Finishes interrupted erasures and pending opt-outs and applies retention
  // (governance/retention.h), audited as the user "system". Skipped (and
  // retried at the next run) while another process writes the gallery.
  nlohmann::json RunMaintenance();
  // Starts the background thread that calls RunMaintenance every
  // options().maintenance_hours; the destructor stops it.
  void StartMaintenance();

  // --- audit (service_audit.cc)
  nlohmann::json AuditQuery(const Caller& caller, const AuditFilter& filter);
  // The chain, the caller's anchors, the signed checkpoints of the
  // checkpoint file, and the decisions against the trail.
  nlohmann::json AuditVerify(const Caller& caller, const std::vector<AuditAnchor>& anchors = {});
  // The checkpointer, nullptr when checkpoints are off.
  AuditCheckpointer* audit_checkpointer() { return checkpointer_.get(); }
  // Returns the export text; the export is audited.
  std::string AuditExport(const Caller& caller, const std::string& format, const AuditFilter& filter);
  // The oversight report (lineup report) from `since_day` through
  // `until_day` (days as ParseIsoDay gives them; PeriodOfDays's defaults) as
  // "html" or "csv"; audited.
  FileText OversightReportFile(const Caller& caller, std::optional<int64_t> since_day,
                               std::optional<int64_t> until_day, const std::string& format);
  void RecordAudit(const Caller& caller, const std::string& action, const std::string& case_number,
                   const nlohmann::json& details);

  // --- for the HTTP layer
  // 403 unless the caller has one of the roles (every operation checks its
  // own; the HTTP layer also calls it before reading query parameters).
  void RequireRole(const Caller& caller, std::initializer_list<Role> roles) const;
  Accounts& accounts() { return *accounts_; }
  int64_t GalleryFaces();  // live faces, 0 without a gallery
  // Blocks until the background gallery reopen in flight, if any, is done.
  void WaitForGalleryReopen() { gallery_->WaitForReopen(); }
  const ServiceOptions& options() const { return options_; }

 private:
  std::shared_ptr<Gallery> CurrentGallery();  // throws ApiError 503 when there is none yet
  std::shared_ptr<Gallery> OpenReadOnlyGallery() const;
  // A writable copy of `current` for a deletion, or nullptr while another
  // process (an ingest) holds the write lock.
  std::unique_ptr<Gallery> WritableGallery(const Gallery& current);
  Blocklist& WritableBlocklist(const GalleryModel& model);
  cv::Mat DecodeUpload(const std::string& bytes, const std::string& filename, std::string* extension);
  // A stored probe photo decoded as its upload was (same reduction), in a decode slot.
  cv::Mat LoadProbe(const Probe& probe);
  void MaintenanceLoop();
  void RunOptOutRemoval(int64_t optout_id, const AuditEvent& actor, OptOutJobs::Control& control);
  Case VisibleCase(const Caller& caller, int64_t case_id);  // 404 unless the caller may read it
  Case OwnCase(const Caller& caller, int64_t case_id);      // 404 unless the caller owns it
  bool CanRead(const Caller& caller, const Case& c) const;
  struct ListScope {
    int64_t owner_id;
    std::string unit;
  };
  std::optional<ListScope> ListScopeOf(const Caller& caller) const;
  SearchRecord VisibleSearch(const Caller& caller, int64_t search_id, Case* c);
  nlohmann::json SearchJson(const SearchRecord& s, const Case& c, bool with_candidates);

  const ModelManifest& manifest_;
  ServiceOptions options_;
  // Uploads decoded at a time (their pixels are the server's largest
  // allocations): as many as the pipelines that analyse them.
  std::counting_semaphore<> decode_slots_{std::max(1, options_.pipelines)};
  std::unique_ptr<GovernanceDb> db_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<AuditCheckpointer> checkpointer_;  // publishes the head of audit_; nullptr when off
  std::unique_ptr<Accounts> accounts_;  // writes its changes' records to audit_
  std::unique_ptr<Cases> cases_;
  std::unique_ptr<PipelinePool> pipelines_;
  std::unique_ptr<GalleryReloader> gallery_;  // the read-only gallery searched; reopened in the background
  std::mutex write_mu_;                  // one deletion at a time in this process
  std::unique_ptr<Blocklist> blocklist_; // writable; created on first use
  std::mutex maintenance_mu_;
  std::condition_variable maintenance_cv_;
  bool stopping_ = false;
  std::thread maintenance_;
  // Last: destroyed (its worker stopped and joined) before everything the
  // jobs use.
  OptOutJobs optout_jobs_{[this] { return db_->Now(); }};
};

// The JSON of a user as the API shows it (no secrets).
nlohmann::json UserJson(const User& u);

}  // namespace lineup
