// lineup report: an oversight report over the governance database (who
// searched how often and why, outcomes, undecided searches, unusual
// patterns, accounts awaiting approval) as text, HTML, CSV or JSON.
//
// Invariant: every report is in the audit trail (action "report", as the
// server records it) before any of it is written; when the record cannot be
// written, nothing is.
#include <cmath>
#include <cstdio>
#include <iostream>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cli/local_audit.h"
#include "common/error.h"
#include "common/file_util.h"
#include "governance/audit_details.h"
#include "governance/oversight_report.h"

namespace lineup::cli {

namespace {

constexpr size_t kSummaryUsers = 5;

struct ReportCommandFlags {
  GalleryFlags gallery;
  std::string since;  // YYYY-MM-DD, UTC; "" = 30 days before the end
  std::string until;  // YYYY-MM-DD, UTC, that day included; "" = now
  std::string html;   // output file, "" = none
  std::string csv;    // output file, "" = none
  bool json = false;
  ReportOptions options;  // the thresholds; CLI11 checks each flag's range
};

// The data directory's governance.db; refused when missing, so that a wrong
// --data does not produce an empty (reassuring) report or a new database.
std::filesystem::path ReportGovernancePath(const GalleryFlags& flags) {
  const std::filesystem::path data_dir = MakeGalleryOptions(flags, true).data_dir;
  const std::filesystem::path path = data_dir / "governance.db";
  if (!std::filesystem::is_regular_file(path)) {
    throw Error(Context(data_dir.string(), "no governance database here (governance.db): there is nothing to "
                                           "report on (wrong --data?)"));
  }
  return path;
}

// What a single flag's range check cannot see.
void CheckWorkingHours(const ReportOptions& o) {
  if (o.working_hours_begin >= o.working_hours_end) {
    throw Error("report: --working-hours-begin " + std::to_string(o.working_hours_begin) +
                " must be before --working-hours-end " + std::to_string(o.working_hours_end));
  }
}

ReportPeriod PeriodOf(const ReportCommandFlags& flags, int64_t now) {
  std::optional<int64_t> since, until;
  if (!flags.since.empty()) since = DayFlag(flags.since, "--since");
  if (!flags.until.empty()) until = DayFlag(flags.until, "--until");
  try {
    return PeriodOfDays(since, until, now);
  } catch (const Error& e) {
    throw Error(std::string("report: ") + e.what());
  }
}

nlohmann::json SearchesJson(const std::vector<ReportSearch>& searches) {
  nlohmann::json out = nlohmann::json::array();
  for (const ReportSearch& s : searches) {
    out.push_back({{"search_id", s.search_id},
                   {"case_number", s.case_number},
                   {"username", s.username},
                   {"created_at", IsoTime(s.created_at)}});
  }
  return out;
}

nlohmann::json CountsJson(const std::vector<CountRow>& rows) {
  nlohmann::json out = nlohmann::json::object();
  for (const CountRow& r : rows) out[r.key] = r.searches;
  return out;
}

nlohmann::json UsersJson(const std::vector<UserCount>& users) {
  nlohmann::json out = nlohmann::json::array();
  for (const UserCount& u : users) {
    out.push_back({{"user_id", u.user_id}, {"username", u.username}, {"unit", u.unit}, {"searches", u.searches}});
  }
  return out;
}

nlohmann::json PatternsJson(const OversightReport& r) {
  nlohmann::json findings = nlohmann::json::array();
  for (const Finding& f : r.findings) {
    findings.push_back({{"kind", f.kind}, {"subject", f.subject}, {"count", f.count}, {"reason", f.reason}});
  }
  nlohmann::json odd = nlohmann::json::array();
  for (const OddHoursGroup& g : r.odd_hours) {
    odd.push_back({{"username", g.username}, {"searches", SearchesJson(g.searches)}});
  }
  nlohmann::json cases = nlohmann::json::array();
  for (const CaseCount& c : r.busy_cases) {
    cases.push_back({{"case_number", c.case_number}, {"owner", c.owner}, {"searches", c.searches}});
  }
  return {{"findings", findings},
          {"median_user_searches", r.median_user_searches},
          {"user_threshold", r.user_threshold},
          {"busy_users", UsersJson(r.busy_users)},
          {"odd_hours", odd},
          {"busy_cases", cases}};
}

nlohmann::json ReportJson(const OversightReport& r) {
  nlohmann::json days = nlohmann::json::array();
  for (const DayCount& d : r.per_day) days.push_back({{"day", IsoDay(d.day)}, {"searches", d.searches}});
  nlohmann::json pending = nlohmann::json::array();
  for (const PendingAccount& a : r.pending_accounts) {
    pending.push_back({{"username", a.username},
                       {"display_name", a.display_name},
                       {"unit", a.unit},
                       {"role", a.role},
                       {"created_at", IsoTime(a.created_at)}});
  }
  return {{"since", IsoTime(r.period.since)},
          {"until", IsoTime(r.period.until)},
          {"generated_at", IsoTime(r.generated_at)},
          {"options", ReportOptionsJson(r.options)},
          {"total_searches", r.total_searches},
          {"by_user", UsersJson(r.by_user)},
          {"by_unit", CountsJson(r.by_unit)},
          {"by_category", CountsJson(r.by_category)},
          {"by_outcome", CountsJson(r.by_outcome)},
          {"per_day", days},
          {"undecided", SearchesJson(r.undecided)},
          {"unusual", PatternsJson(r)},
          {"pending_accounts", pending}};
}

void PrintSummary(const OversightReport& r) {
  std::printf("oversight report %s to %s (UTC, end excluded)\n", IsoTime(r.period.since).c_str(),
              IsoTime(r.period.until).c_str());
  std::printf("  %lld search(es) by %zu user(s)\n", static_cast<long long>(r.total_searches), r.by_user.size());
  for (size_t i = 0; i < r.by_user.size() && i < kSummaryUsers; ++i) {
    std::printf("    %-24s %-20s %lld\n", r.by_user[i].username.c_str(), r.by_user[i].unit.c_str(),
                static_cast<long long>(r.by_user[i].searches));
  }
  for (const CountRow& o : r.by_outcome) {
    std::printf("  outcome %-16s %lld\n", o.key.c_str(), static_cast<long long>(o.searches));
  }
  std::printf("  %zu search(es) without a recorded decision\n", r.undecided.size());
  std::printf("  %zu unusual pattern(s): a user above %lld searches (max(%g x median %g, median + %lld)), "
              "searches outside %02d:00-%02d:00 UTC, a case above %lld searches\n",
              r.findings.size(), static_cast<long long>(r.user_threshold), r.options.median_multiple,
              r.median_user_searches, static_cast<long long>(r.options.min_excess), r.options.working_hours_begin,
              r.options.working_hours_end, static_cast<long long>(r.options.max_searches_per_case));
  for (const Finding& f : r.findings) std::printf("    - %s\n", f.reason.c_str());
  std::printf("  %zu account(s) awaiting approval\n", r.pending_accounts.size());
  std::printf("(--html FILE or --csv FILE for the full report)\n");
}

// One rendering of the report and where it goes; path "" = standard output.
struct ReportOutput {
  std::string format;  // "html", "csv", "json" or "text"
  std::string path;
  std::string content;  // "" for "text", which PrintSummary prints
};

// Every output the flags ask for, rendered; the text summary when none is.
std::vector<ReportOutput> RenderOutputs(const ReportCommandFlags& flags, const OversightReport& report) {
  std::vector<ReportOutput> outputs;
  if (!flags.html.empty()) outputs.push_back({"html", flags.html, RenderReportHtml(report)});
  if (!flags.csv.empty()) outputs.push_back({"csv", flags.csv, RenderReportCsv(report)});
  if (flags.json) outputs.push_back({"json", "", ReportJson(report).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"});
  if (outputs.empty()) outputs.push_back({"text", "", ""});
  return outputs;
}

// The server's "report" details, with every format in one field ("html,csv")
// and where each went ("out", in the same order).
nlohmann::json AuditDetails(const OversightReport& report, const std::vector<ReportOutput>& outputs) {
  std::string formats;
  nlohmann::json out = nlohmann::json::array();
  for (const ReportOutput& o : outputs) {
    formats += (formats.empty() ? "" : ",") + o.format;
    out.push_back(o.path.empty() ? std::string("standard output") : std::filesystem::absolute(o.path).string());
  }
  nlohmann::json details = ReportAuditDetails(report.period, formats, report.options);
  details["out"] = out;
  return details;
}

void Deliver(const ReportOutput& output, const OversightReport& report) {
  if (output.format == "text") {
    PrintSummary(report);
  } else if (output.path.empty()) {
    std::cout << output.content;
  } else {
    WriteFileAtomically(output.path, output.content);
    std::fprintf(stderr, "wrote the %s report to %s\n", output.format.c_str(), output.path.c_str());
  }
}

void Run(const ReportCommandFlags& flags) {
  CheckWorkingHours(flags.options);
  GovernanceDb db(ReportGovernancePath(flags.gallery));
  const OversightReport report = BuildOversightReport(db, PeriodOf(flags, db.Now()), flags.options);
  const std::vector<ReportOutput> outputs = RenderOutputs(flags, report);
  try {
    RecordLocalAudit(db, kReportAction, AuditDetails(report, outputs));
  } catch (const Error& e) {
    throw Error(std::string("report: not written, because it could not be audited: ") + e.what());
  }
  // A write that fails from here on leaves the record of a report not
  // delivered: the safe side.
  for (const ReportOutput& o : outputs) Deliver(o, report);
}

// A finite number >= min (CLI11 names the flag in front of the message).
CLI::Validator AtLeast(double min) {
  const std::string what = "a number of at least " + CLI::detail::to_string(min);
  return CLI::Validator(
      [min, what](std::string& text) -> std::string {
        double value = 0;
        if (CLI::detail::lexical_cast(text, value) && std::isfinite(value) && value >= min) return "";
        return "must be " + what + " (got " + text + ")";
      },
      ">= " + CLI::detail::to_string(min));
}

// --working-hours-begin and the other thresholds, defaults from ReportOptions.
void AddThresholdFlags(CLI::App* cmd, ReportOptions* o) {
  cmd->add_option("--working-hours-begin", o->working_hours_begin,
                  "Searches before this hour (UTC, 0-23) are listed as outside working hours")
      ->capture_default_str()
      ->check(CLI::Range(0, 23));
  cmd->add_option("--working-hours-end", o->working_hours_end,
                  "Searches from this hour on (UTC, 1-24) are listed as outside working hours")
      ->capture_default_str()
      ->check(CLI::Range(1, 24));
  cmd->add_option("--median-multiple", o->median_multiple,
                  "A user is flagged above max(this x the median searches per user, median + --min-excess)")
      ->capture_default_str()
      ->check(AtLeast(1));
  cmd->add_option("--min-excess", o->min_excess, "A user is flagged only this many searches above the median or more (see --median-multiple)")
      ->capture_default_str()
      ->check(AtLeast(0));
  cmd->add_option("--max-searches-per-case", o->max_searches_per_case,
                  "A case is flagged when searched more often than this in the period")
      ->capture_default_str()
      ->check(AtLeast(0));
}

}  // namespace

void RegisterReport(CLI::App& app) {
  auto flags = std::make_shared<ReportCommandFlags>();
  auto* cmd = app.add_subcommand("report", "Oversight report: searches per user, unit, purpose and outcome, "
                                           "undecided searches, unusual patterns, pending accounts");
  cmd->add_option("--since", flags->since, "From this day on, YYYY-MM-DD (UTC; default: 30 days before the end)");
  cmd->add_option("--until", flags->until, "Up to and including this day, YYYY-MM-DD (UTC; default: now)");
  cmd->add_option("--html", flags->html, "Write the report as one self-contained HTML page");
  cmd->add_option("--csv", flags->csv, "Write the report's tables as CSV (RFC 4180)");
  cmd->add_flag("--json", flags->json, "Print the report as JSON");
  AddThresholdFlags(cmd, &flags->options);
  AddGalleryFlags(cmd, &flags->gallery);
  cmd->callback([flags] { Run(*flags); });
}

}  // namespace lineup::cli
