#include "gallery/blocklist.h"

#include <sqlite3.h>

#include <cmath>
#include <cstring>

#include "catalog/sqlite_db.h"
#include "common/error.h"
#include "common/utc_time.h"
#include "index/exact_search.h"

namespace lineup {

namespace {

namespace fs = std::filesystem;

constexpr int64_t kApplicationId = 0x4C55424C;  // "LUBL"
constexpr int kSchemaVersion = 1;
constexpr int kBusyTimeoutMs = 10'000;
constexpr size_t kMaxRequestId = 200;
constexpr size_t kMaxNote = 2000;

constexpr char kSchema[] = R"sql(
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE optouts (
  id             INTEGER PRIMARY KEY,
  request_id     TEXT NOT NULL,
  note           TEXT NOT NULL,
  created_by     TEXT NOT NULL,
  created_at     TEXT NOT NULL,
  threshold      REAL NOT NULL,
  status         TEXT NOT NULL CHECK (status IN ('pending', 'done')),
  faces_removed  INTEGER NOT NULL DEFAULT 0,
  images_removed INTEGER NOT NULL DEFAULT 0,
  completed_at   TEXT NOT NULL DEFAULT '',
  descriptor     BLOB NOT NULL
);
)sql";

OptOutStatus StatusFromText(const std::string& text) {
  return text == "done" ? OptOutStatus::kDone : OptOutStatus::kPending;
}

std::unique_ptr<SqliteDb> OpenFile(const fs::path& path, bool read_only) {
  int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
              SQLITE_OPEN_NOMUTEX;
  auto db = std::make_unique<SqliteDb>(path.string(), flags);
  sqlite3_busy_timeout(db->handle(), kBusyTimeoutMs);
  try {
    int64_t app = db->QueryInt64("PRAGMA application_id");
    int64_t objects = db->QueryInt64("SELECT count(*) FROM sqlite_master");
    if (app != kApplicationId && !(app == 0 && objects == 0)) {
      throw Error(Context(path.string(), "not a Lineup opt-out blocklist"));
    }
  } catch (const SqliteError& e) {
    throw Error(Context(path.string(), "cannot read the opt-out blocklist (corrupt?): ") + e.what());
  }
  if (!read_only) {
    db->QueryText("PRAGMA journal_mode = WAL");
    db->Exec("PRAGMA synchronous = FULL; PRAGMA secure_delete = ON;");
  }
  return db;
}

constexpr char kEntryColumns[] =
    "id, request_id, note, created_by, created_at, threshold, status, faces_removed, images_removed, completed_at";

OptOut ReadEntry(const SqliteQuery& q) {
  OptOut e;
  e.id = q.Int64(0);
  e.request_id = q.Text(1);
  e.note = q.Text(2);
  e.created_by = q.Text(3);
  e.created_at = q.Text(4);
  e.threshold = q.Double(5);
  e.status = StatusFromText(q.Text(6));
  e.faces_removed = q.Int64(7);
  e.images_removed = q.Int64(8);
  e.completed_at = q.Text(9);
  return e;
}

}  // namespace

std::string ToString(OptOutStatus status) { return status == OptOutStatus::kDone ? "done" : "pending"; }

std::optional<int64_t> OptOutSet::Match(const float* descriptor) const {
  for (const Entry& e : entries_) {
    if (InnerProduct(descriptor, e.descriptor.data(), dim_) >= e.threshold) return e.id;
  }
  return std::nullopt;
}

Blocklist::Blocklist(const fs::path& data_dir, std::string model_id, int dim, bool read_only)
    : path_(data_dir / "blocklist.db"), model_id_(std::move(model_id)), dim_(dim), read_only_(read_only) {
  std::lock_guard lock(mu_);
  auto empty = std::make_shared<OptOutSet>();
  empty->dim_ = dim_;
  current_ = std::move(empty);
  if (read_only_) {
    OpenIfPresentLocked();
    return;
  }
  fs::create_directories(data_dir);
  db_ = OpenFile(path_, false);
  SqliteTransaction tx(*db_, SqliteTransaction::Mode::kWrite);
  if (db_->QueryInt64("PRAGMA user_version") == 0) {
    db_->Exec(kSchema);
    auto q = db_->Query("INSERT INTO settings (key, value) VALUES ('model', ?1), ('dim', ?2)");
    q.BindText(1, model_id_).BindText(2, std::to_string(dim_)).Run();
    db_->Exec("PRAGMA user_version = " + std::to_string(kSchemaVersion) +
              "; PRAGMA application_id = " + std::to_string(kApplicationId));
  }
  tx.Commit();
  RefreshLocked();
}

Blocklist::~Blocklist() = default;

// Opens the file of a read-only blocklist once it exists (another process
// may create it at any time) and checks its model.
bool Blocklist::OpenIfPresentLocked() {
  if (db_) return true;
  std::error_code ec;
  if (!fs::exists(path_, ec)) return false;
  db_ = OpenFile(path_, true);
  return true;
}

void Blocklist::RequireWritable() const {
  if (read_only_) throw Error(Context(path_.string(), "opened read-only: cannot change the opt-out blocklist"));
}

