#include "governance/oversight_report.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>

#include "catalog/sqlite_db.h"
#include "common/csv_writer.h"
#include "common/error.h"
#include "eval/svg_plot.h"

namespace lineup {

namespace {

// Longer periods chart only the days between the first and the last search.
constexpr int64_t kMaxChartDays = 3660;
constexpr size_t kMaxBars = 30;

bool HasTable(SqliteDb& db, const std::string& name) {
  auto q = db.Query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
  q.BindText(1, name);
  return q.Step();
}

// What a report query may rely on; fixed per database file.
struct Schema {
  bool cases = false;  // cases, searches, decisions (created together)
  bool users = false;
};

// The unit a search counts for (see the header's invariants).
std::string UnitExpression(const Schema& schema) {
  return schema.users ? "coalesce((SELECT u.unit FROM users u WHERE u.id = s.user_id), c.unit)" : "c.unit";
}

// Searches of the period joined with their case; ?1 and ?2 are the bounds.
constexpr char kPeriodSearches[] =
    " FROM searches s JOIN cases c ON c.id = s.case_id WHERE s.created_at >= ?1 AND s.created_at < ?2";

SqliteQuery PeriodQuery(SqliteDb& db, const std::string& sql, const ReportPeriod& period) {
  SqliteQuery q = db.Query(sql);
  q.Bind(1, period.since).Bind(2, period.until);
  return q;
}

std::vector<CountRow> CountRows(SqliteDb& db, const std::string& sql, const ReportPeriod& period) {
  auto q = PeriodQuery(db, sql, period);
  std::vector<CountRow> rows;
  while (q.Step()) rows.push_back({q.Text(0), q.Int64(1)});
  return rows;
}

std::vector<UserCount> UsersOf(SqliteDb& db, const Schema& schema, const ReportPeriod& period) {
  auto q = PeriodQuery(db,
                       "SELECT s.user_id, max(s.username), max(" + UnitExpression(schema) + "), count(*)" +
                           kPeriodSearches + " GROUP BY s.user_id ORDER BY 4 DESC, 2",
                       period);
  std::vector<UserCount> users;
  while (q.Step()) users.push_back({q.Int64(0), q.Text(1), q.Text(2), q.Int64(3)});
  return users;
}

std::vector<CountRow> OutcomesOf(SqliteDb& db, const ReportPeriod& period) {
  return CountRows(db,
                   "SELECT outcome, count(*) FROM (SELECT CASE "
                   "WHEN max(d.decision = 'possible_match') = 1 THEN 'possible_match' "
                   "WHEN max(d.decision = 'inconclusive') = 1 THEN 'inconclusive' "
                   "WHEN max(d.decision = 'not_a_match') = 1 THEN 'not_a_match' "
                   "ELSE 'no_decision' END AS outcome "
                   "FROM searches s LEFT JOIN decisions d ON d.search_id = s.id "
                   "WHERE s.created_at >= ?1 AND s.created_at < ?2 GROUP BY s.id) "
                   "GROUP BY outcome ORDER BY 2 DESC, 1",
                   period);
}

std::vector<ReportSearch> ReadSearches(SqliteQuery& q) {
  std::vector<ReportSearch> searches;
  while (q.Step()) searches.push_back({q.Int64(0), q.Text(1), q.Text(2), q.Int64(3)});
  return searches;
}

constexpr char kSearchListColumns[] = "SELECT s.id, c.number, s.username, s.created_at";
constexpr char kSearchListOrder[] = " ORDER BY s.created_at, s.id";

std::vector<ReportSearch> UndecidedSearches(SqliteDb& db, const ReportPeriod& period) {
  auto q = PeriodQuery(db,
                       std::string(kSearchListColumns) + kPeriodSearches +
                           " AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.search_id = s.id)" + kSearchListOrder,
                       period);
  return ReadSearches(q);
}

// Searches whose UTC hour is outside [begin, end).
std::vector<ReportSearch> OddHourSearches(SqliteDb& db, const ReportPeriod& period, const ReportOptions& options) {
  auto q = PeriodQuery(db,
                       std::string(kSearchListColumns) + kPeriodSearches +
                           " AND ((s.created_at % 86400) / 3600 < ?3 OR (s.created_at % 86400) / 3600 >= ?4)" +
                           kSearchListOrder,
                       period);
  q.Bind(3, options.working_hours_begin).Bind(4, options.working_hours_end);
  return ReadSearches(q);
}

// Every day of the period with its count (zero included), so that the chart
// shows quiet days.
std::vector<DayCount> PerDay(SqliteDb& db, const ReportPeriod& period) {
  auto q = PeriodQuery(db, std::string("SELECT s.created_at / 86400, count(*)") + kPeriodSearches + " GROUP BY 1",
                       period);
  std::map<int64_t, int64_t> counts;  // day number -> searches
  while (q.Step()) counts[q.Int64(0)] = q.Int64(1);
  int64_t first = DayNumber(period.since);
  int64_t last = DayNumber(period.until - 1);
  if (last - first >= kMaxChartDays) {
    if (counts.empty()) return {};
    first = counts.begin()->first;
    last = counts.rbegin()->first;
  }
  std::vector<DayCount> days;
  for (int64_t d = first; d <= last; ++d) {
    auto it = counts.find(d);
    days.push_back({d * kSecondsPerDay, it == counts.end() ? 0 : it->second});
  }
  return days;
}

std::vector<CaseCount> BusyCases(SqliteDb& db, const ReportPeriod& period, const ReportOptions& options) {
  auto q = PeriodQuery(db,
                       std::string("SELECT c.id, c.number, c.owner, count(*)") + kPeriodSearches +
                           " GROUP BY c.id HAVING count(*) > ?3 ORDER BY 4 DESC, 2",
                       period);
  q.Bind(3, options.max_searches_per_case);
  std::vector<CaseCount> cases;
  while (q.Step()) cases.push_back({q.Int64(0), q.Text(1), q.Text(2), q.Int64(3)});
  return cases;
}

std::vector<PendingAccount> PendingAccounts(SqliteDb& db) {
  // accounts.cc leaves approved_at NULL until an account first becomes
  // active; 0 is accepted too (it reads as 0 in User).
  auto q = db.Query(
      "SELECT id, username, display_name, unit, role, created_at FROM users "
      "WHERE active = 0 AND (approved_at IS NULL OR approved_at = 0) ORDER BY created_at, id");
  std::vector<PendingAccount> pending;
  while (q.Step()) pending.push_back({q.Int64(0), q.Text(1), q.Text(2), q.Text(3), q.Text(4), q.Int64(5)});
  return pending;
}

double Median(std::vector<int64_t> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t mid = values.size() / 2;
  if (values.size() % 2 == 1) return static_cast<double>(values[mid]);
  return (static_cast<double>(values[mid - 1]) + static_cast<double>(values[mid])) / 2;
}

std::string Number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", value);
  return buffer;
}

std::string TwoDigits(int value) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "%02d", value);
  return buffer;
}

