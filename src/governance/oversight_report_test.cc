#include "governance/oversight_report.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include "common/error.h"
#include "governance/accounts.h"
#include "governance/cases.h"
#include "test_env.h"

namespace lineup {
namespace {

constexpr int64_t kDay = 86400;
constexpr int64_t kHour = 3600;
constexpr int64_t kSince = 1'793'491'200;  // 2026-11-01T00:00:00Z
constexpr int64_t kUntil = kSince + 10 * kDay;
constexpr char kPassword[] = "correct horse battery";
constexpr char kHostileCase[] = "<script>alert(1)</script>";
constexpr char kFormulaCase[] = "=HYPERLINK(\"http://x\")";

// A governance database with real accounts, cases, searches and decisions:
//   alice (CID North)  3 searches at 07:00, 10:00, 18:59:59 on "2026/CID/A1" (serious_crime);
//                      outcomes possible_match, inconclusive, not_a_match
//   bob   (CID South)  3 searches at 02:00, 12:00, 19:00 on kHostileCase (missing_person);
//                      the 12:00 one decided inconclusive, the others undecided
//   carol (CID North)  30 searches at 12:00 on "2026/CID/BUSY" (victim_identification), undecided
//   dave  (South, "B") 1 search at 12:00 on kFormulaCase (other), undecided; two more just
//                      outside the period (since - 1 and until exactly)
//   erin               self-registered, awaiting approval; frank approved then deactivated
class OversightReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = lineup::testing::TempDir("oversight_report");
    db_ = std::make_unique<GovernanceDb>(dir_ / "governance.db", [this] { return now_; });
    AccountPolicy policy;
    policy.fast_hashing = true;
    audit_ = std::make_unique<AuditLog>(*db_);
    accounts_ = std::make_unique<Accounts>(*db_, *audit_, policy);
    cases_ = std::make_unique<Cases>(*db_, dir_);
    Populate();
  }

  User AddUser(const std::string& name, const std::string& unit, bool active) {
    return accounts_->CreateUser({name, kPassword, name + " display", unit, Role::kInvestigator, active}, {});
  }

  // A case with one probe; returns {case id, probe id}.
  std::pair<int64_t, int64_t> AddCase(const std::string& number, const std::string& category, const User& owner) {
    const Case c = cases_->Create({number, "a purpose for the test", category}, owner.id, owner.username, owner.unit);
    const Probe p = cases_->AddProbe(c.id, owner.id, {1, 2, 3, static_cast<uint8_t>(c.id)}, ".jpg", 4, 4, {});
    return {c.id, p.id};
  }

  // Records a search at `when` with candidates faces 100 and 101.
  int64_t Search(const std::pair<int64_t, int64_t>& c, const User& user, int64_t when) {
    SearchRecord s;
    s.case_id = c.first;
    s.probe_id = c.second;
    s.user_id = user.id;
    s.username = user.username;
    s.client = "test";
    s.created_at = when;
    s.top_k = 2;
    s.index_used = "flat";
    s.faces_searched = 10;
    s.candidates = {{1, 100, 0.9f, "high"}, {2, 101, 0.5f, "low"}};
    return db_->Write([&](SqliteDb& sql) { return cases_->RecordSearchIn(sql, s); });
  }

  void Decide(int64_t search_id, int64_t face_id, const User& user, const std::string& decision) {
    db_->Write([&](SqliteDb& sql) {
      cases_->RecordDecisionIn(sql, {search_id, face_id, user.id, user.username, decision, "", now_});
    });
  }

