#include "governance/audit_details.h"

namespace lineup {

nlohmann::json AuditFilterJson(const AuditFilter& f) {
  return {{"user", f.actor}, {"case", f.case_number}, {"action", f.action}, {"text", f.text},
          {"since", f.since ? IsoTime(f.since) : ""}, {"until", f.until ? IsoTime(f.until) : ""},
          {"after", f.after_seq}};
}

nlohmann::json ExportAuditDetails(const std::string& format, int64_t records, const AuditFilter& filter) {
  return {{"format", format}, {"records", records}, {"filter", AuditFilterJson(filter)}};
}

nlohmann::json ReportOptionsJson(const ReportOptions& o) {
  return {{"working_hours_begin", o.working_hours_begin},
          {"working_hours_end", o.working_hours_end},
          {"median_multiple", o.median_multiple},
          {"min_excess", o.min_excess},
          {"max_searches_per_case", o.max_searches_per_case}};
}

nlohmann::json ReportAuditDetails(const ReportPeriod& period, const std::string& format,
                                  const ReportOptions& options) {
  return {{"since", IsoTime(period.since)},
          {"until", IsoTime(period.until)},
          {"format", format},
          {"options", ReportOptionsJson(options)}};
}

}  // namespace lineup
