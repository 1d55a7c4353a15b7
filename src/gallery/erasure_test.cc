// Erasure by selector, its crash journal, and opt-out by face (blocklist at
// ingest and query time, removal of matching faces), on synthetic
// descriptors.
#include "gallery/erasure.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include <sqlite3.h>

#include "catalog/sqlite_db.h"
#include "common/error.h"
#include "common/utf8.h"
#include "gallery/optout.h"
#include "governance/audit_once.h"
#include "postgres_server.h"
#include "synthetic_gallery.h"
#include "test_env.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;

constexpr int kDim = 32;
const GalleryModel kModel{"test-embedder-32", kDim};

std::string Bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

class ErasureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.data_dir = testing::TempDir("erasure") / "data";
    Reopen();
    governance_ = std::make_unique<GovernanceDb>(options_.data_dir / "governance.db");
    audit_log_ = std::make_unique<AuditLog>(*governance_);
    once_ = std::make_unique<AuditOnce>(*governance_, *audit_log_);
    bookings_ = AddCollection("bookings");
    wanted_ = AddCollection("wanted");
    job_ = gallery_->catalog().CreateJob(bookings_, "first input", "{}").id;
  }

  void Reopen() {
    gallery_.reset();
    gallery_ = Gallery::Open(options_, kModel);
  }

  int64_t AddCollection(const std::string& name) {
    Collection c;
    c.name = name;
    c.legal_basis = "test";
    return gallery_->catalog().CreateCollection(c).id;
  }

  // Writes one image with `faces` random faces; returns their descriptors.
  std::vector<std::vector<float>> Add(const std::string& name, int faces, const std::string& url,
                                      int64_t collection = 0, int64_t job = -1, const std::string& page = "") {
    std::vector<std::vector<float>> d;
    for (int i = 0; i < faces; ++i) d.push_back(testing::RandomUnitVector(rng_, kDim));
    std::vector<AnalyzedImage> batch = {
        testing::SyntheticImage(collection ? collection : bookings_, name, d, url, page)};
    gallery_->WriteBatch(batch, job < 0 ? job_ : job, {});
    return d;
  }

  // Face ids a search for `d` returns.
  std::vector<int64_t> Found(const std::vector<float>& d, size_t k = 10) {
    SearchQuery q;
    q.descriptor = d;
    q.top_k = k;
    std::vector<int64_t> ids;
    for (const Candidate& c : gallery_->Search(q).candidates) ids.push_back(c.provenance.face.id);
    return ids;
  }
  bool TopIsExact(const std::vector<float>& d) {
    SearchQuery q;
    q.descriptor = d;
    q.top_k = 1;
    SearchResult r = gallery_->Search(q);
    return !r.candidates.empty() && r.candidates[0].score > 0.9999f;
  }
  std::string Holding(const std::string& needle) { return testing::FileHolding(options_.data_dir, needle).string(); }

  // The audit record an erasure owes: an operator's "erase" with a reason.
  ErasureAudit Audit(const std::string& reason = "test") {
    AuditEvent who{0, "local:test", "operator", "erase", "cli", "", ""};
    return {AuditEventJson(who, {{"reason", reason}}), once_->Recorder()};
  }
  std::vector<AuditRecord> EraseRecords() {
    AuditFilter f;
    f.action = "erase";
    return audit_log_->Query(f);
  }

  std::mt19937 rng_{11};
  GalleryOptions options_;
  std::unique_ptr<Gallery> gallery_;
  int64_t bookings_ = 0, wanted_ = 0, job_ = 0;
  std::unique_ptr<GovernanceDb> governance_;
  std::unique_ptr<AuditLog> audit_log_;
  std::unique_ptr<AuditOnce> once_;
};

TEST(UrlHostTest, TakesTheHostOutOfAUrl) {
  EXPECT_EQ(UrlHost("https://Photos.Example.ORG/a.jpg"), "photos.example.org");
  EXPECT_EQ(UrlHost("http://user:pw@example.org:8080/x?y#z"), "example.org");
  EXPECT_EQ(UrlHost("https://example.org."), "example.org");
  EXPECT_EQ(UrlHost("https://example.org?q=/a"), "example.org");
  EXPECT_EQ(UrlHost("/local/path.jpg"), "");
  EXPECT_EQ(UrlHost("https://[::1]/a"), "");
}

