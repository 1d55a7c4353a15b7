// The ingest job end to end with the real models: folders and manifests in,
// faces with provenance out; bad items recorded without stopping the job;
// de-duplication; and `kill -9` at random moments followed by a resume that
// leaves the same gallery as an uninterrupted run.
#include "ingest/ingest_pipeline.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/error.h"
#include "common/file_util.h"
#include "image/image_loader.h"
#include "test_env.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;

// Copies of the package's demo photos, plus `variants` distinct re-encodings
// (scaled and mirrored), so that every file has its own content hash.
fs::path MakePhotoFolder(const std::string& tag, int variants) {
  fs::path dir = testing::TempDir(tag) / "photos";
  fs::create_directories(dir / "sub");
  for (int n = 1; n <= 6; ++n) fs::copy_file(testing::DemoPhoto(n), dir / ("sample" + std::to_string(n) + ".jpg"));
  for (int v = 0; v < variants; ++v) {
    cv::Mat image = LoadImage(testing::DemoPhoto(1 + v % 6).string());
    double scale = 0.5 + 0.05 * (v / 6);
    cv::resize(image, image, cv::Size(), scale, scale, cv::INTER_AREA);
    if (v % 2) cv::flip(image, image, 1);
    cv::imwrite((dir / "sub" / ("variant" + std::to_string(v) + ".jpg")).string(), image);
  }
  return dir;
}

GalleryModel ModelOf(const ModelManifest& m) {
  const ModelEntry& e = m.Model(m.GetProfile("").embedder);
  return {e.id, e.output_dim};
}

IngestOptions QuietOptions() {
  IngestOptions o;
  o.collection = "demo";
  o.legal_basis = "test photos from the face-api package (MIT)";
  o.show_progress = false;
  o.workers = 2;
  return o;
}

std::vector<float> DescriptorOfFirstFace(const ModelManifest& manifest, const fs::path& photo) {
  FacePipeline pipeline(manifest);
  cv::Mat image = LoadImage(photo.string());
  std::vector<FaceResult> faces = pipeline.Analyze(image);
  EXPECT_FALSE(faces.empty());
  return faces.empty() ? std::vector<float>{} : faces[0].embedding;
}

TEST(Ingest, FolderWithABadFileAddsTheRestAndFindsTheirFaces) {
  ModelManifest manifest = ModelManifest::Load(testing::ImportedModelsDir());
  fs::path photos = MakePhotoFolder("ingest-folder", 0);
  std::ofstream(photos / "broken.jpg", std::ios::binary) << "\xFF\xD8\xFF\xE0 truncated";
  std::ofstream(photos / "notes.txt") << "not an image";
  GalleryOptions go;
  go.data_dir = testing::TempDir("ingest-folder-data");
  auto gallery = Gallery::Open(go, ModelOf(manifest));
  IngestSummary s = RunIngest(*gallery, manifest, photos, QuietOptions());
  EXPECT_EQ(s.counters.images_seen, 7);
  EXPECT_EQ(s.counters.images_added, 6);
  EXPECT_EQ(s.counters.errors, 1);
  ASSERT_EQ(s.errors.size(), 1u);
  EXPECT_NE(s.errors[0].item.find("broken.jpg"), std::string::npos);
  // The reason is listed under the item's name: it does not say the name again.
  EXPECT_EQ(s.errors[0].reason.find("broken.jpg"), std::string::npos) << s.errors[0].reason;
  EXPECT_NE(s.errors[0].reason.find("truncated JPEG"), std::string::npos) << s.errors[0].reason;
  EXPECT_GE(s.counters.faces_added, 10);  // the demo photos hold groups
  EXPECT_EQ(gallery->catalog().GetJob(s.job_id)->status, JobStatus::kDone);

  SearchQuery q;
  q.descriptor = DescriptorOfFirstFace(manifest, testing::DemoPhoto(2));
  SearchResult r = gallery->Search(q);
  ASSERT_FALSE(r.candidates.empty());
  EXPECT_GT(r.candidates[0].score, 0.99f);
  EXPECT_EQ(r.candidates[0].provenance.image.original_name, "sample2.jpg");
  EXPECT_EQ(r.candidates[0].band, ScoreBand::kStrong);
  EXPECT_TRUE(fs::exists(r.candidates[0].crop_path));
  EXPECT_FALSE(cv::imread(r.candidates[0].crop_path.string()).empty());

  // Again: everything is a duplicate now, nothing is added twice.
  IngestSummary again = RunIngest(*gallery, manifest, photos, QuietOptions());
  EXPECT_EQ(again.counters.duplicates, 6);
  EXPECT_EQ(again.counters.images_added, 0);
  EXPECT_EQ(gallery->catalog().Stats().images, 6);
  EXPECT_TRUE(gallery->Check(false, false).ok());
}

