#include "governance/audit_log.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <cctype>
#include <limits>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file_util.h"
#include "test_env.h"

namespace lineup {
namespace {

const std::string kZeros(64, '0');
constexpr int64_t kStartTime = 1'700'000'000;

// A raw connection for changing the file behind the log's back (no Lineup code involved).
class RawDb {
 public:
  explicit RawDb(const std::filesystem::path& path) {
    EXPECT_EQ(sqlite3_open(path.string().c_str(), &db_), SQLITE_OK);
    sqlite3_busy_timeout(db_, 10'000);
  }
  ~RawDb() { sqlite3_close(db_); }
  // Returns the SQLite result code; the message of a failure goes to `error`.
  int Exec(const std::string& sql, std::string* error = nullptr) {
    char* message = nullptr;
    int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
    if (error != nullptr && message != nullptr) *error = message;
    sqlite3_free(message);
    return rc;
  }

 private:
  sqlite3* db_ = nullptr;
};

// The documented record hash, written out independently of audit_log.cc:
// SHA-256 hex of prev_hash + "\n" + netstrings of the fields in order, the
// request id only when there is one. Records in the field were hashed this
// way, so the format must never drift.
std::string Netstring(const std::string& s) { return std::to_string(s.size()) + ":" + s + ","; }
std::string ExpectedHash(const AuditRecord& r) {
  const AuditEvent& e = r.event;
  const std::string message = r.prev_hash + "\n" + Netstring(std::to_string(r.seq)) +
                              Netstring(std::to_string(r.time)) + Netstring(std::to_string(e.actor_id)) +
                              Netstring(e.actor) + Netstring(e.role) + Netstring(e.action) + Netstring(e.client) +
                              Netstring(e.case_number) + Netstring(e.details_json) +
                              (e.request_id.empty() ? "" : Netstring(e.request_id));
  return Sha256Hex(message.data(), message.size());
}

AuditEvent Event(const std::string& actor, const std::string& action, const std::string& case_number = "",
                 const std::string& details = "{}") {
  AuditEvent e;
  e.actor_id = actor.empty() ? 0 : 100 + static_cast<int64_t>(actor.size());
  e.actor = actor;
  e.role = "investigator";
  e.action = action;
  e.client = "10.1.2.3";
  e.case_number = case_number;
  e.details_json = details;
  return e;
}

// Splits RFC 4180 text (CRLF line ends) into rows of cells.
std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1);
  std::string cell;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        cell += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cell += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().push_back(std::move(cell));
      cell.clear();
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      rows.back().push_back(std::move(cell));
      cell.clear();
      rows.emplace_back();
      ++i;
    } else {
      cell += c;
    }
  }
  EXPECT_FALSE(quoted) << "unterminated quoted cell";
  EXPECT_TRUE(rows.back().empty() && cell.empty()) << "the last row does not end with CRLF";
  rows.pop_back();
  return rows;
}

class AuditLogTest : public ::testing::Test {
 protected:
  std::unique_ptr<GovernanceDb> OpenDb() {
    return std::make_unique<GovernanceDb>(path_, [this] { return now_.load(); });
  }
  void Reopen() {
    log_.reset();
    db_ = OpenDb();
    log_ = std::make_unique<AuditLog>(*db_);
  }
  // Starts over with an empty log in a new file.
  void StartFresh(const std::string& tag) {
    log_.reset();
    db_.reset();
    path_ = testing::TempDir(tag) / "governance.db";
    Reopen();
  }
  // `n` records in one transaction, actors cycling through three names.
  void AppendMany(int n) {
    db_->Write([&](SqliteDb& db) {
      for (int i = 0; i < n; ++i) {
        const char* actor = i % 3 == 0 ? "alice" : i % 3 == 1 ? "bob" : "carol";
        log_->AppendIn(db, Event(actor, "search", "C-" + std::to_string(i % 4), "{\"i\":" + std::to_string(i) + "}"));
      }
    });
  }
  std::string HashOf(int64_t seq) {
    AuditFilter f;
    f.after_seq = seq - 1;
    f.limit = 1;
    std::vector<AuditRecord> r = log_->Query(f);
    EXPECT_EQ(r.size(), 1u);
    return r.empty() ? "" : r[0].hash;
  }
  // Runs `sql` on a raw connection, first dropping the append-only triggers
  // (which anyone holding the file can do).
  void Tamper(const std::string& sql) {
    RawDb raw(path_);
    std::string error;
    ASSERT_EQ(raw.Exec("DROP TRIGGER IF EXISTS audit_records_no_update; "
                       "DROP TRIGGER IF EXISTS audit_records_no_delete; " + sql, &error),
              SQLITE_OK)
        << sql << ": " << error;
  }
  void ExpectDamage(const AuditVerification& v, int64_t seq, const std::string& words) {
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.first_bad_seq, seq) << v.problem;
    EXPECT_NE(v.problem.find(words), std::string::npos) << "problem: " << v.problem << "\nexpected words: " << words;
  }

  std::filesystem::path path_ = testing::TempDir("audit") / "governance.db";
  std::atomic<int64_t> now_{kStartTime};
  std::unique_ptr<GovernanceDb> db_ = OpenDb();
  std::unique_ptr<AuditLog> log_ = std::make_unique<AuditLog>(*db_);
};

