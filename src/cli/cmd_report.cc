// lineup report: an oversight report over the governance database (who
// searched how often and why, outcomes, undecided searches, unusual
// patterns, accounts awaiting approval) as text, HTML, CSV or JSON.
#include <cstdio>
#include <iostream>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "common/error.h"
#include "common/file_util.h"
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
  std::printf("  %zu unusual pattern(s)\n", r.findings.size());
  for (const Finding& f : r.findings) std::printf("    - %s\n", f.reason.c_str());
  std::printf("  %zu account(s) awaiting approval\n", r.pending_accounts.size());
  std::printf("(--html FILE or --csv FILE for the full report)\n");
}

void WriteOutput(const std::string& path, const std::string& content, const char* what) {
  WriteFileAtomically(path, content);
  std::fprintf(stderr, "wrote the %s report to %s\n", what, path.c_str());
}

void Run(const ReportCommandFlags& flags) {
  GovernanceDb db(ReportGovernancePath(flags.gallery));
  const OversightReport report = BuildOversightReport(db, PeriodOf(flags, db.Now()), ReportOptions{});
  if (!flags.html.empty()) WriteOutput(flags.html, RenderReportHtml(report), "HTML");
  if (!flags.csv.empty()) WriteOutput(flags.csv, RenderReportCsv(report), "CSV");
  if (flags.json) std::cout << ReportJson(report).dump(2) << "\n";
  if (flags.html.empty() && flags.csv.empty() && !flags.json) PrintSummary(report);
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
  AddGalleryFlags(cmd, &flags->gallery);
  cmd->callback([flags] { Run(*flags); });
}

}  // namespace lineup::cli