TEST(Ingest, ManifestRowsCarryTheirProvenance) {
  ModelManifest manifest = ModelManifest::Load(testing::ImportedModelsDir());
  fs::path dir = testing::TempDir("ingest-manifest");
  fs::copy_file(testing::DemoPhoto(3), dir / "p3.jpg");
  std::ofstream(dir / "list.csv") << "path,source_url,page_url,title,date\n"
                                     "p3.jpg,https://example.org/p3.jpg,https://example.org/page?id=3,"
                                     "\"Title with \"\"quotes\"\", commas\",2024-05-01\n"
                                     "p3.jpg,https://example.org/p3.jpg,,duplicate row,\n"
                                     "missing.jpg,https://example.org/missing.jpg,,,\n";
  GalleryOptions go;
  go.data_dir = testing::TempDir("ingest-manifest-data");
  auto gallery = Gallery::Open(go, ModelOf(manifest));
  IngestSummary s = RunIngest(*gallery, manifest, dir / "list.csv", QuietOptions());
  EXPECT_EQ(s.counters.images_added, 1);
  EXPECT_EQ(s.counters.duplicates, 1);
  EXPECT_EQ(s.counters.errors, 1);
  SearchQuery q;
  q.descriptor = DescriptorOfFirstFace(manifest, testing::DemoPhoto(3));
  SearchResult r = gallery->Search(q);
  ASSERT_FALSE(r.candidates.empty());
  const FaceProvenance& p = r.candidates[0].provenance;
  ASSERT_TRUE(p.source.has_value());
  EXPECT_EQ(p.source->source_url, "https://example.org/p3.jpg");
  EXPECT_EQ(p.source->page_url, "https://example.org/page?id=3");
  EXPECT_EQ(p.source->title, "Title with \"quotes\", commas");
  EXPECT_EQ(p.source->captured_at, "2024-05-01");
}

TEST(Ingest, NewCollectionNeedsALegalBasis) {
  ModelManifest manifest = ModelManifest::Load(testing::ImportedModelsDir());
  GalleryOptions go;
  go.data_dir = testing::TempDir("ingest-legal");
  auto gallery = Gallery::Open(go, ModelOf(manifest));
  IngestOptions o = QuietOptions();
  o.legal_basis.clear();
  try {
    RunIngest(*gallery, manifest, MakePhotoFolder("ingest-legal-photos", 0), o);
    FAIL() << "ingested into a new collection without a legal basis";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--legal-basis"), std::string::npos);
  }
  EXPECT_EQ(gallery->catalog().Stats().images, 0);
}

