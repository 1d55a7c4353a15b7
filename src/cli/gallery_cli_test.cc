// `lineup ingest / search / gallery` as users run them: provenance in the
// JSON contract, the face choice in a group photo, and clear errors (never a
// crash, nothing lost) on bad probes, bad arguments, a full disk and
// damaged gallery files.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "common/file_util.h"
#include "gallery/gallery.h"
#include "cli_run.h"
#include "test_env.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;

using testing::CliRun;
std::string Quote(const std::string& s) { return testing::ShellQuote(s); }
// Manifests here name the demo photos where set-up put them.
std::string AllowDemoPhotos() { return " --allow-outside " + Quote(testing::DemoPhotoDir().string()); }
CliRun Lineup(const std::string& args, const std::string& prefix = "") { return testing::RunLineup(args, prefix); }

nlohmann::json Json(const CliRun& r) {
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  return nlohmann::json::parse(r.out);
}

// A gallery of the six demo photos, ingested once per test process through a
// manifest whose titles and URLs hold hostile strings.
class GalleryCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fs::path dir = testing::TempDir("gallery-cli-input");
    std::ofstream m(dir / "list.jsonl");
    for (int n = 1; n <= 6; ++n) {
      nlohmann::json row = {{"path", testing::DemoPhoto(n).string()},
                            {"source_url", "https://example.org/a?b=1&c='" + std::to_string(n) + "'"},
                            {"title", "<script>alert(\"x\")</script>\n\t; DROP TABLE faces; -- " + std::to_string(n)},
                            {"date", "2024-01-0" + std::to_string(n)}};
      m << row.dump() << "\n";
    }
    m << "{\"path\": \"missing.jpg\"}\n";
    m << "{\"path\": \"https://example.org/remote.jpg\"}\n";
    m.close();
    data_ = new fs::path(testing::TempDir("gallery-cli-data"));
    ingest_ = new CliRun(Lineup("ingest " + Quote((dir / "list.jsonl").string()) + " --collection demo " +
                                "--legal-basis 'test photos' --no-progress --json --data " + Quote(data_->string()) +
                                AllowDemoPhotos()));
  }
  static std::string Data() { return " --data " + Quote(data_->string()); }
  static fs::path* data_;
  static CliRun* ingest_;
};
fs::path* GalleryCli::data_ = nullptr;
CliRun* GalleryCli::ingest_ = nullptr;

// Ingest reads nothing of the gallery's own data directory, and a manifest
// only its own folder unless --allow-outside names more.
TEST_F(GalleryCli, IngestRefusesTheDataDirectoryAndPathsOutsideTheManifest) {
  CliRun own = Lineup("ingest " + Quote(data_->string()) + " --collection x --legal-basis t --no-progress" + Data());
  EXPECT_EQ(own.status, 1);
  EXPECT_NE(own.err.find("gallery's data directory"), std::string::npos) << own.err;
  fs::path dir = testing::TempDir("gallery-cli-escape");
  std::ofstream(dir / "list.jsonl") << nlohmann::json({{"path", testing::DemoPhoto(3).string()}}).dump() << "\n";
  CliRun r = Lineup("ingest " + Quote((dir / "list.jsonl").string()) +
                    " --collection escape --legal-basis t --no-progress --json --data " +
                    Quote(testing::TempDir("gallery-cli-escape-data").string()));
  EXPECT_EQ(r.status, 1) << r.output();
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["counters"]["images_added"], 0);
  EXPECT_NE(j["errors"].dump().find("--allow-outside"), std::string::npos) << j.dump();
}

// Entries under `dir` (itself included) that group or other users can use.
std::vector<std::string> OpenToOthers(const fs::path& dir) {
  std::vector<std::string> out;
  auto check = [&](const fs::path& p) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) == 0 && !S_ISLNK(st.st_mode) && (st.st_mode & 077)) out.push_back(p.string());
  };
  check(dir);
  for (const auto& e : fs::recursive_directory_iterator(dir)) check(e.path());
  return out;
}

// A loopback port held open by the test, so that a server cannot bind it.
struct TakenPort {
  TakenPort() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), len), 0);
    EXPECT_EQ(::listen(fd, 1), 0);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~TakenPort() { ::close(fd); }
  int fd;
  int port;
};

