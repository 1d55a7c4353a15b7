// The audit trail against someone who can rewrite the governance database:
// signed checkpoints kept outside it catch a recomputed chain (which the
// chain alone cannot), forged or altered checkpoint lines are refused, and
// the decisions table must agree with the trail.
#include "governance/trail_verification.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/file_util.h"
#include "governance/audit_checkpointer.h"
#include "governance/cases.h"
#include "test_env.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kUser = 7;

// A raw connection for changing the file behind Lineup's back.
void RawExec(const fs::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.string().c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 10'000);
  char* message = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
  const std::string error = message ? message : "";
  sqlite3_free(message);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << sql << ": " << error;
}

std::string SignedMessageForTest(int64_t seq, const std::string& hash, int64_t time) {
  return "lineup-audit-checkpoint v1\n" + std::to_string(seq) + "\n" + hash + "\n" + std::to_string(time) + "\n";
}

class TrailVerificationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir("trail_verification");
    db_ = std::make_unique<GovernanceDb>(dir_ / "governance.db", [this] { return now_++; });
    log_ = std::make_unique<AuditLog>(*db_);
    cases_ = std::make_unique<Cases>(*db_, dir_);
    // The checkpoints go "to another volume": here a folder beside the database.
    checkpoints_ = dir_ / "elsewhere" / "checkpoints.log";
    key_file_ = dir_ / "keys" / "audit-signing.key";
  }

  std::unique_ptr<AuditCheckpointer> Checkpointer() {
    std::vector<std::unique_ptr<CheckpointSink>> sinks;
    sinks.push_back(FileCheckpointSink(checkpoints_));
    return std::make_unique<AuditCheckpointer>(*db_, *log_, AuditSigningKey::LoadOrCreate(key_file_),
                                               std::move(sinks));
  }

  void AppendRecords(int n, const std::string& action = "search") {
    for (int i = 0; i < n; ++i) {
      AuditEvent e;
      e.actor_id = kUser;
      e.actor = "alice";
      e.role = "investigator";
      e.action = action;
      e.client = "10.0.0.1";
      e.details_json = "{\"i\":" + std::to_string(records_++) + "}";
      log_->Append(e);
    }
  }

  // A search of a new case with candidates faces 100 and 101; returns its id.
  int64_t Search() {
    const Case c = cases_->Create({"2026/" + std::to_string(++cases_made_), "a purpose for the test", "other"},
                                  kUser, "alice", "CID");
    const Probe p = cases_->AddProbe(c.id, kUser, {1, 2, 3, static_cast<uint8_t>(c.id)}, ".jpg", 4, 4, {});
    SearchRecord s;
    s.case_id = c.id;
    s.probe_id = p.id;
    s.user_id = kUser;
    s.username = "alice";
    s.client = "test";
    s.created_at = now_;
    s.top_k = 2;
    s.index_used = "flat";
    s.faces_searched = 10;
    s.candidates = {{1, 100, 0.9f, "high"}, {2, 101, 0.5f, "low"}};
    return db_->Write([&](SqliteDb& sql) { return cases_->RecordSearchIn(sql, s); });
  }

  // A decision and its audit record in one transaction, as the server writes them.
  void Decide(int64_t search_id, int64_t face_id, const std::string& decision, const std::string& note) {
    AuditEvent e;
    e.actor_id = kUser;
    e.actor = "alice";
    e.role = "investigator";
    e.action = "decision";
    e.details_json =
        nlohmann::json{{"search_id", search_id}, {"face_id", face_id}, {"decision", decision}, {"note", note}}.dump();
    db_->Write([&](SqliteDb& sql) {
      cases_->RecordDecisionIn(sql, {search_id, face_id, kUser, "alice", decision, note, now_});
      log_->AppendIn(sql, e);
    });
  }

  TrailVerification Verify(bool with_checkpoints = true) {
    TrailVerifyRequest request;
    if (with_checkpoints) {
      request.checkpoint_file = checkpoints_;
      request.public_key_hex = AuditSigningKey::Load(key_file_).public_key_hex();
    }
    return VerifyTrail(*db_, *log_, request);
  }

  // What someone with the database file does to hide records seq > keep:
  // drop the guarding triggers, delete the records, move the head back.
  void TruncateTrailTo(int64_t keep) {
    RawExec(dir_ / "governance.db",
            "DROP TRIGGER IF EXISTS audit_records_no_update; DROP TRIGGER IF EXISTS audit_records_no_delete; "
            "DELETE FROM audit_records WHERE seq > " + std::to_string(keep) + "; "
            "UPDATE audit_head SET seq = " + std::to_string(keep) + ", hash = (SELECT hash FROM audit_records "
            "WHERE seq = " + std::to_string(keep) + ");");
  }

  fs::path dir_, checkpoints_, key_file_;
  int64_t now_ = 1'700'000'000;
  int records_ = 0;
  int cases_made_ = 0;
  std::unique_ptr<GovernanceDb> db_;
  std::unique_ptr<AuditLog> log_;
  std::unique_ptr<Cases> cases_;
};