  void Populate() {
    const User alice = AddUser("alice", "CID North", true);
    const User bob = AddUser("bob", "CID South", true);
    const User carol = AddUser("carol", "CID North", true);
    const User dave = AddUser("dave", "South, \"B\" team", true);
    AddUser("erin", "CID North", false);
    const User frank = AddUser("frank", "CID North", false);
    accounts_->SetActive(frank.id, true, {});
    accounts_->SetActive(frank.id, false, {});

    const auto a1 = AddCase("2026/CID/A1", "serious_crime", alice);
    const int64_t s1 = Search(a1, alice, kSince + 7 * kHour);
    const int64_t s2 = Search(a1, alice, kSince + kDay + 10 * kHour);
    const int64_t s3 = Search(a1, alice, kSince + 2 * kDay + 19 * kHour - 1);
    Decide(s1, 100, alice, "possible_match");
    Decide(s1, 101, alice, "not_a_match");
    Decide(s2, 100, alice, "not_a_match");
    Decide(s2, 101, alice, "inconclusive");
    Decide(s3, 100, alice, "not_a_match");

    const auto hostile = AddCase(kHostileCase, "missing_person", bob);
    bob_night_ = Search(hostile, bob, kSince + 3 * kDay + 2 * kHour);
    Decide(Search(hostile, bob, kSince + 3 * kDay + 12 * kHour), 100, bob, "inconclusive");
    bob_evening_ = Search(hostile, bob, kSince + 4 * kDay + 19 * kHour);

    const auto busy = AddCase("2026/CID/BUSY", "victim_identification", carol);
    for (int i = 0; i < 30; ++i) Search(busy, carol, kSince + (i % 10) * kDay + 12 * kHour);

    const auto formula = AddCase(kFormulaCase, "other", dave);
    Search(formula, dave, kSince - 1);
    dave_inside_ = Search(formula, dave, kSince + 9 * kDay + 12 * kHour);
    Search(formula, dave, kUntil);
  }

  OversightReport Report(const ReportOptions& options = {}) {
    return BuildOversightReport(*db_, {kSince, kUntil}, options);
  }

  int64_t now_ = kSince + 20 * kDay;
  std::filesystem::path dir_;
  std::unique_ptr<GovernanceDb> db_;
  std::unique_ptr<AuditLog> audit_;
  std::unique_ptr<Accounts> accounts_;
  std::unique_ptr<Cases> cases_;
  int64_t bob_night_ = 0, bob_evening_ = 0, dave_inside_ = 0;
};

std::map<std::string, int64_t> AsMap(const std::vector<CountRow>& rows) {
  std::map<std::string, int64_t> out;
  for (const CountRow& r : rows) out[r.key] = r.searches;
  return out;
}

const Finding* FindingFor(const OversightReport& r, const std::string& kind, const std::string& subject) {
  for (const Finding& f : r.findings) {
    if (f.kind == kind && f.subject == subject) return &f;
  }
  return nullptr;
}

TEST_F(OversightReportTest, CountsPerUserUnitCategoryAndOutcome) {
  const OversightReport r = Report();
  EXPECT_EQ(r.total_searches, 37);
  EXPECT_EQ(r.generated_at, now_);
  ASSERT_EQ(r.by_user.size(), 4u);
  EXPECT_EQ(r.by_user[0].username, "carol");
  EXPECT_EQ(r.by_user[0].unit, "CID North");
  EXPECT_EQ(r.by_user[0].searches, 30);
  EXPECT_EQ(r.by_user[1].username, "alice");  // 3, tied with bob: by name
  EXPECT_EQ(r.by_user[1].searches, 3);
  EXPECT_EQ(r.by_user[2].username, "bob");
  EXPECT_EQ(r.by_user[2].searches, 3);
  EXPECT_EQ(r.by_user[3].username, "dave");
  EXPECT_EQ(r.by_user[3].searches, 1);
  EXPECT_EQ(AsMap(r.by_unit),
            (std::map<std::string, int64_t>{{"CID North", 33}, {"CID South", 3}, {"South, \"B\" team", 1}}));
  EXPECT_EQ(AsMap(r.by_category), (std::map<std::string, int64_t>{{"serious_crime", 3},
                                                                   {"missing_person", 3},
                                                                   {"victim_identification", 30},
                                                                   {"other", 1}}));
  EXPECT_EQ(AsMap(r.by_outcome), (std::map<std::string, int64_t>{{"possible_match", 1},
                                                                  {"inconclusive", 2},
                                                                  {"not_a_match", 1},
                                                                  {"no_decision", 33}}));
  EXPECT_EQ(r.by_outcome.front().key, "no_decision");
}

