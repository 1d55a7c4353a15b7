// The PostgreSQL catalog against a real, throwaway server (tests/postgres_server.h):
// the shared conformance suite plus what only a client/server backend has
// (several connections, migrations racing, lost connections, connection
// errors).
#include "catalog/postgres_catalog.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "catalog/catalog_conformance_test.h"
#include "common/error.h"
#include "common/file_util.h"
#include "postgres_server.h"
#include "test_env.h"

namespace lineup {
namespace {

using testing::PostgresServer;
using testing::PostgresUnavailableReason;

INSTANTIATE_TEST_SUITE_P(
    Postgres, CatalogConformance,
    ::testing::Values(CatalogFactory{
        .name = "Postgres",
        .make_location = [] { return PostgresServer::Shared().CreateDatabase(); },
        .open = [](const std::string& conninfo) { return OpenPostgresCatalog(conninfo); },
        .unavailable = PostgresUnavailableReason}),
    CatalogFactoryName);

class PostgresCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string reason = PostgresUnavailableReason();
    if (!reason.empty()) GTEST_SKIP() << reason;
    conninfo_ = PostgresServer::Shared().CreateDatabase();
  }

  PostgresServer& server() { return PostgresServer::Shared(); }

  // A plain libpqxx connection to the test's database, for arranging and
  // inspecting rows without Lineup code.
  std::unique_ptr<pqxx::connection> Raw() { return std::make_unique<pqxx::connection>(conninfo_); }
  int64_t RawCount(const std::string& table) {
    auto raw = Raw();
    pqxx::nontransaction tx(*raw);
    return tx.exec1("SELECT count(*) FROM " + tx.quote_name(table))[0].as<int64_t>();
  }

  std::string conninfo_;
};

Collection NewCollection(const std::string& name) {
  Collection c;
  c.name = name;
  c.legal_basis = "consent";
  return c;
}

ImageWrite NewImage(int64_t collection_id, const std::string& sha, std::vector<int64_t> face_ids) {
  ImageWrite w;
  w.image.collection_id = collection_id;
  w.image.content_sha256 = sha;
  w.image.width = 100;
  w.image.height = 80;
  w.image.stored_path = "images/" + sha + ".jpg";
  w.image.original_name = sha + ".jpg";
  Source source;
  source.source_url = "https://example.org/" + sha + ".jpg";
  w.source = source;
  for (int64_t id : face_ids) {
    FaceRecord f;
    f.id = id;
    f.box = {1, 2, 30, 40};
    f.detection_score = 0.9f;
    f.model_id = "m";
    w.faces.push_back(f);
  }
  return w;
}

TEST_F(PostgresCatalogTest, CatalogsOnSeparateConnectionsReserveDisjointIncreasingRanges) {
  constexpr int kCatalogs = 4;
  constexpr int kReservations = 50;
  std::vector<std::unique_ptr<Catalog>> catalogs;
  for (int k = 0; k < kCatalogs; ++k) catalogs.push_back(OpenPostgresCatalog(conninfo_));
  std::vector<std::vector<std::pair<int64_t, int64_t>>> ranges(kCatalogs);  // [first, end)
  std::vector<std::thread> threads;
  for (int t = 0; t < kCatalogs; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kReservations; ++k) {
        const int64_t count = 1 + (t * 7 + k * 3) % 11;
        const int64_t first = catalogs[t]->ReserveFaceIds(count);
        ranges[t].emplace_back(first, first + count);
      }
    });
  }
  for (auto& thread : threads) thread.join();

  std::vector<std::pair<int64_t, int64_t>> all;
  for (const auto& list : ranges) {
    for (size_t k = 1; k < list.size(); ++k) EXPECT_GT(list[k].first, list[k - 1].first);
    all.insert(all.end(), list.begin(), list.end());
  }
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), static_cast<size_t>(kCatalogs * kReservations));
  EXPECT_GE(all.front().first, 1);
  // Disjoint and, since nobody else reserved, without gaps.
  for (size_t k = 1; k < all.size(); ++k) EXPECT_EQ(all[k].first, all[k - 1].second);
  EXPECT_EQ(catalogs[0]->ReserveFaceIds(1), all.back().second);
}

