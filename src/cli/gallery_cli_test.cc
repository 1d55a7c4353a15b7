// `lineup ingest / search / gallery` as users run them: provenance in the
// JSON contract, the face choice in a group photo, and clear errors (never a
// crash, nothing lost) on bad probes, bad arguments, a full disk and
// damaged gallery files.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "common/file_util.h"
#include "test_env.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;

struct CliRun {
  int status;
  std::string out, err;
};

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// `prefix` runs first in the same shell (e.g. a ulimit).
CliRun Lineup(const std::string& args, const std::string& prefix = "") {
  fs::path dir = testing::TempDir("gallery-cli");
  std::string cmd = prefix + " LINEUP_MODELS=" + Quote(testing::ImportedModelsDir().string()) + " " +
                    Quote(LINEUP_BINARY) + " " + args + " >" + Quote((dir / "out").string()) + " 2>" +
                    Quote((dir / "err").string()) + " </dev/null";
  int raw = std::system(("sh -c " + Quote(cmd)).c_str());
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw), ReadFileText(dir / "out"),
          ReadFileText(dir / "err")};
}

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
                                "--legal-basis 'test photos' --no-progress --json --data " + Quote(data_->string())));
  }
  static std::string Data() { return " --data " + Quote(data_->string()); }
  static fs::path* data_;
  static CliRun* ingest_;
};
fs::path* GalleryCli::data_ = nullptr;
CliRun* GalleryCli::ingest_ = nullptr;

TEST_F(GalleryCli, IngestSummaryCountsAddsAndBadRows) {
  nlohmann::json j = Json(*ingest_);
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

TEST_F(GalleryCli, ChoosingAnotherFaceOrABoxSearchesThatFace) {
  std::string photo = Quote(testing::DemoPhoto(1).string());
  nlohmann::json first = Json(Lineup("search --json --top 1 " + photo + Data()));
  ASSERT_GE(first["probe"]["faces"].size(), 2u);
  nlohmann::json second = Json(Lineup("search --json --top 1 --face 1 " + photo + Data()));
  EXPECT_EQ(second["probe"]["chosen"], 1);
  EXPECT_NE(first["candidates"][0]["face"]["id"], second["candidates"][0]["face"]["id"]);
  nlohmann::json box = second["probe"]["faces"][1]["box"];
  std::string b = std::to_string(box[0].get<double>()) + "," + std::to_string(box[1].get<double>()) + "," +
                  std::to_string(box[2].get<double>()) + "," + std::to_string(box[3].get<double>());
  nlohmann::json by_box = Json(Lineup("search --json --top 1 --box " + b + " " + photo + Data()));
  EXPECT_EQ(by_box["candidates"][0]["face"]["id"], second["candidates"][0]["face"]["id"]);
  CliRun too_far = Lineup("search --face 99 " + photo + Data());
  EXPECT_EQ(too_far.status, 1);
  EXPECT_NE(too_far.err.find("face(s) found"), std::string::npos) << too_far.err;
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
  CliRun rm_nothing = Lineup("erase --url-prefix https://nowhere.example/" + Data());
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

}  // namespace
}  // namespace lineup