// Everything lineup creates is private whatever the umask; the server
// refuses a data directory others can read until --fix-permissions.
TEST(DataDirectory, IsPrivateAndTheServerRefusesOneOthersCanRead) {
  fs::path photos = testing::TempDir("private-photos");
  fs::copy_file(testing::DemoPhoto(2), photos / "a.jpg");
  const fs::path data = testing::TempDir("private-data") / "gallery";
  const std::string flags = " --data " + Quote(data.string());
  CliRun ingest = Lineup("ingest " + Quote(photos.string()) + " --collection c --legal-basis t --no-progress" +
                         flags, "umask 022;");
  ASSERT_EQ(ingest.status, 0) << ingest.output();
  ASSERT_TRUE(fs::exists(data / "catalog.db"));
  EXPECT_EQ(OpenToOthers(data), std::vector<std::string>{}) << "created under umask 022";

  fs::permissions(data, fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                            fs::perms::others_exec, fs::perm_options::add);
  fs::permissions(data / "catalog.db", fs::perms::others_read, fs::perm_options::add);
  TakenPort taken;
  const std::string listen = " --listen 127.0.0.1:" + std::to_string(taken.port);
  CliRun refused = Lineup("serve" + listen + flags);
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.err.find("can be read by other local users"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("catalog.db (mode 0604)"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("--fix-permissions"), std::string::npos) << refused.err;

  // Fixed, then the server goes on (and stops at the port the test holds).
  CliRun fixed = Lineup("serve --fix-permissions" + listen + flags);
  EXPECT_NE(fixed.out.find("--fix-permissions: 2 file(s) and folder(s)"), std::string::npos) << fixed.output();
  EXPECT_NE(fixed.err.find("cannot listen"), std::string::npos) << fixed.err;
  EXPECT_EQ(OpenToOthers(data), std::vector<std::string>{});
}

// The bad rows are listed and the others added; the exit status says not
// everything was ingested.
TEST_F(GalleryCli, IngestSummaryCountsAddsAndBadRows) {
  EXPECT_EQ(ingest_->status, 1) << ingest_->err;
  EXPECT_NE(ingest_->err.find("2 of 8 input(s) could not be ingested"), std::string::npos) << ingest_->err;
  nlohmann::json j = nlohmann::json::parse(ingest_->out);
  EXPECT_EQ(j["counters"]["images_added"], 6);
  EXPECT_EQ(j["counters"]["errors"], 2);
  std::string errors = j["errors"].dump();
  EXPECT_NE(errors.find("does not download"), std::string::npos) << errors;
  nlohmann::json stats = Json(Lineup("gallery stats --json" + Data()));
  EXPECT_EQ(stats["images"], 6);
  EXPECT_EQ(stats["faces"], stats["searchable_faces"]);
  EXPECT_EQ(stats["collections"][0]["legal_basis"], "test photos");
}

TEST_F(GalleryCli, SearchReturnsProvenanceByteForByteAndLabelsLeads) {
  nlohmann::json j = Json(Lineup("search --json " + Quote(testing::DemoPhoto(4).string()) + Data()));
  ASSERT_FALSE(j["candidates"].empty());
  const nlohmann::json& top = j["candidates"][0];
  EXPECT_GT(top["score"].get<double>(), 0.99);
  EXPECT_EQ(top["band"], "strong");
  EXPECT_EQ(top["label"], "investigative lead - not an identification");
  EXPECT_EQ(top["source"]["source_url"], "https://example.org/a?b=1&c='4'");
  EXPECT_EQ(top["source"]["title"], "<script>alert(\"x\")</script>\n\t; DROP TABLE faces; -- 4");
  EXPECT_EQ(top["source"]["captured_at"], "2024-01-04");
  EXPECT_TRUE(fs::exists(top["crop"].get<std::string>()));
  EXPECT_TRUE(fs::exists(top["image"]["file"].get<std::string>()));
  EXPECT_EQ(j["index"], "Flat");
  for (size_t i = 1; i < j["candidates"].size(); ++i) {
    EXPECT_LE(j["candidates"][i]["score"].get<double>(), j["candidates"][i - 1]["score"].get<double>());
  }
}

// `gallery errors` without a job shows the newest job's (it exited 106).
TEST_F(GalleryCli, ErrorsDefaultToTheNewestJob) {
  CliRun newest = Lineup("gallery errors" + Data());
  ASSERT_EQ(newest.status, 0) << newest.output();
  EXPECT_NE(newest.out.find("the newest"), std::string::npos) << newest.out;
  EXPECT_NE(newest.out.find("missing.jpg"), std::string::npos) << newest.out;
  CliRun unknown = Lineup("gallery errors 999" + Data());
  EXPECT_EQ(unknown.status, 1) << unknown.output();
  EXPECT_NE(unknown.err.find("no such ingest job"), std::string::npos) << unknown.output();
}

// One limit on the candidate list everywhere (the CLI took 10000, the API 100).
TEST_F(GalleryCli, TheCandidateListHasTheApisLimit) {
  const std::string photo = Quote(testing::DemoPhoto(1).string());
  CliRun over = Lineup("search --json --top " + std::to_string(kMaxCandidates + 1) + " " + photo + Data());
  EXPECT_NE(over.status, 0);
  EXPECT_NE(over.err.find("--top"), std::string::npos) << over.output();
  CliRun at = Lineup("search --json --top " + std::to_string(kMaxCandidates) + " " + photo + Data());
  EXPECT_EQ(at.status, 0) << at.output();
}

TEST_F(GalleryCli, ChoosingAnotherFaceOrABoxSearchesThatFace) {
  std::string photo = Quote(testing::DemoPhoto(1).string());
  nlohmann::json first = Json(Lineup("search --json --top 1 " + photo + Data()));
  ASSERT_GE(first["probe"]["faces"].size(), 2u);
  // Faces are numbered from 1 for people, as the web app numbers them (issue 13 #7).
  nlohmann::json second = Json(Lineup("search --json --top 1 --face 2 " + photo + Data()));
  EXPECT_EQ(second["probe"]["chosen"], 2);
  EXPECT_NE(first["candidates"][0]["face"]["id"], second["candidates"][0]["face"]["id"]);
  nlohmann::json box = second["probe"]["faces"][1]["box"];
  std::string b = std::to_string(box[0].get<double>()) + "," + std::to_string(box[1].get<double>()) + "," +
                  std::to_string(box[2].get<double>()) + "," + std::to_string(box[3].get<double>());
  nlohmann::json by_box = Json(Lineup("search --json --top 1 --box " + b + " " + photo + Data()));
  EXPECT_EQ(by_box["candidates"][0]["face"]["id"], second["candidates"][0]["face"]["id"]);
  CliRun too_far = Lineup("search --face 99 " + photo + Data());
  EXPECT_EQ(too_far.status, 1);
  EXPECT_NE(too_far.err.find("face(s) found"), std::string::npos) << too_far.err;
  EXPECT_NE(too_far.err.find("\n  #1 box"), std::string::npos) << "the list starts at 1: " << too_far.err;
  EXPECT_EQ(too_far.err.find("#0 "), std::string::npos) << too_far.err;
  EXPECT_NE(Lineup("search --face 0 " + photo + Data()).status, 0) << "there is no face 0";
  CliRun several = Lineup("search --top 1 " + photo + Data());
  const std::string chosen = "(#" + first["probe"]["chosen"].dump() + ")";
  EXPECT_GE(first["probe"]["chosen"].get<int>(), 1);
  EXPECT_NE(several.out.find("searched the largest confident one " + chosen), std::string::npos) << several.output();
}

TEST_F(GalleryCli, ProbesWithoutAFaceAndBadArgumentsGetClearErrors) {
  fs::path blank = testing::TempDir("gallery-cli-blank") / "blank.png";
  cv::imwrite(blank.string(), cv::Mat(400, 400, CV_8UC3, cv::Scalar(128, 128, 128)));
  CliRun no_face = Lineup("search " + Quote(blank.string()) + Data());
  EXPECT_EQ(no_face.status, 1);
  EXPECT_NE(no_face.err.find("no face found"), std::string::npos) << no_face.err;
  fs::path text = testing::TempDir("gallery-cli-text") / "notes.jpg";
  std::ofstream(text) << "not a photo";
  EXPECT_EQ(Lineup("search " + Quote(text.string()) + Data()).status, 1);
  CliRun no_gallery = Lineup("search " + Quote(testing::DemoPhoto(1).string()) + " --data /nonexistent/gallery");
  EXPECT_EQ(no_gallery.status, 1);
  EXPECT_NE(no_gallery.err.find("no gallery here yet"), std::string::npos) << no_gallery.err;
  CliRun bad_collection = Lineup("search --collection nope " + Quote(testing::DemoPhoto(1).string()) + Data());
  EXPECT_EQ(bad_collection.status, 1);
  EXPECT_NE(bad_collection.err.find("no such collection"), std::string::npos);
  EXPECT_NE(Lineup("search --box 1,2,3 " + Quote(testing::DemoPhoto(1).string()) + Data()).status, 0);
  CliRun rm_nothing = Lineup("erase --url-prefix https://nowhere.example/ --reason T-0" + Data());
  EXPECT_EQ(rm_nothing.status, 1);
  EXPECT_NE(rm_nothing.err.find("nothing in the gallery matches"), std::string::npos) << rm_nothing.err;
}

TEST_F(GalleryCli, CheckPassesOnAHealthyGallery) {
  nlohmann::json check = Json(Lineup("gallery check --json" + Data()));
  EXPECT_TRUE(check["ok"].get<bool>()) << check;
  EXPECT_EQ(check["orphan_vectors"], 0);
  EXPECT_EQ(check["orphan_media"], 0);
}

TEST(GalleryCliFaults, AFullDiskStopsTheJobAndLosesNothing) {
  fs::path data = testing::TempDir("gallery-cli-full");
  fs::path photos = testing::TempDir("gallery-cli-full-photos");
  for (int n = 1; n <= 6; ++n) fs::copy_file(testing::DemoPhoto(n), photos / ("p" + std::to_string(n) + ".jpg"));
  std::string ingest = "ingest " + Quote(photos.string()) + " --collection c --legal-basis t --no-progress --data " +
                       Quote(data.string());
  // Files may not grow past 200 KiB (SIGXFSZ ignored, so writes fail with EFBIG like a full disk).
  CliRun full = Lineup(ingest, "trap '' XFSZ; ulimit -f 400;");
  EXPECT_EQ(full.status, 1) << full.out << full.err;
  EXPECT_FALSE(full.err.empty());
  nlohmann::json check = Json(Lineup("gallery check --json --data " + Quote(data.string())));
  EXPECT_TRUE(check["ok"].get<bool>()) << check;
  // With space again, the same command completes the job.
  nlohmann::json done = Json(Lineup(ingest + " --json"));
  EXPECT_EQ(done["counters"]["errors"], 0);
  nlohmann::json stats = Json(Lineup("gallery stats --json --data " + Quote(data.string())));
  EXPECT_EQ(stats["images"], 6);
  EXPECT_EQ(stats["faces"], stats["searchable_faces"]);
}

TEST(GalleryCliFaults, DamagedFilesAreReportedNotTrusted) {
  fs::path data = testing::TempDir("gallery-cli-damage");
  fs::path photos = testing::TempDir("gallery-cli-damage-photos");
  fs::copy_file(testing::DemoPhoto(2), photos / "p2.jpg");
  Json(Lineup("ingest " + Quote(photos.string()) + " --collection c --legal-basis t --no-progress --json --data " +
              Quote(data.string())));
  // Flip bytes inside the last vector record: its checksum no longer matches.
  {
    std::fstream f(data / "vectors.lvs", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-20, std::ios::end);
    f.write("\x13\x37\x13\x37", 4);
  }
  CliRun check = Lineup("gallery check --data " + Quote(data.string()));
  EXPECT_EQ(check.status, 1) << check.out;
  EXPECT_NE(check.out.find("DAMAGED"), std::string::npos) << check.out;
  // A catalog that is not a catalog is refused with its name.
  fs::path other = testing::TempDir("gallery-cli-foreign");
  std::ofstream(other / "catalog.db") << "this is not a database at all, just text";
  CliRun foreign = Lineup("gallery stats --data " + Quote(other.string()));
  EXPECT_EQ(foreign.status, 1);
  EXPECT_NE(foreign.err.find("catalog.db"), std::string::npos) << foreign.err;
}

// Erasure, opt-out and retention from the command line, on a gallery of
// its own (these tests delete from it). Photos 1-3 come from news.example
// (one from a subdomain), 4-6 from archive.example.
class ErasureCli : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = testing::TempDir("erasure-cli-data");
    fs::path dir = testing::TempDir("erasure-cli-input");
    std::ofstream m(dir / "list.jsonl");
    for (int n = 1; n <= 6; ++n) {
      std::string host = n <= 3 ? (n == 3 ? "img.news.example" : "news.example") : "archive.example";
      m << nlohmann::json({{"path", testing::DemoPhoto(n).string()},
                           {"source_url", "https://" + host + "/photo-" + std::to_string(n) + ".jpg"}})
               .dump()
        << "\n";
    }
    m.close();
    Json(Lineup("ingest " + Quote((dir / "list.jsonl").string()) +
                " --collection news --legal-basis 'test photos' --no-progress --json" + AllowDemoPhotos() + Data()));
  }
  std::string Data() const { return " --data " + Quote(data_.string()); }
  nlohmann::json Audit(const std::string& action) {
    CliRun r = Lineup("audit export --format jsonl --action " + action + Data());
    EXPECT_EQ(r.status, 0) << r.err;
    nlohmann::json records = nlohmann::json::array();
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty()) records.push_back(nlohmann::json::parse(line));
    }
    return records;
  }
  fs::path data_;
};

