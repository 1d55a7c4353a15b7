// The `lineup` binary as users run it: help, the JSON contract, verdicts,
// evaluation outputs, and clear errors (non-zero exit, no crash) on bad input.
#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/file_util.h"
#include "governance/accounts.h"
#include "governance/audit_log.h"
#include "cli_run.h"
#include "test_env.h"

namespace lineup {
namespace {

using testing::CliRun;
std::string Quote(const std::string& s) { return testing::ShellQuote(s); }
CliRun Lineup(const std::string& args, const std::string& prefix = "") { return testing::RunLineup(args, prefix); }

std::string Photo(int n) { return Quote(testing::DemoPhoto(n).string()); }

std::string WriteBytes(const std::string& name, const std::string& bytes) {
  std::filesystem::path p = testing::TempDir("cli-input") / name;
  std::ofstream(p, std::ios::binary) << bytes;
  return p.string();
}

TEST(Cli, HelpListsEverySubcommand) {
  CliRun r = Lineup("--help");
  EXPECT_EQ(r.status, 0);
  for (const char* sub : {"demo", "detect", "embed", "compare", "eval", "models"}) {
    EXPECT_NE(r.out.find(sub), std::string::npos) << sub;
  }
  EXPECT_NE(Lineup("nonsense").status, 0);
}

// One name per flag (issue 13 #7): the detection score is --min-face-score in
// every face command; --min-score is a similarity and only `search` has it.
TEST(Cli, DetectionScoreHasOneFlagNameInEveryFaceCommand) {
  for (const char* cmd : {"detect", "embed", "compare", "search", "ingest", "optout add", "demo", "serve"}) {
    CliRun help = Lineup(std::string(cmd) + " --help");
    ASSERT_EQ(help.status, 0) << cmd << help.output();
    EXPECT_NE(help.out.find("--min-face-score"), std::string::npos) << cmd;
    const bool similarity_flag = help.out.find("--min-score ") != std::string::npos;
    EXPECT_EQ(similarity_flag, std::string(cmd) == "search") << cmd << ": " << help.out;
  }
  CliRun r = Lineup("detect --json --min-face-score 0.9 " + Photo(1));
  EXPECT_EQ(r.status, 0) << r.output();
}

// lineup demo run again keeps the gallery its first run made, with what was
// added to it since (it used to delete it: collections, accounts, cases,
// opt-outs and the audit trail, silently).
TEST(Cli, DemoRunAgainKeepsItsGalleryAndWhatWasAddedToIt) {
  const std::filesystem::path photos = testing::TempDir("demo-photos");
  for (int n : {1, 2}) std::filesystem::copy_file(testing::DemoPhoto(n), photos / ("sample" + std::to_string(n) + ".jpg"));
  const std::filesystem::path out = testing::TempDir("demo-out");
  const std::string demo = "demo --no-serve --photos '" + photos.string() + "' --out '" + out.string() + "'";
  CliRun first = Lineup(demo);
  ASSERT_EQ(first.status, 0) << first.output();
  EXPECT_NE(first.out.find("faces ingested"), std::string::npos) << first.out;
  const std::string data = " --data '" + (out / "gallery").string() + "'";
  // The user adds a collection of their own.
  const std::filesystem::path mine = testing::TempDir("demo-mine");
  std::filesystem::copy_file(testing::DemoPhoto(3), mine / "mine.jpg");
  CliRun added = Lineup("ingest '" + mine.string() + "' --collection mine --legal-basis 'own photo' --no-progress" + data);
  ASSERT_EQ(added.status, 0) << added.output();

  CliRun again = Lineup(demo);
  ASSERT_EQ(again.status, 0) << again.output();
  EXPECT_NE(again.out.find("kept from an earlier run"), std::string::npos) << again.out;
  CliRun stats = Lineup("gallery stats --json" + data);
  ASSERT_EQ(stats.status, 0) << stats.output();
  EXPECT_NE(stats.out.find("\"mine\""), std::string::npos) << "the user's collection is gone: " << stats.out;
  EXPECT_NE(stats.out.find("\"demo\""), std::string::npos) << stats.out;
}

TEST(Cli, DetectJsonFollowsTheContract) {
  CliRun r = Lineup("detect --json " + Photo(1) + " " + Photo(5));
  ASSERT_EQ(r.status, 0) << r.output();
  nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["images"].size(), 2u);
  EXPECT_EQ(j["model"]["profile"], "accurate");
  for (const auto& image : j["images"]) {
    ASSERT_FALSE(image["faces"].empty());
    for (const auto& face : image["faces"]) {
      ASSERT_EQ(face["box"].size(), 4u);
      EXPECT_GT(face["box"][2].get<double>(), 10);
      EXPECT_EQ(face["landmarks"].size(), 5u);
      EXPECT_TRUE(face["quality"].contains("yaw_deg"));
      EXPECT_FALSE(face.contains("embedding"));
      EXPECT_LE(face["score"].get<double>(), 1.0);
    }
  }
}

// A missing path, a folder and a text file named .jpg are three failed images
// among the others: every path is processed in order, each failure carries
// its error (never the file's bytes), and the exit status is 1.
TEST(Cli, DetectAndEmbedReportEachBadPathAndProcessTheRest) {
  const std::string missing = (testing::TempDir("cli-missing") / "missing.jpg").string();
  const std::string folder = testing::TempDir("cli-a-folder").string();
  const std::string text = WriteBytes("secret.jpg", "root:SECRET-HASH:0:0:root\n");
  for (const char* command : {"detect", "embed"}) {
    SCOPED_TRACE(command);
    CliRun r = Lineup(std::string(command) + " --json " + Photo(1) + " " + Quote(missing) + " " + Quote(folder) +
                      " " + Quote(text) + " " + Photo(5));
    EXPECT_EQ(r.status, 1) << r.output();
    nlohmann::json j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j["images"].size(), 5u);
    EXPECT_FALSE(j["images"][0]["faces"].empty());
    EXPECT_FALSE(j["images"][4]["faces"].empty());
    EXPECT_NE(j["images"][1]["error"].get<std::string>().find("no such file"), std::string::npos) << j.dump();
    EXPECT_NE(j["images"][2]["error"].get<std::string>().find("not a regular file"), std::string::npos);
    EXPECT_NE(j["images"][3]["error"].get<std::string>().find("not a supported image"), std::string::npos);
    for (int i : {1, 2, 3}) EXPECT_FALSE(j["images"][i].contains("faces"));
    EXPECT_EQ(r.output().find("SECRET"), std::string::npos) << r.output();
    EXPECT_NE(r.err.find("3 of 5 image(s)"), std::string::npos) << r.err;
  }
}

