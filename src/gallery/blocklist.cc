#include "gallery/blocklist.h"

#include <sqlite3.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string_view>

#include "catalog/sqlite_db.h"
#include "common/error.h"
#include "common/utf8.h"
#include "common/utc_time.h"
#include "index/exact_search.h"

namespace lineup {

namespace {

namespace fs = std::filesystem;

constexpr int64_t kApplicationId = 0x4C55424C;  // "LUBL"
constexpr int kSchemaVersion = 2;
constexpr int kBusyTimeoutMs = 10'000;

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

// v1 -> v2: the audit record an entry owes, and the key of its records.
constexpr char kMigrationV2[] = R"sql(
ALTER TABLE optouts ADD COLUMN audit_key TEXT NOT NULL DEFAULT '';
ALTER TABLE optouts ADD COLUMN owed_audit TEXT NOT NULL DEFAULT '';
UPDATE optouts SET audit_key = 'v1-' || id || '-' || created_at;
)sql";

// "" when `text` is valid UTF-8 without control characters (line breaks and
// tabs allowed with `multiline`), else what is wrong.
std::string TextProblem(std::string_view text, bool multiline) {
  for (size_t i = 0; i < text.size();) {
    size_t n = DecodeUtf8At(text, i).length;
    if (n == 0) return "is not valid UTF-8 (byte " + std::to_string(i) + ")";
    const auto c = static_cast<unsigned char>(text[i]);
    if (n == 1 && (c < 0x20 || c == 0x7f) && !(multiline && (c == '\n' || c == '\r' || c == '\t'))) {
      return "contains a control character (byte " + std::to_string(i) + ")";
    }
    i += n;
  }
  return "";
}

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

constexpr char kEntryColumnsV1[] =
    "id, request_id, note, created_by, created_at, threshold, status, faces_removed, images_removed, completed_at, "
    "'', ''";
constexpr char kEntryColumns[] =
    "id, request_id, note, created_by, created_at, threshold, status, faces_removed, images_removed, completed_at, "
    "audit_key, owed_audit";
constexpr int kDescriptorColumn = 12;

std::string RandomKey() {
  std::random_device random;
  char hex[33];
  std::snprintf(hex, sizeof hex, "%08x%08x%08x%08x", random(), random(), random(), random());
  return hex;
}

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
  e.audit_key = q.Text(10);
  e.owed_audit = q.Text(11);
  return e;
}

}  // namespace

void ValidateOptOutText(const std::string& request_id, const std::string& note) {
  if (request_id.empty() || request_id.size() > kMaxOptOutRequestId) {
    throw InvalidArgument("request_id", "request_id: the request's reference (1 to 200 characters)");
  }
  if (std::string why = TextProblem(request_id, false); !why.empty()) {
    throw InvalidArgument("request_id", "request_id " + why);
  }
  if (note.size() > kMaxOptOutNote) throw InvalidArgument("note", "note: at most 2000 characters");
  if (std::string why = TextProblem(note, true); !why.empty()) throw InvalidArgument("note", "note " + why);
}

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
    db_->Exec("PRAGMA user_version = 1; PRAGMA application_id = " + std::to_string(kApplicationId));
  }
  MigrateLocked();
  tx.Commit();
  RefreshLocked();
}

// Brings a writable file to kSchemaVersion (inside the opening transaction);
// a file of a newer Lineup is refused.
void Blocklist::MigrateLocked() {
  const int64_t version = db_->QueryInt64("PRAGMA user_version");
  if (version > kSchemaVersion) {
    throw Error(Context(path_.string(), "written by a newer Lineup (blocklist version " + std::to_string(version) + ")"));
  }
  if (version < 2) db_->Exec(kMigrationV2);
  db_->Exec("PRAGMA user_version = " + std::to_string(kSchemaVersion));
}

// A read-only connection may see a file no writer has migrated yet.
std::string Blocklist::EntryColumnsLocked() {
  return db_->QueryInt64("PRAGMA user_version") >= 2 ? kEntryColumns : kEntryColumnsV1;
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
  ValidateOptOutText(entry.request_id, entry.note);
  if (entry.audit_key.empty()) entry.audit_key = RandomKey();
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
      "INSERT INTO optouts (request_id, note, created_by, created_at, threshold, status, descriptor, audit_key, "
      "owed_audit) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, ?8)");
  q.BindText(1, entry.request_id).BindText(2, entry.note).BindText(3, entry.created_by);
  q.BindText(4, IsoUtc(UnixNow())).BindDouble(5, entry.threshold);
  q.BindBlob(6, entry.descriptor.data(), entry.descriptor.size() * sizeof(float));
  q.BindText(7, entry.audit_key).BindText(8, entry.owed_audit).Run();
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

void Blocklist::SetOwedAudit(int64_t id, const std::string& event_json) {
  RequireWritable();
  std::lock_guard lock(mu_);
  db_->Query("UPDATE optouts SET owed_audit = ?2 WHERE id = ?1").Bind(1, id).BindText(2, event_json).Run();
}

void Blocklist::AddRemoved(int64_t id, int64_t faces, int64_t images) {
  RequireWritable();
  std::lock_guard lock(mu_);
  auto q = db_->Query(
      "UPDATE optouts SET faces_removed = faces_removed + ?2, images_removed = images_removed + ?3 WHERE id = ?1");
  q.Bind(1, id).Bind(2, faces).Bind(3, images).Run();
}

void Blocklist::MarkDone(int64_t id) {
  RequireWritable();
  std::lock_guard lock(mu_);
  auto q = db_->Query("UPDATE optouts SET status = 'done', completed_at = ?2 WHERE id = ?1");
  q.Bind(1, id).BindText(2, IsoUtc(UnixNow())).Run();
}

std::vector<OptOut> Blocklist::List() {
  std::lock_guard lock(mu_);
  std::vector<OptOut> out;
  if (!OpenIfPresentLocked() || db_->QueryInt64("PRAGMA user_version") == 0) return out;
  auto q = db_->Query("SELECT " + EntryColumnsLocked() + " FROM optouts ORDER BY id");
  while (q.Step()) out.push_back(ReadEntry(q));
  return out;
}

std::optional<OptOut> Blocklist::Get(int64_t id) {
  std::lock_guard lock(mu_);
  if (!OpenIfPresentLocked() || db_->QueryInt64("PRAGMA user_version") == 0) return std::nullopt;
  auto q = db_->Query("SELECT " + EntryColumnsLocked() + ", descriptor FROM optouts WHERE id = ?1");
  q.Bind(1, id);
  if (!q.Step()) return std::nullopt;
  OptOut e = ReadEntry(q);
  std::string blob = q.Blob(kDescriptorColumn);
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
