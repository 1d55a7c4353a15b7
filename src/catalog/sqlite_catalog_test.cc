#include "catalog/sqlite_catalog.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "catalog/catalog_conformance_test.h"
#include "common/error.h"
#include "common/file_util.h"
#include "test_env.h"

namespace lineup {
namespace {

std::string FreshCatalogPath() {
  return (testing::TempDir("sqlite-catalog") / "catalog.db").string();
}

INSTANTIATE_TEST_SUITE_P(Sqlite, CatalogConformance,
                         ::testing::Values(CatalogFactory{
                             .name = "Sqlite",
                             .make_location = FreshCatalogPath,
                             .open = [](const std::string& path) { return OpenSqliteCatalog(path); },
                             .unavailable = nullptr}),
                         CatalogFactoryName);

// A raw connection for arranging files by hand (no Lineup code involved).
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    sqlite3_busy_timeout(db_, 10'000);
  }
  ~RawDb() { sqlite3_close(db_); }
  void Exec(const std::string& sql) {
    char* message = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
    ASSERT_EQ(rc, SQLITE_OK) << sql << ": " << (message ? message : "");
  }
  int64_t Int(const std::string& sql) { return Text(sql).empty() ? 0 : std::stoll(Text(sql)); }
  std::string Text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
    std::string out;
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

std::string ErrorOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string FileBytes(const std::string& path) {
  auto bytes = ReadFileBytes(path);
  return std::string(bytes.begin(), bytes.end());
}

Collection NewCollection(const std::string& name) {
  Collection c;
  c.name = name;
  c.legal_basis = "consent";
  return c;
}

ImageWrite NewImage(int64_t collection_id, const std::string& sha, std::vector<int64_t> faces) {
  ImageWrite w;
  w.image.collection_id = collection_id;
  w.image.content_sha256 = sha;
  w.image.stored_path = "media/" + sha;
  Source s;
  s.source_url = "https://example.org/" + sha + ".jpg";
  w.source = s;
  for (int64_t id : faces) {
    FaceRecord f;
    f.id = id;
    f.model_id = "m";
    w.faces.push_back(f);
  }
  return w;
}

TEST(SqliteCatalog, FileIsWalWithLineupIdentityAndDurableSettings) {
  const std::string path = FreshCatalogPath();
  auto catalog = OpenSqliteCatalog(path);
  EXPECT_EQ(catalog->SchemaVersion(), kSqliteCatalogSchemaVersion);
  sqlite3* handle = SqliteHandleForTesting(*catalog);
  auto pragma = [&](const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(handle, sql, -1, &stmt, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_step(stmt), SQLITE_ROW);
    std::string value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return value;
  };
  EXPECT_EQ(pragma("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(pragma("PRAGMA synchronous"), "2");  // FULL
  EXPECT_EQ(pragma("PRAGMA foreign_keys"), "1");
  EXPECT_EQ(pragma("PRAGMA application_id"), std::to_string(kSqliteCatalogApplicationId));
  EXPECT_EQ(pragma("PRAGMA user_version"), std::to_string(kSqliteCatalogSchemaVersion));
  catalog.reset();
  EXPECT_EQ(CheckSqliteCatalogIntegrity(path), std::vector<std::string>{});
}

TEST(SqliteCatalog, ReadersAreNotBlockedByAWriterAndWritersWaitForIt) {
  const std::string path = FreshCatalogPath();
  auto catalog = OpenSqliteCatalog(path);
  Collection c = catalog->CreateCollection(NewCollection("before"));
  const int64_t f = catalog->ReserveFaceIds(1);
  catalog->AddImages({NewImage(c.id, "img", {f})}, 0, JobCounters{});

  RawDb writer(path);
  writer.Exec("BEGIN IMMEDIATE");
  writer.Exec(
      "INSERT INTO collections (name, description, legal_basis, jurisdiction, retention_days, "
      "created_at) VALUES ('uncommitted', '', 'x', '', 0, '2024-01-01T00:00:00Z')");

  // A second process-like connection opens and reads at once, seeing only
  // committed data (it would otherwise wait 10 s and throw).
  auto reader = OpenSqliteCatalog(path);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(reader->ListCollections().size(), 1u);
  EXPECT_FALSE(reader->FindCollection("uncommitted").has_value());
  EXPECT_EQ(reader->DescribeFaces({f}).size(), 1u);
  int faces = 0;
  reader->ForEachFace([&](int64_t, int64_t) { ++faces; });
  EXPECT_EQ(faces, 1);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));

  // A write waits for the open transaction (busy_timeout) and then succeeds.
  std::thread committer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    writer.Exec("COMMIT");
  });
  EXPECT_NO_THROW(reader->CreateCollection(NewCollection("after")));
  committer.join();
  EXPECT_EQ(catalog->ListCollections().size(), 3u);
}