// --- appending and the chain

TEST_F(AuditLogTest, AppendNumbersFromOneAndLinksEachRecordToThePrevious) {
  AuditRecord first = log_->Append(Event("alice", "login"));
  now_ += 5;
  AuditRecord second = log_->Append(Event("alice", "search", "C-1"));
  EXPECT_EQ(first.seq, 1);
  EXPECT_EQ(second.seq, 2);
  EXPECT_EQ(first.prev_hash, kZeros);
  EXPECT_EQ(second.prev_hash, first.hash);
  EXPECT_EQ(first.time, kStartTime);
  EXPECT_EQ(second.time, kStartTime + 5);
  EXPECT_EQ(first.hash.size(), 64u);
  EXPECT_NE(first.hash, second.hash);
  AuditAnchor head = log_->Head();
  EXPECT_EQ(head.seq, 2);
  EXPECT_EQ(head.hash, second.hash);
}

TEST_F(AuditLogTest, HeadOfAnEmptyLogIsSeqZeroWithTheGenesisHash) {
  AuditAnchor head = log_->Head();
  EXPECT_EQ(head.seq, 0);
  EXPECT_EQ(head.hash, kZeros);
  AuditVerification v = log_->Verify({{0, kZeros}});
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 0);
}

TEST_F(AuditLogTest, HashIsTheDocumentedSerialisation) {
  AuditEvent e;
  e.actor_id = 7;
  e.actor = "alice";
  e.role = "investigator";
  e.action = "search";
  e.client = "10.0.0.1";
  e.case_number = "C-1";
  e.details_json = R"({"q":1})";
  AuditRecord r = log_->Append(e);
  EXPECT_EQ(r.hash, ExpectedHash(r));
  // Pinned: computed once outside Lineup (Python hashlib) from the format in
  // ExpectedHash. If this changes, existing logs no longer verify.
  EXPECT_EQ(r.hash, "89c70bcd66743a05186ccc9ed7753e20920e39239c098430ef4a0ce17ee0e92c");
}

TEST_F(AuditLogTest, RequestIdIsStoredAndCoveredByTheHash) {
  AuditEvent e = Event("alice", "search", "C-1");
  e.request_id = "req-0123456789abcdef";
  AuditRecord r = log_->Append(e);
  EXPECT_EQ(r.hash, ExpectedHash(r));
  AuditEvent without = e;
  without.request_id.clear();
  EXPECT_NE(r.hash, ExpectedHash({r.seq, r.time, without, r.prev_hash, ""}));
  std::vector<AuditRecord> stored = log_->Query({});
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].event.request_id, "req-0123456789abcdef");
  AuditFilter by_id;
  by_id.request_id = "req-0123456789abcdef";
  log_->Append(Event("bob", "login"));
  ASSERT_EQ(log_->Query(by_id).size(), 1u);
  EXPECT_EQ(log_->Query(by_id)[0].seq, 1);
  // Blanking or changing the id breaks the chain like any other field.
  for (const std::string value : {"''", "'req-other'"}) {
    SCOPED_TRACE(value);
    StartFresh("audit-request-id");
    log_->Append(e);
    Tamper("UPDATE audit_records SET request_id = " + value + " WHERE seq = 1");
    ExpectDamage(log_->Verify(), 1, "record 1 hash mismatch");
  }
}

