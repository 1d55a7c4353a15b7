// Service: the auditor's view of the audit trail.
#include <limits>
#include <sstream>

#include "governance/audit_details.h"
#include "governance/oversight_report.h"
#include "governance/trail_verification.h"
#include "server/service.h"

namespace lineup {

namespace fs = std::filesystem;

namespace {

nlohmann::json RecordJson(const AuditRecord& r) {
  nlohmann::json details = nlohmann::json::parse(r.event.details_json, nullptr, false);
  if (details.is_discarded()) details = r.event.details_json;
  return {{"seq", r.seq},
          {"time", IsoTime(r.time)},
          {"actor_id", r.event.actor_id},
          {"actor", r.event.actor},
          {"role", r.event.role},
          {"action", r.event.action},
          {"client", r.event.client},
          {"case_number", r.event.case_number},
          {"details", details},
          {"prev_hash", r.prev_hash},
          {"hash", r.hash},
          {"request_id", r.event.request_id}};
}

}  // namespace

nlohmann::json Service::AuditQuery(const Caller& caller, const AuditFilter& filter) {
  RequireRole(caller, {Role::kAuditor});
  nlohmann::json records = nlohmann::json::array();
  for (const AuditRecord& r : audit_->Query(filter)) records.push_back(RecordJson(r));
  return {{"records", records}};
}

nlohmann::json Service::AuditVerify(const Caller& caller, const std::vector<AuditAnchor>& anchors) {
  RequireRole(caller, {Role::kAuditor});
  TrailVerifyRequest request;
  request.anchors = anchors;
  nlohmann::json checkpoints = nullptr;
  if (checkpointer_ && !options_.audit_checkpoint_file.empty() && fs::exists(options_.audit_checkpoint_file)) {
    request.checkpoint_file = options_.audit_checkpoint_file;
    request.public_key_hex = checkpointer_->key().public_key_hex();
  }
  const TrailVerification v = VerifyTrail(*db_, *audit_, request);
  if (checkpointer_) {
    checkpoints = {{"published_to", checkpointer_->sink_names()},
                   {"public_key", checkpointer_->key().public_key_hex()},
                   {"key_id", checkpointer_->key().key_id()},
                   {"checked", v.checkpoints},
                   {"newest", nullptr},
                   {"records_after_newest", v.records_after_newest_checkpoint()}};
    if (v.newest_checkpoint) {
      const AuditCheckpoint& n = *v.newest_checkpoint;
      checkpoints["newest"] = {{"seq", n.anchor.seq}, {"hash", n.anchor.hash}, {"time", IsoTime(n.time)}};
    }
  }
  RecordAudit(caller, "audit_verify", "",
              {{"ok", v.ok()}, {"records", v.chain.records}, {"anchors", v.anchors}, {"checkpoints", v.checkpoints}});
  return {{"ok", v.ok()},
          {"records", v.chain.records},
          {"first_bad_seq", v.chain.first_bad_seq},
          {"problem", v.problem()},
          {"head", {{"seq", v.chain.head.seq}, {"hash", v.chain.head.hash}}},
          {"anchors_checked", v.anchors},
          {"checkpoints", checkpoints},
          {"decisions", {{"ok", v.decisions.ok}, {"checked", v.decisions.decisions}}}};
}

std::string Service::AuditExport(const Caller& caller, const std::string& format, const AuditFilter& filter) {
  RequireRole(caller, {Role::kAuditor});
  if (format != "csv" && format != "jsonl") throw ApiError(400, "bad_request", "format: csv or jsonl");
  std::ostringstream out;
  AuditFilter all = filter;
  all.limit = std::numeric_limits<int64_t>::max();  // everything that matches
  int64_t n = format == "csv" ? audit_->ExportCsv(out, all) : audit_->ExportJsonLines(out, all);
  RecordAudit(caller, kExportAction, "", ExportAuditDetails(format, n, filter));
  return out.str();
}

FileText Service::OversightReportFile(const Caller& caller, std::optional<int64_t> since_day,
                                      std::optional<int64_t> until_day, const std::string& format) {
  RequireRole(caller, {Role::kAuditor});
  if (format != "html" && format != "csv") throw ApiError(400, "bad_request", "format: html or csv");
  ReportPeriod period = PeriodOfDays(since_day, until_day, db_->Now());
  OversightReport report = BuildOversightReport(*db_, period);
  RecordAudit(caller, kReportAction, "", ReportAuditDetails(period, format, report.options));
  if (format == "csv") return {RenderReportCsv(report), "text/csv; charset=utf-8"};
  return {RenderReportHtml(report), "text/html; charset=utf-8"};
}

}  // namespace lineup