void Blocklist::RefreshLocked() {
  if (!OpenIfPresentLocked()) return;  // no file yet: still the empty set
  int64_t version = db_->QueryInt64("PRAGMA data_version");
  if (version == data_version_) return;
  SqliteTransaction snapshot(*db_, SqliteTransaction::Mode::kRead);
  if (db_->QueryInt64("PRAGMA user_version") == 0) return;  // being created by another process
  auto setting = db_->Query("SELECT value FROM settings WHERE key = 'model'");
  std::string model = setting.Step() ? setting.Text(0) : "";
  if (model != model_id_) {
    throw Error(Context(path_.string(), "holds opt-out descriptors of " + model + ", the gallery uses " + model_id_));
  }
  auto fresh = std::make_shared<OptOutSet>();
  fresh->dim_ = dim_;
  auto q = db_->Query("SELECT id, threshold, descriptor FROM optouts ORDER BY id");
  while (q.Step()) {
    std::string blob = q.Blob(2);
    if (blob.size() != static_cast<size_t>(dim_) * sizeof(float)) {
      throw Error(Context(path_.string(), "opt-out " + std::to_string(q.Int64(0)) + " has a descriptor of the wrong size"));
    }
    OptOutSet::Entry e{q.Int64(0), static_cast<float>(q.Double(1)), std::vector<float>(static_cast<size_t>(dim_))};
    std::memcpy(e.descriptor.data(), blob.data(), blob.size());
    fresh->entries_.push_back(std::move(e));
  }
  snapshot.Commit();
  current_ = std::move(fresh);
  data_version_ = version;
}

int64_t Blocklist::Add(OptOut entry) {
  RequireWritable();
  if (entry.request_id.empty() || entry.request_id.size() > kMaxRequestId) {
    throw InvalidArgument("request_id", "opt-out: a request id (1 to 200 characters) is required");
  }
  if (entry.note.size() > kMaxNote) throw InvalidArgument("note", "opt-out: the note is longer than 2000 characters");
  if (!(entry.threshold > 0 && entry.threshold <= 1)) throw InvalidArgument("threshold", "opt-out: the threshold must be in (0, 1]");
  if (entry.descriptor.size() != static_cast<size_t>(dim_)) {
    throw Error("opt-out: descriptor has " + std::to_string(entry.descriptor.size()) + " values, the gallery's model makes " +
                std::to_string(dim_));
  }
  double norm = 0;
  for (float v : entry.descriptor) norm += static_cast<double>(v) * v;
  if (!std::isfinite(norm) || std::abs(norm - 1.0) > 1e-3) throw Error("opt-out: descriptor is not unit length");
  std::lock_guard lock(mu_);
  auto q = db_->Query(
      "INSERT INTO optouts (request_id, note, created_by, created_at, threshold, status, descriptor) "
      "VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6)");
  q.BindText(1, entry.request_id).BindText(2, entry.note).BindText(3, entry.created_by);
  q.BindText(4, IsoUtc(UnixNow())).BindDouble(5, entry.threshold);
  q.BindBlob(6, entry.descriptor.data(), entry.descriptor.size() * sizeof(float)).Run();
  int64_t id = db_->LastInsertRowId();
  // data_version moves only for other connections' commits: keep the set
  // in step with this one's by hand.
  if (data_version_ == -1) {
    RefreshLocked();
  } else {
    auto grown = std::make_shared<OptOutSet>(*current_);
    grown->entries_.push_back({id, static_cast<float>(entry.threshold), entry.descriptor});
    current_ = std::move(grown);
  }
  return id;
}

bool Blocklist::Remove(int64_t id) {
  RequireWritable();
  std::lock_guard lock(mu_);
  db_->Query("DELETE FROM optouts WHERE id = ?1").Bind(1, id).Run();
  bool removed = db_->Changes() == 1;
  db_->TruncateWal();
  auto shrunk = std::make_shared<OptOutSet>(*current_);
  std::erase_if(shrunk->entries_, [&](const OptOutSet::Entry& e) { return e.id == id; });
  current_ = std::move(shrunk);
  return removed;
}

void Blocklist::MarkDone(int64_t id, int64_t faces_removed, int64_t images_removed) {
  RequireWritable();
  std::lock_guard lock(mu_);
  auto q = db_->Query(
      "UPDATE optouts SET status = 'done', faces_removed = faces_removed + ?2, "
      "images_removed = images_removed + ?3, completed_at = ?4 WHERE id = ?1");
  q.Bind(1, id).Bind(2, faces_removed).Bind(3, images_removed).BindText(4, IsoUtc(UnixNow())).Run();
}

std::vector<OptOut> Blocklist::List() {
  std::lock_guard lock(mu_);
  std::vector<OptOut> out;
  if (!OpenIfPresentLocked() || db_->QueryInt64("PRAGMA user_version") == 0) return out;
  auto q = db_->Query(std::string("SELECT ") + kEntryColumns + " FROM optouts ORDER BY id");
  while (q.Step()) out.push_back(ReadEntry(q));
  return out;
}

std::optional<OptOut> Blocklist::Get(int64_t id) {
  std::lock_guard lock(mu_);
  if (!OpenIfPresentLocked() || db_->QueryInt64("PRAGMA user_version") == 0) return std::nullopt;
  auto q = db_->Query(std::string("SELECT ") + kEntryColumns + ", descriptor FROM optouts WHERE id = ?1");
  q.Bind(1, id);
  if (!q.Step()) return std::nullopt;
  OptOut e = ReadEntry(q);
  std::string blob = q.Blob(10);
  e.descriptor.resize(blob.size() / sizeof(float));
  std::memcpy(e.descriptor.data(), blob.data(), e.descriptor.size() * sizeof(float));
  return e;
}

std::shared_ptr<const OptOutSet> Blocklist::Current() {
  std::lock_guard lock(mu_);
  RefreshLocked();
  return current_;
}

}  // namespace lineup