TEST(Cli, EmbedJsonHasUnitDescriptorsAndAnnotates) {
  std::string annotated = (testing::TempDir("annot") / "faces.png").string();
  CliRun r = Lineup("embed --json --profile licence-clean --annotate " + Quote(annotated) + " " + Photo(5));
  ASSERT_EQ(r.status, 0) << r.output();
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["model"]["embedder"], "dlib-resnet-128");
  auto embedding = j["images"][0]["faces"][0]["embedding"].get<std::vector<double>>();
  ASSERT_EQ(embedding.size(), 128u);
  double norm = 0;
  for (double v : embedding) norm += v * v;
  EXPECT_NEAR(norm, 1.0, 1e-3);
  cv::Mat picture = cv::imread(annotated);
  EXPECT_EQ(picture.cols, 1920);
}

TEST(Cli, CompareGivesTheSearchBandsAndExplainsSeveralFaces) {
  cv::Mat photo = cv::imread(testing::DemoPhoto(5).string());
  cv::Mat smaller;
  cv::resize(photo, smaller, cv::Size(), 0.5, 0.5, cv::INTER_AREA);
  std::string copy = (testing::TempDir("copy") / "copy.jpg").string();
  cv::imwrite(copy, smaller);
  CliRun r = Lineup("compare --json " + Photo(5) + " " + Quote(copy));
  ASSERT_EQ(r.status, 0) << r.output();
  nlohmann::json j = nlohmann::json::parse(r.out);
  // A copy is a strong match, by the same thresholds search labels with.
  EXPECT_EQ(j["band"], "strong");
  EXPECT_GE(j["similarity"].get<double>(), j["band_thresholds"]["strong"].get<double>());
  EXPECT_FALSE(j.contains("verdict"));
  EXPECT_TRUE(j["a"].contains("note"));  // several faces: it says which it used
  CliRun different = Lineup("compare --json --face-b 3 " + Photo(5) + " " + Quote(copy));
  ASSERT_EQ(different.status, 0) << different.output();
  const nlohmann::json other = nlohmann::json::parse(different.out);
  EXPECT_TRUE(other["band"] == "weak" || other["band"] == "unlikely") << other.dump();
  EXPECT_LT(other["similarity"].get<double>(), other["band_thresholds"]["possible"].get<double>());
  CliRun text = Lineup("compare " + Photo(5) + " " + Quote(copy));
  EXPECT_NE(text.out.find("investigative lead"), std::string::npos);
  EXPECT_NE(text.out.find("band: strong"), std::string::npos) << text.out;
  EXPECT_EQ(text.out.find("SAME"), std::string::npos) << text.out;
  CliRun out_of_range = Lineup("compare --face-a 40 " + Photo(5) + " " + Quote(copy));
  EXPECT_EQ(out_of_range.status, 1);
  EXPECT_NE(out_of_range.err.find("only"), std::string::npos) << out_of_range.err;
}