// A file of the first schema (no request_id column) is migrated on open: its
// records keep their hashes and verify, and new records carry request ids.
TEST_F(AuditLogTest, RecordsFromBeforeRequestIdsStillVerifyAfterTheMigration) {
  AppendMany(5);
  const std::string hash5 = HashOf(5);
  log_.reset();
  db_.reset();
  {
    RawDb raw(path_);
    std::string error;
    ASSERT_EQ(raw.Exec("ALTER TABLE audit_records DROP COLUMN request_id; "
                       "UPDATE schema_versions SET version = 1 WHERE module = 'audit'", &error),
              SQLITE_OK)
        << error;
  }
  Reopen();
  AuditEvent e = Event("dave", "export");
  e.request_id = "r1";
  AuditRecord next = log_->Append(e);
  EXPECT_EQ(next.prev_hash, hash5);
  AuditVerification v = log_->Verify({{5, hash5}});
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 6);
  std::vector<AuditRecord> records = log_->Query({});
  ASSERT_EQ(records.size(), 6u);
  EXPECT_EQ(records[0].event.request_id, "");
  EXPECT_EQ(records[5].event.request_id, "r1");
}

TEST_F(AuditLogTest, VerifyPassesAnIntactLogAndReportsItsHead) {
  AppendMany(20);
  AuditVerification v = log_->Verify();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 20);
  EXPECT_EQ(v.first_bad_seq, 0);
  EXPECT_EQ(v.problem, "");
  EXPECT_EQ(v.head.seq, 20);
  EXPECT_EQ(v.head.hash, log_->Head().hash);
}

TEST_F(AuditLogTest, ChainContinuesAfterReopen) {
  AppendMany(5);
  const std::string hash5 = HashOf(5);
  Reopen();
  AuditRecord next = log_->Append(Event("dave", "export"));
  EXPECT_EQ(next.seq, 6);
  EXPECT_EQ(next.prev_hash, hash5);
  AuditVerification v = log_->Verify({{5, hash5}});
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 6);
}

// Valid UTF-8 (NULs, quotes, line breaks included) is kept byte for byte;
// bytes that are not UTF-8 are stored as U+FFFD (StoresClientTextAsValidUtf8).
TEST_F(AuditLogTest, HostileStringsRoundTripByteForByteAndVerify) {
  AuditEvent e;
  e.actor_id = -1;
  e.actor = std::string("eve\0\"'\n\r,;--", 13);
  e.role = "\xff\xfe not utf-8";
  e.action = "login_failed";
  e.client = "::1\n2001:db8::1";
  e.case_number = "C,\"1\"\n";
  e.details_json = "{\"blob\":\"" + std::string(100 * 1024, 'x') + "\"}";
  e.details_json += std::string(1, '\0');
  AuditRecord appended = log_->Append(e);
  Reopen();
  std::vector<AuditRecord> read = log_->Query({});
  ASSERT_EQ(read.size(), 1u);
  EXPECT_EQ(read[0].event.actor, e.actor);
  EXPECT_EQ(read[0].event.actor.size(), 13u);
  EXPECT_EQ(read[0].event.role, "\xef\xbf\xbd not utf-8");
  EXPECT_EQ(read[0].event.client, e.client);
  EXPECT_EQ(read[0].event.case_number, e.case_number);
  EXPECT_EQ(read[0].event.details_json, e.details_json);
  EXPECT_EQ(read[0].event.actor_id, -1);
  EXPECT_EQ(read[0].hash, appended.hash);
  AuditVerification v = log_->Verify();
  EXPECT_TRUE(v.ok) << v.problem;
  // Exact filters match embedded NULs in full.
  AuditFilter by_actor;
  by_actor.actor = e.actor;
  EXPECT_EQ(log_->Query(by_actor).size(), 1u);
  by_actor.actor = "eve";
  EXPECT_EQ(log_->Query(by_actor).size(), 0u);
}

// Events whose fields differ only in where one ends and the next begins
// (or by a NUL and what follows) must hash differently.
TEST(AuditCanonical, FieldBoundariesCannotCollide) {
  std::vector<std::pair<AuditEvent, AuditEvent>> pairs;
  auto make = [](std::string actor, std::string role, std::string details) {
    AuditEvent e;
    e.actor = std::move(actor);
    e.role = std::move(role);
    e.details_json = std::move(details);
    return e;
  };
  pairs.push_back({make("ab", "", "{}"), make("a", "b", "{}")});
  pairs.push_back({make("a,b", "c", "{}"), make("a", "b,c", "{}")});
  pairs.push_back({make("1:a,", "", "{}"), make("", "1:a,", "{}")});
  pairs.push_back({make("a\nb", "", "{}"), make("a", "\nb", "{}")});
  pairs.push_back({make(std::string("a\0b", 3), "", "{}"), make("a", "", "{}")});
  pairs.push_back({make("x", "2:{}", ""), make("x", "", "2:{}")});
  std::set<std::string> hashes;
  for (const auto& [a, b] : pairs) {
    for (const AuditEvent& e : {a, b}) {
      std::atomic<int64_t> now{kStartTime};
      GovernanceDb db(testing::TempDir("audit-collide") / "governance.db", [&now] { return now.load(); });
      AuditLog log(db);
      hashes.insert(log.Append(e).hash);  // same seq, time and prev_hash for every event
    }
  }
  EXPECT_EQ(hashes.size(), 2 * pairs.size());
}

