#include "catalog/sqlite_db.h"

#include <sqlite3.h>

#include <cmath>
#include <limits>

namespace lineup {

// --- SqliteQuery

SqliteQuery::SqliteQuery(const SqliteDb& db, sqlite3_stmt* stmt, bool* busy)
    : db_(&db), stmt_(stmt), busy_(busy) {}

SqliteQuery::SqliteQuery(SqliteQuery&& other) noexcept
    : db_(other.db_), stmt_(other.stmt_), busy_(other.busy_) {
  other.stmt_ = nullptr;
  other.busy_ = nullptr;
}

SqliteQuery::~SqliteQuery() {
  if (stmt_ == nullptr) return;
  if (busy_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    *busy_ = false;
  } else {
    sqlite3_finalize(stmt_);
  }
}

SqliteQuery& SqliteQuery::Bind(int index, int64_t value) {
  db_->Check(sqlite3_bind_int64(stmt_, index, value), "bind");
  return *this;
}

SqliteQuery& SqliteQuery::BindDouble(int index, double value) {
  // SQLite turns NaN into NULL by itself; Double() reads NULL back as NaN.
  db_->Check(sqlite3_bind_double(stmt_, index, value), "bind");
  return *this;
}

SqliteQuery& SqliteQuery::BindText(int index, std::string_view text) {
  // SQLITE_TRANSIENT: SQLite copies the bytes; the caller's string may go away.
  db_->Check(sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT,
                                 SQLITE_UTF8),
             "bind");
  return *this;
}

SqliteQuery& SqliteQuery::BindBlob(int index, const void* data, size_t size) {
  db_->Check(sqlite3_bind_blob64(stmt_, index, data, size, SQLITE_TRANSIENT), "bind");
  return *this;
}

SqliteQuery& SqliteQuery::BindNull(int index) {
  db_->Check(sqlite3_bind_null(stmt_, index), "bind");
  return *this;
}

SqliteQuery& SqliteQuery::BindIdOrNull(int index, int64_t value) {
  return value == 0 ? BindNull(index) : Bind(index, value);
}

bool SqliteQuery::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_->Fail(rc, std::string("query failed (") + sqlite3_sql(stmt_) + ")");
}

void SqliteQuery::Run() {
  while (Step()) {
  }
}

int64_t SqliteQuery::Int64(int column) const { return sqlite3_column_int64(stmt_, column); }

double SqliteQuery::Double(int column) const {
  if (IsNull(column)) return std::numeric_limits<double>::quiet_NaN();
  return sqlite3_column_double(stmt_, column);
}

std::string SqliteQuery::Text(int column) const {
  // Pointer first, then size (the order SQLite documents); bytes are copied
  // as stored, embedded control characters included.
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  if (text == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

std::string SqliteQuery::Blob(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  if (data == nullptr) return std::string();
  return std::string(static_cast<const char*>(data), static_cast<size_t>(size));
}

bool SqliteQuery::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

// --- SqliteDb

SqliteDb::SqliteDb(const std::string& path, int flags) : path_(path) {
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw SqliteError(Context(path, "cannot open database: " + message), rc);
  }
  sqlite3_extended_result_codes(db_, 1);
}

SqliteDb::~SqliteDb() {
  for (auto& [sql, cached] : cache_) sqlite3_finalize(cached.stmt);
  sqlite3_close(db_);
}

void SqliteDb::Check(int rc, const std::string& what) const {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return;
  Fail(rc, what);
}

void SqliteDb::Fail(int rc, const std::string& what) const {
  // sqlite3_errmsg describes the most recent failure on this connection,
  // which is the one being reported (calls are serialised by the owner).
  throw SqliteError(Context(path_, what + ": " + sqlite3_errmsg(db_)), rc);
}

void SqliteDb::Exec(const std::string& sql) {
  char* message = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string text = message != nullptr ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    throw SqliteError(Context(path_, "SQL failed: " + text), rc);
  }
}

SqliteQuery SqliteDb::Query(const std::string& sql) {
  CachedStatement& cached = cache_[sql];
  if (cached.stmt != nullptr && !cached.busy) {
    cached.busy = true;
    return SqliteQuery(*this, cached.stmt, &cached.busy);
  }
  sqlite3_stmt* stmt = nullptr;
  const bool cache_it = cached.stmt == nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size() + 1),
                              cache_it ? SQLITE_PREPARE_PERSISTENT : 0, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    if (cache_it) cache_.erase(sql);
    Fail(rc, "cannot prepare (" + sql + ")");
  }
  if (!cache_it) return SqliteQuery(*this, stmt, nullptr);
  cached.stmt = stmt;
  cached.busy = true;
  return SqliteQuery(*this, stmt, &cached.busy);
}

int64_t SqliteDb::QueryInt64(const std::string& sql) {
  SqliteQuery query = Query(sql);
  if (!query.Step()) throw SqliteError(Context(path_, "no result for (" + sql + ")"), SQLITE_ERROR);
  return query.Int64(0);
}

std::string SqliteDb::QueryText(const std::string& sql) {
  SqliteQuery query = Query(sql);
  if (!query.Step()) throw SqliteError(Context(path_, "no result for (" + sql + ")"), SQLITE_ERROR);
  return query.Text(0);
}

int64_t SqliteDb::LastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }
int64_t SqliteDb::Changes() const { return sqlite3_changes64(db_); }
bool SqliteDb::InTransaction() const { return sqlite3_get_autocommit(db_) == 0; }

void SqliteDb::TruncateWal() {
  auto q = Query("PRAGMA wal_checkpoint(TRUNCATE)");
  q.Step();
}

// --- SqliteTransaction

SqliteTransaction::SqliteTransaction(SqliteDb& db, Mode mode) : db_(db) {
  db_.Exec(mode == Mode::kWrite ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
}

SqliteTransaction::~SqliteTransaction() {
  if (done_) return;
  // Some errors (I/O, full disk) already rolled back; ROLLBACK would then fail.
  if (db_.InTransaction()) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void SqliteTransaction::Commit() {
  db_.Exec("COMMIT");
  done_ = true;
}

}  // namespace lineup
