// The governance database: one SQLite file (`governance.db` in the data
// directory) holding accounts, sessions, cases, searches, decisions and the
// audit trail, kept apart from the gallery catalog so that the gallery can be
// rebuilt or moved without touching the record of who searched what.
//
// Invariants:
//  - One connection per GovernanceDb, serialised by its mutex: every use goes
//    through Read() or Write(), which hold the lock for the whole callback.
//  - Write() runs its callback in one IMMEDIATE transaction: either all of a
//    callback's changes (say, a search and its audit record) are on disk
//    (synchronous=FULL) or none are.
//  - Each module owns its tables and their migrations (EnsureSchema); the
//    versions are recorded per module in `schema_versions`. A file written by
//    a newer Lineup (a module version above what this binary knows) is
//    refused rather than modified.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/sqlite_db.h"

namespace lineup {

// Seconds since the Unix epoch; injectable so that tests can move time.
using Clock = std::function<int64_t()>;
Clock SystemClock();

inline constexpr int64_t kSecondsPerDay = 86400;

// "2026-12-01T20:09:04Z" for a Unix time.
std::string IsoTime(int64_t unix_seconds);
// Days since 1970-01-01 of a Unix time (UTC), rounded down also before 1970.
int64_t DayNumber(int64_t unix_seconds);
// "2026-12-01" for a Unix time (UTC).
std::string IsoDay(int64_t unix_seconds);
// The Unix time of 00:00 UTC on a "YYYY-MM-DD" day; nullopt unless the text
// is exactly that form and a real calendar day.
std::optional<int64_t> ParseIsoDay(std::string_view text);

class GovernanceDb {
 public:
  // Opens (creating if needed) `path`; throws Error naming the file if it is
  // not a Lineup governance database.
  explicit GovernanceDb(const std::filesystem::path& path, Clock clock = SystemClock());
  GovernanceDb(const GovernanceDb&) = delete;
  GovernanceDb& operator=(const GovernanceDb&) = delete;

  // Brings module `module` to migrations.size() (migration i takes version i
  // to i + 1) in one transaction. Throws if the file's version is newer.
  void EnsureSchema(const std::string& module, const std::vector<std::string>& migrations);

  // Runs `f` under the lock, in a read snapshot.
  template <typename F>
  auto Read(F&& f) {
    std::lock_guard lock(mu_);
    SqliteTransaction tx(*db_, SqliteTransaction::Mode::kRead);
    return f(*db_);
  }
  // Runs `f` under the lock in one write transaction, committed when `f`
  // returns normally and rolled back when it throws.
  template <typename F>
  auto Write(F&& f) {
    std::lock_guard lock(mu_);
    SqliteTransaction tx(*db_, SqliteTransaction::Mode::kWrite);
    if constexpr (std::is_void_v<decltype(f(*db_))>) {
      f(*db_);
      tx.Commit();
    } else {
      auto result = f(*db_);
      tx.Commit();
      return result;
    }
  }

  // Copies the WAL into the file and truncates it, so that earlier versions
  // of deleted rows do not linger there (best effort: an open reader's
  // snapshot keeps the WAL until the next call).
  void ScrubWal();

  int64_t Now() const { return clock_(); }
  const Clock& clock() const { return clock_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  Clock clock_;
  std::mutex mu_;
  std::unique_ptr<SqliteDb> db_;
};

}  // namespace lineup