TEST(Cli, CompareWithoutAFaceExplains) {
  std::string blank = (testing::TempDir("blank") / "blank.png").string();
  cv::imwrite(blank, cv::Mat(200, 300, CV_8UC3, cv::Scalar(200, 180, 160)));
  CliRun r = Lineup("compare " + Photo(5) + " " + Quote(blank));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("no face found"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("blank.png"), std::string::npos) << r.err;
}

TEST(Cli, BadFilesGiveClearErrorsAndTheRestIsProcessed) {
  std::string photo = testing::DemoPhoto(5).string();
  std::vector<uint8_t> jpeg = ReadFileBytes(photo);
  std::string truncated = WriteBytes("truncated.jpg", std::string(jpeg.begin(), jpeg.begin() + jpeg.size() / 2));
  std::string empty = WriteBytes("empty.jpg", "");
  std::string text = WriteBytes("notes.jpg", "this is not an image\n");
  // A PNG header claiming 60000 x 60000 pixels (a decompression bomb).
  std::string bomb_bytes = std::string("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\xea\x60\0\0\xea\x60\x08\x02\0\0\0", 29) +
                           std::string(64, '\0');
  std::string bomb = WriteBytes("bomb.png", bomb_bytes);
  CliRun r = Lineup("detect --json " + Quote(truncated) + " " + Quote(empty) + " " + Quote(text) + " " +
                 Quote(bomb) + " " + Quote(photo));
  EXPECT_EQ(r.status, 1) << r.output();
  nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["images"].size(), 5u);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(j["images"][i].contains("error")) << j["images"][i].dump();
    EXPECT_NE(j["images"][i]["error"].get<std::string>().find(j["images"][i]["path"].get<std::string>()),
              std::string::npos);
  }
  EXPECT_NE(j["images"][0]["error"].get<std::string>().find("truncated"), std::string::npos);
  EXPECT_NE(j["images"][1]["error"].get<std::string>().find("empty"), std::string::npos);
  EXPECT_NE(j["images"][3]["error"].get<std::string>().find("over the limit"), std::string::npos);
  EXPECT_FALSE(j["images"][4]["faces"].empty());
  EXPECT_NE(r.err.find("4 of 5"), std::string::npos) << r.err;
  EXPECT_NE(Lineup("detect /no/such/file.jpg").status, 0);
}

TEST(Cli, ModelsListShowsLicencesAndProfileInUse) {
  CliRun r = Lineup("models list");
  ASSERT_EQ(r.status, 0) << r.output();
  EXPECT_NE(r.out.find("Public domain"), std::string::npos);
  EXPECT_NE(r.out.find("accurate [in use]"), std::string::npos);
  EXPECT_NE(r.out.find("non-commercial"), std::string::npos);
  EXPECT_EQ(Lineup("models verify").status, 0);
}