TEST_F(AuditLogTest, AppendInCommitsOrRollsBackWithTheCallersTransaction) {
  EXPECT_THROW(db_->Write([&](SqliteDb& db) {
    log_->AppendIn(db, Event("alice", "decision", "C-9"));
    throw Error("the decision failed");
  }),
               Error);
  EXPECT_EQ(log_->Head().seq, 0);
  EXPECT_TRUE(log_->Query({}).empty());
  AuditRecord r = db_->Write([&](SqliteDb& db) { return log_->AppendIn(db, Event("alice", "decision", "C-9")); });
  EXPECT_EQ(r.seq, 1);
  EXPECT_EQ(log_->Query({}).size(), 1u);
}

TEST_F(AuditLogTest, ConcurrentAppendsKeepSeqContiguous) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      for (int i = 0; i < kPerThread; ++i) log_->Append(Event("user" + std::to_string(t), "search"));
    });
  }
  for (std::thread& t : threads) t.join();
  std::vector<AuditRecord> all = log_->Query({});
  ASSERT_EQ(all.size(), size_t{kThreads * kPerThread});
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].seq, static_cast<int64_t>(i + 1));
    if (i > 0) {
      EXPECT_EQ(all[i].prev_hash, all[i - 1].hash);
    }
  }
  for (int t = 0; t < kThreads; ++t) {
    AuditFilter f;
    f.actor = "user" + std::to_string(t);
    EXPECT_EQ(log_->Query(f).size(), size_t{kPerThread});
  }
  AuditVerification v = log_->Verify();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, kThreads * kPerThread);
}

TEST_F(AuditLogTest, TriggersRefuseUpdateAndDeleteOfRecords) {
  AppendMany(3);
  RawDb raw(path_);
  std::string error;
  EXPECT_NE(raw.Exec("UPDATE audit_records SET actor = 'mallory' WHERE seq = 2", &error), SQLITE_OK);
  EXPECT_NE(error.find("append-only"), std::string::npos) << error;
  EXPECT_NE(raw.Exec("DELETE FROM audit_records WHERE seq = 3", &error), SQLITE_OK);
  EXPECT_TRUE(log_->Verify().ok);
}

// --- tampering behind the log's back

TEST_F(AuditLogTest, VerifyNamesAnAlteredFieldOfAnyRecord) {
  const std::vector<std::pair<std::string, std::string>> changes = {
      {"time", "time + 1"},         {"actor_id", "actor_id + 1"},   {"actor", "'mallory'"},
      {"role", "'admin'"},          {"action", "'login'"},          {"client", "'10.9.9.9'"},
      {"case_number", "'C-999'"},   {"details_json", "'{\"i\":0}'"}, {"request_id", "'forged'"}};
  for (const auto& [column, value] : changes) {
    SCOPED_TRACE(column);
    StartFresh("audit-field");
    AppendMany(10);
    Tamper("UPDATE audit_records SET " + column + " = " + value + " WHERE seq = 5");
    ExpectDamage(log_->Verify(), 5, "record 5 hash mismatch");
  }
}

TEST_F(AuditLogTest, VerifyNamesAnAlteredHashOrLink) {
  AppendMany(10);
  Tamper("UPDATE audit_records SET hash = '" + std::string(64, 'a') + "' WHERE seq = 4");
  ExpectDamage(log_->Verify(), 4, "record 4 hash mismatch");
  StartFresh("audit-link");
  AppendMany(10);
  Tamper("UPDATE audit_records SET prev_hash = '" + std::string(64, 'b') + "' WHERE seq = 7");
  ExpectDamage(log_->Verify(), 7, "record 7 does not link to its predecessor");
}