TEST_F(ErasureTest, ByDomainTakesTheDomainAndItsSubdomainsOnlyAndLeavesNoCopy) {
  auto a = Add("a", 2, "https://photos.EXAMPLE.org/DOMAIN-MARK-a.jpg");
  auto b = Add("b", 1, "", 0, -1, "https://example.org/page-DOMAIN-MARK-b");
  auto evil = Add("evil", 1, "https://example.org.evil.com/x.jpg");
  auto other = Add("other", 1, "https://notexample.org/y.jpg");
  ASSERT_NE(Holding(Bytes(a[1])), "");

  ErasurePlan plan = PlanErasure(*gallery_, {EraseBy::kDomain, "Example.org"});
  EXPECT_EQ(plan.image_ids.size(), 2u);
  EXPECT_EQ(plan.faces, 3);
  EXPECT_TRUE(TopIsExact(a[0])) << "planning (a dry run) deletes nothing";

  ErasureReport r = Erase(*gallery_, {EraseBy::kDomain, "example.org"}, Audit());
  EXPECT_EQ(r.deleted.images, 2);
  EXPECT_EQ(r.deleted.faces, 3);
  for (const auto& d : {a[0], a[1], b[0]}) EXPECT_FALSE(TopIsExact(d));
  EXPECT_TRUE(TopIsExact(evil[0]));
  EXPECT_TRUE(TopIsExact(other[0]));
  EXPECT_EQ(Holding("DOMAIN-MARK"), "") << "a URL of an erased image is left";
  EXPECT_EQ(Holding("image file bytes of a "), "");
  EXPECT_EQ(Holding("crop of a face"), "");
  for (const auto& d : {a[0], a[1], b[0]}) EXPECT_EQ(Holding(Bytes(d)), "") << "a descriptor is left";
  EXPECT_NE(Holding(Bytes(evil[0])), "");
  EXPECT_TRUE(PendingErasures(options_.data_dir).empty());
  EXPECT_TRUE(gallery_->Check(false, false).ok());
}

TEST_F(ErasureTest, EverySelectorNamesWhatItSays) {
  int64_t second_job = gallery_->catalog().CreateJob(bookings_, "second input", "{}").id;
  auto exact = Add("exact", 1, "https://site.org/a.jpg");
  auto longer = Add("longer", 1, "https://site.org/a.jpg.bak");
  auto by_job = Add("job2", 2, "https://other.org/j.jpg", 0, second_job);
  auto in_wanted = Add("w", 1, "https://w.org/1.jpg", wanted_, 0);
  auto plain = Add("plain", 1, "");

  EXPECT_EQ(PlanErasure(*gallery_, {EraseBy::kSourceUrl, "https://site.org/a.jpg"}).image_ids.size(), 1u);
  EXPECT_EQ(PlanErasure(*gallery_, {EraseBy::kUrlPrefix, "https://site.org/a.jpg"}).image_ids.size(), 2u);
  EXPECT_EQ(PlanErasure(*gallery_, {EraseBy::kJob, std::to_string(second_job)}).faces, 2);
  EXPECT_EQ(PlanErasure(*gallery_, {EraseBy::kCollection, "wanted"}).image_ids.size(), 1u);
  EXPECT_EQ(PlanErasure(*gallery_, {EraseBy::kIngestedBefore, "bookings", "9999-01-01T00:00:00Z"}).image_ids.size(), 4u);
  EXPECT_TRUE(PlanErasure(*gallery_, {EraseBy::kIngestedBefore, "bookings", "2000-01-01T00:00:00Z"}).image_ids.empty());

  Erase(*gallery_, {EraseBy::kSourceUrl, "https://site.org/a.jpg"}, Audit());
  EXPECT_FALSE(TopIsExact(exact[0]));
  EXPECT_TRUE(TopIsExact(longer[0]));
  Erase(*gallery_, {EraseBy::kJob, std::to_string(second_job)}, Audit());
  EXPECT_FALSE(TopIsExact(by_job[0]));
  EXPECT_FALSE(TopIsExact(by_job[1]));
  ErasureReport c = Erase(*gallery_, {EraseBy::kCollection, "wanted"}, Audit());
  EXPECT_EQ(c.deleted.faces, 1);
  EXPECT_FALSE(gallery_->catalog().FindCollection("wanted").has_value());
  EXPECT_FALSE(TopIsExact(in_wanted[0]));
  auto images = PlanErasure(*gallery_, {EraseBy::kUrlPrefix, "https://site.org/"}).image_ids;
  ASSERT_EQ(images.size(), 1u);
  Erase(*gallery_, {EraseBy::kImage, std::to_string(images[0])}, Audit());
  EXPECT_FALSE(TopIsExact(longer[0]));
  EXPECT_TRUE(TopIsExact(plain[0]));
  EXPECT_EQ(gallery_->catalog().Stats().faces, 1);
}