TEST_F(ErasureCli, EraseByDomainWithADryRunFirstAndAnAuditRecord) {
  nlohmann::json dry = Json(Lineup("erase --domain news.example --dry-run --json" + Data()));
  EXPECT_EQ(dry["images"], 3);
  EXPECT_EQ(Json(Lineup("gallery stats --json" + Data()))["images"], 6) << "a dry run erases nothing";

  nlohmann::json done = Json(Lineup("erase --domain news.example --reason 'takedown T-1' --json" + Data()));
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0]["images"], 3);
  nlohmann::json stats = Json(Lineup("gallery stats --json" + Data()));
  EXPECT_EQ(stats["images"], 3);
  EXPECT_EQ(stats["faces"], stats["searchable_faces"]);
  nlohmann::json search = Json(Lineup("search --json " + Quote(testing::DemoPhoto(1).string()) + Data()));
  for (const auto& c : search["candidates"]) {
    EXPECT_EQ(c["source"]["source_url"].get<std::string>().find("news.example"), std::string::npos) << c;
  }
  EXPECT_EQ(testing::FileHolding(data_, "news.example/photo-"), fs::path());
  nlohmann::json records = Audit("erase");
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["role"], "operator");
  EXPECT_NE(records[0]["actor"].get<std::string>().find("local:"), std::string::npos);
  EXPECT_EQ(records[0]["details"]["reason"], "takedown T-1") << records[0];
  EXPECT_EQ(Lineup("audit verify" + Data()).status, 0);

  CliRun nothing = Lineup("erase" + Data());
  EXPECT_EQ(nothing.status, 1);
  EXPECT_NE(nothing.err.find("name exactly one of"), std::string::npos) << nothing.err;
  CliRun two = Lineup("erase --image 1 --job 1" + Data());
  EXPECT_EQ(two.status, 1);
  CliRun gone = Lineup("erase --domain news.example --reason 'takedown T-1'" + Data());
  EXPECT_EQ(gone.status, 1);
  EXPECT_NE(gone.err.find("nothing in the gallery matches"), std::string::npos) << gone.err;
  // A dry run fails where the real run would: same exit status, same message.
  CliRun gone_dry = Lineup("erase --domain news.example --dry-run" + Data());
  EXPECT_EQ(gone_dry.status, 1);
  EXPECT_NE(gone_dry.err.find("nothing in the gallery matches"), std::string::npos) << gone_dry.err;
  CliRun missing_image = Lineup("erase --image 999 --reason R" + Data());
  CliRun missing_image_dry = Lineup("erase --image 999 --dry-run" + Data());
  EXPECT_EQ(missing_image.status, 1);
  EXPECT_EQ(missing_image_dry.status, missing_image.status);
  EXPECT_EQ(missing_image_dry.err, missing_image.err);
}

