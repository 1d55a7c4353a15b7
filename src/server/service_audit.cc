// Service: the auditor's view of the audit trail.
#include <limits>
#include <sstream>

#include "governance/audit_details.h"
#include "governance/oversight_report.h"
#include "server/service.h"

namespace lineup {

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

nlohmann::json Service::AuditVerify(const Caller& caller) {
  RequireRole(caller, {Role::kAuditor});
  AuditVerification v = audit_->Verify();
  RecordAudit(caller, "audit_verify", "", {{"ok", v.ok}, {"records", v.records}});
  return {{"ok", v.ok},
          {"records", v.records},
          {"first_bad_seq", v.first_bad_seq},
          {"problem", v.problem},
          {"head", {{"seq", v.head.seq}, {"hash", v.head.hash}}}};
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