TEST(SqliteCatalog, RefusesNewerSchemaAndLeavesTheFileAlone) {
  const std::string path = FreshCatalogPath();
  OpenSqliteCatalog(path)->CreateCollection(NewCollection("c"));
  {
    RawDb raw(path);
    raw.Exec("PRAGMA user_version = " + std::to_string(kSqliteCatalogSchemaVersion + 1));
  }
  const std::string before = FileBytes(path);
  const std::string error = ErrorOf([&] { OpenSqliteCatalog(path); });
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("written by a newer Lineup (schema " +
                       std::to_string(kSqliteCatalogSchemaVersion + 1) + ", this binary knows " +
                       std::to_string(kSqliteCatalogSchemaVersion) + ")"),
            std::string::npos)
      << error;
  EXPECT_EQ(FileBytes(path), before);
  EXPECT_THROW(CheckSqliteCatalogIntegrity(path), Error);
}

TEST(SqliteCatalog, RefusesFilesThatAreNotSqliteAndLeavesThemAlone) {
  const auto dir = testing::TempDir("sqlite-notdb");
  std::mt19937 rng(7);
  std::string random(16384, '\0');
  for (char& ch : random) ch = static_cast<char>(rng());
  const std::vector<std::string> contents = {random, "hello, I am a text file\n",
                                             std::string("SQLite format 3\0garbage", 24)};
  for (size_t k = 0; k < contents.size(); ++k) {
    const std::string path = (dir / ("file" + std::to_string(k))).string();
    WriteFileAtomically(path, contents[k]);
    const std::string error = ErrorOf([&] { OpenSqliteCatalog(path); });
    EXPECT_NE(error.find(path), std::string::npos) << error;
    EXPECT_FALSE(error.empty());
    EXPECT_EQ(FileBytes(path), contents[k]);
    EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
  }
  EXPECT_NE(ErrorOf([&] { OpenSqliteCatalog((dir / "file0").string()); }).find("not a Lineup catalog"),
            std::string::npos);
}

TEST(SqliteCatalog, RefusesAnUnrelatedSqliteDatabase) {
  const std::string path = FreshCatalogPath();
  {
    RawDb raw(path);
    raw.Exec("CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('Ann')");
  }
  const std::string before = FileBytes(path);
  const std::string error = ErrorOf([&] { OpenSqliteCatalog(path); });
  EXPECT_NE(error.find("not a Lineup catalog"), std::string::npos) << error;
  EXPECT_EQ(FileBytes(path), before);
  RawDb raw(path);
  EXPECT_EQ(raw.Text("PRAGMA journal_mode"), "delete");
  EXPECT_EQ(raw.Text("SELECT name FROM contacts"), "Ann");
}

TEST(SqliteCatalog, AnEmptyFileBecomesACatalogButBadPathsAreRefused) {
  const std::string path = FreshCatalogPath();
  WriteFileAtomically(path, "");
  EXPECT_EQ(OpenSqliteCatalog(path)->SchemaVersion(), kSqliteCatalogSchemaVersion);
  EXPECT_THROW(OpenSqliteCatalog(""), Error);
  EXPECT_THROW(OpenSqliteCatalog(":memory:"), Error);
  const std::string missing_dir = (testing::TempDir("sqlite-bad") / "no" / "such" / "c.db").string();
  EXPECT_NE(ErrorOf([&] { OpenSqliteCatalog(missing_dir); }).find(missing_dir), std::string::npos);
  EXPECT_THROW(CheckSqliteCatalogIntegrity(missing_dir), Error);
}