TEST_F(ErasureCli, ARealErasureNeedsAReasonAndErasesNothingWithout) {
  for (const std::string reason : {"", " --reason ''", " --reason '  '"}) {
    CliRun no_reason = Lineup("erase --domain news.example" + reason + Data());
    EXPECT_EQ(no_reason.status, 1) << reason;
    EXPECT_NE(no_reason.err.find("say why with --reason"), std::string::npos) << no_reason.err;
  }
  EXPECT_EQ(Json(Lineup("gallery stats --json" + Data()))["images"], 6);
  EXPECT_FALSE(fs::exists(data_ / "governance.db")) << "a refused erasure wrote an audit trail";
}

TEST_F(ErasureCli, OptOutAsksWhichFaceRemovesMatchesAndKeepsThemOut) {
  const std::string group = Quote(testing::DemoPhoto(1).string());
  CliRun ask = Lineup("optout add " + group + " --request R-1" + Data());
  EXPECT_EQ(ask.status, 1);
  EXPECT_NE(ask.err.find("ask the requester which one"), std::string::npos) << ask.err;
  nlohmann::json dry = Json(Lineup("optout add " + group + " --face 1 --request R-1 --dry-run --json" + Data()));
  EXPECT_GE(dry["photos"][0]["matching_faces"].get<int>(), 1);
  // The preview lists what a real run would remove, with where each face came from (issue 13 #6).
  const nlohmann::json& would_go = dry["photos"][0]["faces"];
  ASSERT_EQ(would_go.size(), dry["photos"][0]["matching_faces"].get<size_t>());
  for (const auto& f : would_go) {
    EXPECT_GT(f["image_id"].get<int64_t>(), 0) << f;
    EXPECT_FALSE(f["collection"].get<std::string>().empty()) << f;
    EXPECT_GE(f["score"].get<double>(), dry["threshold"].get<double>()) << f;
  }
  CliRun dry_text = Lineup("optout add " + group + " --face 1 --request R-1 --dry-run" + Data());
  EXPECT_EQ(dry_text.status, 0) << dry_text.output();
  EXPECT_NE(dry_text.out.find("  face " + would_go[0]["face_id"].dump() + "  score"), std::string::npos)
      << dry_text.out;
  EXPECT_TRUE(Json(Lineup("optout list --json" + Data())).empty()) << "a dry run adds nothing";

  nlohmann::json added = Json(Lineup("optout add " + group + " --face 1 --request R-1 --json" + Data()));
  EXPECT_GE(added["faces_removed"].get<int>(), 1);
  nlohmann::json list = Json(Lineup("optout list --json" + Data()));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["status"], "done");
  EXPECT_EQ(list[0].count("descriptor"), 0u);
  // Ingesting the same photo again (another collection) keeps the opted-out face out.
  fs::path again = testing::TempDir("erasure-cli-again");
  fs::copy_file(testing::DemoPhoto(1), again / "again.jpg");
  nlohmann::json ingest = Json(Lineup("ingest " + Quote(again.string()) +
                                      " --collection other --legal-basis t --no-progress --json" + Data()));
  EXPECT_GE(ingest["counters"]["opted_out"].get<int>(), 1);
  nlohmann::json jobs = Json(Lineup("gallery jobs --json" + Data()));
  EXPECT_EQ(jobs[0]["opted_out"], ingest["counters"]["opted_out"]) << "the job keeps the count";
  nlohmann::json search = Json(Lineup("search --json --face 1 " + group + Data()));
  for (const auto& c : search["candidates"]) EXPECT_NE(c["band"], "strong") << c;

  EXPECT_NE(Lineup("optout rm " + list[0]["id"].dump() + Data()).status, 0) << "--reason is required";
  EXPECT_EQ(Lineup("optout rm " + list[0]["id"].dump() + " --reason 'withdrawn by the requester'" + Data()).status, 0);
  EXPECT_TRUE(Json(Lineup("optout list --json" + Data())).empty());
  EXPECT_EQ(Audit("optout_add").size(), 1u);
  EXPECT_EQ(Audit("optout_remove").size(), 1u);
  CliRun blank = Lineup("optout add " + Quote(testing::DemoPhoto(2).string()) + Data());
  EXPECT_EQ(blank.status, 1);
  EXPECT_NE(blank.err.find("--request"), std::string::npos) << blank.err;
}

