#include "catalog/sqlite_catalog.h"

#include <sqlite3.h>

#include <algorithm>
#include <bit>
#include <ctime>
#include <filesystem>
#include <limits>
#include <mutex>
#include <tuple>
#include <unordered_map>

#include "catalog/row_encoding.h"
#include "catalog/sqlite_db.h"
#include "common/error.h"
#include "common/utc_time.h"

namespace lineup {
namespace {

using row_encoding::HasAnyField;
using row_encoding::PackFloats;
using row_encoding::PrefixSuccessor;
using row_encoding::UnpackFloats;

// --- schema

// Schema history, one entry per version: kMigrations[v] upgrades a file of
// schema v to v + 1. Entries are never edited once released (files in the
// field were made by them); a change is a new entry at the end. Each step
// runs inside the single migration transaction, so it must not need
// PRAGMA foreign_keys changes (a table rebuild would have to do that outside).
//
// v1: the tables.
// v2: the secondary indexes every lookup and cascade relies on.
// v3: ingest_jobs.opted_out (faces an opt-out kept out).
// v4: sources.licence renamed legal_basis (what the manifest field and the
//     web app call it; the column always held an item's legal basis).
constexpr const char* kMigrations[] = {
    // v0 -> v1
    R"sql(
CREATE TABLE settings (
  key   TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
);
CREATE TABLE collections (
  id             INTEGER PRIMARY KEY,
  name           TEXT NOT NULL UNIQUE CHECK (name <> ''),
  description    TEXT NOT NULL,
  legal_basis    TEXT NOT NULL CHECK (legal_basis <> ''),
  jurisdiction   TEXT NOT NULL,
  retention_days INTEGER NOT NULL CHECK (retention_days >= 0),
  created_at     TEXT NOT NULL
);
-- A source row exists only while at least one image refers to it.
CREATE TABLE sources (
  id           INTEGER PRIMARY KEY,
  source_url   TEXT NOT NULL,
  page_url     TEXT NOT NULL,
  title        TEXT NOT NULL,
  captured_at  TEXT NOT NULL,
  published_at TEXT NOT NULL,
  licence      TEXT NOT NULL
);
CREATE TABLE ingest_jobs (
  id            INTEGER PRIMARY KEY,
  collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
  input         TEXT NOT NULL,
  options_json  TEXT NOT NULL,
  status        TEXT NOT NULL CHECK (status IN ('running', 'interrupted', 'done', 'failed')),
  images_seen   INTEGER NOT NULL DEFAULT 0,
  images_added  INTEGER NOT NULL DEFAULT 0,
  duplicates    INTEGER NOT NULL DEFAULT 0,
  no_face       INTEGER NOT NULL DEFAULT 0,
  faces_added   INTEGER NOT NULL DEFAULT 0,
  errors        INTEGER NOT NULL DEFAULT 0,
  started_at    TEXT NOT NULL,
  finished_at   TEXT NOT NULL DEFAULT ''
);
CREATE TABLE job_errors (
  id     INTEGER PRIMARY KEY,
  job_id INTEGER NOT NULL REFERENCES ingest_jobs (id) ON DELETE CASCADE,
  item   TEXT NOT NULL,
  reason TEXT NOT NULL
);
-- perceptual_hash holds the uint64 hash's bits as a signed 64-bit integer.
CREATE TABLE images (
  id              INTEGER PRIMARY KEY,
  collection_id   INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
  source_id       INTEGER REFERENCES sources (id),
  job_id          INTEGER REFERENCES ingest_jobs (id) ON DELETE SET NULL,
  content_sha256  TEXT NOT NULL,
  perceptual_hash INTEGER NOT NULL,
  width           INTEGER NOT NULL,
  height          INTEGER NOT NULL,
  byte_size       INTEGER NOT NULL,
  stored_path     TEXT NOT NULL,
  original_name   TEXT NOT NULL,
  ingested_at     TEXT NOT NULL,
  UNIQUE (collection_id, content_sha256)
);
-- box: 4 and landmarks: 10 little-endian float32. NULL quality = NaN.
CREATE TABLE faces (
  id              INTEGER PRIMARY KEY CHECK (id > 0),
  image_id        INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
  box             BLOB NOT NULL CHECK (length(box) = 16),
  landmarks       BLOB NOT NULL CHECK (length(landmarks) = 40),
  detection_score REAL,
  size_px         REAL,
  sharpness       REAL,
  yaw_deg         REAL,
  roll_deg        REAL,
  model_id        TEXT NOT NULL
);
-- One row: the next face id ReserveFaceIds hands out. Only ever grows.
CREATE TABLE face_id_reservation (
  singleton    INTEGER PRIMARY KEY CHECK (singleton = 1),
  next_face_id INTEGER NOT NULL CHECK (next_face_id >= 1)
);
INSERT INTO face_id_reservation (singleton, next_face_id) VALUES (1, 1);
)sql",
    // v1 -> v2. Images by collection use UNIQUE (collection_id, content_sha256).
    R"sql(
CREATE INDEX images_by_source ON images (source_id);
CREATE INDEX images_by_job ON images (job_id);
CREATE INDEX faces_by_image ON faces (image_id);
CREATE INDEX sources_by_source_url ON sources (source_url, page_url);
CREATE INDEX sources_by_page_url ON sources (page_url);
CREATE INDEX jobs_by_collection_input ON ingest_jobs (collection_id, input);
CREATE INDEX job_errors_by_job ON job_errors (job_id);
)sql",
    // v2 -> v3
    R"sql(
ALTER TABLE ingest_jobs ADD COLUMN opted_out INTEGER NOT NULL DEFAULT 0;
)sql",
    // v3 -> v4
    R"sql(
ALTER TABLE sources RENAME COLUMN licence TO legal_basis;
)sql",
};
static_assert(std::size(kMigrations) == kSqliteCatalogSchemaVersion);