// The schema of version 1 exactly as released; never edit (files in the
// field were made by it).
constexpr const char* kVersion1Schema = R"sql(
CREATE TABLE settings (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
CREATE TABLE collections (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE CHECK (name <> ''),
  description TEXT NOT NULL, legal_basis TEXT NOT NULL CHECK (legal_basis <> ''),
  jurisdiction TEXT NOT NULL, retention_days INTEGER NOT NULL CHECK (retention_days >= 0),
  created_at TEXT NOT NULL);
CREATE TABLE sources (
  id INTEGER PRIMARY KEY, source_url TEXT NOT NULL, page_url TEXT NOT NULL, title TEXT NOT NULL,
  captured_at TEXT NOT NULL, published_at TEXT NOT NULL, licence TEXT NOT NULL);
CREATE TABLE ingest_jobs (
  id INTEGER PRIMARY KEY,
  collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
  input TEXT NOT NULL, options_json TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('running', 'interrupted', 'done', 'failed')),
  images_seen INTEGER NOT NULL DEFAULT 0, images_added INTEGER NOT NULL DEFAULT 0,
  duplicates INTEGER NOT NULL DEFAULT 0, no_face INTEGER NOT NULL DEFAULT 0,
  faces_added INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
  started_at TEXT NOT NULL, finished_at TEXT NOT NULL DEFAULT '');
CREATE TABLE job_errors (
  id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL REFERENCES ingest_jobs (id) ON DELETE CASCADE,
  item TEXT NOT NULL, reason TEXT NOT NULL);
CREATE TABLE images (
  id INTEGER PRIMARY KEY,
  collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
  source_id INTEGER REFERENCES sources (id),
  job_id INTEGER REFERENCES ingest_jobs (id) ON DELETE SET NULL,
  content_sha256 TEXT NOT NULL, perceptual_hash INTEGER NOT NULL, width INTEGER NOT NULL,
  height INTEGER NOT NULL, byte_size INTEGER NOT NULL, stored_path TEXT NOT NULL,
  original_name TEXT NOT NULL, ingested_at TEXT NOT NULL,
  UNIQUE (collection_id, content_sha256));
CREATE TABLE faces (
  id INTEGER PRIMARY KEY CHECK (id > 0),
  image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
  box BLOB NOT NULL CHECK (length(box) = 16),
  landmarks BLOB NOT NULL CHECK (length(landmarks) = 40),
  detection_score REAL, size_px REAL, sharpness REAL, yaw_deg REAL, roll_deg REAL,
  model_id TEXT NOT NULL);
CREATE TABLE face_id_reservation (
  singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
  next_face_id INTEGER NOT NULL CHECK (next_face_id >= 1));
INSERT INTO face_id_reservation (singleton, next_face_id) VALUES (1, 1);
)sql";

TEST(SqliteCatalog, MigratesAVersion1FileKeepingItsData) {
  const std::string path = FreshCatalogPath();
  {
    RawDb raw(path);
    raw.Exec(kVersion1Schema);
    raw.Exec("PRAGMA application_id = " + std::to_string(kSqliteCatalogApplicationId) +
             "; PRAGMA user_version = 1");
    raw.Exec(
        "INSERT INTO collections VALUES (1, 'old', 'd', 'consent', 'EU', 30, '2024-01-01T00:00:00Z');"
        "INSERT INTO sources VALUES (1, 'https://old.example/a.jpg', '', '', '', '', 'CC-BY-4.0');"
        "INSERT INTO images VALUES (1, 1, 1, NULL, 'abc', -1, 10, 20, 300, 'media/abc', 'a.jpg', "
        "'2024-01-01T00:00:00Z');"
        "INSERT INTO faces VALUES (7, 1, zeroblob(16), zeroblob(40), 0.9, 40, 1, 0, 0, 'm');"
        "UPDATE face_id_reservation SET next_face_id = 8;"
        "INSERT INTO ingest_jobs (id, collection_id, input, options_json, status, images_seen, faces_added, "
        "started_at) VALUES (1, 1, 'in/', '{}', 'done', 5, 3, '2024-01-01T00:00:00Z');");
  }
  auto catalog = OpenSqliteCatalog(path);
  EXPECT_EQ(catalog->SchemaVersion(), kSqliteCatalogSchemaVersion);
  EXPECT_EQ(catalog->GetJob(1)->counters.faces_added, 3);
  EXPECT_EQ(catalog->GetJob(1)->counters.opted_out, 0);  // v3's column, added with its default
  EXPECT_EQ(catalog->FindCollection("old")->retention_days, 30);
  auto described = catalog->DescribeFaces({7});
  ASSERT_EQ(described.size(), 1u);
  EXPECT_EQ(described[0].image.perceptual_hash, ~uint64_t{0});
  EXPECT_EQ(described[0].source->source_url, "https://old.example/a.jpg");
  EXPECT_EQ(described[0].source->legal_basis, "CC-BY-4.0");  // v4 renamed the column licence
  EXPECT_EQ(catalog->FindImagesBySourcePrefix("https://old."), std::vector<int64_t>{1});
  EXPECT_EQ(catalog->ReserveFaceIds(1), 8);
  {
    RawDb raw(path);
    EXPECT_EQ(raw.Int("SELECT count(*) FROM sqlite_master WHERE name = 'faces_by_image'"), 1);
    EXPECT_EQ(raw.Text("PRAGMA journal_mode"), "wal");
  }
  EXPECT_EQ(catalog->DeleteImage(1), std::vector<int64_t>{7});
  EXPECT_EQ(catalog->Stats().sources, 0);
  catalog.reset();
  EXPECT_EQ(CheckSqliteCatalogIntegrity(path, /*thorough=*/true), std::vector<std::string>{});
}