TEST_F(OversightReportTest, SearchesPerDayCoverEveryDayOfThePeriod) {
  const OversightReport r = Report();
  ASSERT_EQ(r.per_day.size(), 10u);
  int64_t sum = 0;
  for (const DayCount& d : r.per_day) sum += d.searches;
  EXPECT_EQ(sum, 37);
  EXPECT_EQ(r.per_day[0].day, kSince);
  EXPECT_EQ(r.per_day[0].searches, 4);  // alice 07:00 + carol x3
  EXPECT_EQ(r.per_day[3].searches, 5);  // bob x2 + carol x3
  EXPECT_EQ(r.per_day[9].day, kSince + 9 * kDay);
  EXPECT_EQ(r.per_day[9].searches, 4);  // dave + carol x3
}

TEST_F(OversightReportTest, FollowUpListsExactlyTheUndecidedSearches) {
  const OversightReport r = Report();
  ASSERT_EQ(r.undecided.size(), 33u);
  EXPECT_TRUE(std::is_sorted(r.undecided.begin(), r.undecided.end(), [](const ReportSearch& a, const ReportSearch& b) {
    return a.created_at < b.created_at;
  }));
  std::map<std::string, int> per_user;
  for (const ReportSearch& s : r.undecided) ++per_user[s.username];
  EXPECT_EQ(per_user, (std::map<std::string, int>{{"bob", 2}, {"carol", 30}, {"dave", 1}}));
  const auto night = std::find_if(r.undecided.begin(), r.undecided.end(),
                                  [&](const ReportSearch& s) { return s.search_id == bob_night_; });
  ASSERT_NE(night, r.undecided.end());
  EXPECT_EQ(night->case_number, kHostileCase);
  EXPECT_EQ(night->created_at, kSince + 3 * kDay + 2 * kHour);
  EXPECT_EQ(r.undecided.back().search_id, dave_inside_);
}

TEST_F(OversightReportTest, FlagsTheUnusuallyBusyUserOnly) {
  const OversightReport r = Report();
  EXPECT_DOUBLE_EQ(r.median_user_searches, 3);  // of 1, 3, 3, 30
  EXPECT_EQ(r.user_threshold, 13);              // max(2 x 3, 3 + 10)
  ASSERT_EQ(r.busy_users.size(), 1u);
  EXPECT_EQ(r.busy_users[0].username, "carol");
  const Finding* f = FindingFor(r, "many_searches_by_user", "carol");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->count, 30);
  EXPECT_NE(f->reason.find("30 searches"), std::string::npos) << f->reason;
  EXPECT_NE(f->reason.find("median of 3"), std::string::npos) << f->reason;
  EXPECT_EQ(FindingFor(r, "many_searches_by_user", "alice"), nullptr);

  ReportOptions strict;
  strict.min_excess = 0;  // threshold 2 x median = 6: still only carol
  EXPECT_EQ(Report(strict).user_threshold, 6);
  EXPECT_EQ(Report(strict).busy_users.size(), 1u);
  ReportOptions lenient;
  lenient.min_excess = 27;  // threshold 30: carol's 30 is not above it
  EXPECT_TRUE(Report(lenient).busy_users.empty());
}

TEST_F(OversightReportTest, ListsSearchesOutsideWorkingHoursPerUser) {
  const OversightReport r = Report();
  // alice's 07:00 and 18:59:59 are inside [07, 19); bob's 02:00 and 19:00 are not.
  ASSERT_EQ(r.odd_hours.size(), 1u);
  EXPECT_EQ(r.odd_hours[0].username, "bob");
  ASSERT_EQ(r.odd_hours[0].searches.size(), 2u);
  EXPECT_EQ(r.odd_hours[0].searches[0].search_id, bob_night_);
  EXPECT_EQ(r.odd_hours[0].searches[1].search_id, bob_evening_);
  const Finding* f = FindingFor(r, "odd_hours", "bob");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->count, 2);
  EXPECT_NE(f->reason.find("07:00-19:00 UTC"), std::string::npos) << f->reason;
  EXPECT_EQ(FindingFor(r, "odd_hours", "alice"), nullptr);

  ReportOptions day_shift;
  day_shift.working_hours_begin = 8;  // alice's 07:00 now counts, and carol's 12:00 still does not
  day_shift.working_hours_end = 18;   // and so does her 18:59:59
  const OversightReport shifted = Report(day_shift);
  ASSERT_EQ(shifted.odd_hours.size(), 2u);
  EXPECT_EQ(shifted.odd_hours[0].username, "alice");  // 2, tied with bob: by name
  EXPECT_EQ(shifted.odd_hours[0].searches.size(), 2u);
}

