#include "governance/audit_log.h"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <map>

#include <nlohmann/json.hpp>

#include "common/ascii.h"
#include "common/csv_writer.h"
#include "common/error.h"
#include "common/file_util.h"
#include "common/utf8.h"

namespace lineup {

namespace {

// The audit module's schema history; kAuditLogMigrations[v] takes version v to v + 1.
// Released entries are never edited: files in the field were made by them.
//
// v1: records, the head row, the filter indexes, and triggers that refuse
// UPDATE and DELETE of records. The triggers guard against mistakes in Lineup
// (anyone with the file can drop them); the hash chain is what guards against
// people.
const std::vector<std::string> kAuditLogMigrations = {
    R"sql(
CREATE TABLE audit_records (
  seq          INTEGER PRIMARY KEY CHECK (seq > 0),
  time         INTEGER NOT NULL,
  actor_id     INTEGER NOT NULL,
  actor        TEXT NOT NULL,
  role         TEXT NOT NULL,
  action       TEXT NOT NULL,
  client       TEXT NOT NULL,
  case_number  TEXT NOT NULL,
  details_json TEXT NOT NULL,
  prev_hash    TEXT NOT NULL,
  hash         TEXT NOT NULL
);
-- Exactly one row (id = 1) once the first record exists: the newest record.
CREATE TABLE audit_head (
  id   INTEGER PRIMARY KEY CHECK (id = 1),
  seq  INTEGER NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX audit_records_by_actor ON audit_records (actor, seq);
CREATE INDEX audit_records_by_case ON audit_records (case_number, seq);
CREATE INDEX audit_records_by_action ON audit_records (action, seq);
CREATE INDEX audit_records_by_time ON audit_records (time);
CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
)sql",
    // v2: the request id, to join a record with the server's request log line.
    // Older records get '' and so keep their hash (Canonical leaves '' out).
    R"sql(
ALTER TABLE audit_records ADD COLUMN request_id TEXT NOT NULL DEFAULT '';
)sql",
};

const std::string kGenesisHash(64, '0');
constexpr int64_t kVerifyChunk = 512;  // records per read transaction while verifying
constexpr int64_t kExportPage = 512;   // records per read transaction while exporting

// Column order shared by every SELECT of records and by ReadRecord().
constexpr char kRecordColumns[] =
    "SELECT seq, time, actor_id, actor, role, action, client, case_number, details_json, prev_hash, hash, "
    "request_id FROM audit_records";

AuditRecord ReadRecord(const SqliteQuery& q) {
  AuditRecord r;
  r.seq = q.Int64(0);
  r.time = q.Int64(1);
  r.event.actor_id = q.Int64(2);
  r.event.actor = q.Text(3);
  r.event.role = q.Text(4);
  r.event.action = q.Text(5);
  r.event.client = q.Text(6);
  r.event.case_number = q.Text(7);
  r.event.details_json = q.Text(8);
  r.prev_hash = q.Text(9);
  r.hash = q.Text(10);
  r.event.request_id = q.Text(11);
  return r;
}

// One field as a netstring: "<byte length>:<bytes>,". Length-prefixed, so
// any bytes (separators, newlines, NUL) in a field cannot shift a boundary.
void AppendField(std::string& out, const std::string& bytes) {
  out += std::to_string(bytes.size());
  out += ':';
  out += bytes;
  out += ',';
}

// The fixed serialisation the hash covers. Part of the file format: records
// in the field were hashed with it, so it never changes; fields added later
// are appended only when set, so that the records before them still verify.
std::string Canonical(const AuditRecord& r) {
  std::string out;
  out.reserve(128 + r.event.details_json.size());
  AppendField(out, std::to_string(r.seq));
  AppendField(out, std::to_string(r.time));
  AppendField(out, std::to_string(r.event.actor_id));
  AppendField(out, r.event.actor);
  AppendField(out, r.event.role);
  AppendField(out, r.event.action);
  AppendField(out, r.event.client);
  AppendField(out, r.event.case_number);
  AppendField(out, r.event.details_json);
  if (!r.event.request_id.empty()) AppendField(out, r.event.request_id);
  return out;
}

std::string RecordHash(const AuditRecord& r) {
  const std::string message = r.prev_hash + "\n" + Canonical(r);
  return Sha256Hex(message.data(), message.size());
}

std::string SeqRange(int64_t first, int64_t last) {
  return first == last ? "record " + std::to_string(first)
                       : "records " + std::to_string(first) + ".." + std::to_string(last);
}

std::optional<AuditAnchor> ReadHeadRow(SqliteDb& db) {
  auto q = db.Query("SELECT seq, hash FROM audit_head WHERE id = 1");
  if (!q.Step()) return std::nullopt;
  return AuditAnchor{q.Int64(0), q.Text(1)};
}

// --- Verify's walk

// What the walk has established so far; carried from one chunk to the next.
struct ChainWalk {
  int64_t last_seq_read = std::numeric_limits<int64_t>::min();
  AuditAnchor last{0, kGenesisHash};      // the last good record (seq 0: none yet)
  std::map<int64_t, std::string> anchored;  // anchor seq -> hash found there ("" until reached)
  bool at_end = false;
};

void Fail(AuditVerification& v, int64_t seq, const std::string& problem) {
  v.ok = false;
  v.first_bad_seq = seq;
  v.problem = problem;
}

// Checks one record against its predecessor: seq next in line, linked to
// the predecessor's hash, its own hash right. Returns false at a problem.
bool CheckRecord(const AuditRecord& r, ChainWalk& walk, AuditVerification& v) {
  const int64_t expected = walk.last.seq + 1;
  if (r.seq < expected) {
    Fail(v, r.seq, "record " + std::to_string(r.seq) + " has an impossible seq (records are numbered from 1)");
    return false;
  }
  if (r.seq > expected) {
    Fail(v, expected, SeqRange(expected, r.seq - 1) + " missing (seq gap: after record " +
                          std::to_string(walk.last.seq) + " comes record " + std::to_string(r.seq) + ")");
    return false;
  }
  if (r.prev_hash != walk.last.hash) {
    const std::string wanted = walk.last.seq == 0 ? "64 zeros, as the first record"
                                                  : "record " + std::to_string(walk.last.seq) + "'s hash " +
                                                        walk.last.hash;
    Fail(v, r.seq, "record " + std::to_string(r.seq) + " does not link to its predecessor (prev_hash " + r.prev_hash +
                       ", expected " + wanted + "): a record was inserted, removed or replaced here");
    return false;
  }
  if (const std::string computed = RecordHash(r); computed != r.hash) {
    Fail(v, r.seq, "record " + std::to_string(r.seq) + " hash mismatch: stored " + r.hash + ", its fields hash to " +
                       computed + " (a field was altered)");
    return false;
  }
  if (auto it = walk.anchored.find(r.seq); it != walk.anchored.end()) it->second = r.hash;
  walk.last = {r.seq, r.hash};
  return true;
}

// The head row must name the last record, with its hash.
void CheckHead(SqliteDb& db, const ChainWalk& walk, AuditVerification& v) {
  std::optional<AuditAnchor> head;
  {
    auto q = db.Query("SELECT seq, hash FROM audit_head");
    if (q.Step()) head = AuditAnchor{q.Int64(0), q.Text(1)};
    if (q.Step()) return Fail(v, walk.last.seq, "the audit_head table has more than one row");
  }
  const AuditAnchor& last = walk.last;
  if (!head) {
    if (last.seq > 0) {
      Fail(v, last.seq, "the audit_head row is missing (the log ends at record " + std::to_string(last.seq) + ")");
    }
    return;
  }
  if (head->seq > last.seq) {
    return Fail(v, last.seq + 1, SeqRange(last.seq + 1, head->seq) + " missing at the end: the head names record " +
                                     std::to_string(head->seq) + " but the last record is " +
                                     std::to_string(last.seq));
  }
  if (head->seq < last.seq) {
    return Fail(v, head->seq + 1, SeqRange(head->seq + 1, last.seq) + " beyond the head (which names record " +
                                      std::to_string(head->seq) + "): appended behind the log's back, or the head "
                                      "row was changed");
  }
  if (head->hash != last.hash) {
    Fail(v, last.seq, "the head row was changed: it gives record " + std::to_string(last.seq) + " the hash " +
                          head->hash + " but the record's hash is " + last.hash);
  }
}

// Each anchor must name a record of the chain by its hash; seq 0 names the
// empty chain, whose hash is the first record's prev_hash.
void CheckAnchors(std::vector<AuditAnchor> anchors, const ChainWalk& walk, AuditVerification& v) {
  std::sort(anchors.begin(), anchors.end(), [](const AuditAnchor& a, const AuditAnchor& b) { return a.seq < b.seq; });
  for (const AuditAnchor& anchor : anchors) {
    const std::string wanted = ToLowerAscii(anchor.hash);
    const std::string name = "anchor " + std::to_string(anchor.seq) + ":" + anchor.hash + " not in the chain: ";
    if (anchor.seq < 0) return Fail(v, anchor.seq, name + "records are numbered from 1");
    if (anchor.seq == 0) {
      if (wanted != kGenesisHash) return Fail(v, 0, name + "seq 0 stands for the empty log, hash 64 zeros");
      continue;
    }
    const std::string& found = walk.anchored.at(anchor.seq);
    if (found.empty()) {
      return Fail(v, anchor.seq, name + "there is no record " + std::to_string(anchor.seq) +
                                     " (the log ends at record " + std::to_string(walk.last.seq) + ")");
    }
    if (found != wanted) {
      return Fail(v, anchor.seq, name + "record " + std::to_string(anchor.seq) + " has hash " + found);
    }
  }
}

// --- export

std::vector<std::string> CsvCells(const AuditRecord& r) {
  const AuditEvent& e = r.event;
  return {std::to_string(r.seq), std::to_string(r.time), IsoTime(r.time), std::to_string(e.actor_id),
          e.actor,               e.role,                 e.action,        e.client,
          e.case_number,         e.details_json,         r.prev_hash,     r.hash,
          e.request_id};
}

nlohmann::json RecordJson(const AuditRecord& r) {
  const AuditEvent& e = r.event;
  nlohmann::json j = {{"seq", r.seq},       {"time", r.time},           {"time_utc", IsoTime(r.time)},
                      {"actor_id", e.actor_id}, {"actor", e.actor},      {"role", e.role},
                      {"action", e.action}, {"client", e.client},       {"case_number", e.case_number},
                      {"prev_hash", r.prev_hash}, {"hash", r.hash}, {"request_id", e.request_id}};
  nlohmann::json details = nlohmann::json::parse(e.details_json, nullptr, /*allow_exceptions=*/false);
  if (details.is_object()) {
    j["details"] = std::move(details);
  } else {
    j["details_json"] = e.details_json;
  }
  return j;
}

// Calls `write` for each record `filter` selects (at most filter.limit), one
// page per read transaction so that an export never holds the lock for long.
template <typename F>
int64_t ForEachPage(AuditLog& log, const AuditFilter& filter, F&& write) {
  int64_t written = 0;
  AuditFilter page = filter;
  while (written < filter.limit) {
    page.limit = std::min(kExportPage, filter.limit - written);
    const std::vector<AuditRecord> records = log.Query(page);
    for (const AuditRecord& r : records) write(r);
    written += static_cast<int64_t>(records.size());
    if (static_cast<int64_t>(records.size()) < page.limit) break;
    page.after_seq = records.back().seq;
  }
  return written;
}

// The event as it is stored: every text valid UTF-8 (client text such as a
// failed login's name or a forwarded address may not be), so that no record
// can make the JSON of a page of records fail.
AuditEvent StorableEvent(const AuditEvent& event) {
  AuditEvent e = event;
  for (std::string* text : {&e.actor, &e.role, &e.action, &e.client, &e.case_number, &e.details_json}) {
    *text = ToValidUtf8(*text);
  }
  return e;
}

}  // namespace