TEST(SqliteCatalog, CommittedCallsSurviveKill9AndTheKilledOneLeavesNoTrace) {
  const std::string path = FreshCatalogPath();
  int64_t collection_id = 0;
  {
    auto catalog = OpenSqliteCatalog(path);
    collection_id = catalog->CreateCollection(NewCollection("c")).id;
  }
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    alarm(30);  // a stuck child dies of SIGALRM, which fails the test below
    try {
      auto catalog = OpenSqliteCatalog(path);
      const int64_t f = catalog->ReserveFaceIds(2000);
      std::vector<ImageWrite> first;
      for (int k = 0; k < 10; ++k) first.push_back(NewImage(collection_id, "first" + std::to_string(k), {f + k}));
      catalog->AddImages(first, 0, JobCounters{});
      std::vector<ImageWrite> second;
      for (int k = 10; k < 2000; ++k) second.push_back(NewImage(collection_id, "second" + std::to_string(k), {f + k}));
      sqlite3* handle = SqliteHandleForTesting(*catalog);
      // A tiny page cache makes the transaction spill pages into the WAL
      // before its commit; the hook then kills the process at the commit.
      sqlite3_exec(handle, "PRAGMA cache_size = 8", nullptr, nullptr, nullptr);
      sqlite3_commit_hook(handle, [](void*) -> int { raise(SIGKILL); return 0; }, nullptr);
      catalog->AddImages(second, 0, JobCounters{});
    } catch (...) {
      _exit(2);
    }
    _exit(0);  // not reached when the hook fires
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  ASSERT_EQ(WTERMSIG(status), SIGKILL);
  EXPECT_GT(std::filesystem::file_size(path + "-wal"), 0u);  // the uncommitted frames are there

  auto catalog = OpenSqliteCatalog(path);
  CatalogStats stats = catalog->Stats();
  EXPECT_EQ(stats.images, 10);
  EXPECT_EQ(stats.faces, 10);
  EXPECT_EQ(stats.sources, 10);
  EXPECT_TRUE(catalog->FindImageByHash(collection_id, "first9").has_value());
  EXPECT_FALSE(catalog->FindImageByHash(collection_id, "second10").has_value());
  EXPECT_FALSE(catalog->FindImageByHash(collection_id, "second1999").has_value());
  // The child's reservation was committed before it died: never handed out again.
  const int64_t next = catalog->ReserveFaceIds(1);
  int64_t max_face = 0;
  catalog->ForEachFace([&](int64_t face, int64_t) { max_face = face; });
  EXPECT_GE(next, max_face + 1991);
  catalog.reset();
  EXPECT_EQ(CheckSqliteCatalogIntegrity(path, /*thorough=*/true), std::vector<std::string>{});
}