// Several photos, one missing: the missing one is reported, the others are
// added and their matches removed, the record says what was added, exit 1.
TEST_F(ErasureCli, OptOutWithAMissingPhotoAddsTheOthersAndSaysWhichFailed) {
  const std::string missing = (testing::TempDir("optout-missing") / "gone.jpg").string();
  CliRun r = Lineup("optout add " + Quote(missing) + " " + Quote(testing::DemoPhoto(1).string()) +
                    " --face 0 --face 1 --request R-2 --json" + Data());
  EXPECT_EQ(r.status, 1) << r.output();
  EXPECT_NE(r.err.find("1 of 2 photo(s) could not be used"), std::string::npos) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["entries"].size(), 1u);
  EXPECT_EQ(j["entries"][0]["photo"], testing::DemoPhoto(1).string());
  EXPECT_GE(j["faces_removed"].get<int>(), 1);
  ASSERT_EQ(j["failed_photos"].size(), 1u);
  EXPECT_EQ(j["failed_photos"][0]["photo"], missing);
  EXPECT_NE(j["failed_photos"][0]["error"].get<std::string>().find("no such file"), std::string::npos);
  EXPECT_EQ(Json(Lineup("optout list --json" + Data())).size(), 1u);
  EXPECT_EQ(Audit("optout_add").size(), 1u);

  CliRun none = Lineup("optout add " + Quote(missing) + " --request R-3" + Data());
  EXPECT_EQ(none.status, 1);
  EXPECT_NE(none.err.find("nothing was added"), std::string::npos) << none.err;
  EXPECT_EQ(Json(Lineup("optout list --json" + Data())).size(), 1u);
}