TEST(Ingest, ManifestCollectionsAreNeverSilentlyOverriddenNorLeftEmpty) {
  ModelManifest manifest = ModelManifest::Load(testing::ImportedModelsDir());
  fs::path dir = testing::TempDir("ingest-manifest-collections");
  fs::copy_file(testing::DemoPhoto(3), dir / "p3.jpg");
  fs::copy_file(testing::DemoPhoto(4), dir / "p4.jpg");
  std::ofstream(dir / "press.csv") << "path,collection,legal_basis\n"
                                      "p3.jpg,press,CC-BY-4.0\n"
                                      "p4.jpg,,\n";
  GalleryOptions go;
  go.data_dir = testing::TempDir("ingest-manifest-collections-data");
  auto gallery = Gallery::Open(go, ModelOf(manifest));
  Catalog& catalog = gallery->catalog();

  // --collection other against rows naming press: refused whole, nothing created.
  IngestOptions other = QuietOptions();
  other.collection = "other";
  try {
    RunIngest(*gallery, manifest, dir / "press.csv", other);
    FAIL() << "--collection other was overridden by the manifest's column";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rows name collection 'press' but --collection is 'other'"),
              std::string::npos) << e.what();
  }
  EXPECT_FALSE(catalog.FindCollection("other"));
  EXPECT_FALSE(catalog.FindCollection("press"));
  EXPECT_EQ(catalog.Stats().images, 0);

  // Without --collection, a new collection the rows name needs a legal basis ...
  IngestOptions from_rows = QuietOptions();
  from_rows.collection.clear();
  from_rows.legal_basis.clear();
  try {
    RunIngest(*gallery, manifest, dir / "press.csv", from_rows);
    FAIL() << "created a collection without a legal basis";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'press': new collection"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(catalog.FindCollection("press"));

  // ... and with one, each row goes where it says; a row naming none is an error.
  from_rows.legal_basis = "press photos, editorial licence";
  IngestSummary s = RunIngest(*gallery, manifest, dir / "press.csv", from_rows);
  EXPECT_EQ(s.counters.images_added, 1);
  ASSERT_EQ(s.errors.size(), 1u);
  EXPECT_EQ(s.errors[0].item, "press.csv:3");
  EXPECT_NE(s.errors[0].reason.find("no collection"), std::string::npos) << s.errors[0].reason;
  ASSERT_TRUE(catalog.FindCollection("press"));
  EXPECT_EQ(catalog.GetJob(s.job_id)->collection_id, catalog.FindCollection("press")->id);

  // The row's legal_basis is the photo's own, next to the collection's.
  SearchQuery q;
  q.descriptor = DescriptorOfFirstFace(manifest, testing::DemoPhoto(3));
  SearchResult r = gallery->Search(q);
  ASSERT_FALSE(r.candidates.empty());
  const FaceProvenance& p = r.candidates[0].provenance;
  ASSERT_TRUE(p.source.has_value());
  EXPECT_EQ(p.source->legal_basis, "CC-BY-4.0");
  EXPECT_EQ(p.collection.legal_basis, "press photos, editorial licence");

  // A folder names no collection: --collection is required for it.
  try {
    RunIngest(*gallery, manifest, MakePhotoFolder("ingest-manifest-collections-folder", 0), from_rows);
    FAIL() << "a folder was ingested without a collection";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--collection"), std::string::npos) << e.what();
  }
}

// --- kill -9 during ingest, then resume

struct ChildRun {
  int status;
  std::string out;
};

// The newest ingest job as the child has committed it, read through a
// read-only connection (WAL lets it read while the child writes).
struct JobProgress {
  bool exists = false;
  std::string status;
  int64_t images_seen = 0;
};

JobProgress ReadNewestJob(const fs::path& catalog) {
  JobProgress p;
  if (!fs::exists(catalog)) return p;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(catalog.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 1000);
    sqlite3_stmt* q = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT status, images_seen FROM ingest_jobs ORDER BY id DESC LIMIT 1", -1, &q,
                           nullptr) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW) {
      p.exists = true;
      p.status = reinterpret_cast<const char*>(sqlite3_column_text(q, 0));
      p.images_seen = sqlite3_column_int64(q, 1);
    }
    sqlite3_finalize(q);  // no-op on null; a schema not there yet reads as "no job"
  }
  sqlite3_close(db);
  return p;
}