std::string WorkingHoursText(const ReportOptions& options) {
  return TwoDigits(options.working_hours_begin) + ":00-" + TwoDigits(options.working_hours_end) + ":00 UTC";
}

// "twice", "3 times", "1.5 times": the median multiple in a sentence.
std::string TimesText(double multiple) { return multiple == 2 ? "twice" : Number(multiple) + " times"; }

// The rule a user's count is held against, with the values of this report.
std::string UserRuleText(const OversightReport& r) {
  return "more than max(" + Number(r.options.median_multiple) + " x median, median + " +
         std::to_string(r.options.min_excess) + ") = " + std::to_string(r.user_threshold) + " searches (median " +
         Number(r.median_user_searches) + ")";
}

// Flags users above max(median_multiple x median, median + min_excess).
void FindBusyUsers(const ReportOptions& options, OversightReport& r) {
  std::vector<int64_t> counts;
  for (const UserCount& u : r.by_user) counts.push_back(u.searches);
  r.median_user_searches = Median(counts);
  const double threshold = std::max(options.median_multiple * r.median_user_searches,
                                    r.median_user_searches + static_cast<double>(options.min_excess));
  // Counts are integers: count > threshold exactly when count > floor(threshold).
  // Capped below the int64 range (huge options), which no count reaches.
  constexpr double kMaxThreshold = 9e18;
  r.user_threshold = static_cast<int64_t>(std::floor(std::min(threshold, kMaxThreshold)));
  for (const UserCount& u : r.by_user) {
    if (u.searches <= r.user_threshold) continue;
    r.busy_users.push_back(u);
    r.findings.push_back({"many_searches_by_user", u.username, u.searches,
                          u.username + " made " + std::to_string(u.searches) + " searches in the period, more than " +
                              std::to_string(r.user_threshold) + " (" + TimesText(options.median_multiple) +
                              " the median of " + Number(r.median_user_searches) +
                              " searches per searching user, and at least the median plus " +
                              std::to_string(options.min_excess) + ")"});
  }
}