// kill -9 at random moments of `lineup erase`: the gallery holds all or none
// of the images named (never some), and the next run completes the erasure
// with nothing orphaned.
TEST_F(ErasureCli, KilledAtRandomMomentsTheNextRunCompletesTheErasure) {
  fs::path manifest = testing::TempDir("erasure-cli-kill") / "news.jsonl";
  {
    std::ofstream m(manifest);
    for (int n = 1; n <= 3; ++n) {
      m << nlohmann::json({{"path", testing::DemoPhoto(n).string()},
                           {"source_url", "https://news.example/photo-" + std::to_string(n) + ".jpg"}})
               .dump()
        << "\n";
    }
  }
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    Json(Lineup("ingest " + Quote(manifest.string()) + " --collection news --no-progress --json" + AllowDemoPhotos() +
                Data()));
    ASSERT_EQ(Json(Lineup("gallery stats --json" + Data()))["images"], 6);
    int delay_ms = std::uniform_int_distribution<int>(0, 80)(rng);
    std::string kill = Quote(LINEUP_BINARY) + " erase --domain news.example --reason T-9" + Data() +
                       " >/dev/null 2>&1 & pid=$!; sleep " + std::to_string(delay_ms / 1000.0) +
                       "; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null; true";
    std::system(("sh -c " + Quote(kill) + " 2>/dev/null").c_str());
    nlohmann::json mid = Json(Lineup("gallery stats --json" + Data()));
    EXPECT_TRUE(mid["images"] == 6 || mid["images"] == 3) << "half an erasure is visible: " << mid["images"];
    EXPECT_EQ(mid["faces"], mid["searchable_faces"]);
    Json(Lineup("erase --resume --json" + Data()));
    if (Json(Lineup("gallery stats --json" + Data()))["images"] == 6) {
      Json(Lineup("erase --domain news.example --reason T-9 --json" + Data()));  // killed before its journal
    }
    nlohmann::json check = Json(Lineup("gallery check --json" + Data()));
    EXPECT_TRUE(check["ok"].get<bool>()) << check;
    EXPECT_EQ(check["orphan_media"], 0) << check;
    EXPECT_EQ(check["orphan_vectors"], 0) << check;
    EXPECT_EQ(Json(Lineup("gallery stats --json" + Data()))["images"], 3);
    EXPECT_FALSE(fs::exists(data_ / "erasures") && !fs::is_empty(data_ / "erasures"));
    // One erasure per round, killed or not: exactly one record each, with what it erased.
    nlohmann::json records = Audit("erase");
    ASSERT_EQ(records.size(), static_cast<size_t>(round + 1)) << records;
    EXPECT_EQ(records.back()["details"]["images"], 3) << records.back();
  }
}

TEST_F(ErasureCli, RetentionRunReportsAndDryRunsClearly) {
  CliRun r = Lineup("retention run --dry-run" + Data());
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("nothing is past its retention"), std::string::npos) << r.out;
  EXPECT_EQ(Lineup("gallery retention news --days 30" + Data()).status, 0);
  nlohmann::json stats = Json(Lineup("gallery stats --json" + Data()));
  EXPECT_EQ(stats["collections"][0]["retention_days"], 30);
  EXPECT_EQ(Audit("settings_change").size(), 1u);
  EXPECT_EQ(Lineup("gallery retention nope --days 30" + Data()).status, 1);
  EXPECT_EQ(Lineup("gallery retention news --days -2" + Data()).status, 1);
  nlohmann::json j = Json(Lineup("retention run --json --case-days 30" + Data()));
  EXPECT_FALSE(j["dry_run"].get<bool>());
  EXPECT_TRUE(j["collections"].empty());
  EXPECT_NE(Lineup("retention run --case-days -1" + Data()).status, 0);
}

}  // namespace
}  // namespace lineup