// A forged record with a correct hash of its own, slipped in at seq 5 with
// the later records renumbered: the old record 5 (now 6) still links to 4.
TEST_F(AuditLogTest, VerifyNamesAnInsertedRecord) {
  AppendMany(10);
  AuditRecord forged;
  forged.seq = 5;
  forged.time = kStartTime;
  forged.event = Event("mallory", "search", "C-0");
  forged.prev_hash = HashOf(4);
  forged.hash = ExpectedHash(forged);
  const AuditEvent& e = forged.event;
  Tamper("UPDATE audit_records SET seq = seq + 1000 WHERE seq >= 5; "
         "UPDATE audit_records SET seq = seq - 999 WHERE seq >= 1000; "
         "UPDATE audit_head SET seq = 11; "
         "INSERT INTO audit_records VALUES (5, " + std::to_string(forged.time) + ", " + std::to_string(e.actor_id) +
         ", '" + e.actor + "', '" + e.role + "', '" + e.action + "', '" + e.client + "', '" + e.case_number + "', '" +
         e.details_json + "', '" + forged.prev_hash + "', '" + forged.hash + "', '')");
  ExpectDamage(log_->Verify(), 6, "record 6 does not link to its predecessor");
}

TEST_F(AuditLogTest, VerifyNamesARecordAppendedBehindTheHead) {
  AppendMany(10);
  AuditRecord forged;
  forged.seq = 11;
  forged.time = kStartTime;
  forged.event = Event("mallory", "search");
  forged.prev_hash = HashOf(10);
  forged.hash = ExpectedHash(forged);
  Tamper("INSERT INTO audit_records VALUES (11, " + std::to_string(forged.time) + ", 107, 'mallory', 'investigator', "
         "'search', '10.1.2.3', '', '{}', '" + forged.prev_hash + "', '" + forged.hash + "', '')");
  ExpectDamage(log_->Verify(), 11, "record 11 beyond the head");
  // Lineup refuses to append over it instead of hiding it.
  EXPECT_THROW(log_->Append(Event("alice", "search")), Error);
}

TEST_F(AuditLogTest, VerifyNamesRecordsRemovedFromTheMiddle) {
  AppendMany(10);
  Tamper("DELETE FROM audit_records WHERE seq = 5");
  AuditVerification v = log_->Verify();
  ExpectDamage(v, 5, "record 5 missing (seq gap: after record 4 comes record 6)");
  EXPECT_EQ(v.head.seq, 4);  // the last good record
  Tamper("DELETE FROM audit_records WHERE seq IN (6, 7)");
  ExpectDamage(log_->Verify(), 5, "records 5..7 missing");
}

TEST_F(AuditLogTest, VerifyNamesARecordRemovedAndTheRestRenumbered) {
  AppendMany(10);
  Tamper("DELETE FROM audit_records WHERE seq = 5; UPDATE audit_records SET seq = seq + 1000 WHERE seq > 5; "
         "UPDATE audit_records SET seq = seq - 1001 WHERE seq > 1000; "
         "UPDATE audit_head SET seq = 9");
  ExpectDamage(log_->Verify(), 5, "record 5 does not link to its predecessor");
}

TEST_F(AuditLogTest, VerifyNamesRecordsRemovedFromTheEnd) {
  AppendMany(10);
  Tamper("DELETE FROM audit_records WHERE seq >= 9");
  AuditVerification v = log_->Verify();
  ExpectDamage(v, 9, "records 9..10 missing at the end: the head names record 10 but the last record is 8");
  EXPECT_EQ(v.records, 8);
  // A later append does not paper over the gap: it continues from the head.
  AuditRecord next = log_->Append(Event("alice", "search"));
  EXPECT_EQ(next.seq, 11);
  ExpectDamage(log_->Verify(), 9, "records 9..10 missing");
}

TEST_F(AuditLogTest, VerifyNamesEveryRecordRemoved) {
  AppendMany(3);
  Tamper("DELETE FROM audit_records");
  ExpectDamage(log_->Verify(), 1, "records 1..3 missing at the end");
}

TEST_F(AuditLogTest, VerifyNamesAChangedHeadRow) {
  AppendMany(10);
  Tamper("UPDATE audit_head SET hash = '" + std::string(64, 'c') + "'");
  ExpectDamage(log_->Verify(), 10, "the head row was changed");
  Tamper("UPDATE audit_head SET seq = 8, hash = '" + HashOf(8) + "'");
  ExpectDamage(log_->Verify(), 9, "records 9..10 beyond the head");
  Tamper("DELETE FROM audit_head");
  ExpectDamage(log_->Verify(), 10, "the audit_head row is missing");
  EXPECT_THROW(log_->Append(Event("alice", "search")), Error);
}

