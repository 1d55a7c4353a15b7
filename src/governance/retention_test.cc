// Retention of probe photos (per case, with a default) and of collections
// (gallery images by ingest time), each with its audit record in the real
// trail, committed with the deletion (a crash between them injected).
#include "governance/retention.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "common/error.h"
#include "common/utc_time.h"
#include "synthetic_gallery.h"
#include "test_env.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kDay = 86400;
constexpr int64_t kStart = 1'793'491'200;  // 2026-11-01T00:00:00Z

class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir("retention");
    db_ = std::make_unique<GovernanceDb>(dir_ / "governance.db", [this] { return now_.load(); });
    cases_ = std::make_unique<Cases>(*db_, dir_);
    audit_ = std::make_unique<AuditLog>(*db_);
  }

  // A case with one probe photo made now; returns the probe.
  Probe CaseWithProbe(const std::string& number, int64_t retention_days) {
    Case c = cases_->Create({number, "a purpose for the test", "serious_crime", retention_days}, 1, "alice", "CID");
    Probe p = cases_->AddProbe(c.id, 1, {9, 8, 7, static_cast<uint8_t>(c.id)}, ".jpg", 4, 4, {});
    SearchRecord s;
    s.case_id = c.id;
    s.probe_id = p.id;
    s.user_id = 1;
    s.username = "alice";
    s.client = "test";
    s.created_at = now_;
    s.top_k = 1;
    s.index_used = "Flat";
    s.candidates = {{1, 100, 0.9f, "strong"}};
    db_->Write([&](SqliteDb& db) { return cases_->RecordSearchIn(db, s); });
    return p;
  }

  RetentionReport Run(Gallery* gallery, int64_t now, RetentionOptions options, const RetentionHooks& hooks = {}) {
    AuditEvent who{0, "local:test", "operator", "", "cli", "", ""};
    RetentionReport r = RunRetention(gallery, *cases_, now, options, *audit_, who, hooks);
    records_.clear();
    AuditFilter f;
    f.action = "retention";
    for (const AuditRecord& rec : audit_->Query(f)) {
      records_.push_back({{"action", rec.event.action}, {"case", rec.event.case_number},
                          {"actor", rec.event.actor}, {"details", nlohmann::json::parse(rec.event.details_json)}});
    }
    return r;
  }

  std::atomic<int64_t> now_{kStart};
  fs::path dir_;
  std::unique_ptr<GovernanceDb> db_;
  std::unique_ptr<Cases> cases_;
  std::unique_ptr<AuditLog> audit_;
  std::vector<nlohmann::json> records_;  // the trail's retention records after the last Run
};

TEST_F(RetentionTest, ProbePhotosGoAfterTheirCaseRetentionOrTheDefault) {
  Probe own = CaseWithProbe("2026/OWN", 10);     // its own 10 days
  Probe fallback = CaseWithProbe("2026/DEF", 0);  // the default
  now_ += 5 * kDay;
  Probe young = CaseWithProbe("2026/YOUNG", 10);
  ASSERT_TRUE(fs::exists(cases_->ProbePath(own)));

  now_ = kStart + 11 * kDay;  // own: 11 > 10; young: 6 < 10; fallback: 11 < 30
  RetentionReport dry = Run(nullptr, now_, {30, true});
  ASSERT_EQ(dry.cases.size(), 1u);
  EXPECT_EQ(dry.cases[0].number, "2026/OWN");
  EXPECT_TRUE(records_.empty()) << "a dry run audits nothing";
  EXPECT_TRUE(cases_->GetProbe(own.id).has_value()) << "a dry run deletes nothing";

  RetentionReport run = Run(nullptr, now_, {30, false});
  ASSERT_EQ(run.cases.size(), 1u);
  EXPECT_EQ(run.cases[0].probes, 1);
  EXPECT_EQ(run.cases[0].searches, 1);
  EXPECT_EQ(run.cases[0].retention_days, 10);
  EXPECT_FALSE(cases_->GetProbe(own.id).has_value());
  EXPECT_FALSE(fs::exists(cases_->ProbePath(own))) << "the photo file goes with its row";
  EXPECT_TRUE(cases_->SearchesOf(cases_->Get(own.case_id)->id).empty());
  EXPECT_TRUE(cases_->Get(own.case_id).has_value()) << "the case itself stays";
  EXPECT_TRUE(cases_->GetProbe(young.id).has_value());
  EXPECT_TRUE(cases_->GetProbe(fallback.id).has_value());
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0]["action"], "retention");
  EXPECT_EQ(records_[0]["case"], "2026/OWN");
  EXPECT_EQ(records_[0]["actor"], "local:test");
  EXPECT_EQ(records_[0]["details"]["probes"], 1);

  now_ = kStart + 31 * kDay;  // the default catches up with the case without its own; young is 26 days old
  RetentionReport later = Run(nullptr, now_, {30, false});
  ASSERT_EQ(later.cases.size(), 2u);
  EXPECT_EQ(later.cases[0].number, "2026/DEF");
  EXPECT_EQ(later.cases[0].retention_days, 30);
  EXPECT_EQ(later.cases[1].number, "2026/YOUNG");
  EXPECT_TRUE(Run(nullptr, now_, {0, false}).cases.empty());
  EXPECT_THROW(cases_->Create({"2026/BAD", "a purpose for the test", "serious_crime", -1}, 1, "a", "u"), Error);
}