TEST(Cli, EvalVerifyAndDetectWriteReports) {
  // Pairs: a photo's faces against a degraded copy of the same photo.
  std::filesystem::path dir = testing::TempDir("eval");
  cv::Mat photo = cv::imread(testing::DemoPhoto(5).string());
  cv::Mat small;
  cv::resize(photo, small, cv::Size(), 0.5, 0.5, cv::INTER_AREA);
  for (int i = 0; i < 4; ++i) {
    cv::imwrite((dir / ("a" + std::to_string(i) + ".jpg")).string(), photo);
    cv::imwrite((dir / ("b" + std::to_string(i) + ".jpg")).string(), small);
  }
  std::ofstream(dir / "pairs.csv") << "img1,img2,same\na0.jpg,b0.jpg,1\na1.jpg,b1.jpg,yes\n"
                                      "a2.jpg,b2.jpg,1\na3.jpg,b3.jpg,1\n";
  CliRun r = Lineup("eval verify --json --pairs " + Quote((dir / "pairs.csv").string()) + " --root " +
                 Quote(dir.string()) + " --out " + Quote((dir / "report").string()));
  ASSERT_EQ(r.status, 0) << r.output();
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["pairs"], 4);
  EXPECT_TRUE(std::filesystem::exists(dir / "report/verify.svg"));
  EXPECT_NE(ReadFileText(dir / "report/verify.svg").find("<svg"), std::string::npos);

  // Detection: a WIDER-format label file made from detect's own boxes must
  // give AP 1 (checks the plumbing; real AP figures are in docs/ACCURACY.md).
  CliRun d = Lineup("detect --json " + Photo(5));
  nlohmann::json faces = nlohmann::json::parse(d.out)["images"][0]["faces"];
  std::ofstream gt(dir / "gt.txt");
  gt << "sample5.jpg\n" << faces.size() << "\n";
  for (const auto& f : faces) {
    gt << f["box"][0].get<double>() << " " << f["box"][1].get<double>() << " " << f["box"][2].get<double>()
       << " " << f["box"][3].get<double>() << " 0 0 0 0 0 0\n";
  }
  gt.close();
  std::filesystem::copy_file(testing::DemoPhoto(5), dir / "sample5.jpg");
  CliRun e = Lineup("eval detect --json --wider " + Quote((dir / "gt.txt").string()) + " --images " +
                 Quote(dir.string()) + " --out " + Quote((dir / "report").string()));
  ASSERT_EQ(e.status, 0) << e.output();
  nlohmann::json ej = nlohmann::json::parse(e.out);
  EXPECT_NEAR(ej["all_faces"]["average_precision"].get<double>(), 1.0, 1e-9);
  EXPECT_TRUE(std::filesystem::exists(dir / "report/detect.svg"));
}

TEST(Cli, MissingModelsSayHowToFix) {
  std::filesystem::path empty = testing::TempDir("nomodels");
  CliRun r = Lineup("detect --models " + Quote(empty.string()) + " " + Photo(1));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("lineup models import"), std::string::npos) << r.err;
}

// A data directory whose governance.db holds one audit record (a login), as
// a server run would leave it.
class GovernanceCli : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = testing::TempDir("cli-governance");
    GovernanceDb db(data_ / "governance.db");
    AuditLog(db).Append({7, "ada", "auditor", "login", "127.0.0.1", "", "{}"});
  }
  std::string Data() const { return " --data " + Quote(data_.string()); }
  std::vector<AuditRecord> Records(const std::string& action) {
    GovernanceDb db(data_ / "governance.db");
    AuditFilter filter;
    filter.action = action;
    return AuditLog(db).Query(filter);
  }
  size_t RecordCount() { return Records("").size(); }
  // Makes every further append fail, as a trail that cannot be written would.
  void RefuseAppends() {
    GovernanceDb db(data_ / "governance.db");
    db.Write([](SqliteDb& sql) {
      sql.Exec("CREATE TRIGGER test_refuse BEFORE INSERT ON audit_records "
               "BEGIN SELECT RAISE(ABORT, 'the test refuses audit records'); END");
    });
  }
  std::filesystem::path data_;
};

std::string ExpectedActor() {
  const passwd* p = getpwuid(geteuid());
  return p != nullptr ? std::string("local:") + p->pw_name : "local:uid " + std::to_string(geteuid());
}

void ExpectOperatorRecord(const AuditRecord& r) {
  EXPECT_EQ(r.event.actor, ExpectedActor());
  EXPECT_EQ(r.event.actor_id, 0);
  EXPECT_EQ(r.event.role, "operator");
  EXPECT_EQ(r.event.client, "cli");
  EXPECT_EQ(r.event.case_number, "");
}