TEST_F(PostgresCatalogTest, OpeningTwiceOrConcurrentlyMigratesOnce) {
  // Four processes' worth of connections open a fresh database at once; the
  // advisory lock makes one of them migrate and the others wait.
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      try {
        EXPECT_EQ(OpenPostgresCatalog(conninfo_)->SchemaVersion(), kPostgresCatalogSchemaVersion);
      } catch (const Error& e) {
        ADD_FAILURE() << e.what();
        ++failures;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);

  auto first = OpenPostgresCatalog(conninfo_);
  first->CreateCollection(NewCollection("kept"));
  auto second = OpenPostgresCatalog(conninfo_);
  EXPECT_TRUE(second->FindCollection("kept").has_value());
  EXPECT_EQ(RawCount("schema_migrations"), kPostgresCatalogSchemaVersion);
  EXPECT_EQ(RawCount("face_id_reservation"), 1);
}

TEST_F(PostgresCatalogTest, RefusesADatabaseOfANewerSchemaAndLeavesItAlone) {
  OpenPostgresCatalog(conninfo_)->CreateCollection(NewCollection("c"));
  {
    auto raw = Raw();
    pqxx::work tx(*raw);
    tx.exec_params("INSERT INTO schema_migrations (version) VALUES ($1)",
                   kPostgresCatalogSchemaVersion + 1);
    tx.commit();
  }
  try {
    OpenPostgresCatalog(conninfo_);
    FAIL() << "opened a database of a newer schema";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("newer"), std::string::npos) << message;
    EXPECT_NE(message.find("schema " + std::to_string(kPostgresCatalogSchemaVersion + 1)),
              std::string::npos)
        << message;
  }
  EXPECT_EQ(RawCount("schema_migrations"), kPostgresCatalogSchemaVersion + 1);
  EXPECT_EQ(RawCount("collections"), 1);
}

TEST_F(PostgresCatalogTest, ConnectionErrorsNameTheServerButNeverThePassword) {
  const std::string socket_dir = server().socket_dir().string();
  const int wrong_port = server().port() == 1 ? 2 : 1;
  const std::string secret = "hunter2-secret";
  const std::vector<std::string> wrong = {
      // Nobody listens on that port's socket.
      "host=" + socket_dir + " port=" + std::to_string(wrong_port) +
          " dbname=gallery user=lineup_test password=" + secret,
      // A socket directory that does not exist.
      "host=/nonexistent-lineup-socket-dir port=5432 dbname=gallery password='" + secret + "'",
      // The right server, a database that does not exist.
      "host=" + socket_dir + " port=" + std::to_string(server().port()) +
          " dbname=no_such_db user=lineup_test password=" + secret,
      // URI form with the password in the user info.
      "postgresql://lineup_test:" + secret + "@/gallery?host=/nonexistent-lineup-socket-dir",
  };
  for (const std::string& conninfo : wrong) {
    SCOPED_TRACE(conninfo);
    try {
      OpenPostgresCatalog(conninfo);
      ADD_FAILURE() << "connected";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.find(secret), std::string::npos) << message;
      EXPECT_NE(message.find("PostgreSQL host="), std::string::npos) << message;
      EXPECT_NE(message.find("dbname="), std::string::npos) << message;
      EXPECT_NE(message.find("connection failed"), std::string::npos) << message;
    }
  }
}