TEST_F(RetentionTest, CollectionImagesGoOnceOlderThanTheCollectionKeepsThem) {
  GalleryOptions options;
  options.data_dir = dir_ / "gallery";
  auto gallery = Gallery::Open(options, {"test-embedder-8", 8});
  Collection kept_a_day;
  kept_a_day.name = "short";
  kept_a_day.legal_basis = "test";
  kept_a_day.retention_days = 1;
  Collection forever;
  forever.name = "forever";
  forever.legal_basis = "test";
  int64_t short_id = gallery->catalog().CreateCollection(kept_a_day).id;
  int64_t forever_id = gallery->catalog().CreateCollection(forever).id;
  std::mt19937 rng(3);
  std::vector<AnalyzedImage> batch = {
      testing::SyntheticImage(short_id, "s1", {testing::RandomUnitVector(rng, 8)}, "https://x.org/SHORT-MARK.jpg"),
      testing::SyntheticImage(forever_id, "f1", {testing::RandomUnitVector(rng, 8)}, "https://x.org/f.jpg")};
  gallery->WriteBatch(batch, 0, {});

  EXPECT_TRUE(Run(gallery.get(), UnixNow(), {0, false}).collections.empty());
  RetentionReport r = Run(gallery.get(), UnixNow() + 2 * kDay, {0, false});
  ASSERT_EQ(r.collections.size(), 1u);
  EXPECT_EQ(r.collections[0].collection, "short");
  EXPECT_EQ(r.collections[0].images, 1);
  EXPECT_EQ(r.collections[0].faces, 1);
  EXPECT_EQ(gallery->catalog().Stats().images, 1);
  EXPECT_TRUE(gallery->catalog().FindCollection("short").has_value()) << "the collection stays, emptied";
  EXPECT_EQ(testing::FileHolding(options.data_dir, "SHORT-MARK"), fs::path());
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0]["details"]["collection"], "short");
  EXPECT_EQ(records_[0]["details"]["faces"], 1);
}

// A crash inside a case's expiry, before or after its record is appended:
// the transaction rolls back whole, so the probe and its search are still
// there and no record names them; the next run deletes and records once.
TEST_F(RetentionTest, AProbeExpiryAndItsRecordCommitTogether) {
  Probe p = CaseWithProbe("2026/CRASH", 1);
  now_ = kStart + 2 * kDay;
  for (const std::string stage : {"case_expired", "case_recorded"}) {
    SCOPED_TRACE(stage);
    RetentionHooks crash;
    crash.in_case_transaction = [&](const std::string& s, const CaseExpiry&) {
      if (s == stage) throw std::runtime_error("simulated crash");
    };
    EXPECT_THROW(Run(nullptr, now_, {0, false}, crash), std::runtime_error);
    EXPECT_TRUE(cases_->GetProbe(p.id).has_value()) << "rolled back with its record";
    EXPECT_EQ(cases_->SearchesOf(p.case_id).size(), 1u);
    EXPECT_TRUE(fs::exists(cases_->ProbePath(p))) << "files go only after the commit";
    EXPECT_TRUE(records_.empty());
  }
  RetentionReport done = Run(nullptr, now_, {0, false});
  ASSERT_EQ(done.cases.size(), 1u);
  EXPECT_FALSE(cases_->GetProbe(p.id).has_value());
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0]["details"]["searches"], 1);
  EXPECT_TRUE(Run(nullptr, now_, {0, false}).cases.empty());
  EXPECT_EQ(records_.size(), 1u);
  EXPECT_TRUE(audit_->Verify().ok);
}

