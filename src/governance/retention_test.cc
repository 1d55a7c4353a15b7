// Retention of probe photos (per case, with a default) and of collections
// (gallery images by ingest time), with the audit sink's records.
#include "governance/retention.h"

#include <gtest/gtest.h>

#include <fstream>

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
    db_ = std::make_unique<GovernanceDb>(dir_ / "governance.db", [this] { return now_; });
    cases_ = std::make_unique<Cases>(*db_, dir_);
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

  AuditSink Recorder() {
    return [this](const std::string& action, const std::string& case_number, const nlohmann::json& details) {
      records_.push_back({{"action", action}, {"case", case_number}, {"details", details}});
    };
  }

  int64_t now_ = kStart;
  fs::path dir_;
  std::unique_ptr<GovernanceDb> db_;
  std::unique_ptr<Cases> cases_;
  std::vector<nlohmann::json> records_;
};

TEST_F(RetentionTest, ProbePhotosGoAfterTheirCaseRetentionOrTheDefault) {
  Probe own = CaseWithProbe("2026/OWN", 10);     // its own 10 days
  Probe fallback = CaseWithProbe("2026/DEF", 0);  // the default
  now_ += 5 * kDay;
  Probe young = CaseWithProbe("2026/YOUNG", 10);
  ASSERT_TRUE(fs::exists(cases_->ProbePath(own)));

  now_ = kStart + 11 * kDay;  // own: 11 > 10; young: 6 < 10; fallback: 11 < 30
  RetentionReport dry = RunRetention(nullptr, *cases_, now_, {30, true}, Recorder());
  ASSERT_EQ(dry.cases.size(), 1u);
  EXPECT_EQ(dry.cases[0].number, "2026/OWN");
  EXPECT_TRUE(records_.empty()) << "a dry run audits nothing";
  EXPECT_TRUE(cases_->GetProbe(own.id).has_value()) << "a dry run deletes nothing";

  RetentionReport run = RunRetention(nullptr, *cases_, now_, {30, false}, Recorder());
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
  EXPECT_EQ(records_[0]["details"]["probes"], 1);

  now_ = kStart + 31 * kDay;  // the default catches up with the case without its own; young is 26 days old
  RetentionReport later = RunRetention(nullptr, *cases_, now_, {30, false}, Recorder());
  ASSERT_EQ(later.cases.size(), 2u);
  EXPECT_EQ(later.cases[0].number, "2026/DEF");
  EXPECT_EQ(later.cases[0].retention_days, 30);
  EXPECT_EQ(later.cases[1].number, "2026/YOUNG");
  EXPECT_TRUE(RunRetention(nullptr, *cases_, now_, {0, false}, Recorder()).cases.empty());
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

  EXPECT_TRUE(RunRetention(gallery.get(), *cases_, UnixNow(), {0, false}, Recorder()).collections.empty());
  RetentionReport r = RunRetention(gallery.get(), *cases_, UnixNow() + 2 * kDay, {0, false}, Recorder());
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

}  // namespace
}  // namespace lineup