// The pool, seen from the server: with the settings table locked by another
// session, five concurrent reads of a catalog with lineup_pool=3 wait inside
// the database on three connections (one connection would hold one); the
// other two wait for a connection and never open a fourth.
TEST_F(PostgresCatalogTest, ConcurrentCallsRunOnSeveralConnectionsUpToThePoolSize) {
  std::unique_ptr<Catalog> catalog = OpenPostgresCatalog(conninfo_ + " lineup_pool=3");
  catalog->SetSetting("k", "v");
  auto locker = Raw();
  pqxx::work lock_tx(*locker);
  lock_tx.exec0("LOCK TABLE settings IN ACCESS EXCLUSIVE MODE");
  auto watcher = Raw();
  auto sessions = [&](const std::string& where) {
    pqxx::nontransaction tx(*watcher);
    return tx.exec1("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND " + where)[0]
        .as<int64_t>();
  };
  std::atomic<int> started{0};
  std::vector<std::optional<std::string>> got(5);
  std::vector<std::thread> readers;
  for (size_t i = 0; i < got.size(); ++i) {
    readers.emplace_back([&, i] {
      ++started;
      got[i] = catalog->GetSetting("k");
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((started.load() < 5 || sessions("wait_event_type = 'Lock'") < 3) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(sessions("wait_event_type = 'Lock'"), 3) << "three calls wait in the database at once";
  EXPECT_EQ(sessions("backend_type = 'client backend'"), 3 + 2) << "the pool's three, the locker and the watcher";
  lock_tx.commit();
  for (auto& t : readers) t.join();
  for (const auto& value : got) EXPECT_EQ(value, std::optional<std::string>("v"));
}

TEST_F(PostgresCatalogTest, PoolSizeOutsideItsRangeIsRefused) {
  for (const char* bad : {" lineup_pool=0", " lineup_pool=65", " lineup_pool=99999"}) {
    try {
      OpenPostgresCatalog(conninfo_ + bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("lineup_pool"), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW(OpenPostgresCatalog("lineup_pool=1 " + conninfo_)->GetSetting("k"));
}

TEST_F(PostgresCatalogTest, DescribesConnectionStringsWithoutPasswords) {
  EXPECT_EQ(DescribePostgresLocation("host=/tmp/pg port=5433 dbname=lineup user=bob password=pw"),
            "PostgreSQL host=/tmp/pg port=5433 dbname=lineup user=bob");
  EXPECT_EQ(DescribePostgresLocation("host = 'db.example.org' dbname='my \\'db' port=6000 user=u"),
            "PostgreSQL host=db.example.org port=6000 dbname=my 'db user=u");
  EXPECT_EQ(DescribePostgresLocation("postgresql://alice:s3cr%65t@db.example.org:5544/gal%20lery"),
            "PostgreSQL host=db.example.org port=5544 dbname=gal lery user=alice");
  const std::string uri = DescribePostgresLocation("postgres://u:pw@/g?host=/run/pg&port=7");
  EXPECT_EQ(uri, "PostgreSQL host=/run/pg port=7 dbname=g user=u");
}

// The server ends the connection while AddImages waits halfway through its
// transaction (its images are inserted, its faces blocked by a lock another
// connection holds): nothing of the call may remain, and the catalog
// connects again for the next call.
TEST_F(PostgresCatalogTest, ConnectionKilledMidAddImagesLeavesNothing) {
  auto catalog = OpenPostgresCatalog(conninfo_);
  Collection c = catalog->CreateCollection(NewCollection("c"));
  IngestJob job = catalog->CreateJob(c.id, "/in", "{}");
  const int64_t f = catalog->ReserveFaceIds(20);
  std::vector<ImageWrite> batch;
  for (int k = 0; k < 10; ++k)
    batch.push_back(NewImage(c.id, "h" + std::to_string(k), {f + 2 * k, f + 2 * k + 1}));

  auto locker = Raw();
  pqxx::work lock_tx(*locker);
  lock_tx.exec0("LOCK TABLE faces IN ACCESS EXCLUSIVE MODE");

  std::string add_error;
  std::thread writer([&] {
    try {
      catalog->AddImages(batch, job.id, JobCounters{10, 10, 0, 0, 20, 0});
    } catch (const Error& e) {
      add_error = e.what();
    }
  });

  // Find the writer's backend waiting for the lock, and terminate it.
  auto admin = Raw();
  int64_t victim = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (victim == 0 && std::chrono::steady_clock::now() < deadline) {
    pqxx::nontransaction tx(*admin);
    auto r = tx.exec_params(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND "
        "wait_event_type = 'Lock' AND pid <> $1",
        locker->backendpid());
    if (!r.empty())
      victim = r[0][0].as<int64_t>();
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (victim != 0) {
    pqxx::nontransaction tx(*admin);
    EXPECT_TRUE(tx.exec_params1("SELECT pg_terminate_backend($1)", victim)[0].as<bool>());
  }
  lock_tx.abort();
  writer.join();
  ASSERT_NE(victim, 0) << "AddImages never waited for the lock";

  EXPECT_NE(add_error.find("adding images"), std::string::npos) << add_error;
  EXPECT_NE(add_error.find("PostgreSQL host="), std::string::npos) << add_error;
  EXPECT_EQ(RawCount("images"), 0);
  EXPECT_EQ(RawCount("sources"), 0);
  EXPECT_EQ(RawCount("faces"), 0);

  // The same object reconnects and the call succeeds as a whole.
  EXPECT_EQ(catalog->GetJob(job.id)->counters.images_seen, 0);
  EXPECT_EQ(catalog->AddImages(batch, job.id, JobCounters{10, 10, 0, 0, 20, 0}).size(), 10u);
  EXPECT_EQ(catalog->GetJob(job.id)->counters.faces_added, 20);
  EXPECT_EQ(RawCount("faces"), 20);
  EXPECT_EQ(RawCount("sources"), 10);
}

// BYTEA storage: bytes no TEXT column of a UTF-8 database would take.
TEST_F(PostgresCatalogTest, NulBytesAndInvalidUtf8RoundTrip) {
  auto catalog = OpenPostgresCatalog(conninfo_);
  using namespace std::string_literals;
  const std::string odd = "nul \0 inside, latin-1 caf\xE9, lone \xFF\xFE"s;
  ASSERT_NE(odd.find('\0'), std::string::npos);
  catalog->SetSetting(odd, odd);
  EXPECT_EQ(catalog->GetSetting(odd), odd);
  Collection c = catalog->CreateCollection(NewCollection(odd));
  EXPECT_EQ(catalog->FindCollection(odd)->id, c.id);
  EXPECT_FALSE(catalog->FindCollection(odd.substr(0, 4)).has_value());
  ImageWrite w = NewImage(c.id, odd, {catalog->ReserveFaceIds(1)});
  w.image.original_name = odd;
  w.source->source_url = odd;
  const int64_t id = catalog->AddImages({w}, 0, JobCounters{})[0];
  EXPECT_EQ(catalog->GetImage(id)->original_name, odd);
  EXPECT_EQ(catalog->FindImageByHash(c.id, odd)->id, id);
  EXPECT_EQ(catalog->FindImagesBySourcePrefix(odd.substr(0, 6)), std::vector<int64_t>{id});
  EXPECT_EQ(catalog->FindImagesBySourcePrefix(std::string("\xFF", 1)), std::vector<int64_t>{});
}

TEST_F(PostgresCatalogTest, SpecialFloatsRoundTripExactly) {
  auto catalog = OpenPostgresCatalog(conninfo_);
  Collection c = catalog->CreateCollection(NewCollection("c"));
  ImageWrite w = NewImage(c.id, "x", {catalog->ReserveFaceIds(1)});
  FaceRecord& face = w.faces[0];
  face.detection_score = std::numeric_limits<float>::quiet_NaN();
  face.size_px = std::numeric_limits<float>::infinity();
  face.sharpness = -std::numeric_limits<float>::infinity();
  face.yaw_deg = std::numeric_limits<float>::denorm_min();
  face.roll_deg = 0.1f + 0.2f;
  face.box[2] = std::numeric_limits<float>::quiet_NaN();
  face.landmarks[9] = std::numeric_limits<float>::max();
  const int64_t id = catalog->AddImages({w}, 0, JobCounters{})[0];
  const FaceRecord got = catalog->FacesOfImage(id).at(0);
  EXPECT_TRUE(std::isnan(got.detection_score));
  EXPECT_EQ(got.size_px, face.size_px);
  EXPECT_EQ(got.sharpness, face.sharpness);
  EXPECT_EQ(got.yaw_deg, face.yaw_deg);
  EXPECT_EQ(got.roll_deg, face.roll_deg);
  EXPECT_TRUE(std::isnan(got.box[2]));
  EXPECT_EQ(got.landmarks[9], face.landmarks[9]);
}

TEST_F(PostgresCatalogTest, OpenCatalogSendsConnectionStringsHere) {
  auto catalog = OpenCatalog(conninfo_);
  catalog->SetSetting("k", "v");
  EXPECT_EQ(RawCount("settings"), 1);
}

TEST_F(PostgresCatalogTest, ForEachFaceReadsOneSnapshotAcrossPages) {
  auto catalog = OpenPostgresCatalog(conninfo_);
  Collection c = catalog->CreateCollection(NewCollection("c"));
  constexpr int kImages = 6000;  // 12000 faces: more than one cursor page
  const int64_t f = catalog->ReserveFaceIds(2 * kImages + 2);
  std::vector<ImageWrite> batch;
  for (int k = 0; k < kImages; ++k) {
    batch.push_back(NewImage(c.id, "h" + std::to_string(k), {f + 2 * k, f + 2 * k + 1}));
  }
  catalog->AddImages(batch, 0, JobCounters{});
  int64_t seen = 0;
  int64_t previous = 0;
  bool ascending = true;
  catalog->ForEachFace([&](int64_t face, int64_t collection) {
    ascending = ascending && face > previous && collection == c.id;
    previous = face;
    // Writes during the scan (here: from the callback) are not seen by it.
    if (++seen == 1) {
      catalog->AddImages({NewImage(c.id, "late", {f + 2 * kImages, f + 2 * kImages + 1})}, 0,
                         JobCounters{});
    }
  });
  EXPECT_TRUE(ascending);
  EXPECT_EQ(seen, 2 * kImages);
  EXPECT_EQ(catalog->Stats().faces, 2 * kImages + 2);
}

// --- measurement (run on demand: --gtest_also_run_disabled_tests
//     --gtest_filter='*MeasureAgainstSqlite*'); prints figures, asserts no timing.

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Images with a source and one or two faces, as an ingest would write them.
std::vector<ImageWrite> IngestBatch(Catalog& catalog, int64_t collection_id, int first_image,
                                    int count) {
  int faces = 0;
  for (int k = 0; k < count; ++k) faces += 1 + (first_image + k) % 2;
  int64_t face_id = catalog.ReserveFaceIds(faces);
  std::vector<ImageWrite> batch;
  for (int k = 0; k < count; ++k) {
    const int n = first_image + k;
    std::vector<int64_t> ids;
    for (int j = 0; j < 1 + n % 2; ++j) ids.push_back(face_id++);
    batch.push_back(NewImage(collection_id, Sha256Hex(&n, sizeof n), ids));
  }
  return batch;
}

int EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::atoi(value) : fallback;
}

// One backend under measurement: its catalog, collection and running totals.
struct Measured {
  std::string name;
  std::unique_ptr<Catalog> catalog;
  int64_t collection = 0;
  int64_t job = 0;
  int64_t faces = 0;
  double add_seconds = 0;
  double scan_seconds = std::numeric_limits<double>::max();  // best of the runs
};

// Returns the seconds taken.
double AddBatch(Measured& m, int first_image, int count) {
  const auto start = std::chrono::steady_clock::now();
  auto batch = IngestBatch(*m.catalog, m.collection, first_image, count);  // reserves ids too
  m.catalog->AddImages(batch, m.job, JobCounters{count, count, 0, 0, 0, 0});
  const double seconds = SecondsSince(start);
  for (const auto& w : batch) m.faces += static_cast<int64_t>(w.faces.size());
  return seconds;
}

void ScanTimed(Measured& m) {
  int64_t seen = 0;
  const auto start = std::chrono::steady_clock::now();
  m.catalog->ForEachFace([&](int64_t, int64_t) { ++seen; });
  m.scan_seconds = std::min(m.scan_seconds, SecondsSince(start));
  EXPECT_EQ(seen, m.faces) << m.name;
}

// Both backends in one process, batches interleaved so that load from other
// processes on the machine falls on both alike.
TEST_F(PostgresCatalogTest, DISABLED_MeasureAgainstSqlite) {
  const int images = EnvInt("LINEUP_MEASURE_IMAGES", 20000);
  const int batch = EnvInt("LINEUP_MEASURE_BATCH", 64);
  const int scan_faces = EnvInt("LINEUP_MEASURE_FACES", 200000);
  // LINEUP_MEASURE_POSTGRES: an empty database on a server of your own (the
  // test server runs with fsync off).
  const char* other = std::getenv("LINEUP_MEASURE_POSTGRES");
  Measured backends[2];
  backends[0].name = "SQLite    ";
  backends[0].catalog =
      OpenSqliteCatalog((testing::TempDir("measure-sqlite") / "catalog.db").string());
  backends[1].name = "PostgreSQL";
  backends[1].catalog = OpenPostgresCatalog(other != nullptr ? other : conninfo_);
  for (Measured& m : backends) {
    m.collection = m.catalog->CreateCollection(NewCollection("measure")).id;
    m.job = m.catalog->CreateJob(m.collection, "/measure", "{}").id;
  }
  for (int done = 0; done < images; done += batch) {
    for (Measured& m : backends) m.add_seconds += AddBatch(m, done, std::min(batch, images - done));
  }
  for (Measured& m : backends) {
    for (int next = images; m.faces < scan_faces; next += 5000) AddBatch(m, next, 5000);
  }
  for (int run = 0; run < 2; ++run) {
    for (Measured& m : backends) ScanTimed(m);
  }
  std::cout << "AddImages, " << images << " images in batches of " << batch
            << " (a source and 1.5 faces each, ids reserved per batch):\n";
  for (const Measured& m : backends) {
    std::cout << "  " << m.name << " " << images / m.add_seconds << " images/s\n";
  }
  std::cout << "ForEachFace over " << backends[0].faces << " faces (best of 2):\n";
  for (const Measured& m : backends) {
    std::cout << "  " << m.name << " " << m.faces / m.scan_seconds << " faces/s\n";
  }
}

}  // namespace
}  // namespace lineup