TEST_F(GovernanceCli, ReportAndAuditExportLeaveAuditRecordsAndTheChainStaysIntact) {
  const std::string html = (testing::TempDir("cli-governance-out") / "report.html").string();
  CliRun report = Lineup("report --json --html " + Quote(html) + " --working-hours-begin 6 --working-hours-end 22 " +
                         "--median-multiple 1.5 --min-excess 3 --max-searches-per-case 7" + Data());
  ASSERT_EQ(report.status, 0) << report.output();
  const nlohmann::json options = nlohmann::json::parse(report.out)["options"];
  EXPECT_EQ(options, nlohmann::json({{"working_hours_begin", 6}, {"working_hours_end", 22}, {"median_multiple", 1.5},
                                     {"min_excess", 3}, {"max_searches_per_case", 7}}));
  EXPECT_NE(ReadFileText(html).find("06:00-22:00 UTC"), std::string::npos);

  std::vector<AuditRecord> reports = Records("report");
  ASSERT_EQ(reports.size(), 1u);
  ExpectOperatorRecord(reports[0]);
  const nlohmann::json details = nlohmann::json::parse(reports[0].event.details_json);
  EXPECT_EQ(details["format"], "html,json");
  EXPECT_EQ(details["options"], options);
  EXPECT_EQ(details["out"], nlohmann::json({html, "standard output"}));
  EXPECT_TRUE(details.contains("since") && details.contains("until")) << details.dump();

  CliRun summary = Lineup("report" + Data());  // the text summary is a report too
  ASSERT_EQ(summary.status, 0) << summary.output();
  EXPECT_NE(summary.out.find("outside 07:00-19:00 UTC"), std::string::npos) << summary.out;
  EXPECT_EQ(nlohmann::json::parse(Records("report").at(1).event.details_json)["format"], "text");

  const std::string exported = (testing::TempDir("cli-governance-out") / "audit.jsonl").string();
  CliRun e = Lineup("audit export --format jsonl --out " + Quote(exported) + Data());
  ASSERT_EQ(e.status, 0) << e.output();
  const std::string lines = ReadFileText(exported);
  EXPECT_EQ(std::count(lines.begin(), lines.end(), '\n'), 3) << "login and two reports; not its own record";
  std::vector<AuditRecord> exports = Records("export");
  ASSERT_EQ(exports.size(), 1u);
  ExpectOperatorRecord(exports[0]);
  const nlohmann::json export_details = nlohmann::json::parse(exports[0].event.details_json);
  EXPECT_EQ(export_details["format"], "jsonl");
  EXPECT_EQ(export_details["records"], 3);
  EXPECT_EQ(export_details["out"], exported);
  EXPECT_EQ(export_details["filter"]["action"], "");

  CliRun to_stdout = Lineup("audit export --format csv --action report" + Data());
  ASSERT_EQ(to_stdout.status, 0) << to_stdout.output();
  EXPECT_NE(to_stdout.out.find(ExpectedActor()), std::string::npos) << to_stdout.out;
  const nlohmann::json second = nlohmann::json::parse(Records("export").at(1).event.details_json);
  EXPECT_EQ(second["records"], 2);
  EXPECT_EQ(second["out"], "standard output");
  EXPECT_EQ(second["filter"]["action"], "report");

  CliRun verify = Lineup("audit verify --json" + Data());
  ASSERT_EQ(verify.status, 0) << verify.output();
  EXPECT_EQ(nlohmann::json::parse(verify.out)["ok"], true);
  EXPECT_EQ(nlohmann::json::parse(verify.out)["records"], 5);
}

TEST_F(GovernanceCli, NothingIsWrittenWhenTheAuditRecordCannotBe) {
  RefuseAppends();
  const std::filesystem::path out = testing::TempDir("cli-governance-refused");
  CliRun report = Lineup("report --json --html " + Quote((out / "report.html").string()) + Data());
  EXPECT_EQ(report.status, 1) << report.output();
  EXPECT_NE(report.err.find("could not be audited"), std::string::npos) << report.err;
  EXPECT_NE(report.err.find("the test refuses audit records"), std::string::npos) << report.err;
  EXPECT_EQ(report.out, "") << "no JSON report either";
  EXPECT_FALSE(std::filesystem::exists(out / "report.html"));

  CliRun e = Lineup("audit export --format csv --out " + Quote((out / "audit.csv").string()) + Data());
  EXPECT_EQ(e.status, 1) << e.output();
  EXPECT_NE(e.err.find("nothing written"), std::string::npos) << e.err;
  EXPECT_FALSE(std::filesystem::exists(out / "audit.csv"));
  CliRun to_stdout = Lineup("audit export --format jsonl" + Data());
  EXPECT_EQ(to_stdout.status, 1);
  EXPECT_EQ(to_stdout.out, "");
  EXPECT_EQ(RecordCount(), 1u);
}

