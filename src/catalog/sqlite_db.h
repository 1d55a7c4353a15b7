// A thin RAII layer over the sqlite3 C API with Lineup's error convention:
// every failure throws SqliteError (a lineup::Error) naming the database file
// and carrying SQLite's extended result code. Values reach SQL only through
// bound parameters; SQL text is always a constant of the caller.
//
// Not thread-safe: the owner serialises calls (SqliteCatalog holds a mutex).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace lineup {

class SqliteError : public Error {
 public:
  SqliteError(const std::string& message, int code) : Error(message), code_(code) {}
  int code() const { return code_; }  // extended result code (SQLITE_CONSTRAINT_UNIQUE, ...)

 private:
  int code_;
};

class SqliteDb;

// One use of a prepared statement: bind, step, read columns. Resets the
// statement (and clears its bindings) when it goes out of scope, so a cached
// statement never holds a read snapshot open.
class SqliteQuery {
 public:
  // `busy` is the cache's in-use flag of a cached statement (cleared when
  // this query ends); nullptr for a one-off statement, finalized at the end.
  SqliteQuery(const SqliteDb& db, sqlite3_stmt* stmt, bool* busy);
  SqliteQuery(SqliteQuery&& other) noexcept;
  SqliteQuery(const SqliteQuery&) = delete;
  SqliteQuery& operator=(const SqliteQuery&) = delete;
  SqliteQuery& operator=(SqliteQuery&&) = delete;
  ~SqliteQuery();

  // Parameters are 1-based, as in SQLite.
  SqliteQuery& Bind(int index, int64_t value);
  SqliteQuery& BindDouble(int index, double value);
  SqliteQuery& BindText(int index, std::string_view text);
  SqliteQuery& BindBlob(int index, const void* data, size_t size);
  SqliteQuery& BindNull(int index);
  // Binds NULL when value == 0 (optional foreign keys such as source_id).
  SqliteQuery& BindIdOrNull(int index, int64_t value);

  // Returns true while there is a row to read, false when done.
  bool Step();
  // Steps a statement that returns no rows.
  void Run();

  // Columns are 0-based, as in SQLite. NULL reads as 0 / 0.0 / "".
  int64_t Int64(int column) const;
  double Double(int column) const;  // NULL reads as NaN
  std::string Text(int column) const;
  std::string Blob(int column) const;
  bool IsNull(int column) const;

 private:
  const SqliteDb* db_;
  sqlite3_stmt* stmt_;
  bool* busy_;
};

class SqliteDb {
 public:
  // Opens with sqlite3_open_v2 `flags` (SQLITE_OPEN_*). Does not read the file.
  SqliteDb(const std::string& path, int flags);
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;
  ~SqliteDb();

  // Runs one or more statements without parameters (schema, pragmas).
  void Exec(const std::string& sql);
  // A cached prepared statement for `sql`; a fresh one if the cached one is
  // still in use by an enclosing query.
  SqliteQuery Query(const std::string& sql);
  // Single-value helpers for pragmas and counts.
  int64_t QueryInt64(const std::string& sql);
  std::string QueryText(const std::string& sql);

  int64_t LastInsertRowId() const;
  int64_t Changes() const;
  bool InTransaction() const;
  // Copies every WAL frame into the file and truncates the WAL to zero bytes,
  // so that earlier versions of changed pages (rows as they were before a
  // deletion) do not linger there. Best effort: while another connection
  // reads an old snapshot the WAL cannot be reset, and the next call tries
  // again. Call outside a transaction.
  void TruncateWal();

  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_; }

  // Throws SqliteError for a result code that is not OK/ROW/DONE.
  void Check(int rc, const std::string& what) const;
  [[noreturn]] void Fail(int rc, const std::string& what) const;

 private:
  struct CachedStatement {
    sqlite3_stmt* stmt = nullptr;
    bool busy = false;
  };

  std::string path_;
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, CachedStatement> cache_;  // node addresses are stable
};

// BEGIN on construction, ROLLBACK on destruction unless Commit() ran.
class SqliteTransaction {
 public:
  enum class Mode {
    kRead,   // BEGIN DEFERRED: one consistent snapshot for several reads
    kWrite,  // BEGIN IMMEDIATE: takes the write lock now (waits busy_timeout)
  };
  SqliteTransaction(SqliteDb& db, Mode mode);
  SqliteTransaction(const SqliteTransaction&) = delete;
  SqliteTransaction& operator=(const SqliteTransaction&) = delete;
  ~SqliteTransaction();
  void Commit();

 private:
  SqliteDb& db_;
  bool done_ = false;
};

}  // namespace lineup