pid_t StartLineup(const std::vector<std::string>& args, const fs::path& out) {
  pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::freopen(out.c_str(), "w", stdout);
    (void)f;
    std::vector<char*> argv;
    std::string binary = LINEUP_BINARY;
    argv.push_back(binary.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    setenv("LINEUP_MODELS", testing::ImportedModelsDir().c_str(), 1);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

int ExitStatus(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

ChildRun RunLineup(const std::vector<std::string>& args) {
  fs::path out = testing::TempDir("ingest-kill-out") / "out";
  pid_t pid = StartLineup(args, out);
  int status = 0;
  waitpid(pid, &status, 0);
  return {ExitStatus(status), ReadFileText(out)};
}

// Runs lineup and sends SIGKILL `extra_ms` after the child's newest job has
// committed at least `images_seen` items (so the kill lands inside the job
// whatever the machine's speed), unless the child exits first.
ChildRun RunLineupKilledAt(const std::vector<std::string>& args, const fs::path& catalog, int64_t images_seen,
                           int extra_ms) {
  fs::path out = testing::TempDir("ingest-kill-out") / "out";
  pid_t pid = StartLineup(args, out);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    JobProgress p = ReadNewestJob(catalog);
    if (p.exists && p.status == "running" && p.images_seen >= images_seen) {
      std::this_thread::sleep_for(std::chrono::milliseconds(extra_ms));
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return {ExitStatus(status), ReadFileText(out)};
}

nlohmann::json Json(const ChildRun& r) {
  EXPECT_EQ(r.status, 0) << r.out;
  return nlohmann::json::parse(r.out.substr(r.out.find('{')));
}

TEST(Ingest, KilledAtRandomMomentsThenResumedEqualsAnUninterruptedRun) {
  constexpr int kImages = 36;
  fs::path photos = MakePhotoFolder("ingest-kill", kImages - 6);
  fs::path killed = testing::TempDir("ingest-kill-data");
  fs::path clean = testing::TempDir("ingest-clean-data");
  auto ingest = [&](const fs::path& data) {
    return std::vector<std::string>{"ingest",    photos.string(), "--collection", "demo", "--legal-basis",
                                    "test",      "--data",        data.string(),  "--workers", "2",
                                    "--batch",   "4",             "--no-progress", "--json"};
  };
  // Four kills at growing points of the job (every commit is 4 images), each
  // followed by a random delay, so that they land while images are analysed,
  // between the vector append and the catalog commit, or inside a commit.
  std::mt19937 rng(12345);
  int kills = 0;
  int64_t target = 0;
  bool finished_before_a_kill = false;
  for (int attempt = 0; attempt < 4; ++attempt) {
    int extra_ms = std::uniform_int_distribution<int>(0, 150)(rng);
    ChildRun r = RunLineupKilledAt(ingest(killed), killed / "catalog.db", target, extra_ms);
    target += 4 * std::uniform_int_distribution<int>(1, 2)(rng);
    if (r.status == 0) {  // finished before the kill
      finished_before_a_kill = true;
      break;
    }
    ASSERT_EQ(r.status, 128 + SIGKILL) << r.out;
    ++kills;
    if (ReadNewestJob(killed / "catalog.db").status == "done") {  // killed while exiting
      finished_before_a_kill = true;
      break;
    }
  }
  EXPECT_GE(kills, 3) << "the kills should land inside the job";
  nlohmann::json last = Json(RunLineup(ingest(killed)));
  if (!finished_before_a_kill) EXPECT_TRUE(last["resumed"].get<bool>()) << last;
  nlohmann::json reference = Json(RunLineup(ingest(clean)));
  EXPECT_EQ(reference["counters"]["images_added"].get<int>(), kImages);

  nlohmann::json check = Json(RunLineup({"gallery", "check", "--json", "--data", killed.string()}));
  EXPECT_TRUE(check["ok"].get<bool>()) << check;
  EXPECT_EQ(check["faces_without_vector"].get<int>(), 0);
  nlohmann::json a = Json(RunLineup({"gallery", "stats", "--json", "--data", killed.string()}));
  nlohmann::json b = Json(RunLineup({"gallery", "stats", "--json", "--data", clean.string()}));
  EXPECT_EQ(a["images"], b["images"]);
  EXPECT_EQ(a["faces"], b["faces"]);
  EXPECT_EQ(a["searchable_faces"], a["faces"]);
  // A job that completed before a kill is done; the next run is a new job
  // that finds only duplicates.
  EXPECT_EQ(a["jobs"].get<int>(), finished_before_a_kill ? 2 : 1) << "the interrupted job is resumed, not restarted";
  RecordProperty("kills", kills);
}

}  // namespace
}  // namespace lineup
