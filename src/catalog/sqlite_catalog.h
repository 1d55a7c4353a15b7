// The embedded Catalog: one SQLite file (plus its -wal and -shm companions)
// in the gallery's data directory. Opened by OpenSqliteCatalog (catalog.h).
//
// Durability and concurrency: WAL journal, synchronous=FULL (a commit is on
// disk before the call returns: it survives kill -9 and power loss),
// foreign keys ON, busy_timeout 10 s so a second process (a search while an
// ingest runs) waits for the writer instead of failing. Readers never block
// the writer and see only committed calls.
//
// Identification: PRAGMA application_id = kSqliteCatalogApplicationId marks a
// Lineup catalog; PRAGMA user_version is the schema version. Opening a file
// that is not SQLite, an SQLite file of another application, or a catalog of
// a newer schema throws Error and leaves the file untouched; an older schema
// is migrated forward in one transaction.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "catalog/catalog.h"

struct sqlite3;

namespace lineup {

// The schema version this binary writes and the newest it can open.
inline constexpr int kSqliteCatalogSchemaVersion = 4;
// "LNUP" as a big-endian 32-bit integer.
inline constexpr int32_t kSqliteCatalogApplicationId = 0x4C4E5550;

// Checks the catalog file at `path` without changing it (for `gallery check`):
// SQLite's page-level check (PRAGMA quick_check; integrity_check when
// `thorough`, which also verifies every index entry), foreign keys, and
// Lineup's own invariants (face ids below the reservation counter, no source
// without images). Returns one line per problem; empty means healthy. Throws
// Error if the file is missing, not a Lineup catalog, or of a newer schema.
std::vector<std::string> CheckSqliteCatalogIntegrity(const std::string& path,
                                                     bool thorough = false);

// For tests only: the connection behind a catalog opened by OpenSqliteCatalog
// (to install hooks that simulate crashes). Throws Error for another backend.
sqlite3* SqliteHandleForTesting(Catalog& catalog);

}  // namespace lineup