void GroupOddHours(const std::vector<ReportSearch>& searches, const ReportOptions& options, OversightReport& r) {
  std::map<std::string, std::vector<ReportSearch>> by_user;
  for (const ReportSearch& s : searches) by_user[s.username].push_back(s);
  for (auto& [username, list] : by_user) r.odd_hours.push_back({username, std::move(list)});
  std::stable_sort(r.odd_hours.begin(), r.odd_hours.end(), [](const OddHoursGroup& a, const OddHoursGroup& b) {
    return a.searches.size() > b.searches.size();
  });
  for (const OddHoursGroup& g : r.odd_hours) {
    const auto n = static_cast<int64_t>(g.searches.size());
    r.findings.push_back({"odd_hours", g.username, n,
                          g.username + " made " + std::to_string(n) + (n == 1 ? " search" : " searches") +
                              " outside working hours (" + WorkingHoursText(options) + ")"});
  }
}

void AddCaseFindings(const ReportOptions& options, OversightReport& r) {
  for (const CaseCount& c : r.busy_cases) {
    r.findings.push_back({"many_searches_on_case", c.case_number, c.searches,
                          "case " + c.case_number + " (owner " + c.owner + ") was searched " +
                              std::to_string(c.searches) + " times in the period, more than the limit of " +
                              std::to_string(options.max_searches_per_case) + " searches per case"});
  }
}

void ReadSearchSections(SqliteDb& db, const Schema& schema, OversightReport& r) {
  const ReportPeriod& p = r.period;
  const ReportOptions& o = r.options;
  r.by_user = UsersOf(db, schema, p);
  for (const UserCount& u : r.by_user) r.total_searches += u.searches;
  r.by_unit = CountRows(db, "SELECT " + UnitExpression(schema) + " AS unit, count(*)" + kPeriodSearches +
                                " GROUP BY 1 ORDER BY 2 DESC, 1", p);  // 1, not unit: cases has a unit column
  r.by_category = CountRows(
      db, std::string("SELECT c.category, count(*)") + kPeriodSearches + " GROUP BY c.category ORDER BY 2 DESC, 1", p);
  r.by_outcome = OutcomesOf(db, p);
  r.per_day = PerDay(db, p);
  r.undecided = UndecidedSearches(db, p);
  FindBusyUsers(o, r);
  GroupOddHours(OddHourSearches(db, p, o), o, r);
  r.busy_cases = BusyCases(db, p, o);
  AddCaseFindings(o, r);
}

void Validate(const ReportPeriod& period, const ReportOptions& options) {
  if (period.until <= period.since) {
    throw Error("oversight report: the period is empty (since " + IsoTime(period.since) + ", until " +
                IsoTime(period.until) + ")");
  }
  if (options.working_hours_begin < 0 || options.working_hours_begin >= options.working_hours_end ||
      options.working_hours_end > 24) {
    throw Error("oversight report: working hours must satisfy 0 <= working_hours_begin < working_hours_end <= 24 "
                "(got " + std::to_string(options.working_hours_begin) + " to " +
                std::to_string(options.working_hours_end) + ")");
  }
  // Written so that NaN fails too.
  if (!(options.median_multiple >= 1 && std::isfinite(options.median_multiple))) {
    throw Error("oversight report: median_multiple must be a number of at least 1 (got " +
                Number(options.median_multiple) + ")");
  }
  if (options.min_excess < 0) {
    throw Error("oversight report: min_excess must not be negative (got " + std::to_string(options.min_excess) + ")");
  }
  if (options.max_searches_per_case < 0) {
    throw Error("oversight report: max_searches_per_case must not be negative (got " +
                std::to_string(options.max_searches_per_case) + ")");
  }
}

// ---------------------------------------------------------------- HTML