TEST_F(AuditLogTest, VerifyChecksAnchors) {
  AppendMany(12);
  const std::string hash4 = HashOf(4);
  const std::string hash12 = HashOf(12);
  EXPECT_TRUE(log_->Verify({{4, hash4}, {12, hash12}, {0, kZeros}}).ok);
  std::string upper = hash4;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(log_->Verify({{4, upper}}).ok);

  const std::string wrong = "abcd" + std::string(60, '0');
  ExpectDamage(log_->Verify({{4, hash4}, {12, wrong}}), 12,
               "anchor 12:" + wrong + " not in the chain: record 12 has hash " + hash12);
  ExpectDamage(log_->Verify({{99, hash12}}), 99, "there is no record 99 (the log ends at record 12)");
  ExpectDamage(log_->Verify({{0, hash4}}), 0, "seq 0 stands for the empty log");
  // The first problem in seq order is reported.
  ExpectDamage(log_->Verify({{12, wrong}, {3, wrong}}), 3, "anchor 3:");
}

// Someone who rewrites a record and recomputes every later hash and the head
// leaves a consistent chain; only an anchor kept elsewhere shows it.
TEST_F(AuditLogTest, ConsistentRewriteIsCaughtByAnAnchor) {
  AppendMany(10);
  const AuditAnchor anchor{6, HashOf(6)};
  std::vector<AuditRecord> records = log_->Query({});
  records[2].event.actor = "nobody";  // record 3
  std::string sql;
  for (size_t i = 2; i < records.size(); ++i) {
    records[i].prev_hash = records[i - 1].hash;
    records[i].hash = ExpectedHash(records[i]);
    sql += "UPDATE audit_records SET actor = '" + records[i].event.actor + "', prev_hash = '" + records[i].prev_hash +
           "', hash = '" + records[i].hash + "' WHERE seq = " + std::to_string(records[i].seq) + "; ";
  }
  sql += "UPDATE audit_head SET hash = '" + records.back().hash + "'";
  Tamper(sql);
  EXPECT_TRUE(log_->Verify().ok);
  ExpectDamage(log_->Verify({anchor}), 6, "anchor 6:" + anchor.hash + " not in the chain");
}

// Verify reads in chunks; damage past the first chunk and a chain spanning
// several must be handled like any other.
TEST_F(AuditLogTest, VerifyAcrossReadChunks) {
  AppendMany(1300);
  const std::string hash1200 = HashOf(1200);
  AuditVerification v = log_->Verify({{1200, hash1200}});
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.records, 1300);
  EXPECT_EQ(v.head.seq, 1300);
  Tamper("DELETE FROM audit_records WHERE seq = 1024");
  ExpectDamage(log_->Verify(), 1024, "record 1024 missing");
  Tamper("UPDATE audit_records SET actor = 'x' WHERE seq = 513");
  ExpectDamage(log_->Verify(), 513, "record 513 hash mismatch");
}

// --- queries

TEST_F(AuditLogTest, QueryFiltersByActorCaseActionAndTime) {
  log_->Append(Event("alice", "login"));                 // 1, t0
  log_->Append(Event("alice", "search", "C-1"));         // 2, t0
  now_ += 100;
  log_->Append(Event("bob", "search", "C-1"));           // 3, t0+100
  log_->Append(Event("bob", "candidate_view", "C-2"));   // 4, t0+100
  now_ += 100;
  log_->Append(Event("alice", "decision", "C-2"));       // 5, t0+200

  auto seqs = [&](const AuditFilter& f) {
    std::vector<int64_t> out;
    for (const AuditRecord& r : log_->Query(f)) out.push_back(r.seq);
    return out;
  };
  AuditFilter f;
  EXPECT_EQ(seqs(f), (std::vector<int64_t>{1, 2, 3, 4, 5}));
  f.actor = "alice";
  EXPECT_EQ(seqs(f), (std::vector<int64_t>{1, 2, 5}));
  f = {};
  f.case_number = "C-1";
  EXPECT_EQ(seqs(f), (std::vector<int64_t>{2, 3}));
  f = {};
  f.action = "search";
  EXPECT_EQ(seqs(f), (std::vector<int64_t>{2, 3}));
  f = {};
  f.since = kStartTime + 100;
  EXPECT_EQ(seqs(f), (std::vector<int64_t>{3, 4, 5}));
  f.until = kStartTime + 200;  // exclusive
  EXPECT_EQ(seqs(f), (std::vector<int64_t>{3, 4}));
  f = {};
  f.until = kStartTime + 1;
  EXPECT_EQ(seqs(f), (std::vector<int64_t>{1, 2}));
  f = {};
  f.actor = "bob";
  f.case_number = "C-2";
  EXPECT_EQ(seqs(f), (std::vector<int64_t>{4}));
  f.action = "search";
  EXPECT_TRUE(seqs(f).empty());
  f = {};
  f.actor = "nobody";
  EXPECT_TRUE(seqs(f).empty());
  std::vector<AuditRecord> all = log_->Query({});
  EXPECT_EQ(all[3].event.actor, "bob");
  EXPECT_EQ(all[3].event.action, "candidate_view");
  EXPECT_EQ(all[3].event.case_number, "C-2");
  EXPECT_EQ(all[3].time, kStartTime + 100);
}