TEST_F(OversightReportTest, FlagsACaseSearchedTooOften) {
  const OversightReport r = Report();
  ASSERT_EQ(r.busy_cases.size(), 1u);
  EXPECT_EQ(r.busy_cases[0].case_number, "2026/CID/BUSY");
  EXPECT_EQ(r.busy_cases[0].owner, "carol");
  EXPECT_EQ(r.busy_cases[0].searches, 30);
  const Finding* f = FindingFor(r, "many_searches_on_case", "2026/CID/BUSY");
  ASSERT_NE(f, nullptr);
  EXPECT_NE(f->reason.find("limit of 20"), std::string::npos) << f->reason;
  EXPECT_EQ(FindingFor(r, "many_searches_on_case", "2026/CID/A1"), nullptr);
  ReportOptions high;
  high.max_searches_per_case = 30;  // "more than": 30 is not
  EXPECT_TRUE(Report(high).busy_cases.empty());
  EXPECT_EQ(r.findings.size(), 3u);  // carol busy, bob odd hours, busy case
}

TEST_F(OversightReportTest, PendingAccountsAreTheNeverApprovedInactiveOnes) {
  const OversightReport r = Report();
  ASSERT_EQ(r.pending_accounts.size(), 1u);
  EXPECT_EQ(r.pending_accounts[0].username, "erin");
  EXPECT_EQ(r.pending_accounts[0].unit, "CID North");
  EXPECT_EQ(r.pending_accounts[0].role, "investigator");
  EXPECT_EQ(r.pending_accounts[0].created_at, now_);
}

TEST_F(OversightReportTest, PeriodBoundsIncludeSinceAndExcludeUntil) {
  // dave's searches at since - 1 and at until are outside; one day holds alice's first and carol's three.
  const OversightReport day0 = BuildOversightReport(*db_, {kSince, kSince + kDay});
  EXPECT_EQ(day0.total_searches, 4);
  ASSERT_EQ(day0.per_day.size(), 1u);
  const OversightReport edges = BuildOversightReport(*db_, {kSince - 1, kSince});
  EXPECT_EQ(edges.total_searches, 1);
  EXPECT_EQ(edges.by_user.at(0).username, "dave");
  EXPECT_EQ(BuildOversightReport(*db_, {kUntil, kUntil + 1}).total_searches, 1);
  EXPECT_EQ(BuildOversightReport(*db_, {kUntil + 1, kUntil + kDay}).total_searches, 0);
  EXPECT_EQ(Report().by_user.back().searches, 1);  // dave: only the inside one
}

TEST_F(OversightReportTest, RefusesAnEmptyPeriodAndBadWorkingHours) {
  EXPECT_THROW(BuildOversightReport(*db_, {kSince, kSince}), Error);
  ReportOptions bad;
  bad.working_hours_begin = 19;
  bad.working_hours_end = 7;
  EXPECT_THROW(Report(bad), Error);
  bad.working_hours_begin = 0;
  bad.working_hours_end = 25;
  EXPECT_THROW(Report(bad), Error);
}

TEST_F(OversightReportTest, RefusesEachInvalidOptionNamingIt) {
  const auto message = [&](const ReportOptions& options) -> std::string {
    try {
      Report(options);
    } catch (const Error& e) {
      return e.what();
    }
    return "(accepted)";
  };
  ReportOptions o;
  o.median_multiple = 0.5;
  EXPECT_NE(message(o).find("median_multiple"), std::string::npos) << message(o);
  o.median_multiple = std::nan("");
  EXPECT_NE(message(o).find("median_multiple"), std::string::npos) << message(o);
  o.median_multiple = HUGE_VAL;
  EXPECT_NE(message(o).find("median_multiple"), std::string::npos) << message(o);
  o = {};
  o.min_excess = -1;
  EXPECT_NE(message(o).find("min_excess"), std::string::npos) << message(o);
  o = {};
  o.max_searches_per_case = -1;
  EXPECT_NE(message(o).find("max_searches_per_case"), std::string::npos) << message(o);
  o = {};
  o.working_hours_begin = 12;
  o.working_hours_end = 12;
  EXPECT_NE(message(o).find("working_hours_begin"), std::string::npos) << message(o);
  o = {};
  o.median_multiple = 1;  // the smallest allowed: the median itself
  o.working_hours_begin = 0;
  o.working_hours_end = 24;  // no odd hours at all
  EXPECT_EQ(message(o), "(accepted)");
  EXPECT_TRUE(Report(o).odd_hours.empty());
}