std::string Esc(const std::string& text) { return EscapeXml(text); }

using Row = std::vector<std::string>;

// A table of plain-text cells (escaped here), with a header row unless
// `headers` is empty; `empty` is shown when there are no rows.
std::string HtmlTable(const Row& headers, const std::vector<Row>& rows, const std::string& empty) {
  if (rows.empty()) return "<p class=\"none\">" + Esc(empty) + "</p>\n";
  std::string html = "<table>\n";
  if (!headers.empty()) {
    html += "<tr>";
    for (const std::string& h : headers) html += "<th>" + Esc(h) + "</th>";
    html += "</tr>\n";
  }
  for (const Row& row : rows) {
    html += "<tr>";
    for (const std::string& cell : row) html += "<td>" + Esc(cell) + "</td>";
    html += "</tr>\n";
  }
  return html + "</table>\n";
}

std::string Section(const std::string& title, const std::string& body) {
  return "<section>\n<h2>" + Esc(title) + "</h2>\n" + body + "</section>\n";
}

std::vector<Row> CountTableRows(const std::vector<CountRow>& rows) {
  std::vector<Row> out;
  for (const CountRow& r : rows) out.push_back({r.key.empty() ? "(none)" : r.key, std::to_string(r.searches)});
  return out;
}

std::vector<Row> SearchRows(const std::vector<ReportSearch>& searches) {
  std::vector<Row> out;
  for (const ReportSearch& s : searches) {
    out.push_back({std::to_string(s.search_id), s.case_number, s.username, IsoTime(s.created_at)});
  }
  return out;
}

// The line chart's SVG without its XML declaration, for embedding in HTML.
std::string InlineSvg(const std::string& document) {
  const size_t start = document.find("<svg");
  return start == std::string::npos ? document : document.substr(start);
}

std::string PerDayChart(const OversightReport& r) {
  if (r.per_day.empty()) return "";
  LineChart chart;
  chart.title = "Searches per day (UTC)";
  chart.x_label = "days since " + IsoDay(r.per_day.front().day);
  chart.y_label = "searches";
  chart.y_min = 0;
  chart.width = 720;
  chart.height = 320;
  LineSeries series;
  series.name = "searches";
  for (const DayCount& d : r.per_day) {
    series.points.push_back({static_cast<double>((d.day - r.per_day.front().day) / kSecondsPerDay),
                             static_cast<double>(d.searches)});
  }
  chart.series.push_back(std::move(series));
  return "<div class=\"chart\">" + InlineSvg(RenderLineChartSvg(chart)) + "</div>\n";
}

// Horizontal bars, one per user (the busiest kMaxBars), scaled to the busiest.
std::string UserBarChart(const std::vector<UserCount>& users) {
  if (users.empty()) return "";
  const size_t n = std::min(users.size(), kMaxBars);
  const int label_width = 170, bar_width = 460, row = 22, top = 10;
  const int height = top * 2 + row * static_cast<int>(n);
  const double max = static_cast<double>(std::max<int64_t>(1, users.front().searches));
  const int width = label_width + bar_width + 60;
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
                    std::to_string(height) + "\" role=\"img\" aria-label=\"Searches per user\">\n";
  for (size_t i = 0; i < n; ++i) {
    const int y = top + row * static_cast<int>(i);
    const int w = std::max(1, static_cast<int>(std::lround(bar_width * static_cast<double>(users[i].searches) / max)));
    svg += "<text x=\"" + std::to_string(label_width - 6) + "\" y=\"" + std::to_string(y + 15) +
           "\" text-anchor=\"end\" font-size=\"12\">" + Esc(users[i].username) + "</text>";
    svg += "<rect x=\"" + std::to_string(label_width) + "\" y=\"" + std::to_string(y + 3) + "\" width=\"" +
           std::to_string(w) + "\" height=\"" + std::to_string(row - 6) + "\" fill=\"#1f77b4\"/>";
    svg += "<text x=\"" + std::to_string(label_width + w + 4) + "\" y=\"" + std::to_string(y + 15) +
           "\" font-size=\"12\">" + std::to_string(users[i].searches) + "</text>\n";
  }
  return "<div class=\"chart\">" + svg + "</svg></div>\n";
}