TEST_F(AuditLogTest, QueryPagesWithAfterSeqAndLimit) {
  AppendMany(30);  // alice at i = 0, 3, 6, ...: seqs 1, 4, 7, ..., 28
  AuditFilter f;
  f.actor = "alice";
  f.limit = 4;
  std::vector<int64_t> seen;
  for (int page = 0; page < 10; ++page) {
    std::vector<AuditRecord> records = log_->Query(f);
    EXPECT_LE(records.size(), 4u);
    if (records.empty()) break;
    for (const AuditRecord& r : records) seen.push_back(r.seq);
    f.after_seq = records.back().seq;
  }
  std::vector<int64_t> expected;
  for (int64_t s = 1; s <= 28; s += 3) expected.push_back(s);
  EXPECT_EQ(seen, expected);
  f = {};
  f.limit = 0;
  EXPECT_TRUE(log_->Query(f).empty());
  f.limit = 1000;
  f.after_seq = 25;
  EXPECT_EQ(log_->Query(f).size(), 5u);
}

// --- export

TEST_F(AuditLogTest, CsvQuotesPerRfc4180AndGuardsFormulas) {
  AuditEvent e;
  e.actor_id = 3;
  e.actor = "=HYPERLINK(\"http://x\")";
  e.role = "@SUM(A1)";
  e.action = "+cmd";
  e.client = "-1";
  e.case_number = "a,b";
  e.details_json = "{\"note\":\"line1\nline2\"}";
  AuditRecord r = log_->Append(e);
  std::ostringstream out;
  EXPECT_EQ(log_->ExportCsv(out, {}), 1);
  const std::string csv = out.str();
  const std::string header =
      "seq,time,time_utc,actor_id,actor,role,action,client,case_number,details_json,prev_hash,hash,request_id\r\n";
  ASSERT_EQ(csv.substr(0, header.size()), header);
  const std::string row = "1,1700000000,2023-11-14T22:13:20Z,3,\"'=HYPERLINK(\"\"http://x\"\")\",'@SUM(A1),'+cmd,'-1,"
                          "\"a,b\",\"{\"\"note\"\":\"\"line1\nline2\"\"}\"," + kZeros + "," + r.hash + ",\r\n";
  EXPECT_EQ(csv.substr(header.size()), row);
}

TEST_F(AuditLogTest, CsvParsesBackToTheRecords) {
  log_->Append(Event("alice", "search", "C-1", "{\"q\":\"a \\\"quoted\\\" word, and more\"}"));
  AuditEvent hostile = Event("line\r\nbreak", "export", "\"C-2\"");
  hostile.details_json = "not json";
  hostile.request_id = "req-7";
  log_->Append(hostile);
  std::ostringstream out;
  EXPECT_EQ(log_->ExportCsv(out, {}), 2);
  std::vector<std::vector<std::string>> rows = ParseCsv(out.str());
  ASSERT_EQ(rows.size(), 3u);
  std::vector<AuditRecord> records = log_->Query({});
  for (size_t i = 0; i < records.size(); ++i) {
    const std::vector<std::string>& cells = rows[i + 1];
    ASSERT_EQ(cells.size(), 13u);
    EXPECT_EQ(cells[0], std::to_string(records[i].seq));
    EXPECT_EQ(cells[4], records[i].event.actor);
    EXPECT_EQ(cells[8], records[i].event.case_number);
    EXPECT_EQ(cells[9], records[i].event.details_json);
    EXPECT_EQ(cells[10], records[i].prev_hash);
    EXPECT_EQ(cells[11], records[i].hash);
    EXPECT_EQ(cells[12], records[i].event.request_id);
  }
}

