#include "governance/governance_db.h"

#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "common/error.h"
#include "common/utc_time.h"

namespace lineup {

namespace {

// "LNGV": tells a governance file from a catalog or any other SQLite file.
constexpr int64_t kGovernanceApplicationId = 0x4c4e4756;
constexpr int kBusyTimeoutMs = 10000;

}  // namespace

Clock SystemClock() {
  return [] {
    return static_cast<int64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  };
}

std::string IsoTime(int64_t unix_seconds) { return IsoUtc(unix_seconds); }

int64_t DayNumber(int64_t unix_seconds) {
  int64_t day = unix_seconds / kSecondsPerDay;
  return unix_seconds % kSecondsPerDay < 0 ? day - 1 : day;
}

std::string IsoDay(int64_t unix_seconds) {
  const std::chrono::sys_days day{std::chrono::days{DayNumber(unix_seconds)}};
  const std::chrono::year_month_day ymd{day};
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buffer;
}

std::optional<int64_t> ParseIsoDay(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  int parts[3] = {0, 0, 0};
  const size_t starts[3] = {0, 5, 8}, sizes[3] = {4, 2, 2};
  for (int i = 0; i < 3; ++i) {
    for (size_t k = starts[i]; k < starts[i] + sizes[i]; ++k) {
      if (text[k] < '0' || text[k] > '9') return std::nullopt;
      parts[i] = parts[i] * 10 + (text[k] - '0');
    }
  }
  const std::chrono::year_month_day ymd{std::chrono::year{parts[0]},
                                        std::chrono::month{static_cast<unsigned>(parts[1])},
                                        std::chrono::day{static_cast<unsigned>(parts[2])}};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days{ymd}.time_since_epoch().count() * kSecondsPerDay;
}

GovernanceDb::GovernanceDb(const std::filesystem::path& path, Clock clock) : path_(path), clock_(std::move(clock)) {
  if (!path_.parent_path().empty()) std::filesystem::create_directories(path_.parent_path());
  db_ = std::make_unique<SqliteDb>(path_.string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
  sqlite3_busy_timeout(db_->handle(), kBusyTimeoutMs);
  const int64_t app_id = db_->QueryInt64("PRAGMA application_id");
  const bool empty = db_->QueryInt64("SELECT count(*) FROM sqlite_master") == 0;
  if (!empty && app_id != kGovernanceApplicationId) {
    throw Error(Context(path_.string(), "not a Lineup governance database (another SQLite file?)"));
  }
  if (db_->QueryText("PRAGMA journal_mode = WAL") != "wal") {
    throw Error(Context(path_.string(), "cannot use WAL journal mode"));
  }
  // secure_delete: deleted rows (a deleted case's probes and searches) are
  // overwritten in the file rather than left in free pages.
  db_->Exec("PRAGMA synchronous = FULL; PRAGMA secure_delete = ON; PRAGMA foreign_keys = ON;");
  std::lock_guard lock(mu_);
  SqliteTransaction tx(*db_, SqliteTransaction::Mode::kWrite);
  db_->Exec("PRAGMA application_id = " + std::to_string(kGovernanceApplicationId));
  db_->Exec("CREATE TABLE IF NOT EXISTS schema_versions (module TEXT PRIMARY KEY, version INTEGER NOT NULL)");
  tx.Commit();
}

void GovernanceDb::ScrubWal() {
  std::lock_guard lock(mu_);
  db_->TruncateWal();
}

void GovernanceDb::EnsureSchema(const std::string& module, const std::vector<std::string>& migrations) {
  Write([&](SqliteDb& db) {
    int64_t version = 0;
    {
      auto q = db.Query("SELECT version FROM schema_versions WHERE module = ?1");
      q.BindText(1, module);
      if (q.Step()) version = q.Int64(0);
    }
    const auto known = static_cast<int64_t>(migrations.size());
    if (version > known) {
      throw Error(Context(path_.string(), "the " + module + " tables are at version " + std::to_string(version) +
                                              ", written by a newer Lineup (this one knows " +
                                              std::to_string(known) + ")"));
    }
    for (int64_t v = version; v < known; ++v) db.Exec(migrations[static_cast<size_t>(v)]);
    if (version < known) {
      auto q = db.Query("INSERT INTO schema_versions (module, version) VALUES (?1, ?2) "
                        "ON CONFLICT (module) DO UPDATE SET version = excluded.version");
      q.BindText(1, module).Bind(2, known).Run();
    }
  });
}

}  // namespace lineup