std::string SummaryHtml(const OversightReport& r) {
  std::vector<Row> rows = {
      {"period", IsoTime(r.period.since) + " to " + IsoTime(r.period.until) + " (end excluded)"},
      {"generated", IsoTime(r.generated_at)},
      {"searches", std::to_string(r.total_searches)},
      {"searching users", std::to_string(r.by_user.size())},
      {"searches without a decision", std::to_string(r.undecided.size())},
      {"unusual patterns", std::to_string(r.findings.size())},
      {"accounts awaiting approval", std::to_string(r.pending_accounts.size())},
  };
  return Section("Summary", HtmlTable({}, rows, ""));
}

// The thresholds in use, so that a reader can tell what "unusual" meant here.
std::string ThresholdsHtml(const OversightReport& r) {
  std::vector<Row> rows = {
      {"working hours", WorkingHoursText(r.options) + "; searches outside them are listed"},
      {"searches per user", "flagged when " + UserRuleText(r)},
      {"searches per case", "flagged when more than " + std::to_string(r.options.max_searches_per_case)},
  };
  return Section("Thresholds of the unusual patterns", HtmlTable({}, rows, ""));
}

std::string UsageHtml(const OversightReport& r) {
  std::vector<Row> users;
  for (const UserCount& u : r.by_user) users.push_back({u.username, u.unit, std::to_string(u.searches)});
  const std::string user_table = HtmlTable({"user", "unit", "searches"}, users, "No searches in the period.");
  return Section("Searches per day", PerDayChart(r)) +
         Section("Searches per user", UserBarChart(r.by_user) + user_table) +
         Section("Searches per unit", HtmlTable({"unit", "searches"}, CountTableRows(r.by_unit), "None.")) +
         Section("Searches per purpose category",
                 HtmlTable({"category", "searches"}, CountTableRows(r.by_category), "None.")) +
         Section("Searches per outcome", HtmlTable({"outcome", "searches"}, CountTableRows(r.by_outcome), "None."));
}

std::string FindingsHtml(const OversightReport& r) {
  std::vector<Row> findings;
  for (const Finding& f : r.findings) findings.push_back({f.kind, f.subject, std::to_string(f.count), f.reason});
  std::string odd;
  for (const OddHoursGroup& g : r.odd_hours) {
    odd += "<h3>" + Esc(g.username) + " (" + std::to_string(g.searches.size()) + ")</h3>\n" +
           HtmlTable({"search", "case", "user", "time (UTC)"}, SearchRows(g.searches), "");
  }
  if (odd.empty()) odd = "<p class=\"none\">None.</p>\n";
  return Section("Unusual patterns",
                 HtmlTable({"pattern", "subject", "count", "reason"}, findings, "No unusual patterns.")) +
         Section("Searches outside working hours (" + WorkingHoursText(r.options) + ")", odd);
}

std::string FollowUpHtml(const OversightReport& r) {
  std::vector<Row> pending;
  for (const PendingAccount& a : r.pending_accounts) {
    pending.push_back({a.username, a.display_name, a.unit, a.role, IsoTime(a.created_at)});
  }
  return Section("Searches without a recorded decision (follow-up)",
                 HtmlTable({"search", "case", "user", "time (UTC)"}, SearchRows(r.undecided),
                           "Every search has a decision.")) +
         Section("Accounts awaiting approval",
                 HtmlTable({"user", "name", "unit", "role", "requested (UTC)"}, pending, "None."));
}

constexpr char kStyle[] =
    "body{font-family:sans-serif;margin:2em;color:#222;max-width:1000px}"
    "h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}"
    "h3{font-size:1em}table{border-collapse:collapse;margin:.5em 0}"
    "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}"
    "th{background:#f0f0f0}.none{color:#666}.chart{margin:.5em 0}";

// ---------------------------------------------------------------- CSV

void CsvSection(std::string& out, const std::string& name, const Row& headers, const std::vector<Row>& rows) {
  Row header = {"section"};
  header.insert(header.end(), headers.begin(), headers.end());
  out += CsvRow(header);
  for (const Row& row : rows) {
    Row cells = {name};
    cells.insert(cells.end(), row.begin(), row.end());
    out += CsvRow(cells);
  }
}