TEST(SqliteCatalog, IntegrityCheckReportsBrokenInvariantsAndCorruptPages) {
  const std::string path = FreshCatalogPath();
  {
    auto catalog = OpenSqliteCatalog(path);
    Collection c = catalog->CreateCollection(NewCollection("c"));
    const int64_t f = catalog->ReserveFaceIds(2000);
    std::vector<ImageWrite> batch;
    for (int k = 0; k < 2000; ++k) batch.push_back(NewImage(c.id, "h" + std::to_string(k), {f + k}));
    catalog->AddImages(batch, 0, JobCounters{});
  }
  EXPECT_TRUE(CheckSqliteCatalogIntegrity(path).empty());
  {
    RawDb raw(path);
    raw.Exec("INSERT INTO sources VALUES (9999, 'orphan', '', '', '', '', '')");
    raw.Exec("UPDATE face_id_reservation SET next_face_id = 1990");
  }
  auto problems = CheckSqliteCatalogIntegrity(path);
  ASSERT_FALSE(problems.empty());
  std::string all;
  for (const auto& p : problems) all += p + "\n";
  EXPECT_NE(all.find("source 9999 has no images"), std::string::npos) << all;
  EXPECT_NE(all.find("face id 1999 was never reserved"), std::string::npos) << all;

  // Overwrite every page but the first two with garbage.
  std::string bytes = FileBytes(path);
  ASSERT_GT(bytes.size(), 3u * 4096u);
  std::mt19937 rng(11);
  for (size_t k = 2 * 4096; k < bytes.size(); ++k) bytes[k] = static_cast<char>(rng());
  WriteFileAtomically(path, bytes);
  std::vector<std::string> corrupt;
  try {
    corrupt = CheckSqliteCatalogIntegrity(path);
  } catch (const Error&) {
    corrupt.push_back("threw");
  }
  EXPECT_FALSE(corrupt.empty());
  // Using the corrupt file throws Error; it never crashes.
  const std::string error = ErrorOf([&] {
    auto catalog = OpenSqliteCatalog(path);
    catalog->Stats();
    catalog->ForEachFace([](int64_t, int64_t) {});
  });
  EXPECT_NE(error.find(path), std::string::npos) << error;
}

TEST(SqliteCatalog, RefusesFaceIdsThatWereNeverReserved) {
  auto catalog = OpenSqliteCatalog(FreshCatalogPath());
  Collection c = catalog->CreateCollection(NewCollection("c"));
  const int64_t f = catalog->ReserveFaceIds(1);
  EXPECT_THROW(catalog->AddImages({NewImage(c.id, "a", {f + 1})}, 0, JobCounters{}), Error);
  EXPECT_THROW(catalog->AddImages({NewImage(c.id, "b", {0})}, 0, JobCounters{}), Error);
  EXPECT_EQ(catalog->AddImages({NewImage(c.id, "c", {f})}, 0, JobCounters{}).size(), 1u);
}

TEST(SqliteCatalog, NanQualityRoundTripsAsNan) {
  auto catalog = OpenSqliteCatalog(FreshCatalogPath());
  Collection c = catalog->CreateCollection(NewCollection("c"));
  ImageWrite w = NewImage(c.id, "a", {catalog->ReserveFaceIds(1)});
  w.faces[0].yaw_deg = std::nanf("");
  w.faces[0].box[2] = std::nanf("");
  w.faces[0].roll_deg = 1e-30f;
  const int64_t id = catalog->AddImages({w}, 0, JobCounters{})[0];
  FaceRecord face = catalog->FacesOfImage(id).at(0);
  EXPECT_TRUE(std::isnan(face.yaw_deg));
  EXPECT_TRUE(std::isnan(face.box[2]));
  EXPECT_EQ(face.roll_deg, 1e-30f);
}

TEST(SqliteCatalog, OpenCatalogDispatchesByLocation) {
  const std::string path = FreshCatalogPath();
  EXPECT_EQ(OpenCatalog(path)->SchemaVersion(), kSqliteCatalogSchemaVersion);
  EXPECT_TRUE(std::filesystem::exists(path));
  // A libpq keyword string goes to PostgreSQL (which fails here), never to a file.
  const auto dir = testing::TempDir("sqlite-dispatch");
  const std::string conninfo = (dir / "host=/nonexistent-lineup-socket-dir dbname=none").string();
  EXPECT_ANY_THROW(OpenCatalog(conninfo));
  EXPECT_TRUE(std::filesystem::is_empty(dir));
}

}  // namespace
}  // namespace lineup