AuditLog::AuditLog(GovernanceDb& db) : db_(db) { db_.EnsureSchema("audit", kAuditLogMigrations); }

AuditRecord AuditLog::Append(const AuditEvent& event) {
  return db_.Write([&](SqliteDb& db) { return AppendIn(db, event); });
}

// The next record follows the head row, not the highest seq present: records
// removed from the end then stay a visible gap instead of being overwritten.
AuditRecord AuditLog::AppendIn(SqliteDb& db, const AuditEvent& given) {
  const AuditEvent event = StorableEvent(given);
  if (!db.InTransaction()) throw Error(Context(db.path(), "audit record appended outside a write transaction"));
  std::optional<AuditAnchor> head = ReadHeadRow(db);
  if (!head) {
    if (db.QueryInt64("SELECT EXISTS (SELECT 1 FROM audit_records)") != 0) {
      throw Error(Context(db.path(), "the audit_head row is missing although there are audit records; the log was "
                                     "changed behind Lineup's back (see lineup audit verify)"));
    }
    head = AuditAnchor{0, kGenesisHash};
  }
  AuditRecord r;
  r.seq = head->seq + 1;
  r.time = db_.Now();
  r.event = event;
  r.prev_hash = head->hash;
  r.hash = RecordHash(r);
  try {
    auto q = db.Query("INSERT INTO audit_records (seq, time, actor_id, actor, role, action, client, case_number, "
                      "details_json, prev_hash, hash, request_id) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    q.Bind(1, r.seq).Bind(2, r.time).Bind(3, event.actor_id).BindText(4, event.actor).BindText(5, event.role);
    q.BindText(6, event.action).BindText(7, event.client).BindText(8, event.case_number);
    q.BindText(9, event.details_json).BindText(10, r.prev_hash).BindText(11, r.hash).BindText(12, event.request_id);
    q.Run();
  } catch (const SqliteError& e) {
    if (e.code() != SQLITE_CONSTRAINT_PRIMARYKEY) throw;
    throw Error(Context(db.path(), "audit record " + std::to_string(r.seq) + " already exists although the head "
                                   "names record " + std::to_string(head->seq) +
                                   "; the log was changed behind Lineup's back (see lineup audit verify)"));
  }
  auto q = db.Query("INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2) "
                    "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash");
  q.Bind(1, r.seq).BindText(2, r.hash).Run();
  return r;
}

// The SQL is assembled from constant fragments, one per filter in use (so
// that SQLite can pick the index); values are always bound.
std::vector<AuditRecord> AuditLog::Query(const AuditFilter& filter) {
  std::vector<AuditRecord> records;
  if (filter.limit <= 0) return records;
  std::string sql = std::string(kRecordColumns) + " WHERE seq > ?1";
  if (!filter.actor.empty()) sql += " AND actor = ?2";
  if (!filter.case_number.empty()) sql += " AND case_number = ?3";
  if (!filter.action.empty()) sql += " AND action = ?4";
  if (filter.since != 0) sql += " AND time >= ?5";
  if (filter.until != 0) sql += " AND time < ?6";
  sql += " AND (?8 = '' OR instr(details_json, ?8) > 0)";
  sql += " AND (?9 = '' OR request_id = ?9)";  // always present: ?9 is the highest index bound
  sql += " ORDER BY seq LIMIT ?7";
  db_.Read([&](SqliteDb& db) {
    auto q = db.Query(sql);
    q.Bind(1, filter.after_seq).BindText(2, filter.actor).BindText(3, filter.case_number).BindText(4, filter.action);
    q.Bind(5, filter.since).Bind(6, filter.until).Bind(7, filter.limit).BindText(8, filter.text);
    q.BindText(9, filter.request_id);
    while (q.Step()) records.push_back(ReadRecord(q));
  });
  return records;
}

AuditAnchor AuditLog::Head() {
  return db_.Read([](SqliteDb& db) { return ReadHeadRow(db).value_or(AuditAnchor{0, kGenesisHash}); });
}

// Reads the chain in chunks, each in its own read transaction, so that a
// long verification neither holds all records in memory nor blocks appends
// for its whole length. The chunk that reaches the end also reads the head
// row, in the same snapshot, so a concurrent append cannot look like damage.
AuditVerification AuditLog::Verify(const std::vector<AuditAnchor>& anchors) {
  AuditVerification v;
  ChainWalk walk;
  for (const AuditAnchor& anchor : anchors) walk.anchored.emplace(anchor.seq, "");
  while (v.ok && !walk.at_end) {
    db_.Read([&](SqliteDb& db) {
      auto q = db.Query(std::string(kRecordColumns) + " WHERE seq > ?1 ORDER BY seq LIMIT ?2");
      q.Bind(1, walk.last_seq_read).Bind(2, kVerifyChunk);
      int64_t rows = 0;
      while (q.Step()) {
        ++rows;
        ++v.records;
        const AuditRecord r = ReadRecord(q);
        walk.last_seq_read = r.seq;
        if (!CheckRecord(r, walk, v)) return;
      }
      if (rows < kVerifyChunk) {
        walk.at_end = true;
        CheckHead(db, walk, v);
      }
    });
  }
  if (v.ok) CheckAnchors(anchors, walk, v);
  v.head = walk.last;
  return v;
}

int64_t AuditLog::ExportCsv(std::ostream& out, const AuditFilter& filter) {
  out << CsvRow({"seq", "time", "time_utc", "actor_id", "actor", "role", "action", "client", "case_number",
                    "details_json", "prev_hash", "hash", "request_id"});
  return ForEachPage(*this, filter, [&](const AuditRecord& r) { out << CsvRow(CsvCells(r)); });
}

// Bytes that are not UTF-8 (possible in a failed login's name) cannot be in
// JSON; they are exported as U+FFFD. The CSV export keeps them as they are.
int64_t AuditLog::ExportJsonLines(std::ostream& out, const AuditFilter& filter) {
  return ForEachPage(*this, filter, [&](const AuditRecord& r) {
    out << RecordJson(r).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  });
}

}  // namespace lineup