constexpr int kBusyTimeoutMs = 10'000;
constexpr int kOpenFlags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;

// Column lists shared by the readers below (aliases f, i, s, c, j).
constexpr const char* kFaceColumns =
    "f.id, f.image_id, f.box, f.landmarks, f.detection_score, f.size_px, f.sharpness, "
    "f.yaw_deg, f.roll_deg, f.model_id";
constexpr int kFaceColumnCount = 10;
constexpr const char* kImageColumns =
    "i.id, i.collection_id, i.source_id, i.job_id, i.content_sha256, i.perceptual_hash, "
    "i.width, i.height, i.byte_size, i.stored_path, i.original_name, i.ingested_at";
constexpr int kImageColumnCount = 12;
constexpr const char* kCollectionColumns =
    "c.id, c.name, c.description, c.legal_basis, c.jurisdiction, c.retention_days, "
    "c.created_at";
constexpr int kCollectionColumnCount = 7;
constexpr const char* kSourceColumns =
    "s.id, s.source_url, s.page_url, s.title, s.captured_at, s.published_at, s.legal_basis";
constexpr const char* kJobColumns =
    "j.id, j.collection_id, j.input, j.options_json, j.status, j.images_seen, j.images_added, "
    "j.duplicates, j.no_face, j.faces_added, j.errors, j.started_at, j.finished_at, j.opted_out";

std::string Cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto p : parts) out += p;
  return out;
}

std::string NowUtcIso8601() { return IsoUtc(UnixNow()); }

bool IsConstraint(const SqliteError& e, int extended_code) { return e.code() == extended_code; }

// --- face geometry as little-endian float32 blobs



// --- row readers (column order = the lists above, from `first`)

Collection ReadCollection(const SqliteQuery& q, int first) {
  Collection c;
  c.id = q.Int64(first);
  c.name = q.Text(first + 1);
  c.description = q.Text(first + 2);
  c.legal_basis = q.Text(first + 3);
  c.jurisdiction = q.Text(first + 4);
  c.retention_days = q.Int64(first + 5);
  c.created_at = q.Text(first + 6);
  return c;
}

ImageRecord ReadImage(const SqliteQuery& q, int first) {
  ImageRecord image;
  image.id = q.Int64(first);
  image.collection_id = q.Int64(first + 1);
  image.source_id = q.Int64(first + 2);  // NULL reads as 0 = no source
  image.job_id = q.Int64(first + 3);
  image.content_sha256 = q.Text(first + 4);
  image.perceptual_hash = static_cast<uint64_t>(q.Int64(first + 5));
  image.width = static_cast<int>(q.Int64(first + 6));
  image.height = static_cast<int>(q.Int64(first + 7));
  image.byte_size = q.Int64(first + 8);
  image.stored_path = q.Text(first + 9);
  image.original_name = q.Text(first + 10);
  image.ingested_at = q.Text(first + 11);
  return image;
}

FaceRecord ReadFace(const SqliteQuery& q, int first, const std::string& where) {
  FaceRecord face;
  face.id = q.Int64(first);
  face.image_id = q.Int64(first + 1);
  face.box = UnpackFloats<4>(q.Blob(first + 2), where);
  face.landmarks = UnpackFloats<10>(q.Blob(first + 3), where);
  face.detection_score = static_cast<float>(q.Double(first + 4));
  face.size_px = static_cast<float>(q.Double(first + 5));
  face.sharpness = static_cast<float>(q.Double(first + 6));
  face.yaw_deg = static_cast<float>(q.Double(first + 7));
  face.roll_deg = static_cast<float>(q.Double(first + 8));
  face.model_id = q.Text(first + 9);
  return face;
}

Source ReadSource(const SqliteQuery& q, int first) {
  Source s;
  s.id = q.Int64(first);
  s.source_url = q.Text(first + 1);
  s.page_url = q.Text(first + 2);
  s.title = q.Text(first + 3);
  s.captured_at = q.Text(first + 4);
  s.published_at = q.Text(first + 5);
  s.legal_basis = q.Text(first + 6);
  return s;
}

IngestJob ReadJob(const SqliteQuery& q) {
  IngestJob job;
  job.id = q.Int64(0);
  job.collection_id = q.Int64(1);
  job.input = q.Text(2);
  job.options_json = q.Text(3);
  job.status = JobStatusFromString(q.Text(4));
  job.counters.images_seen = q.Int64(5);
  job.counters.images_added = q.Int64(6);
  job.counters.duplicates = q.Int64(7);
  job.counters.no_face = q.Int64(8);
  job.counters.faces_added = q.Int64(9);
  job.counters.errors = q.Int64(10);
  job.started_at = q.Text(11);
  job.finished_at = q.Text(12);
  job.counters.opted_out = q.Int64(13);
  return job;
}



// --- opening

// Reads the header of an opened file without writing to it and returns its
// schema version; 0 means an empty database that becomes a new catalog.
// Throws Error if the file is not SQLite, not a Lineup catalog, or newer.
int ValidateCatalogFile(SqliteDb& db) {
  int64_t application_id = 0;
  int64_t version = 0;
  int64_t objects = 0;
  try {
    application_id = db.QueryInt64("PRAGMA application_id");
    version = db.QueryInt64("PRAGMA user_version");
    objects = db.QueryInt64("SELECT count(*) FROM sqlite_master");
  } catch (const SqliteError& e) {
    if ((e.code() & 0xFF) == SQLITE_NOTADB) {
      throw Error(Context(db.path(), "not a Lineup catalog (not an SQLite database)"));
    }
    throw Error(Context(db.path(), "cannot read as a Lineup catalog (corrupt?): ") + e.what());
  }
  if (application_id != kSqliteCatalogApplicationId) {
    if (application_id == 0 && version == 0 && objects == 0) return 0;
    throw Error(Context(db.path(), "not a Lineup catalog (an SQLite database of another "
                                   "application, application_id " +
                                       std::to_string(application_id) + ")"));
  }
  if (version > kSqliteCatalogSchemaVersion) {
    throw Error(Context(db.path(), "written by a newer Lineup (schema " + std::to_string(version) +
                                       ", this binary knows " +
                                       std::to_string(kSqliteCatalogSchemaVersion) + ")"));
  }
  if (version < 1) throw Error(Context(db.path(), "Lineup catalog without a schema version"));
  return static_cast<int>(version);
}