TEST_F(GovernanceCli, BadReportThresholdsAreClearErrorsAndProduceNothing) {
  const struct {
    std::string args, flag;
  } cases[] = {
      {"--min-excess -1", "--min-excess"},
      {"--min-excess lots", "--min-excess"},
      {"--max-searches-per-case -5", "--max-searches-per-case"},
      {"--median-multiple 0.5", "--median-multiple"},
      {"--median-multiple nan", "--median-multiple"},
      {"--working-hours-begin 24", "--working-hours-begin"},
      {"--working-hours-end 25", "--working-hours-end"},
      {"--working-hours-begin 20 --working-hours-end 8", "--working-hours-end 8"},
  };
  for (const auto& c : cases) {
    CliRun r = Lineup("report " + c.args + Data());
    EXPECT_NE(r.status, 0) << c.args;
    EXPECT_NE(r.err.find(c.flag), std::string::npos) << c.args << ": " << r.err;
    EXPECT_EQ(r.out, "") << c.args;
  }
  EXPECT_EQ(RecordCount(), 1u) << "a refused report is not audited";
}

}  // namespace
}  // namespace lineup

namespace lineup {
namespace {

// `lineup users unlock NAME` clears a name's lock-out at the server's
// machine (when the admin itself is locked out), audited as the operator.
TEST_F(GovernanceCli, UsersUnlockClearsALockOutAndIsAudited) {
  {
    GovernanceDb db(data_ / "governance.db");
    AuditLog audit(db);
    AccountPolicy policy;
    policy.fast_hashing = true;
    Accounts accounts(db, audit, policy);
    accounts.CreateUser({.username = "admin", .password = "correct horse battery", .role = Role::kAdmin,
                         .active = true}, {});
    for (int i = 0; i < policy.max_failures; ++i) accounts.Login("admin", "wrong password!", "", "10.0.0.9");
    ASSERT_EQ(accounts.Login("admin", "correct horse battery", "", "10.0.0.9").status, LoginStatus::kLocked);
  }
  EXPECT_NE(Lineup("users unlock nobody" + Data()).status, 0);
  CliRun r = Lineup("users unlock admin" + Data());
  ASSERT_EQ(r.status, 0) << r.output();
  GovernanceDb db(data_ / "governance.db");
  AuditLog audit(db);
  AccountPolicy policy;
  policy.fast_hashing = true;
  Accounts accounts(db, audit, policy);
  EXPECT_EQ(accounts.Login("admin", "correct horse battery", "", "10.0.0.9").status, LoginStatus::kOk);
  std::vector<AuditRecord> changes = Records("account_change");
  ASSERT_FALSE(changes.empty());
  ExpectOperatorRecord(changes.back());
  EXPECT_NE(changes.back().event.details_json.find("login lock cleared"), std::string::npos);
}

// `lineup users reset-password NAME`: the way back when the admin's password
// is lost (issue 13 #5). The printed password works once, must be changed,
// the old one is dead; audited as the operator, without the password.
TEST_F(GovernanceCli, UsersResetPasswordPrintsAOneTimePasswordThatMustBeChanged) {
  {
    GovernanceDb db(data_ / "governance.db");
    AuditLog audit(db);
    Accounts accounts(db, audit);
    accounts.CreateUser({.username = "admin", .password = "correct horse battery", .role = Role::kAdmin,
                         .active = true}, {});
  }
  EXPECT_NE(Lineup("users reset-password nobody" + Data()).status, 0);
  CliRun r = Lineup("users reset-password admin" + Data());
  ASSERT_EQ(r.status, 0) << r.output();
  const std::string prefix = "one-time password for admin: ";
  const size_t at = r.out.find(prefix);
  ASSERT_NE(at, std::string::npos) << r.out;
  const std::string password = r.out.substr(at + prefix.size(), r.out.find('\n', at) - at - prefix.size());
  ASSERT_GE(password.size(), 12u) << r.out;
  GovernanceDb db(data_ / "governance.db");
  AuditLog audit(db);
  Accounts accounts(db, audit);
  EXPECT_EQ(accounts.Login("admin", "correct horse battery", "", "10.0.0.9").status, LoginStatus::kBadCredentials);
  LoginResult in = accounts.Login("admin", password, "", "10.0.0.9");
  ASSERT_EQ(in.status, LoginStatus::kOk);
  ASSERT_TRUE(in.user.has_value());
  EXPECT_TRUE(in.user->must_change_password);
  std::vector<AuditRecord> changes = Records("account_change");
  ASSERT_FALSE(changes.empty());
  ExpectOperatorRecord(changes.back());
  EXPECT_NE(changes.back().event.details_json.find("password reset"), std::string::npos);
  EXPECT_EQ(changes.back().event.details_json.find(password), std::string::npos);
}

}  // namespace
}  // namespace lineup
