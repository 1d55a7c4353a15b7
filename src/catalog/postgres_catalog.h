// The multi-user Catalog: tables in a PostgreSQL database, reached with a
// libpq connection string. Opened by OpenPostgresCatalog (catalog.h).
//
// Storage: every caller-supplied string is a BYTEA column, so strings round
// trip byte for byte whatever the database encoding (no UTF-8 validation, no
// encoding conversion); lookups on strings that may be long (collection
// names, content hashes, setting keys, job inputs) go through unique or
// plain indexes on sha256(column), because a btree entry cannot hold a 10 kB
// value; URL prefix search uses indexes on the first 256 bytes. Timestamps
// are TIMESTAMPTZ, returned as "YYYY-MM-DDTHH:MM:SSZ" (UTC).
//
// Schema versions: the table schema_migrations lists the versions applied;
// opening migrates forward in one transaction under an advisory lock (so two
// processes opening a fresh database do not race), and refuses a database
// whose schema is newer than this binary knows.
//
// Concurrency: a pool of connections per Catalog object, so that concurrent
// calls (searches, an ingest) run in parallel: each call takes one connection
// for its whole duration (its transaction never spans two), waiting while all
// are in use. Connections open on first need and reopen after a loss. The
// size is `lineup_pool=N` in the connection string (keyword form, or a URI
// query parameter; Lineup removes it before libpq sees it), 1 to
// kMaxPostgresPoolSize, default kDefaultPostgresPoolSize. ForEachFace opens a
// connection of its own besides the pool (one REPEATABLE READ snapshot read
// through a cursor), so the callback may call the catalog. Several Catalog objects or processes may share a database:
// face-id reservation is a row-locked counter, sources are shared through a
// unique fingerprint.
//
// Lost connections: a call whose connection breaks throws Error (the server
// rolls the transaction back); the next call connects again.
#pragma once

#include <cstddef>
#include <string>

#include "catalog/catalog.h"

namespace lineup {

// The schema version this binary writes and the newest it can open.
inline constexpr int kPostgresCatalogSchemaVersion = 3;

inline constexpr size_t kDefaultPostgresPoolSize = 4;
inline constexpr size_t kMaxPostgresPoolSize = 64;

// "PostgreSQL host=... port=... dbname=... user=..." for messages: what a
// connection string points at, read from its keyword=value or URI form
// (falling back to PGHOST/PGPORT/PGDATABASE/PGUSER). Never contains the
// password.
std::string DescribePostgresLocation(const std::string& conninfo);

}  // namespace lineup