std::vector<Row> CsvSummary(const OversightReport& r) {
  return {{"since", IsoTime(r.period.since)},
          {"until_excluded", IsoTime(r.period.until)},
          {"generated_at", IsoTime(r.generated_at)},
          {"total_searches", std::to_string(r.total_searches)},
          {"median_user_searches", Number(r.median_user_searches)},
          {"user_threshold", std::to_string(r.user_threshold)},
          {"working_hours", WorkingHoursText(r.options)},
          {"working_hours_begin", std::to_string(r.options.working_hours_begin)},
          {"working_hours_end", std::to_string(r.options.working_hours_end)},
          {"median_multiple", Number(r.options.median_multiple)},
          {"min_excess", std::to_string(r.options.min_excess)},
          {"max_searches_per_case", std::to_string(r.options.max_searches_per_case)}};
}

}  // namespace

ReportPeriod PeriodOfDays(std::optional<int64_t> since_day, std::optional<int64_t> until_day, int64_t now) {
  ReportPeriod period;
  period.until = until_day ? *until_day + kSecondsPerDay : now + 1;
  period.since = since_day ? *since_day : period.until - kDefaultPeriodDays * kSecondsPerDay;
  if (period.since >= period.until) {
    throw InvalidArgument("since", "the period is empty: " + IsoDay(period.since) + " is not before the end (" + IsoTime(period.until) +
                ")");
  }
  return period;
}

OversightReport BuildOversightReport(GovernanceDb& db, const ReportPeriod& period, const ReportOptions& options) {
  Validate(period, options);
  OversightReport report;
  report.period = period;
  report.options = options;
  report.generated_at = db.Now();
  db.Read([&](SqliteDb& sql) {
    Schema schema;
    schema.cases = HasTable(sql, "cases") && HasTable(sql, "searches") && HasTable(sql, "decisions");
    schema.users = HasTable(sql, "users");
    if (schema.cases) ReadSearchSections(sql, schema, report);
    if (schema.users) report.pending_accounts = PendingAccounts(sql);
  });
  return report;
}

std::string RenderReportHtml(const OversightReport& r) {
  const std::string title = "Lineup oversight report, " + IsoDay(r.period.since) + " to " +
                            IsoDay(r.period.until - 1);
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + Esc(title) +
         "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n<h1>" + Esc(title) + "</h1>\n" + SummaryHtml(r) +
         ThresholdsHtml(r) + UsageHtml(r) + FindingsHtml(r) + FollowUpHtml(r) + "</body>\n</html>\n";
}

std::string RenderReportCsv(const OversightReport& r) {
  std::string out;
  CsvSection(out, "summary", {"field", "value"}, CsvSummary(r));
  std::vector<Row> rows;
  for (const UserCount& u : r.by_user) rows.push_back({u.username, u.unit, std::to_string(u.searches)});
  CsvSection(out, "by_user", {"username", "unit", "searches"}, rows);
  CsvSection(out, "by_unit", {"unit", "searches"}, CountTableRows(r.by_unit));
  CsvSection(out, "by_category", {"category", "searches"}, CountTableRows(r.by_category));
  CsvSection(out, "by_outcome", {"outcome", "searches"}, CountTableRows(r.by_outcome));
  rows.clear();
  for (const DayCount& d : r.per_day) rows.push_back({IsoDay(d.day), std::to_string(d.searches)});
  CsvSection(out, "per_day", {"day", "searches"}, rows);
  CsvSection(out, "undecided", {"search_id", "case_number", "username", "created_at"}, SearchRows(r.undecided));
  rows.clear();
  for (const OddHoursGroup& g : r.odd_hours) {
    for (const Row& s : SearchRows(g.searches)) rows.push_back(s);
  }
  CsvSection(out, "odd_hours", {"search_id", "case_number", "username", "created_at"}, rows);
  rows.clear();
  for (const Finding& f : r.findings) rows.push_back({f.kind, f.subject, std::to_string(f.count), f.reason});
  CsvSection(out, "findings", {"kind", "subject", "count", "reason"}, rows);
  rows.clear();
  for (const PendingAccount& a : r.pending_accounts) {
    rows.push_back({a.username, a.display_name, a.unit, a.role, IsoTime(a.created_at)});
  }
  CsvSection(out, "pending_accounts", {"username", "display_name", "unit", "role", "created_at"}, rows);
  return out;
}

}  // namespace lineup