void Configure(SqliteDb& db) {
  if (db.QueryText("PRAGMA journal_mode = WAL") != "wal") {
    throw Error(Context(db.path(), "cannot use WAL journal mode (file system without shared "
                                   "memory support?)"));
  }
  // secure_delete: deleted rows are overwritten with zeros in the file, so an
  // erasure leaves no copy in free pages (and, with TruncateWal after each
  // deletion, none in the WAL).
  db.Exec(
      "PRAGMA synchronous = FULL;"
      "PRAGMA secure_delete = ON;"
      "PRAGMA foreign_keys = ON;"
      "PRAGMA journal_size_limit = 67108864;"
      "PRAGMA cache_size = -32768;");
}

// Brings the file to kSqliteCatalogSchemaVersion in one transaction. The
// version is read again under the write lock: another process may have
// migrated (or created) the file meanwhile.
void Migrate(SqliteDb& db) {
  SqliteTransaction tx(db, SqliteTransaction::Mode::kWrite);
  const int from = ValidateCatalogFile(db);
  if (from == kSqliteCatalogSchemaVersion) return;
  for (int v = from; v < kSqliteCatalogSchemaVersion; ++v) db.Exec(kMigrations[v]);
  db.Exec("PRAGMA user_version = " + std::to_string(kSqliteCatalogSchemaVersion) +
          "; PRAGMA application_id = " + std::to_string(kSqliteCatalogApplicationId));
  tx.Commit();
}

std::unique_ptr<SqliteDb> OpenDb(const std::string& path, int flags) {
  auto db = std::make_unique<SqliteDb>(path, flags);
  sqlite3_busy_timeout(db->handle(), kBusyTimeoutMs);
  return db;
}

// --- the catalog

class SqliteCatalog final : public Catalog {
 public:
  explicit SqliteCatalog(const std::string& path) : path_(path) {
    if (path.empty() || path == ":memory:" || path.front() == ':') {
      throw Error(Context("'" + path + "'", "a SQLite catalog needs a file path"));
    }
    db_ = OpenDb(path, kOpenFlags | SQLITE_OPEN_CREATE);
    const int version = ValidateCatalogFile(*db_);  // before anything writes
    Configure(*db_);
    if (version < kSqliteCatalogSchemaVersion) Migrate(*db_);
  }

  sqlite3* handle() { return db_->handle(); }

  int SchemaVersion() override {
    std::lock_guard lock(mu_);
    return static_cast<int>(db_->QueryInt64("PRAGMA user_version"));
  }

  std::optional<std::string> GetSetting(const std::string& key) override {
    std::lock_guard lock(mu_);
    auto q = db_->Query("SELECT value FROM settings WHERE key = ?1");
    q.BindText(1, key);
    if (!q.Step()) return std::nullopt;
    return q.Text(0);
  }

