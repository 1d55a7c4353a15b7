// The details of audit records that more than one front end writes for the
// same action (the server for a logged-in auditor, the CLI for an operator at
// the machine), built in one place so that an export or a report reads the
// same in the trail whichever way it was made.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "governance/audit_log.h"
#include "governance/oversight_report.h"

namespace lineup {

inline constexpr char kExportAction[] = "export";  // audit records written out (CSV or JSON lines)
inline constexpr char kReportAction[] = "report";  // an oversight report produced

// {"user", "case", "action", "since", "until"}: an export's filter; times as
// ISO 8601 UTC, "" where there is no bound (or no filter on that field).
nlohmann::json AuditFilterJson(const AuditFilter& filter);

// kExportAction's details: {"format", "records", "filter"}.
nlohmann::json ExportAuditDetails(const std::string& format, int64_t records, const AuditFilter& filter);

// {"working_hours_begin", "working_hours_end", "median_multiple",
//  "min_excess", "max_searches_per_case"}: the thresholds a report used,
// named as in ReportOptions.
nlohmann::json ReportOptionsJson(const ReportOptions& options);

// kReportAction's details: {"since", "until", "format", "options"}.
nlohmann::json ReportAuditDetails(const ReportPeriod& period, const std::string& format,
                                  const ReportOptions& options);

}  // namespace lineup