// A case deletion runs its recorder inside its transaction: a failure after
// the record was appended rolls back both; a deletion that commits has its
// record.
TEST_F(RetentionTest, ACaseDeletionAndItsRecordCommitTogether) {
  Probe p = CaseWithProbe("2026/DEL", 0);
  auto record = [&](bool crash) {
    return [&, crash](SqliteDb& db, const Cases::Deletion& d) {
      audit_->AppendIn(db, {0, "local:test", "operator", "case_delete", "cli", "2026/DEL",
                            nlohmann::json{{"probes", d.probes}, {"searches", d.searches}}.dump()});
      if (crash) throw std::runtime_error("simulated crash");
    };
  };
  AuditFilter deletions;
  deletions.action = "case_delete";
  EXPECT_THROW(cases_->Delete(p.case_id, record(true)), std::runtime_error);
  EXPECT_TRUE(cases_->Get(p.case_id).has_value());
  EXPECT_TRUE(fs::exists(cases_->ProbePath(p)));
  EXPECT_TRUE(audit_->Query(deletions).empty());
  std::optional<Cases::Deletion> d = cases_->Delete(p.case_id, record(false));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->probes, 1);
  EXPECT_EQ(d->searches, 1);
  EXPECT_FALSE(cases_->Get(p.case_id).has_value());
  EXPECT_FALSE(fs::exists(cases_->ProbePath(p)));
  EXPECT_EQ(audit_->Query(deletions).size(), 1u);
  EXPECT_FALSE(cases_->Delete(p.case_id, record(false)).has_value()) << "gone: nothing deleted, nothing recorded";
  EXPECT_EQ(audit_->Query(deletions).size(), 1u);
}

// A re-upload of the same photo to the same case while its expired twin's
// file is being removed keeps its file: files go only when no probe row
// names them, checked under the write lock that AddProbe holds too.
TEST_F(RetentionTest, AReuploadOfAnExpiredPhotoKeepsItsFile) {
  Probe old = CaseWithProbe("2026/TWIN", 1);
  now_ = kStart + 2 * kDay;
  Probe again = cases_->AddProbe(old.case_id, 1, {9, 8, 7, static_cast<uint8_t>(old.case_id)}, ".jpg", 4, 4, {});
  ASSERT_EQ(again.stored_path, old.stored_path) << "the same bytes: the same file";
  RetentionReport r = Run(nullptr, now_, {0, false});
  ASSERT_EQ(r.cases.size(), 1u);
  EXPECT_EQ(r.cases[0].probes, 1);
  EXPECT_FALSE(cases_->GetProbe(old.id).has_value());
  ASSERT_TRUE(cases_->GetProbe(again.id).has_value());
  EXPECT_TRUE(fs::exists(cases_->ProbePath(again))) << "the kept probe's file is still there";

  // The same race with a real second thread: uploads of the same photo
  // while retention expires its older twins; every surviving probe has its file.
  std::atomic<bool> stop{false};
  std::thread uploader([&] {
    while (!stop) cases_->AddProbe(old.case_id, 1, {9, 8, 7, static_cast<uint8_t>(old.case_id)}, ".jpg", 4, 4, {});
  });
  for (int i = 0; i < 40; ++i) {
    now_ += 2 * kDay;
    Run(nullptr, now_, {0, false});
  }
  stop = true;
  uploader.join();
  for (const Probe& kept : cases_->ProbesOf(old.case_id)) {
    EXPECT_TRUE(fs::exists(cases_->ProbePath(kept))) << "probe " << kept.id << " lost its file";
  }
}

}  // namespace
}  // namespace lineup