  void SetSetting(const std::string& key, const std::string& value) override {
    std::lock_guard lock(mu_);
    auto q = db_->Query(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    q.BindText(1, key).BindText(2, value).Run();
  }

  // --- collections

  Collection CreateCollection(const Collection& collection) override {
    if (collection.name.empty()) throw Error(Context(path_, "a collection needs a name"));
    if (collection.legal_basis.empty()) {
      throw Error(Context(path_, "collection '" + collection.name + "' needs a legal basis"));
    }
    if (collection.retention_days < 0) {
      throw Error(Context(path_, "collection '" + collection.name +
                                     "': retention_days must not be negative"));
    }
    std::lock_guard lock(mu_);
    SqliteTransaction tx(*db_, SqliteTransaction::Mode::kWrite);
    if (FindCollectionLocked(collection.name)) {
      throw Error(Context(path_, "collection name '" + collection.name + "' is taken"));
    }
    Collection created = collection;
    created.created_at = NowUtcIso8601();
    auto q = db_->Query(
        "INSERT INTO collections (name, description, legal_basis, jurisdiction, retention_days, "
        "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    q.BindText(1, created.name).BindText(2, created.description).BindText(3, created.legal_basis);
    q.BindText(4, created.jurisdiction).Bind(5, created.retention_days);
    q.BindText(6, created.created_at).Run();
    created.id = db_->LastInsertRowId();
    tx.Commit();
    return created;
  }

  std::optional<Collection> FindCollection(const std::string& name) override {
    std::lock_guard lock(mu_);
    return FindCollectionLocked(name);
  }

  bool SetRetentionDays(int64_t collection_id, int64_t days) override {
    if (days < 0) throw Error(Context(path_, "retention days must be 0 (keep) or more"));
    std::lock_guard lock(mu_);
    db_->Query("UPDATE collections SET retention_days = ?2 WHERE id = ?1").Bind(1, collection_id).Bind(2, days).Run();
    return db_->Changes() == 1;
  }

  std::optional<Collection> GetCollection(int64_t id) override {
    std::lock_guard lock(mu_);
    auto q = db_->Query(Cat({"SELECT ", kCollectionColumns, " FROM collections c WHERE c.id = ?1"}));
    q.Bind(1, id);
    if (!q.Step()) return std::nullopt;
    return ReadCollection(q, 0);
  }

  std::vector<Collection> ListCollections() override {
    std::lock_guard lock(mu_);
    auto q = db_->Query(Cat({"SELECT ", kCollectionColumns, " FROM collections c ORDER BY c.id"}));
    std::vector<Collection> out;
    while (q.Step()) out.push_back(ReadCollection(q, 0));
    return out;
  }

  // --- face ids

  int64_t ReserveFaceIds(int64_t count) override {
    if (count < 1) throw Error(Context(path_, "ReserveFaceIds needs a count of at least 1"));
    std::lock_guard lock(mu_);
    SqliteTransaction tx(*db_, SqliteTransaction::Mode::kWrite);
    const int64_t first = NextFaceIdLocked();
    if (first > std::numeric_limits<int64_t>::max() - count) {
      throw Error(Context(path_, "face id space exhausted"));
    }
    auto q = db_->Query("UPDATE face_id_reservation SET next_face_id = ?1 WHERE singleton = 1");
    q.Bind(1, first + count).Run();
    tx.Commit();  // synchronous=FULL: on disk before the ids are handed out
    return first;
  }

  // --- writing images

  std::vector<int64_t> AddImages(const std::vector<ImageWrite>& images, int64_t job_id,
                                 const JobCounters& delta) override {
    std::lock_guard lock(mu_);
    SqliteTransaction tx(*db_, SqliteTransaction::Mode::kWrite);
    if (job_id != 0) AddJobCountersLocked(job_id, delta);
    // Ids at or above the counter were never reserved: refusing them keeps
    // "face ids come only from ReserveFaceIds" true even for buggy callers.
    const int64_t next_face_id = NextFaceIdLocked();
    std::vector<int64_t> ids;
    ids.reserve(images.size());
    for (const ImageWrite& write : images) ids.push_back(InsertImageLocked(write, job_id, next_face_id));
    tx.Commit();
    return ids;
  }

  // --- reading

  std::optional<ImageRecord> FindImageByHash(int64_t collection_id,
                                             const std::string& content_sha256) override {
    std::lock_guard lock(mu_);
    auto q = db_->Query(Cat({"SELECT ", kImageColumns,
                             " FROM images i WHERE i.collection_id = ?1 AND i.content_sha256 = ?2"}));
    q.Bind(1, collection_id).BindText(2, content_sha256);
    if (!q.Step()) return std::nullopt;
    return ReadImage(q, 0);
  }

  std::optional<ImageRecord> GetImage(int64_t image_id) override {
    std::lock_guard lock(mu_);
    auto q = db_->Query(Cat({"SELECT ", kImageColumns, " FROM images i WHERE i.id = ?1"}));
    q.Bind(1, image_id);
    if (!q.Step()) return std::nullopt;
    return ReadImage(q, 0);
  }

  std::vector<FaceRecord> FacesOfImage(int64_t image_id) override {
    std::lock_guard lock(mu_);
    auto q = db_->Query(
        Cat({"SELECT ", kFaceColumns, " FROM faces f WHERE f.image_id = ?1 ORDER BY f.id"}));
    q.Bind(1, image_id);
    std::vector<FaceRecord> out;
    while (q.Step()) out.push_back(ReadFace(q, 0, path_));
    return out;
  }

  std::vector<FaceProvenance> DescribeFaces(const std::vector<int64_t>& face_ids) override {
    std::lock_guard lock(mu_);
    SqliteTransaction snapshot(*db_, SqliteTransaction::Mode::kRead);
    std::unordered_map<int64_t, FaceProvenance> found;
    for (size_t start = 0; start < face_ids.size(); start += kDescribeChunk) {
      const size_t end = std::min(face_ids.size(), start + kDescribeChunk);
      DescribeChunkLocked(face_ids, start, end, found);
    }
    snapshot.Commit();
    std::vector<FaceProvenance> out;
    out.reserve(face_ids.size());
    for (int64_t id : face_ids) {
      auto it = found.find(id);
      if (it != found.end()) out.push_back(it->second);
    }
    return out;
  }

  // Streams from a connection of its own: one consistent snapshot for the
  // whole scan, constant memory, no lock held while `fn` runs (so `fn` may
  // call this catalog), and writers are not blocked (WAL).
  void ForEachFace(const std::function<void(int64_t, int64_t)>& fn) override {
    auto reader = OpenDb(path_, kOpenFlags);
    reader->Exec("PRAGMA cache_size = -32768");
    auto q = reader->Query(
        "SELECT f.id, i.collection_id FROM faces f JOIN images i ON i.id = f.image_id "
        "ORDER BY f.id");
    while (q.Step()) fn(q.Int64(0), q.Int64(1));
  }

  std::vector<int64_t> FindImagesBySourcePrefix(const std::string& prefix) override {
    // An empty prefix would select every image with a source; deleting by it
    // would wipe the gallery, so it is refused rather than guessed at.
    if (prefix.empty()) throw Error(Context(path_, "source prefix must not be empty"));
    const std::optional<std::string> upper = PrefixSuccessor(prefix);
    std::lock_guard lock(mu_);
    // Byte-order range scans on the two URL indexes (BINARY collation): '%'
    // and '_' are ordinary bytes here, unlike in LIKE.
    auto q = db_->Query(
        upper ? "SELECT i.id FROM images i WHERE i.source_id IN ("
                "SELECT id FROM sources WHERE source_url >= ?1 AND source_url < ?2 UNION "
                "SELECT id FROM sources WHERE page_url >= ?1 AND page_url < ?2) ORDER BY i.id"
              : "SELECT i.id FROM images i WHERE i.source_id IN ("
                "SELECT id FROM sources WHERE source_url >= ?1 UNION "
                "SELECT id FROM sources WHERE page_url >= ?1) ORDER BY i.id");
    q.BindText(1, prefix);
    if (upper) q.BindText(2, *upper);
    std::vector<int64_t> ids;
    while (q.Step()) ids.push_back(q.Int64(0));
    return ids;
  }

  std::vector<int64_t> FindImagesOfJob(int64_t job_id) override {
    std::lock_guard lock(mu_);
    return IdsLocked("SELECT id FROM images WHERE job_id = ?1 ORDER BY id", job_id);
  }

  std::vector<int64_t> FindImagesIngestedBefore(int64_t collection_id,
                                                const std::string& iso_time) override {
    std::lock_guard lock(mu_);
    // ingested_at is always "YYYY-MM-DDTHH:MM:SSZ", so text order is time order.
    auto q = db_->Query(
        "SELECT id FROM images WHERE collection_id = ?1 AND ingested_at < ?2 ORDER BY id");
    q.Bind(1, collection_id).BindText(2, iso_time);
    std::vector<int64_t> ids;
    while (q.Step()) ids.push_back(q.Int64(0));
    return ids;
  }

  // Keyset pages: the lock is released between pages and while fn runs.
  void ForEachImageSource(const std::function<void(int64_t, const std::string&, const std::string&)>&
                              fn) override {
    int64_t after = 0;
    while (true) {
      std::vector<std::tuple<int64_t, std::string, std::string>> page;
      {
        std::lock_guard lock(mu_);
        auto q = db_->Query(
            "SELECT i.id, s.source_url, s.page_url FROM images i JOIN sources s ON s.id = i.source_id "
            "WHERE i.id > ?1 ORDER BY i.id LIMIT ?2");
        q.Bind(1, after).Bind(2, kSourcePage);
        while (q.Step()) page.emplace_back(q.Int64(0), q.Text(1), q.Text(2));
      }
      if (page.empty()) return;
      for (const auto& [id, source_url, page_url] : page) fn(id, source_url, page_url);
      after = std::get<0>(page.back());
    }
  }

  // --- deleting
  //
  // Rule for sources: a source row lives only while an image refers to it.
  // Deleting an image, a source's images or a collection removes, in the
  // same transaction, every source left without images. DeleteFaces removes
  // faces only; images (and so sources) stay. Deleting something that does
  // not exist deletes nothing and returns no ids (erasure is idempotent).
  // Returned face ids are ascending.

  std::vector<int64_t> DeleteFaces(const std::vector<int64_t>& face_ids) override {
    std::vector<int64_t> wanted = face_ids;
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    std::lock_guard lock(mu_);
    SqliteTransaction tx(*db_, SqliteTransaction::Mode::kWrite);
    std::vector<int64_t> deleted;
    for (int64_t id : wanted) {
      auto q = db_->Query("DELETE FROM faces WHERE id = ?1");
      q.Bind(1, id).Run();
      if (db_->Changes() == 1) deleted.push_back(id);
    }
    tx.Commit();
    db_->TruncateWal();  // no copy of the deleted rows stays in the WAL
    return deleted;
  }

  std::vector<int64_t> DeleteImage(int64_t image_id) override {
    std::lock_guard lock(mu_);
    SqliteTransaction tx(*db_, SqliteTransaction::Mode::kWrite);
    std::vector<int64_t> faces =
        IdsLocked("SELECT id FROM faces WHERE image_id = ?1 ORDER BY id", image_id);
    std::vector<int64_t> sources =
        IdsLocked("SELECT source_id FROM images WHERE id = ?1 AND source_id IS NOT NULL", image_id);
    auto q = db_->Query("DELETE FROM images WHERE id = ?1");  // faces cascade
    q.Bind(1, image_id).Run();
    DeleteOrphanSourcesLocked(sources);
    tx.Commit();
    db_->TruncateWal();  // no copy of the deleted rows stays in the WAL
    return faces;
  }

  std::vector<int64_t> DeleteImages(const std::vector<int64_t>& image_ids) override {
    std::lock_guard lock(mu_);
    SqliteTransaction tx(*db_, SqliteTransaction::Mode::kWrite);
    std::vector<int64_t> faces;
    for (int64_t image_id : image_ids) {
      for (int64_t f : IdsLocked("SELECT id FROM faces WHERE image_id = ?1", image_id)) faces.push_back(f);
      std::vector<int64_t> sources =
          IdsLocked("SELECT source_id FROM images WHERE id = ?1 AND source_id IS NOT NULL", image_id);
      db_->Query("DELETE FROM images WHERE id = ?1").Bind(1, image_id).Run();  // faces cascade
      DeleteOrphanSourcesLocked(sources);
    }
    tx.Commit();
    db_->TruncateWal();  // no copy of the deleted rows stays in the WAL
    std::sort(faces.begin(), faces.end());
    return faces;
  }

  void ScrubDeletedRows() override {
    std::lock_guard lock(mu_);
    db_->TruncateWal();
  }

  std::vector<int64_t> DeleteSource(int64_t source_id) override {
    std::lock_guard lock(mu_);
    SqliteTransaction tx(*db_, SqliteTransaction::Mode::kWrite);
    std::vector<int64_t> faces = IdsLocked(
        "SELECT f.id FROM images i JOIN faces f ON f.image_id = i.id WHERE i.source_id = ?1 "
        "ORDER BY f.id",
        source_id);
    db_->Query("DELETE FROM images WHERE source_id = ?1").Bind(1, source_id).Run();
    db_->Query("DELETE FROM sources WHERE id = ?1").Bind(1, source_id).Run();
    tx.Commit();
    db_->TruncateWal();  // no copy of the deleted rows stays in the WAL
    return faces;
  }

  std::vector<int64_t> DeleteCollection(int64_t collection_id) override {
    std::lock_guard lock(mu_);
    SqliteTransaction tx(*db_, SqliteTransaction::Mode::kWrite);
    std::vector<int64_t> faces = IdsLocked(
        "SELECT f.id FROM images i JOIN faces f ON f.image_id = i.id WHERE i.collection_id = ?1 "
        "ORDER BY f.id",
        collection_id);
    // The collection's sources, kept aside in a temporary table: one bulk
    // orphan sweep afterwards instead of one statement per source.
    db_->Exec("CREATE TEMP TABLE IF NOT EXISTS doomed_sources (id INTEGER PRIMARY KEY)");
    db_->Query("INSERT OR IGNORE INTO temp.doomed_sources SELECT source_id FROM images "
               "WHERE collection_id = ?1 AND source_id IS NOT NULL")
        .Bind(1, collection_id)
        .Run();
    // Children first, in bulk: left to the cascade, deleting the collection's
    // jobs would first SET NULL images.job_id on every image about to go.
    db_->Query("DELETE FROM faces WHERE image_id IN (SELECT id FROM images WHERE collection_id = ?1)")
        .Bind(1, collection_id)
        .Run();
    db_->Query("DELETE FROM images WHERE collection_id = ?1").Bind(1, collection_id).Run();
    // Cascades: ingest_jobs -> job_errors.
    db_->Query("DELETE FROM collections WHERE id = ?1").Bind(1, collection_id).Run();
    db_->Exec(
        "DELETE FROM sources WHERE id IN (SELECT id FROM temp.doomed_sources) AND NOT EXISTS "
        "(SELECT 1 FROM images WHERE images.source_id = sources.id);"
        "DELETE FROM temp.doomed_sources;");
    tx.Commit();
    db_->TruncateWal();  // no copy of the deleted rows stays in the WAL
    return faces;
  }

  // --- ingest jobs

  IngestJob CreateJob(int64_t collection_id, const std::string& input,
                      const std::string& options_json) override {
    std::lock_guard lock(mu_);
    SqliteTransaction tx(*db_, SqliteTransaction::Mode::kWrite);
    if (IdsLocked("SELECT id FROM collections WHERE id = ?1", collection_id).empty()) {
      throw Error(Context(path_, "no collection with id " + std::to_string(collection_id)));
    }
    auto q = db_->Query(
        "INSERT INTO ingest_jobs (collection_id, input, options_json, status, started_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5)");
    q.Bind(1, collection_id).BindText(2, input).BindText(3, options_json);
    q.BindText(4, ToString(JobStatus::kRunning)).BindText(5, NowUtcIso8601()).Run();
    const int64_t id = db_->LastInsertRowId();
    std::optional<IngestJob> job = GetJobLocked(id);
    tx.Commit();
    return *job;
  }

  std::optional<IngestJob> GetJob(int64_t job_id) override {
    std::lock_guard lock(mu_);
    return GetJobLocked(job_id);
  }

  std::vector<IngestJob> ListJobs() override {
    std::lock_guard lock(mu_);
    auto q = db_->Query(Cat({"SELECT ", kJobColumns, " FROM ingest_jobs j ORDER BY j.id DESC"}));
    std::vector<IngestJob> out;
    while (q.Step()) out.push_back(ReadJob(q));
    return out;
  }

  std::optional<IngestJob> FindUnfinishedJob(int64_t collection_id,
                                             const std::string& input) override {
    std::lock_guard lock(mu_);
    auto q = db_->Query(Cat({"SELECT ", kJobColumns,
                             " FROM ingest_jobs j WHERE j.collection_id = ?1 AND j.input = ?2 "
                             "AND j.status IN ('running', 'interrupted') ORDER BY j.id DESC "
                             "LIMIT 1"}));
    q.Bind(1, collection_id).BindText(2, input);
    if (!q.Step()) return std::nullopt;
    return ReadJob(q);
  }

  void SetJobStatus(int64_t job_id, JobStatus status) override {
    const bool finished = status == JobStatus::kDone || status == JobStatus::kFailed;
    std::lock_guard lock(mu_);
    auto q = db_->Query("UPDATE ingest_jobs SET status = ?1, finished_at = ?2 WHERE id = ?3");
    q.BindText(1, ToString(status)).BindText(2, finished ? NowUtcIso8601() : "").Bind(3, job_id);
    q.Run();
    if (db_->Changes() != 1) throw NoJob(job_id);
  }

  void AddJobCounters(int64_t job_id, const JobCounters& delta) override {
    std::lock_guard lock(mu_);
    AddJobCountersLocked(job_id, delta);  // one statement: atomic on its own
  }

  void AddJobError(int64_t job_id, const std::string& item, const std::string& reason) override {
    std::lock_guard lock(mu_);
    auto q = db_->Query("INSERT INTO job_errors (job_id, item, reason) VALUES (?1, ?2, ?3)");
    q.Bind(1, job_id).BindText(2, item).BindText(3, reason);
    try {
      q.Run();
    } catch (const SqliteError& e) {
      if (IsConstraint(e, SQLITE_CONSTRAINT_FOREIGNKEY)) throw NoJob(job_id);
      throw;
    }
  }

  std::vector<JobError> JobErrors(int64_t job_id, int64_t limit) override {
    std::lock_guard lock(mu_);
    auto q = db_->Query(
        "SELECT job_id, item, reason FROM job_errors WHERE job_id = ?1 ORDER BY id LIMIT ?2");
    q.Bind(1, job_id).Bind(2, limit < 0 ? -1 : limit);
    std::vector<JobError> out;
    while (q.Step()) out.push_back(JobError{q.Int64(0), q.Text(1), q.Text(2)});
    return out;
  }

  CatalogStats Stats() override {
    std::lock_guard lock(mu_);
    SqliteTransaction snapshot(*db_, SqliteTransaction::Mode::kRead);
    CatalogStats stats;
    stats.schema_version = static_cast<int>(db_->QueryInt64("PRAGMA user_version"));
    {
      auto q = db_->Query(
          "SELECT (SELECT count(*) FROM collections), (SELECT count(*) FROM images), "
          "(SELECT count(*) FROM sources), (SELECT count(*) FROM faces), "
          "(SELECT count(*) FROM ingest_jobs)");
      q.Step();
      stats.collections = q.Int64(0);
      stats.images = q.Int64(1);
      stats.sources = q.Int64(2);
      stats.faces = q.Int64(3);
      stats.jobs = q.Int64(4);
    }
    auto q = db_->Query(Cat(
        {"SELECT ", kCollectionColumns,
         ", (SELECT count(*) FROM images i WHERE i.collection_id = c.id), "
         "(SELECT count(*) FROM images i JOIN faces f ON f.image_id = i.id "
         "WHERE i.collection_id = c.id) FROM collections c ORDER BY c.id"}));
    while (q.Step()) {
      CollectionStats per;
      per.collection = ReadCollection(q, 0);
      per.images = q.Int64(kCollectionColumnCount);
      per.faces = q.Int64(kCollectionColumnCount + 1);
      stats.per_collection.push_back(std::move(per));
    }
    return stats;
  }

 private:
  static constexpr size_t kDescribeChunk = 256;
  static constexpr int64_t kSourcePage = 10000;

  Error NoJob(int64_t job_id) const {
    return Error(Context(path_, "no ingest job with id " + std::to_string(job_id)));
  }

  std::optional<Collection> FindCollectionLocked(const std::string& name) {
    auto q = db_->Query(Cat({"SELECT ", kCollectionColumns, " FROM collections c WHERE c.name = ?1"}));
    q.BindText(1, name);
    if (!q.Step()) return std::nullopt;
    return ReadCollection(q, 0);
  }

  std::optional<IngestJob> GetJobLocked(int64_t job_id) {
    auto q = db_->Query(Cat({"SELECT ", kJobColumns, " FROM ingest_jobs j WHERE j.id = ?1"}));
    q.Bind(1, job_id);
    if (!q.Step()) return std::nullopt;
    return ReadJob(q);
  }

  int64_t NextFaceIdLocked() {
    return db_->QueryInt64("SELECT next_face_id FROM face_id_reservation WHERE singleton = 1");
  }

  // The first column of every row of `sql` with ?1 bound to `arg`.
  std::vector<int64_t> IdsLocked(const std::string& sql, int64_t arg) {
    auto q = db_->Query(sql);
    q.Bind(1, arg);
    std::vector<int64_t> ids;
    while (q.Step()) ids.push_back(q.Int64(0));
    return ids;
  }

  void DeleteOrphanSourcesLocked(const std::vector<int64_t>& source_ids) {
    for (int64_t id : source_ids) {
      db_->Query("DELETE FROM sources WHERE id = ?1 AND NOT EXISTS "
                 "(SELECT 1 FROM images WHERE source_id = ?1)")
          .Bind(1, id)
          .Run();
    }
  }

  void AddJobCountersLocked(int64_t job_id, const JobCounters& d) {
    auto q = db_->Query(
        "UPDATE ingest_jobs SET images_seen = images_seen + ?1, images_added = images_added + ?2, "
        "duplicates = duplicates + ?3, no_face = no_face + ?4, faces_added = faces_added + ?5, "
        "errors = errors + ?6, opted_out = opted_out + ?8 WHERE id = ?7");
    q.Bind(1, d.images_seen).Bind(2, d.images_added).Bind(3, d.duplicates).Bind(4, d.no_face);
    q.Bind(5, d.faces_added).Bind(6, d.errors).Bind(7, job_id).Bind(8, d.opted_out).Run();
    if (db_->Changes() != 1) throw NoJob(job_id);
  }

  // An identical source row (all six fields equal) is shared, so that an
  // image file met twice (two collections) has one provenance to delete.
  int64_t FindOrInsertSourceLocked(const Source& s) {
    {
      auto q = db_->Query(
          "SELECT id FROM sources WHERE source_url = ?1 AND page_url = ?2 AND title = ?3 AND "
          "captured_at = ?4 AND published_at = ?5 AND legal_basis = ?6 LIMIT 1");
      q.BindText(1, s.source_url).BindText(2, s.page_url).BindText(3, s.title);
      q.BindText(4, s.captured_at).BindText(5, s.published_at).BindText(6, s.legal_basis);
      if (q.Step()) return q.Int64(0);
    }
    auto q = db_->Query(
        "INSERT INTO sources (source_url, page_url, title, captured_at, published_at, legal_basis) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    q.BindText(1, s.source_url).BindText(2, s.page_url).BindText(3, s.title);
    q.BindText(4, s.captured_at).BindText(5, s.published_at).BindText(6, s.legal_basis).Run();
    return db_->LastInsertRowId();
  }

  // The image row records the call's job; a write without one keeps the
  // job_id given in its record (0 = none).
  int64_t InsertImageLocked(const ImageWrite& write, int64_t job_id, int64_t next_face_id) {
    const ImageRecord& image = write.image;
    const std::string what = "image '" + image.original_name + "' (sha256 " +
                             image.content_sha256 + ")";
    const int64_t source_id =
        write.source && HasAnyField(*write.source) ? FindOrInsertSourceLocked(*write.source) : 0;
    auto q = db_->Query(
        "INSERT INTO images (collection_id, source_id, job_id, content_sha256, perceptual_hash, "
        "width, height, byte_size, stored_path, original_name, ingested_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
    q.Bind(1, image.collection_id).BindIdOrNull(2, source_id);
    q.BindIdOrNull(3, job_id != 0 ? job_id : image.job_id).BindText(4, image.content_sha256);
    q.Bind(5, static_cast<int64_t>(image.perceptual_hash)).Bind(6, image.width);
    q.Bind(7, image.height).Bind(8, image.byte_size).BindText(9, image.stored_path);
    q.BindText(10, image.original_name).BindText(11, NowUtcIso8601());
    try {
      q.Run();
    } catch (const SqliteError& e) {
      if (IsConstraint(e, SQLITE_CONSTRAINT_UNIQUE)) {
        throw Error(Context(path_, what + " is already in collection " +
                                       std::to_string(image.collection_id)));
      }
      if (IsConstraint(e, SQLITE_CONSTRAINT_FOREIGNKEY)) {
        throw Error(Context(path_, what + ": collection " + std::to_string(image.collection_id) +
                                       " or ingest job does not exist"));
      }
      throw;
    }
    const int64_t image_id = db_->LastInsertRowId();
    for (const FaceRecord& face : write.faces) InsertFaceLocked(face, image_id, next_face_id, what);
    return image_id;
  }

  void InsertFaceLocked(const FaceRecord& face, int64_t image_id, int64_t next_face_id,
                        const std::string& what) {
    if (face.id < 1 || face.id >= next_face_id) {
      throw Error(Context(path_, what + ": face id " + std::to_string(face.id) +
                                     " was never reserved (next id is " +
                                     std::to_string(next_face_id) + ")"));
    }
    const std::string box = PackFloats(face.box);
    const std::string landmarks = PackFloats(face.landmarks);
    auto q = db_->Query(
        "INSERT INTO faces (id, image_id, box, landmarks, detection_score, size_px, sharpness, "
        "yaw_deg, roll_deg, model_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
    q.Bind(1, face.id).Bind(2, image_id).BindBlob(3, box.data(), box.size());
    q.BindBlob(4, landmarks.data(), landmarks.size()).BindDouble(5, face.detection_score);
    q.BindDouble(6, face.size_px).BindDouble(7, face.sharpness).BindDouble(8, face.yaw_deg);
    q.BindDouble(9, face.roll_deg).BindText(10, face.model_id);
    try {
      q.Run();
    } catch (const SqliteError& e) {
      if (IsConstraint(e, SQLITE_CONSTRAINT_PRIMARYKEY)) {
        throw Error(Context(path_, what + ": face id " + std::to_string(face.id) +
                                       " is already used"));
      }
      throw;
    }
  }

  // Fills `found` with the provenance of face_ids[start, end). The IN list
  // has a fixed size per chunk (padded with the last id) so a handful of
  // statements serve every request from the cache.
  void DescribeChunkLocked(const std::vector<int64_t>& face_ids, size_t start, size_t end,
                           std::unordered_map<int64_t, FaceProvenance>& found) {
    const size_t n = end - start;
    const size_t slots = n <= 8 ? 8 : n <= 64 ? 64 : kDescribeChunk;
    std::string sql = Cat({"SELECT ", kFaceColumns, ", ", kImageColumns, ", ", kCollectionColumns,
                           ", ", kSourceColumns,
                           " FROM faces f JOIN images i ON i.id = f.image_id "
                           "JOIN collections c ON c.id = i.collection_id "
                           "LEFT JOIN sources s ON s.id = i.source_id WHERE f.id IN ("});
    for (size_t k = 0; k < slots; ++k) sql += k == 0 ? "?" : ", ?";
    sql += ")";
    auto q = db_->Query(sql);
    for (size_t k = 0; k < slots; ++k) {
      q.Bind(static_cast<int>(k + 1), face_ids[std::min(start + k, end - 1)]);
    }
    constexpr int kImageFirst = kFaceColumnCount;
    constexpr int kCollectionFirst = kImageFirst + kImageColumnCount;
    constexpr int kSourceFirst = kCollectionFirst + kCollectionColumnCount;
    while (q.Step()) {
      FaceProvenance p;
      p.face = ReadFace(q, 0, path_);
      p.image = ReadImage(q, kImageFirst);
      p.collection = ReadCollection(q, kCollectionFirst);
      if (!q.IsNull(kSourceFirst)) p.source = ReadSource(q, kSourceFirst);
      found[p.face.id] = std::move(p);
    }
  }

  const std::string path_;
  std::mutex mu_;                 // serialises every use of db_
  std::unique_ptr<SqliteDb> db_;  // guarded by mu_ after construction
};

}  // namespace

std::unique_ptr<Catalog> OpenSqliteCatalog(const std::string& path) {
  return std::make_unique<SqliteCatalog>(path);
}

std::vector<std::string> CheckSqliteCatalogIntegrity(const std::string& path, bool thorough) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(Context(path, "no such file"));
  auto db = OpenDb(path, kOpenFlags);  // no CREATE, and nothing below writes
  if (ValidateCatalogFile(*db) == 0) throw Error(Context(path, "not a Lineup catalog (empty)"));
  std::vector<std::string> problems;
  try {
    auto pages = db->Query(thorough ? "PRAGMA integrity_check" : "PRAGMA quick_check");
    while (pages.Step()) {
      if (pages.Text(0) != "ok") problems.push_back("SQLite: " + pages.Text(0));
    }
    if (!problems.empty()) return problems;  // what follows assumes readable pages
    auto keys = db->Query("PRAGMA foreign_key_check");
    while (keys.Step()) {
      problems.push_back(keys.Text(0) + " row " + std::to_string(keys.Int64(1)) +
                         " refers to a missing row of " + keys.Text(2));
    }
    auto faces = db->Query(
        "SELECT f.id, r.next_face_id FROM faces f, face_id_reservation r "
        "WHERE f.id >= r.next_face_id ORDER BY f.id LIMIT 100");
    while (faces.Step()) {
      problems.push_back("face id " + std::to_string(faces.Int64(0)) +
                         " was never reserved (reservation counter is " +
                         std::to_string(faces.Int64(1)) + ")");
    }
    auto sources = db->Query(
        "SELECT s.id FROM sources s WHERE NOT EXISTS "
        "(SELECT 1 FROM images i WHERE i.source_id = s.id) ORDER BY s.id LIMIT 100");
    while (sources.Step()) {
      problems.push_back("source " + std::to_string(sources.Int64(0)) + " has no images");
    }
  } catch (const SqliteError& e) {
    problems.push_back(e.what());
  }
  return problems;
}

sqlite3* SqliteHandleForTesting(Catalog& catalog) {
  auto* sqlite = dynamic_cast<SqliteCatalog*>(&catalog);
  if (sqlite == nullptr) throw Error("SqliteHandleForTesting: not a SQLite catalog");
  return sqlite->handle();
}

}  // namespace lineup
