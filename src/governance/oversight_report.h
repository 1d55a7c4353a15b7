// Oversight reports: who searched how often, for which purposes, with which
// outcomes, what is still undecided and what looks unusual, over a period.
// Computed read-only (GovernanceDb::Read) from the tables of cases.cc
// (cases, searches, decisions) and accounts.cc (users).
//
// Invariants:
//  - A search is in the period when period.since <= created_at < period.until
//    (Unix seconds, UTC). Pending accounts are the state at report time and
//    do not depend on the period.
//  - A search's unit is its user's current unit (users.unit), or the case's
//    unit when the account no longer exists.
//  - The outcome of a search is the strongest decision recorded on any of its
//    candidates: possible_match > inconclusive > not_a_match; a search with
//    no decision at all is "no_decision" (and is on the follow-up list).
//  - Count tables are sorted by count (descending), then by name; every list
//    of searches by time, then id.
//  - A database without the cases or users tables (a module never started)
//    gives empty sections rather than an error; nothing is ever created.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "governance/governance_db.h"

namespace lineup {

struct ReportPeriod {
  int64_t since = 0;  // included
  int64_t until = 0;  // excluded; must be > since
};

// The thresholds of the unusual patterns. Valid when
// 0 <= working_hours_begin < working_hours_end <= 24, median_multiple >= 1
// (and finite), min_excess >= 0 and max_searches_per_case >= 0;
// BuildOversightReport refuses anything else.
struct ReportOptions {
  // Working hours, UTC: a search at hour h is at an odd hour unless begin <= h < end.
  int working_hours_begin = 7;
  int working_hours_end = 19;
  // A user is unusually active above max(median_multiple x median, median + min_excess),
  // the median taken over the users who searched in the period.
  double median_multiple = 2;
  int64_t min_excess = 10;
  // A case is searched unusually often above this many searches.
  int64_t max_searches_per_case = 20;
};

struct CountRow {
  std::string key;  // unit, category or outcome
  int64_t searches = 0;
};

struct UserCount {
  int64_t user_id = 0;
  std::string username;
  std::string unit;
  int64_t searches = 0;
};

struct DayCount {
  int64_t day = 0;  // Unix time of 00:00 UTC
  int64_t searches = 0;
};

struct ReportSearch {
  int64_t search_id = 0;
  std::string case_number;
  std::string username;
  int64_t created_at = 0;
};

// The searches one user made at odd hours.
struct OddHoursGroup {
  std::string username;
  std::vector<ReportSearch> searches;
};

struct CaseCount {
  int64_t case_id = 0;
  std::string case_number;
  std::string owner;
  int64_t searches = 0;
};

// One unusual pattern, with the reason in plain language.
struct Finding {
  std::string kind;     // "many_searches_by_user" | "odd_hours" | "many_searches_on_case"
  std::string subject;  // username or case number
  int64_t count = 0;
  std::string reason;
};

struct PendingAccount {
  int64_t user_id = 0;
  std::string username;
  std::string display_name;
  std::string unit;
  std::string role;
  int64_t created_at = 0;
};

struct OversightReport {
  ReportPeriod period;
  ReportOptions options;
  int64_t generated_at = 0;
  int64_t total_searches = 0;
  std::vector<UserCount> by_user;
  std::vector<CountRow> by_unit;
  std::vector<CountRow> by_category;
  std::vector<CountRow> by_outcome;  // only outcomes that occur
  std::vector<DayCount> per_day;     // every day of the period (of the data, for very long periods)
  std::vector<ReportSearch> undecided;
  double median_user_searches = 0;   // over users with searches in the period
  int64_t user_threshold = 0;        // a user is flagged above this
  std::vector<UserCount> busy_users;
  std::vector<OddHoursGroup> odd_hours;  // by count, descending
  std::vector<CaseCount> busy_cases;
  std::vector<Finding> findings;     // all unusual patterns, with reasons
  std::vector<PendingAccount> pending_accounts;
};

// Throws Error if the period is empty or the options are not valid (see
// ReportOptions), naming the option.
OversightReport BuildOversightReport(GovernanceDb& db, const ReportPeriod& period, const ReportOptions& options = {});

// One self-contained HTML page: inline CSS, inline SVG charts, no scripts, no
// external resources; every string from the database is escaped. It states
// the thresholds (report.options) it was made with.
std::string RenderReportHtml(const OversightReport& report);

// RFC 4180 CSV (CRLF line ends). Each table is a section: a header row whose
// first cell is "section", then rows whose first cell is the section's name.
// Cells starting with = + - @ get a leading ' so that spreadsheets do not
// evaluate them. The summary section names every option with its value.
std::string RenderReportCsv(const OversightReport& report);

inline constexpr int64_t kDefaultPeriodDays = 30;
// The period a report covers, from days as ParseIsoDay gives them:
// `until_day` is the last day included (default: up to and including the
// current second, `now`), `since_day` the first (default: kDefaultPeriodDays
// before the end). Throws Error if the period is empty.
ReportPeriod PeriodOfDays(std::optional<int64_t> since_day, std::optional<int64_t> until_day, int64_t now);

}  // namespace lineup