TEST_F(OversightReportTest, TheMedianMultipleSetsTheUserThreshold) {
  ReportOptions o;
  o.min_excess = 0;
  o.median_multiple = 5;  // 5 x 3 = 15: carol's 30 is above
  const OversightReport five = Report(o);
  EXPECT_EQ(five.user_threshold, 15);
  ASSERT_EQ(five.busy_users.size(), 1u);
  const Finding* f = FindingFor(five, "many_searches_by_user", "carol");
  ASSERT_NE(f, nullptr);
  EXPECT_NE(f->reason.find("5 times the median of 3"), std::string::npos) << f->reason;
  o.median_multiple = 1.5;  // 4.5: a count must be above 4, so still not alice's or bob's 3
  EXPECT_EQ(Report(o).user_threshold, 4);
  EXPECT_EQ(Report(o).busy_users.size(), 1u);
  o.median_multiple = 10;  // 30: "more than", so carol is not flagged
  EXPECT_TRUE(Report(o).busy_users.empty());
  o.median_multiple = 1e300;  // far beyond any count: capped, nobody flagged
  const OversightReport huge = Report(o);
  EXPECT_GT(huge.user_threshold, int64_t{1} << 60);
  EXPECT_TRUE(huge.busy_users.empty());
  EXPECT_NE(FindingFor(Report(), "many_searches_by_user", "carol")->reason.find("twice the median"),
            std::string::npos);
}

TEST_F(OversightReportTest, HtmlAndCsvStateTheThresholdsInUse) {
  ReportOptions o;
  o.working_hours_begin = 6;
  o.working_hours_end = 22;
  o.median_multiple = 3;
  o.min_excess = 4;
  o.max_searches_per_case = 25;
  const OversightReport r = Report(o);
  EXPECT_EQ(r.options.max_searches_per_case, 25);
  const std::string html = RenderReportHtml(r);
  EXPECT_NE(html.find("Thresholds of the unusual patterns"), std::string::npos);
  EXPECT_NE(html.find("06:00-22:00 UTC"), std::string::npos);
  // max(3 x 3, 3 + 4) = 9
  EXPECT_NE(html.find("more than max(3 x median, median + 4) = 9 searches (median 3)"), std::string::npos) << html;
  EXPECT_NE(html.find("flagged when more than 25"), std::string::npos);
  const std::string csv = RenderReportCsv(r);
  for (const char* row : {"summary,working_hours,06:00-22:00 UTC\r\n", "summary,working_hours_begin,6\r\n",
                          "summary,working_hours_end,22\r\n", "summary,median_multiple,3\r\n",
                          "summary,min_excess,4\r\n", "summary,max_searches_per_case,25\r\n",
                          "summary,user_threshold,9\r\n"}) {
    EXPECT_NE(csv.find(row), std::string::npos) << row << csv.substr(0, 600);
  }
  // The defaults are stated too.
  EXPECT_NE(RenderReportHtml(Report()).find("more than max(2 x median, median + 10) = 13"), std::string::npos);
}

TEST_F(OversightReportTest, HtmlIsSelfContainedAndEscapesEverything) {
  const std::string html = RenderReportHtml(Report());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<?xml"), std::string::npos);  // the SVG is inlined without its declaration
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("<polyline"), std::string::npos);  // the per-day line chart
  EXPECT_NE(html.find("<rect"), std::string::npos);      // the per-user bars
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find(" src="), std::string::npos);
  EXPECT_EQ(html.find("href="), std::string::npos);
  EXPECT_NE(html.find("South, &quot;B&quot; team"), std::string::npos);
  EXPECT_NE(html.find("erin"), std::string::npos);
}

