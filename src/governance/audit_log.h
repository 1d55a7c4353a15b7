// The audit trail: append-only, hash-chained records of everything that
// matters for oversight (logins and failed logins, searches, candidate views,
// decisions, exports, deletions, account and settings changes).
//
// Invariants:
//  - Records are numbered seq = 1, 2, 3, ... without gaps, in commit order.
//  - record.hash = SHA-256 hex of (record.prev_hash + "\n" + Canonical(record))
//    where Canonical() is a fixed serialisation of seq, time, actor_id,
//    actor, role, action, client, case_number, details and, when it is not
//    empty, request_id (see audit_log.cc); the first record's prev_hash is 64
//    zeros. Records written before request ids existed have an empty one, so
//    they hash as they always did.
//  - The newest seq and hash are also kept in the `audit_head` row, written in
//    the same transaction as the record: a record removed from the end shows
//    as a head that names a record that is not there.
//  - Nothing in Lineup updates or deletes audit rows. Verify() detects any
//    altered, inserted or removed record and says where. Anyone able to
//    rewrite the whole file can recompute a consistent chain; against that,
//    oversight bodies keep (seq, hash) anchors from `lineup audit head` and
//    pass them to Verify().
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "governance/governance_db.h"

namespace lineup {

struct AuditEvent {
  int64_t actor_id = 0;      // 0: no authenticated user (e.g. a failed login)
  std::string actor;         // username (for a failed login: the name tried)
  std::string role;          // the actor's role at the time, "" if none
  std::string action;        // e.g. "login", "login_failed", "search", "candidate_view",
                             // "decision", "export", "delete", "account_change", "settings_change"
  std::string client;        // client address as the server saw it
  std::string case_number;   // "" when the action is not about a case
  std::string details_json;  // a JSON object as text ("{}" when empty); stored byte for byte
  std::string request_id;    // the server's X-Request-Id of the request that did it, "" if none
                             // (the CLI, the maintenance job, records older than request ids)
};

struct AuditRecord {
  int64_t seq = 0;
  int64_t time = 0;  // Unix seconds, from the GovernanceDb clock
  AuditEvent event;
  std::string prev_hash;
  std::string hash;
};

struct AuditFilter {
  std::string actor;        // exact username, "" = any
  std::string case_number;  // exact, "" = any
  std::string action;       // exact, "" = any
  int64_t since = 0;        // time >= since (0 = no bound)
  int64_t until = 0;        // time < until (0 = no bound)
  std::string text;         // details contain this text, byte for byte (e.g. a purpose); "" = any
  std::string request_id;   // exact, "" = any
  int64_t after_seq = 0;    // seq > after_seq: paging
  int64_t limit = 1000;     // at most this many, ascending seq
};

// An externally kept (seq, hash) pair that the chain must still contain.
struct AuditAnchor {
  int64_t seq = 0;
  std::string hash;
};

struct AuditVerification {
  bool ok = true;
  int64_t records = 0;         // records read
  int64_t first_bad_seq = 0;   // 0 when ok
  std::string problem;         // what is wrong at first_bad_seq, "" when ok
  AuditAnchor head;            // the last record as found
};

class AuditLog {
 public:
  // Creates the audit tables on first use (GovernanceDb::EnsureSchema).
  explicit AuditLog(GovernanceDb& db);

  // Appends in its own transaction.
  AuditRecord Append(const AuditEvent& event);
  // Appends inside a transaction the caller holds (the `db` given to a
  // GovernanceDb::Write callback), so that an action and its record commit
  // together. Text that is not valid UTF-8 is stored with U+FFFD in place of
  // the bad bytes (common/utf8.h), so every record can be shown as JSON.
  AuditRecord AppendIn(SqliteDb& db, const AuditEvent& event);

  std::vector<AuditRecord> Query(const AuditFilter& filter);
  AuditAnchor Head();

  // Walks the whole chain (streaming, constant memory) and checks every
  // record's hash, the seq sequence, the links and the head row, then each
  // anchor. Stops at the first problem.
  AuditVerification Verify(const std::vector<AuditAnchor>& anchors = {});

  // Export for oversight bodies: one record per line, every field including
  // hashes. CSV follows RFC 4180 (quotes doubled, fields with commas, quotes or
  // line breaks quoted); cells that a spreadsheet would run as a formula
  // (starting with = + - @) are prefixed with a single quote. Returns the number
  // of records written.
  int64_t ExportCsv(std::ostream& out, const AuditFilter& filter);
  int64_t ExportJsonLines(std::ostream& out, const AuditFilter& filter);

 private:
  GovernanceDb& db_;
};

}  // namespace lineup