TEST_F(ErasureTest, ASelectorThatNamesNothingIsAClearErrorAndErasesNothing) {
  Add("a", 1, "https://site.org/a.jpg");
  auto message = [&](ErasureSelector s) {
    try {
      Erase(*gallery_, s, Audit());
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({EraseBy::kDomain, "nowhere.org"}).find("nothing in the gallery matches"), std::string::npos);
  EXPECT_NE(message({EraseBy::kDomain, "https://site.org/"}).find("not a host name"), std::string::npos);
  EXPECT_NE(message({EraseBy::kDomain, ""}).find("not a host name"), std::string::npos);
  EXPECT_NE(message({EraseBy::kUrlPrefix, ""}).find("empty"), std::string::npos);
  EXPECT_NE(message({EraseBy::kImage, "12x"}).find("not an id"), std::string::npos);
  EXPECT_NE(message({EraseBy::kJob, "999"}).find("no ingest job"), std::string::npos);
  EXPECT_NE(message({EraseBy::kCollection, "nope"}).find("no such collection"), std::string::npos);
  EXPECT_NE(message({EraseBy::kIngestedBefore, "bookings", "yesterday"}).find("not a UTC time"), std::string::npos);
  EXPECT_THROW(EraseByFromString("host"), Error);
  EXPECT_EQ(gallery_->catalog().Stats().faces, 1);
  EXPECT_TRUE(PendingErasures(options_.data_dir).empty());
}

// A crash at each stage: the journal stays, the gallery warns, nothing
// half-erased is searchable, and resuming completes the erasure.
TEST_F(ErasureTest, AnErasureCutShortAtAnyStageIsCompletedByResuming) {
  for (const std::string stage : {"journaled", "committed", "compacted"}) {
    SCOPED_TRACE(stage);
    auto doomed = Add("doomed-" + stage, 2, "https://takedown.example/" + stage + "-CRASH-MARK.jpg");
    auto kept = Add("kept-" + stage, 1, "https://keep.example/" + stage + ".jpg");
    ErasureHooks crash;
    crash.after_stage = [&](const std::string& s) {
      if (s == stage) throw std::runtime_error("simulated crash");
    };
    EXPECT_THROW(Erase(*gallery_, {EraseBy::kDomain, "takedown.example"}, Audit(), crash), std::runtime_error);
    Reopen();
    ASSERT_EQ(PendingErasures(options_.data_dir).size(), 1u);
    ASSERT_FALSE(gallery_->warnings().empty());
    EXPECT_NE(gallery_->warnings().back().find("lineup erase --resume"), std::string::npos);
    bool first = TopIsExact(doomed[0]), second = TopIsExact(doomed[1]);
    EXPECT_EQ(first, second) << "half of the image is searchable";
    EXPECT_EQ(first, stage == "journaled");

    std::vector<ErasureReport> resumed = ResumeErasures(*gallery_, Audit("resumed"));
    ASSERT_EQ(resumed.size(), 1u);
    EXPECT_TRUE(resumed[0].resumed);
    EXPECT_TRUE(PendingErasures(options_.data_dir).empty());
    EXPECT_FALSE(TopIsExact(doomed[0]));
    EXPECT_TRUE(TopIsExact(kept[0]));
    EXPECT_EQ(Holding(stage + "-CRASH-MARK"), "");
    EXPECT_EQ(Holding("crop of doomed-" + stage), "");
    EXPECT_EQ(Holding(Bytes(doomed[1])), "");
    EXPECT_TRUE(gallery_->Check(false, false).ok());
    EXPECT_EQ(gallery_->Check(false, false).orphan_media, 0);
  }
}

// The erasure and its audit record: a crash between any two steps leaves
// either neither (before the journal) or the record owed in the journal,
// and resuming writes it exactly once, with the original actor and reason,
// also when the crash came after the record was written.
TEST_F(ErasureTest, AnErasureAndItsAuditRecordCommitTogetherAndResumeWritesItOnce) {
  size_t erasures = 0;
  for (const std::string stage : {"journaled", "committed", "compacted", "recorded"}) {
    SCOPED_TRACE(stage);
    Add("doomed-" + stage, 2, "https://audited.example/" + stage + ".jpg");
    ErasureHooks crash;
    crash.after_stage = [&](const std::string& s) {
      if (s == stage) throw std::runtime_error("simulated crash");
    };
    EXPECT_THROW(Erase(*gallery_, {EraseBy::kDomain, "audited.example"}, Audit("court order " + stage), crash),
                 std::runtime_error);
    ++erasures;
    EXPECT_EQ(EraseRecords().size(), erasures - (stage == "recorded" ? 0 : 1))
        << "the record is written after compaction, once";
    Reopen();
    std::vector<ErasureReport> resumed = ResumeErasures(*gallery_, Audit("resumed by the maintenance job"));
    ASSERT_EQ(resumed.size(), 1u);
    EXPECT_TRUE(PendingErasures(options_.data_dir).empty());
    std::vector<AuditRecord> records = EraseRecords();
    ASSERT_EQ(records.size(), erasures) << "exactly one record per erasure";
    nlohmann::json details = nlohmann::json::parse(records.back().event.details_json);
    EXPECT_EQ(details["reason"], "court order " + stage) << "the journal's event, not the resumer's";
    EXPECT_EQ(details["erasure_id"], resumed[0].id);
    EXPECT_EQ(details["images"], 1);
    EXPECT_EQ(details["faces"], 2) << "the planned counts, also when the first run had committed";
    EXPECT_EQ(records.back().event.actor, "local:test");
    EXPECT_TRUE(ResumeErasures(*gallery_, Audit()).empty());
    EXPECT_EQ(EraseRecords().size(), erasures);
  }
  // A run that finishes writes its record before it returns.
  Add("whole", 1, "https://audited.example/whole.jpg");
  ErasureReport r = Erase(*gallery_, {EraseBy::kDomain, "audited.example"}, Audit("takedown"));
  ASSERT_EQ(EraseRecords().size(), erasures + 1);
  EXPECT_EQ(nlohmann::json::parse(EraseRecords().back().event.details_json)["erasure_id"], r.id);
  ErasureAudit unaudited = Audit();
  unaudited.record = nullptr;
  Add("never", 1, "https://unaudited.example/x.jpg");
  EXPECT_THROW(Erase(*gallery_, {EraseBy::kDomain, "unaudited.example"}, unaudited), Error);
  EXPECT_TRUE(PendingErasures(options_.data_dir).empty()) << "no recorder, no erasure";
}

// Searches run without pause while an erasure runs; a search that starts
// after Erase returned never sees an erased face.
TEST_F(ErasureTest, ConcurrentSearchesNeverSeeAFaceOnceItsErasureReturned) {
  std::vector<std::vector<float>> doomed;
  for (int i = 0; i < 30; ++i) {
    auto d = Add("doomed" + std::to_string(i), 1, "https://gone.example/" + std::to_string(i) + ".jpg");
    doomed.push_back(d[0]);
    Add("kept" + std::to_string(i), 1, "https://stays.example/" + std::to_string(i) + ".jpg");
  }
  std::atomic<bool> erased{false}, stop{false};
  std::atomic<int> violations{0}, searches{0};
  std::vector<std::thread> searchers;
  for (int t = 0; t < 2; ++t) {
    searchers.emplace_back([&, t] {
      size_t i = static_cast<size_t>(t);
      while (!stop) {
        bool after = erased.load();
        SearchQuery q;
        q.descriptor = doomed[i++ % doomed.size()];
        q.top_k = 3;
        for (const Candidate& c : gallery_->Search(q).candidates) {
          if (after && c.provenance.source && c.provenance.source->source_url.find("gone.example") != std::string::npos) {
            ++violations;
          }
        }
        ++searches;
      }
    });
  }
  while (searches < 20) std::this_thread::yield();
  Erase(*gallery_, {EraseBy::kDomain, "gone.example"}, Audit());
  erased = true;
  int at_return = searches;
  while (searches < at_return + 50) std::this_thread::yield();
  stop = true;
  for (auto& t : searchers) t.join();
  EXPECT_EQ(violations, 0);
}

// With a PostgreSQL catalog the erased rows leave the table and index files
// too (VACUUM FULL); the server's WAL still has them until it is recycled,
// which docs/GALLERY.md tells operators.
TEST(ErasureOnPostgres, ErasedProvenanceLeavesTheTableFiles) {
  if (std::string why = testing::PostgresUnavailableReason(); !why.empty()) GTEST_SKIP() << why;
  testing::PostgresServer& server = testing::PostgresServer::Shared();
  GalleryOptions options;
  options.data_dir = testing::TempDir("erasure-pg") / "data";
  options.catalog = server.CreateDatabase();
  auto gallery = Gallery::Open(options, kModel);
  Collection c;
  c.name = "bookings";
  c.legal_basis = "test";
  int64_t collection = gallery->catalog().CreateCollection(c).id;
  std::mt19937 rng(5);
  std::vector<AnalyzedImage> batch;
  for (int i = 0; i < 20; ++i) {
    batch.push_back(testing::SyntheticImage(collection, "pg" + std::to_string(i), {testing::RandomUnitVector(rng, kDim)},
                                            "https://" + std::string(i < 10 ? "PGERASE-MARK" : "keep") + ".example/" +
                                                std::to_string(i) + ".jpg"));
  }
  gallery->WriteBatch(batch, 0, {});
  auto checkpoint = [&] {
    pqxx::connection admin(options.catalog);
    pqxx::nontransaction tx(admin);
    tx.exec0("CHECKPOINT");
  };
  auto in_tables = [&](const std::string& needle) {
    return testing::FileHolding(server.socket_dir() / "data" / "base", needle);
  };
  checkpoint();
  ASSERT_NE(in_tables("PGERASE-MARK"), fs::path()) << "the scan must see the rows before the erasure";
  GovernanceDb governance(options.data_dir / "governance.db");
  AuditLog log(governance);
  AuditOnce once(governance, log);
  AuditEvent who{0, "local:test", "operator", "erase", "cli", "", ""};
  ErasureReport r = Erase(*gallery, {EraseBy::kDomain, "pgerase-mark.example"}, {AuditEventJson(who, {}), once.Recorder()});
  EXPECT_EQ(r.deleted.images, 10);
  checkpoint();
  EXPECT_EQ(in_tables("PGERASE-MARK"), fs::path()) << "erased provenance left in a table or index file";
  EXPECT_NE(in_tables("keep.example"), fs::path());
}

// --- opt-out

class OptOutTest : public ErasureTest {
 protected:
  int64_t OptOutOf(const std::vector<float>& d, double threshold = 0.8) {
    OptOut e;
    e.request_id = "REQ-1";
    e.created_by = "test";
    e.threshold = threshold;
    e.descriptor = d;
    return AddOptOut(gallery_->blocklist(), e, {}, Audit());
  }
  OptOutAudit Audit() {
    AuditEvent who{0, "local:test", "operator", "", "cli", "", ""};
    return {AuditEventJson(who, {}), once_->Recorder()};
  }
  std::vector<AuditRecord> Records(const std::string& action) {
    AuditFilter f;
    f.action = action;
    return audit_log_->Query(f);
  }
};

TEST_F(OptOutTest, BlocksAtQueryTimeAtOnceAndAtIngestAndRemovesMatchingFaces) {
  auto person = testing::RandomUnitVector(rng_, kDim);
  std::vector<AnalyzedImage> batch = {
      testing::SyntheticImage(bookings_, "alone", {testing::Near(person, rng_, 0.2f)}, "https://a.org/alone.jpg"),
      testing::SyntheticImage(bookings_, "group",
                              {testing::Near(person, rng_, 0.2f), testing::RandomUnitVector(rng_, kDim)},
                              "https://a.org/group.jpg")};
  const std::vector<float> bystander = batch[1].descriptors[1];
  gallery_->WriteBatch(batch, job_, {});
  auto unrelated = Add("unrelated", 1, "https://a.org/u.jpg");
  const std::vector<int64_t> persons_faces = Found(person, 2);
  ASSERT_EQ(persons_faces.size(), 2u);

  int64_t id = OptOutOf(testing::Near(person, rng_, 0.2f));
  // Query time: hidden before anything is removed, and the list is still
  // filled from other faces.
  std::vector<int64_t> after = Found(person, 2);
  EXPECT_EQ(after.size(), 2u);
  for (int64_t face : after) EXPECT_EQ(std::count(persons_faces.begin(), persons_faces.end(), face), 0);
  // Earlier results that showed the faces no longer describe them.
  EXPECT_EQ(gallery_->catalog().DescribeFaces(persons_faces).size(), 2u);
  EXPECT_TRUE(gallery_->DescribeVisibleFaces(persons_faces).empty());
  // Ingest time.
  std::vector<AnalyzedImage> later = {
      testing::SyntheticImage(bookings_, "later", {testing::Near(person, rng_, 0.2f)}, "https://a.org/later.jpg"),
      testing::SyntheticImage(bookings_, "later-group",
                              {testing::RandomUnitVector(rng_, kDim), testing::Near(person, rng_, 0.2f)},
                              "https://a.org/later-group.jpg")};
  WriteResult w = gallery_->WriteBatch(later, job_, {});
  EXPECT_EQ(w.faces_opted_out, 2);
  EXPECT_EQ(w.images_opted_out, 1);
  EXPECT_EQ(w.image_ids.size(), 1u);
  EXPECT_EQ(gallery_->catalog().Stats().faces, 5);  // alone, group x2, unrelated, later-group's other face

  OptOutPreview preview = PreviewOptOut(*gallery_, gallery_->blocklist().Get(id)->descriptor, 0.8);
  EXPECT_EQ(preview.matches.size(), 2u);
  EXPECT_EQ(preview.whole_images.size(), 1u);
  DeletionReport removed = RemoveOptedOutFaces(*gallery_, gallery_->blocklist(), id, Audit()).value();
  EXPECT_EQ(removed.faces, 2);
  EXPECT_EQ(removed.images, 1);
  EXPECT_EQ(gallery_->catalog().Stats().images, 3);  // group (bystander kept), unrelated, later-group
  EXPECT_TRUE(TopIsExact(bystander));
  EXPECT_TRUE(TopIsExact(unrelated[0]));
  EXPECT_EQ(Holding("https://a.org/alone.jpg"), "");
  OptOut done = gallery_->blocklist().List().at(0);
  EXPECT_EQ(done.status, OptOutStatus::kDone);
  EXPECT_EQ(done.faces_removed, 2);
  EXPECT_TRUE(done.descriptor.empty()) << "List() carries no descriptors";
  EXPECT_TRUE(ProcessPendingOptOuts(*gallery_, Audit()).empty());
  EXPECT_EQ(Records("optout_add").size(), 1u);
  ASSERT_EQ(Records("optout_process").size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(Records("optout_process")[0].event.details_json)["faces_removed"], 2);

  // Withdrawn: matching faces may be ingested again.
  EXPECT_TRUE(WithdrawOptOut(gallery_->blocklist(), id, {{"reason", "test"}}, Audit()));
  EXPECT_FALSE(WithdrawOptOut(gallery_->blocklist(), id, {{"reason", "test"}}, Audit()));
  EXPECT_EQ(Records("optout_remove").size(), 1u);
  std::vector<AnalyzedImage> again = {
      testing::SyntheticImage(bookings_, "again", {testing::Near(person, rng_, 0.2f)}, "https://a.org/again.jpg")};
  EXPECT_EQ(gallery_->WriteBatch(again, job_, {}).faces_opted_out, 0);
}

TEST_F(OptOutTest, AReadOnlyGallerySeesOptOutsAddedByAnotherWriter) {
  auto d = Add("a", 1, "https://a.org/a.jpg");
  GalleryOptions ro = options_;
  ro.read_only = true;
  auto reader = Gallery::Open(ro, kModel);
  SearchQuery q;
  q.descriptor = d[0];
  EXPECT_EQ(reader->Search(q).candidates.size(), 1u);
  int64_t id = OptOutOf(d[0], 0.9);
  EXPECT_TRUE(reader->Search(q).candidates.empty());
  gallery_->blocklist().Remove(id);
  EXPECT_EQ(reader->Search(q).candidates.size(), 1u);
  EXPECT_THROW(reader->blocklist().Add(OptOut{}), Error);
}

// An opt-out and its records: the blocklist and the trail are different
// stores, so the entry carries the record it owes. A crash between the
// entry and its record, or anywhere in the removal, leaves either neither
// or a debt that settling (every removal and maintenance run) pays once.
TEST_F(OptOutTest, AnOptOutAndItsRecordsAreNeitherOrBothAndWrittenOnceAfterACrash) {
  auto person = testing::RandomUnitVector(rng_, kDim);
  Add("p1", 1, "https://a.org/p1.jpg");
  std::vector<AnalyzedImage> batch = {
      testing::SyntheticImage(bookings_, "alone", {testing::Near(person, rng_, 0.1f)}, "https://a.org/alone.jpg")};
  gallery_->WriteBatch(batch, job_, {});
  // Crash between the entry's commit and its record: the entry owes it.
  OptOut e;
  e.request_id = "REQ-CRASH";
  e.created_by = "test";
  e.threshold = 0.8;
  e.descriptor = testing::Near(person, rng_, 0.1f);
  e.owed_audit = AuditEventJson({0, "local:test", "operator", "optout_add", "cli", "", ""}, {{"request_id", "REQ-CRASH"}})
                     .dump();
  int64_t id = gallery_->blocklist().Add(e);
  EXPECT_TRUE(Records("optout_add").empty());
  EXPECT_EQ(SettleOwedOptOutRecords(gallery_->blocklist(), Audit()), 1);
  EXPECT_EQ(SettleOwedOptOutRecords(gallery_->blocklist(), Audit()), 0);
  EXPECT_EQ(Records("optout_add").size(), 1u);
  EXPECT_TRUE(gallery_->blocklist().Get(id)->owed_audit.empty());

  // A crash at each phase of the removal: pending, and the record not yet
  // written unless the crash came after it; resuming writes it once.
  for (const std::string phase : {"scanning", "removing", "compacting", "recording", "recorded"}) {
    SCOPED_TRACE(phase);
    RemovalControl crash;
    crash.progress = [&](const RemovalProgress& p) {
      if (p.phase == phase) throw std::runtime_error("simulated crash");
    };
    EXPECT_THROW(RemoveOptedOutFaces(*gallery_, gallery_->blocklist(), id, Audit(), crash), std::runtime_error);
    EXPECT_EQ(gallery_->blocklist().Get(id)->status, OptOutStatus::kPending);
    EXPECT_EQ(Records("optout_process").size(), phase == "recorded" ? 1u : 0u);
    if (phase == "recorded") break;
  }
  EXPECT_FALSE(TopIsExact(batch[0].descriptors[0])) << "the removal had committed before the later crashes";
  std::vector<ProcessedOptOut> resumed = ProcessPendingOptOuts(*gallery_, Audit());
  ASSERT_EQ(resumed.size(), 1u);
  EXPECT_EQ(gallery_->blocklist().Get(id)->status, OptOutStatus::kDone);
  ASSERT_EQ(Records("optout_process").size(), 1u) << "exactly once";
  EXPECT_EQ(nlohmann::json::parse(Records("optout_process")[0].event.details_json)["faces_removed"], 1)
      << "the count of the run that removed the face, kept by the entry";

  // A withdrawal cut short after its debt was stored: settling records it
  // and only then removes the entry.
  nlohmann::json withdrawal =
      AuditEventJson({0, "local:test", "operator", "optout_remove", "cli", "", ""}, {{"reason", "mistake"}});
  gallery_->blocklist().SetOwedAudit(id, withdrawal.dump());
  EXPECT_TRUE(gallery_->blocklist().Get(id).has_value()) << "still blocking until its record is written";
  EXPECT_EQ(SettleOwedOptOutRecords(gallery_->blocklist(), Audit()), 1);
  EXPECT_FALSE(gallery_->blocklist().Get(id).has_value());
  EXPECT_EQ(Records("optout_remove").size(), 1u);
  EXPECT_TRUE(audit_log_->Verify().ok);
}

// Text that cannot be stored is refused before anything changes, naming
// the field; text stored by an older Lineup is shown with U+FFFD.
TEST_F(OptOutTest, FieldsAreValidatedBeforeAnythingIsStored) {
  auto check = [](const std::string& request_id, const std::string& note) -> std::string {
    try {
      ValidateOptOutText(request_id, note);
      return "";
    } catch (const Error& e) {
      return e.field();
    }
  };
  EXPECT_EQ(check("REQ-1", "checked passport\nin person\t(desk 2)"), "");
  EXPECT_EQ(check("Anfrage-\xC3\xA4\xE2\x82\xAC\xF0\x9F\x98\x80", ""), "") << "ä, €, an emoji";
  EXPECT_EQ(check("", ""), "request_id");
  EXPECT_EQ(check(std::string(201, 'x'), ""), "request_id");
  EXPECT_EQ(check("REQ-\xFF", ""), "request_id");
  EXPECT_EQ(check("REQ-\xC3", ""), "request_id") << "cut inside a character";
  EXPECT_EQ(check("REQ-\xC0\xAF", ""), "request_id") << "overlong";
  EXPECT_EQ(check("REQ-\xED\xA0\x80", ""), "request_id") << "surrogate";
  EXPECT_EQ(check("REQ\n1", ""), "request_id");
  EXPECT_EQ(check("REQ-1", "bad \x1b[31m"), "note");
  EXPECT_EQ(check("REQ-1", "\xE2\x82"), "note");
  EXPECT_EQ(check("REQ-1", std::string(2001, 'n')), "note");
  OptOut e;
  e.request_id = "REQ-\xFF";
  e.threshold = 0.5;
  e.descriptor = testing::RandomUnitVector(rng_, kDim);
  EXPECT_THROW(AddOptOut(gallery_->blocklist(), e, {}, Audit()), Error);
  EXPECT_TRUE(gallery_->blocklist().List().empty());
  EXPECT_TRUE(Records("optout_add").empty());
  EXPECT_EQ(ToValidUtf8("ok-\xFF-\xC3"), "ok-\xEF\xBF\xBD-\xEF\xBF\xBD");
  EXPECT_EQ(ToValidUtf8("\xC3\xA4"), "\xC3\xA4");
}

// A blocklist written before entries carried their audit debt (schema v1)
// is read as it is by a read-only open and migrated by a writable one; its
// pending entries are then processed and audited like new ones.
TEST_F(OptOutTest, AVersion1BlocklistIsMigratedAndItsPendingEntriesAudited) {
  auto d = Add("old", 1, "https://a.org/old.jpg");
  OptOut e;
  e.request_id = "REQ-V1";
  e.created_by = "old lineup";
  e.threshold = 0.9;
  e.descriptor = d[0];
  gallery_->blocklist().Add(e);
  gallery_.reset();
  {
    SqliteDb raw((options_.data_dir / "blocklist.db").string(), SQLITE_OPEN_READWRITE);
    raw.Exec("ALTER TABLE optouts DROP COLUMN audit_key; ALTER TABLE optouts DROP COLUMN owed_audit; "
             "PRAGMA user_version = 1;");
  }
  Blocklist reader(options_.data_dir, kModel.model_id, kDim, true);
  ASSERT_EQ(reader.List().size(), 1u) << "a read-only open reads the v1 file";
  EXPECT_EQ(reader.List()[0].audit_key, "");
  Reopen();
  OptOut migrated = gallery_->blocklist().List().at(0);
  EXPECT_EQ(migrated.request_id, "REQ-V1");
  EXPECT_EQ(migrated.audit_key.rfind("v1-", 0), 0u) << migrated.audit_key;
  ASSERT_EQ(ProcessPendingOptOuts(*gallery_, Audit()).size(), 1u);
  EXPECT_EQ(Records("optout_process").size(), 1u);
  EXPECT_FALSE(TopIsExact(d[0]));
}

TEST_F(OptOutTest, BadEntriesAndAnotherModelAreRefused) {
  OptOut e;
  e.threshold = 0.5;
  e.descriptor = testing::RandomUnitVector(rng_, kDim);
  EXPECT_THROW(gallery_->blocklist().Add(e), Error);  // no request id
  e.request_id = "R";
  e.threshold = 1.5;
  EXPECT_THROW(gallery_->blocklist().Add(e), Error);
  e.threshold = 0.5;
  e.descriptor.resize(8);
  EXPECT_THROW(gallery_->blocklist().Add(e), Error);
  e.descriptor.assign(kDim, 1.f);
  EXPECT_THROW(gallery_->blocklist().Add(e), Error);  // not unit length
  EXPECT_TRUE(gallery_->blocklist().List().empty());
  EXPECT_THROW(Blocklist(options_.data_dir, "another-model", kDim, false).List(), Error);
  EXPECT_THROW(DefaultOptOutThreshold("uncalibrated-model"), Error);
  EXPECT_GT(DefaultOptOutThreshold("mobilefacenet-192"), 0.5);
}

}  // namespace
}  // namespace lineup