TEST(OversightReportRender, EscapesAHostileUsernameInHtml) {
  OversightReport r;
  r.period = {kSince, kUntil};
  r.by_user = {{1, "<script>x</script>", "<b>unit</b>", 5}};
  r.undecided = {{7, "a&b", "<script>x</script>", kSince}};
  const std::string html = RenderReportHtml(r);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<b>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;x&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("a&amp;b"), std::string::npos);
}

TEST_F(OversightReportTest, CsvQuotesAndGuardsFormulas) {
  const std::string csv = RenderReportCsv(Report());
  EXPECT_NE(csv.find("section,username,unit,searches\r\n"), std::string::npos);
  EXPECT_NE(csv.find("by_user,carol,CID North,30\r\n"), std::string::npos);
  EXPECT_NE(csv.find("by_unit,\"South, \"\"B\"\" team\",1\r\n"), std::string::npos);
  // The formula-like case number: guarded with ' and quoted for its quotes.
  EXPECT_NE(csv.find(",\"'=HYPERLINK(\"\"http://x\"\")\",dave,"), std::string::npos) << csv;
  EXPECT_EQ(csv.find(",=HYPERLINK"), std::string::npos);
  EXPECT_NE(csv.find("by_outcome,no_decision,33\r\n"), std::string::npos);
  EXPECT_NE(csv.find("per_day,2026-11-01,4\r\n"), std::string::npos);
  EXPECT_NE(csv.find("pending_accounts,erin,"), std::string::npos);
  EXPECT_NE(csv.find("odd_hours," + std::to_string(bob_night_) + ",<script>alert(1)</script>,bob,"),
            std::string::npos);
}

TEST(OversightReportRender, CsvGuardsEveryFormulaPrefix) {
  OversightReport r;
  r.period = {kSince, kUntil};
  r.by_unit = {{"+1", 1}, {"-2", 2}, {"@SUM(A1)", 3}, {"line\nbreak", 4}};
  const std::string csv = RenderReportCsv(r);
  EXPECT_NE(csv.find("by_unit,'+1,1\r\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("by_unit,'-2,2\r\n"), std::string::npos);
  EXPECT_NE(csv.find("by_unit,'@SUM(A1),3\r\n"), std::string::npos);
  EXPECT_NE(csv.find("by_unit,\"line\nbreak\",4\r\n"), std::string::npos);
}

TEST(OversightReportEmpty, ADatabaseWithoutCasesGivesAnEmptyReportAndCreatesNothing) {
  const auto dir = lineup::testing::TempDir("oversight_empty");
  GovernanceDb db(dir / "governance.db", [] { return kSince; });
  const OversightReport r = BuildOversightReport(db, {kSince, kUntil});
  EXPECT_EQ(r.total_searches, 0);
  EXPECT_TRUE(r.by_user.empty());
  EXPECT_TRUE(r.per_day.empty());
  EXPECT_TRUE(r.pending_accounts.empty());
  const bool created = db.Read([](SqliteDb& sql) {
    return sql.QueryInt64("SELECT count(*) FROM sqlite_master WHERE name IN ('cases', 'users')") != 0;
  });
  EXPECT_FALSE(created);
  EXPECT_NE(RenderReportHtml(r).find("No searches in the period."), std::string::npos);
}

TEST(OversightReportDays, ParsesAndFormatsUtcDays) {
  EXPECT_EQ(ParseIsoDay("2026-11-01"), kSince);
  EXPECT_EQ(ParseIsoDay("1970-01-01"), 0);
  EXPECT_EQ(ParseIsoDay("2024-02-29"), 1'709'164'800);
  EXPECT_FALSE(ParseIsoDay("2023-02-29"));
  EXPECT_FALSE(ParseIsoDay("2026-13-01"));
  EXPECT_FALSE(ParseIsoDay("2026-1-01"));
  EXPECT_FALSE(ParseIsoDay("2026-11-0x"));
  EXPECT_FALSE(ParseIsoDay("2026/11/01"));
  EXPECT_EQ(IsoDay(kSince), "2026-11-01");
  EXPECT_EQ(IsoDay(kSince + kDay - 1), "2026-11-01");
  EXPECT_EQ(IsoDay(-1), "1969-12-31");
}

}  // namespace
}  // namespace lineup