TEST_F(AuditLogTest, JsonLinesParseBackWithDetailsAsObjects) {
  log_->Append(Event("alice", "search", "C-1", R"({"query_faces":2,"top_k":50})"));
  AuditEvent broken = Event("bob", "export");
  broken.details_json = "{truncated";
  log_->Append(broken);
  AuditEvent array = Event("bob", "export");
  array.details_json = "[1,2]";
  log_->Append(array);
  std::ostringstream out;
  EXPECT_EQ(log_->ExportJsonLines(out, {}), 3);
  std::istringstream lines(out.str());
  std::vector<nlohmann::json> parsed;
  for (std::string line; std::getline(lines, line);) parsed.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(parsed.size(), 3u);
  std::vector<AuditRecord> records = log_->Query({});
  for (size_t i = 0; i < parsed.size(); ++i) {
    EXPECT_EQ(parsed[i]["seq"], records[i].seq);
    EXPECT_EQ(parsed[i]["time"], records[i].time);
    EXPECT_EQ(parsed[i]["time_utc"], "2023-11-14T22:13:20Z");
    EXPECT_EQ(parsed[i]["actor_id"], records[i].event.actor_id);
    EXPECT_EQ(parsed[i]["actor"], records[i].event.actor);
    EXPECT_EQ(parsed[i]["role"], records[i].event.role);
    EXPECT_EQ(parsed[i]["action"], records[i].event.action);
    EXPECT_EQ(parsed[i]["client"], records[i].event.client);
    EXPECT_EQ(parsed[i]["case_number"], records[i].event.case_number);
    EXPECT_EQ(parsed[i]["prev_hash"], records[i].prev_hash);
    EXPECT_EQ(parsed[i]["hash"], records[i].hash);
    EXPECT_EQ(parsed[i]["request_id"], records[i].event.request_id);
  }
  EXPECT_EQ(parsed[0]["details"], nlohmann::json({{"query_faces", 2}, {"top_k", 50}}));
  EXPECT_FALSE(parsed[0].contains("details_json"));
  EXPECT_EQ(parsed[1]["details_json"], "{truncated");
  EXPECT_FALSE(parsed[1].contains("details"));
  EXPECT_EQ(parsed[2]["details_json"], "[1,2]");  // valid JSON, but not an object
}

TEST_F(AuditLogTest, JsonLinesSurviveBytesThatAreNotUtf8) {
  AuditEvent e = Event("\xc3\x28 bad", "login_failed");
  log_->Append(e);
  std::ostringstream out;
  EXPECT_EQ(log_->ExportJsonLines(out, {}), 1);
  nlohmann::json j = nlohmann::json::parse(out.str());
  EXPECT_EQ(j["actor"], "\xef\xbf\xbd( bad");  // U+FFFD for the bad byte
}

// Client text (a forwarded address, a failed login's name) is stored valid,
// so that no record can break the JSON of a page; the chain covers what is stored.
TEST_F(AuditLogTest, StoresClientTextAsValidUtf8) {
  AuditEvent e = Event("\xc3\x28 bad", "login_failed");
  e.client = "10.0.0.1\xff\xfe";
  e.case_number = "C\xed\xa0\x80";
  const AuditRecord stored = log_->Append(e);
  EXPECT_EQ(stored.event.actor, "\xef\xbf\xbd( bad");
  const std::vector<AuditRecord> read = log_->Query({});
  ASSERT_EQ(read.size(), 1u);
  EXPECT_EQ(read[0].event.client, "10.0.0.1\xef\xbf\xbd");
  EXPECT_EQ(read[0].event.case_number, "C\xef\xbf\xbd");
  EXPECT_NO_THROW((void)nlohmann::json(read[0].event.actor + read[0].event.client).dump());
  EXPECT_TRUE(log_->Verify().ok);
}

TEST_F(AuditLogTest, ExportsFollowTheFilterAcrossPages) {
  AppendMany(1200);  // alice: 400 records, more than one export page
  AuditFilter f;
  f.actor = "alice";
  f.limit = std::numeric_limits<int64_t>::max();
  std::ostringstream csv;
  EXPECT_EQ(log_->ExportCsv(csv, f), 400);
  EXPECT_EQ(ParseCsv(csv.str()).size(), 401u);
  std::ostringstream jsonl;
  f.after_seq = 600;  // alice from seq 601 on: 601, 604, ..., 1198
  EXPECT_EQ(log_->ExportJsonLines(jsonl, f), 200);
  std::istringstream lines(jsonl.str());
  std::string first;
  std::getline(lines, first);
  EXPECT_EQ(nlohmann::json::parse(first)["seq"], 601);
  f.limit = 7;
  std::ostringstream limited;
  EXPECT_EQ(log_->ExportJsonLines(limited, f), 7);
}

}  // namespace
}  // namespace lineup