TEST_F(TrailVerificationTest, TheKeyIsPrivateStableAndRefusedWhenNotAKey) {
  const AuditSigningKey created = AuditSigningKey::LoadOrCreate(key_file_);
  struct stat st{};
  ASSERT_EQ(::stat(key_file_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(created.public_key_hex().size(), 64u);
  EXPECT_EQ(created.key_id(), created.public_key_hex().substr(0, 16));
  // Loaded again (or "created" again): the same key, never a new one.
  EXPECT_EQ(AuditSigningKey::LoadOrCreate(key_file_).public_key_hex(), created.public_key_hex());
  EXPECT_EQ(AuditSigningKey::Load(key_file_).public_key_hex(), created.public_key_hex());

  const fs::path bad = dir_ / "not-a-key";
  WriteFileAtomically(bad, std::string("hello\n"));
  EXPECT_THROW(AuditSigningKey::Load(bad), Error);
  EXPECT_THROW(AuditSigningKey::LoadOrCreate(bad), Error);
  try {
    AuditSigningKey::Load(dir_ / "missing.key");
    FAIL() << "a missing key loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kNotFound);
  }
}

TEST_F(TrailVerificationTest, CheckpointsAreSignedLinesThatVerifyAndSurviveOtherLines) {
  AppendRecords(3);
  auto checkpointer = Checkpointer();
  EXPECT_TRUE(checkpointer->PublishIfMoved());
  EXPECT_FALSE(checkpointer->PublishIfMoved()) << "the head did not move";
  AppendRecords(2);
  EXPECT_TRUE(checkpointer->PublishIfMoved());
  EXPECT_EQ(checkpointer->published(), 2);

  // A copy of the system log: other lines, and a prefix before each checkpoint.
  const std::string lines = ReadFileText(checkpoints_);
  std::string syslog_copy = "Dec  4 08:00:00 host sshd[1]: unrelated\n";
  size_t at = 0;
  while (at < lines.size()) {
    const size_t end = lines.find('\n', at);
    syslog_copy += "Dec  4 08:00:01 host lineup-audit[42]: " + lines.substr(at, end - at) + "\n";
    at = end + 1;
  }
  WriteFileAtomically(dir_ / "syslog", syslog_copy);
  const std::string key = checkpointer->key().public_key_hex();
  CheckpointReading reading = ReadCheckpoints(dir_ / "syslog", key);
  EXPECT_TRUE(reading.ok) << reading.problem;
  ASSERT_EQ(reading.checkpoints.size(), 2u);
  EXPECT_EQ(reading.checkpoints[0].anchor.seq, 3);
  EXPECT_EQ(reading.checkpoints[1].anchor.seq, 5);
  EXPECT_EQ(reading.checkpoints[1].anchor.hash, log_->Head().hash);

  const TrailVerification v = Verify();
  EXPECT_TRUE(v.ok()) << v.problem();
  EXPECT_EQ(v.checkpoints, 2);
  ASSERT_TRUE(v.newest_checkpoint);
  EXPECT_EQ(v.newest_checkpoint->anchor.seq, 5);
  EXPECT_EQ(v.records_after_newest_checkpoint(), 0);
  AppendRecords(1);
  EXPECT_EQ(Verify().records_after_newest_checkpoint(), 1);
}

TEST_F(TrailVerificationTest, ForgedAlteredOrForeignCheckpointLinesAreProblems) {
  AppendRecords(4);
  auto checkpointer = Checkpointer();
  checkpointer->PublishIfMoved();
  const std::string key = checkpointer->key().public_key_hex();
  const std::string good = ReadFileText(checkpoints_);

  // Altered: the same signature over another seq.
  std::string altered = good;
  altered.replace(altered.find("seq=4"), 5, "seq=3");
  WriteFileAtomically(checkpoints_, good + altered);
  CheckpointReading reading = ReadCheckpoints(checkpoints_, key);
  EXPECT_FALSE(reading.ok);
  EXPECT_NE(reading.problem.find("line 2"), std::string::npos) << reading.problem;
  EXPECT_NE(reading.problem.find("signature does not hold"), std::string::npos) << reading.problem;
  EXPECT_FALSE(Verify().ok());

  // Signed by another key (anyone may write to syslog).
  const AuditSigningKey other = AuditSigningKey::LoadOrCreate(dir_ / "other.key");
  WriteFileAtomically(checkpoints_, CheckpointLine(SignCheckpoint(other, log_->Head(), 1)) + "\n");
  reading = ReadCheckpoints(checkpoints_, key);
  EXPECT_FALSE(reading.ok);
  EXPECT_NE(reading.problem.find("signed by key " + other.key_id()), std::string::npos) << reading.problem;

  // Not parseable after the marker.
  WriteFileAtomically(checkpoints_, std::string("lineup-audit-checkpoint v1 seq=x\n"));
  reading = ReadCheckpoints(checkpoints_, key);
  EXPECT_FALSE(reading.ok);
  EXPECT_NE(reading.problem.find("line 1"), std::string::npos) << reading.problem;

  // The signed message is the documented one (a verifier can check it
  // with any Ed25519 implementation).
  const AuditCheckpoint cp = SignCheckpoint(checkpointer->key(), {4, log_->Head().hash}, 99);
  EXPECT_EQ(cp.signature_hex, checkpointer->key().SignHex(SignedMessageForTest(4, log_->Head().hash, 99)));

  EXPECT_THROW(ReadCheckpoints(checkpoints_, "not hex"), Error);
  EXPECT_THROW(ReadCheckpoints(dir_ / "missing.log", key), Error);
}

// The finding: delete the last records and move the head back, and the
// chain alone still verifies; the checkpoint published before does not.
TEST_F(TrailVerificationTest, RecordsRemovedFromTheEndAreCaughtByACheckpoint) {
  AppendRecords(6);
  Checkpointer()->PublishIfMoved();
  TruncateTrailTo(4);
  AuditVerification chain_only = log_->Verify();
  EXPECT_TRUE(chain_only.ok) << "the chain alone cannot see this: " << chain_only.problem;

  const TrailVerification v = Verify();
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.chain.first_bad_seq, 6) << v.problem();
  EXPECT_NE(v.problem().find("there is no record 6"), std::string::npos) << v.problem();
}

// The finding: edit a decision's record and re-chain everything after it;
// the chain verifies, the checkpoint does not.
TEST_F(TrailVerificationTest, ARecomputedChainIsCaughtByACheckpoint) {
  const int64_t search = Search();
  AppendRecords(2);
  Decide(search, 100, "not_a_match", "different eyebrows");
  AppendRecords(2);
  Checkpointer()->PublishIfMoved();

  // Rewrite every record from the decision on, recomputing each hash with
  // the documented formula (what an operator with the file can do).
  const std::vector<AuditRecord> all = log_->Query(AuditFilter{});
  std::string sql = "DROP TRIGGER IF EXISTS audit_records_no_update; ";
  std::string prev;
  for (AuditRecord r : all) {
    if (r.event.action == "decision") r.event.details_json = R"({"decision":"possible_match","face_id":100,"note":"different eyebrows","search_id":)" + std::to_string(search) + "}";
    if (!prev.empty()) r.prev_hash = prev;
    std::string canonical;
    for (const std::string& f : {std::to_string(r.seq), std::to_string(r.time), std::to_string(r.event.actor_id),
                                 r.event.actor, r.event.role, r.event.action, r.event.client, r.event.case_number,
                                 r.event.details_json}) {
      canonical += std::to_string(f.size()) + ":" + f + ",";
    }
    const std::string message = r.prev_hash + "\n" + canonical;
    r.hash = Sha256Hex(message.data(), message.size());
    prev = r.hash;
    sql += "UPDATE audit_records SET details_json = '" + r.event.details_json + "', prev_hash = '" + r.prev_hash +
           "', hash = '" + r.hash + "' WHERE seq = " + std::to_string(r.seq) + "; ";
  }
  sql += "UPDATE audit_head SET hash = '" + prev + "'; ";
  sql += "UPDATE decisions SET decision = 'possible_match';";
  RawExec(dir_ / "governance.db", sql);

  AuditVerification chain_only = log_->Verify();
  EXPECT_TRUE(chain_only.ok) << "the chain alone cannot see this: " << chain_only.problem;
  const TrailVerification v = Verify();
  EXPECT_FALSE(v.ok());
  EXPECT_NE(v.problem().find("not in the chain"), std::string::npos) << v.problem();
}

TEST_F(TrailVerificationTest, DecisionsMustAgreeWithTheTrail) {
  const int64_t search = Search();
  Decide(search, 100, "inconclusive", "");
  Decide(search, 100, "not_a_match", "scar on the left cheek");  // changed: the newest record counts
  Decide(search, 101, "possible_match", "same tattoo");
  TrailVerification v = Verify(false);
  EXPECT_TRUE(v.ok()) << v.problem();
  EXPECT_EQ(v.decisions.decisions, 2);
  EXPECT_EQ(v.decisions.records, 3);

  // Altered behind Lineup's back.
  RawExec(dir_ / "governance.db", "UPDATE decisions SET decision = 'possible_match' WHERE face_id = 100");
  v = Verify(false);
  EXPECT_FALSE(v.ok());
  EXPECT_NE(v.problem().find("was altered"), std::string::npos) << v.problem();
  RawExec(dir_ / "governance.db", "UPDATE decisions SET decision = 'not_a_match', note = 'no scar' WHERE face_id = 100");
  EXPECT_NE(Verify(false).problem().find("was altered"), std::string::npos);
  RawExec(dir_ / "governance.db", "UPDATE decisions SET note = 'scar on the left cheek' WHERE face_id = 100");
  EXPECT_TRUE(Verify(false).ok());

  // Deleted behind Lineup's back.
  RawExec(dir_ / "governance.db", "DELETE FROM decisions WHERE face_id = 101");
  v = Verify(false);
  EXPECT_FALSE(v.ok());
  EXPECT_NE(v.problem().find("deleted behind Lineup's back"), std::string::npos) << v.problem();
  Decide(search, 101, "possible_match", "same tattoo");

  // Written behind Lineup's back.
  RawExec(dir_ / "governance.db",
          "INSERT INTO decisions (search_id, face_id, user_id, username, decision, note, created_at) VALUES (" +
              std::to_string(search) + ", 101, 99, 'mallory', 'possible_match', '', 0)");
  v = Verify(false);
  EXPECT_FALSE(v.ok());
  EXPECT_NE(v.problem().find("has no audit record"), std::string::npos) << v.problem();
  RawExec(dir_ / "governance.db", "DELETE FROM decisions WHERE user_id = 99");

  // Deleting the case deletes its decisions: not damage.
  const std::optional<SearchRecord> s = cases_->GetSearch(search);
  ASSERT_TRUE(s);
  cases_->Delete(s->case_id, [](SqliteDb&, const Cases::Deletion&) {});
  v = Verify(false);
  EXPECT_TRUE(v.ok()) << v.problem();
  EXPECT_EQ(v.decisions.decisions, 0);
}

TEST_F(TrailVerificationTest, TheBackgroundCheckpointerPublishesAndOnceMoreAtStop) {
  AppendRecords(1);
  auto checkpointer = Checkpointer();
  checkpointer->Start(std::chrono::milliseconds(20));
  AppendRecords(2);
  checkpointer->Stop();  // publishes the head once more
  const CheckpointReading reading = ReadCheckpoints(checkpoints_, checkpointer->key().public_key_hex());
  ASSERT_TRUE(reading.ok) << reading.problem;
  ASSERT_FALSE(reading.checkpoints.empty());
  EXPECT_EQ(reading.checkpoints.back().anchor.seq, 3);
  EXPECT_EQ(reading.checkpoints.back().anchor.hash, log_->Head().hash);
  EXPECT_EQ(checkpointer->last_error(), "");
}

TEST_F(TrailVerificationTest, AnchorsParseFromTextAndBadOnesNameTheField) {
  const AuditAnchor a = ParseAuditAnchor("12:" + std::string(64, 'A'), "anchor");
  EXPECT_EQ(a.seq, 12);
  EXPECT_EQ(a.hash, std::string(64, 'a'));
  EXPECT_EQ(AnchorText(a), "12:" + std::string(64, 'a'));
  for (const std::string& bad : std::vector<std::string>{"", "12", "x:" + std::string(64, 'a'), "-1:" + std::string(64, 'a'),
                                "1:" + std::string(63, 'a'), "1:" + std::string(64, 'g')}) {
    try {
      ParseAuditAnchor(bad, "anchor");
      ADD_FAILURE() << "parsed: " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidArgument);
      EXPECT_EQ(e.field(), "anchor");
    }
  }
}

}  // namespace
}  // namespace lineup
