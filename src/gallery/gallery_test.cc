// Gallery with synthetic descriptors (no models): writing, searching with
// provenance, deletion, compaction, recovery from orphans, concurrency.
#include "gallery/gallery.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <fstream>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "common/error.h"
#include "postgres_server.h"
#include "synthetic_gallery.h"
#include "test_env.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;

constexpr int kDim = 32;
const GalleryModel kModel{"test-embedder-32", kDim};

std::vector<float> RandomUnit(std::mt19937& rng) { return testing::RandomUnitVector(rng, kDim); }

class GalleryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.data_dir = testing::TempDir("gallery") / "data";
    gallery_ = Gallery::Open(options_, kModel);
    Collection c;
    c.name = "bookings";
    c.legal_basis = "custody records (test)";
    collection_id_ = gallery_->catalog().CreateCollection(c).id;
    job_id_ = gallery_->catalog().CreateJob(collection_id_, "test input", "{}").id;
  }

  // An image with `faces` faces; its descriptors are remembered by face order.
  AnalyzedImage MakeImage(int faces, const std::string& name, int64_t collection_id = 0) {
    AnalyzedImage a;
    a.write.image.collection_id = collection_id ? collection_id : collection_id_;
    a.write.image.content_sha256 = std::string(64 - name.size(), '0') + name;
    a.write.image.original_name = name + ".jpg";
    a.write.image.width = 640;
    a.write.image.height = 480;
    Source s;
    s.source_url = "https://example.org/photos/" + name + ".jpg";
    s.title = "photo \"" + name + "\"\nline two";
    a.write.source = s;
    for (int i = 0; i < faces; ++i) {
      FaceRecord f;
      f.box = {10.f * i, 20, 50, 60};
      f.model_id = kModel.model_id;
      a.write.faces.push_back(f);
      a.descriptors.push_back(RandomUnit(rng_));
      a.crops.push_back({0xFF, 0xD8, 0xFF, 0xD9});
    }
    a.image_bytes = {1, 2, 3, static_cast<uint8_t>(name.size())};
    a.image_extension = ".jpg";
    return a;
  }

  // Writes images and returns their descriptors in write order.
  std::vector<std::vector<float>> Write(std::vector<AnalyzedImage> images) {
    std::vector<std::vector<float>> descriptors;
    for (const auto& a : images) descriptors.insert(descriptors.end(), a.descriptors.begin(), a.descriptors.end());
    gallery_->WriteBatch(images, job_id_, {});
    return descriptors;
  }

  SearchResult SearchFor(const std::vector<float>& d, size_t k = 5, std::vector<std::string> collections = {}) {
    SearchQuery q;
    q.descriptor = d;
    q.top_k = k;
    q.collections = std::move(collections);
    return gallery_->Search(q);
  }

  std::mt19937 rng_{7};
  GalleryOptions options_;
  std::unique_ptr<Gallery> gallery_;
  int64_t collection_id_ = 0;
  int64_t job_id_ = 0;
};

TEST_F(GalleryTest, FindsEachFaceFirstWithFullProvenance) {
  auto d = Write({MakeImage(2, "a"), MakeImage(1, "b"), MakeImage(0, "c")});
  ASSERT_EQ(d.size(), 3u);
  for (size_t i = 0; i < d.size(); ++i) {
    SearchResult r = SearchFor(d[i]);
    ASSERT_FALSE(r.candidates.empty());
    const Candidate& top = r.candidates[0];
    EXPECT_NEAR(top.score, 1.0, 1e-5);
    EXPECT_EQ(top.rank, 1);
    EXPECT_EQ(r.index_used, "Flat");
    EXPECT_EQ(r.faces_searched, 3u);
    EXPECT_EQ(top.provenance.collection.name, "bookings");
    ASSERT_TRUE(top.provenance.source.has_value());
    EXPECT_NE(top.provenance.source->title.find("\nline two"), std::string::npos);
    EXPECT_EQ(top.provenance.image.original_name, i < 2 ? "a.jpg" : "b.jpg");
    EXPECT_TRUE(fs::exists(top.crop_path));
    EXPECT_TRUE(fs::exists(gallery_->ImagePath(top.provenance.image)));
    EXPECT_EQ(top.band, ScoreBand::kUncalibrated);
    for (size_t j = 1; j < r.candidates.size(); ++j) EXPECT_LE(r.candidates[j].score, r.candidates[j - 1].score);
  }
  CatalogStats s = gallery_->catalog().Stats();
  EXPECT_EQ(s.images, 3);
  EXPECT_EQ(s.faces, 3);
}

TEST_F(GalleryTest, CollectionFilterAndMinScore) {
  Collection other;
  other.name = "wanted";
  other.legal_basis = "warrants (test)";
  int64_t other_id = gallery_->catalog().CreateCollection(other).id;
  auto d = Write({MakeImage(1, "a"), MakeImage(1, "b", other_id)});
  SearchResult r = SearchFor(d[0], 5, {"wanted"});
  ASSERT_EQ(r.candidates.size(), 1u);
  EXPECT_EQ(r.candidates[0].provenance.collection.name, "wanted");
  EXPECT_EQ(r.faces_searched, 1u);
  SearchQuery q;
  q.descriptor = d[0];
  q.min_score = 0.99f;
  EXPECT_EQ(gallery_->Search(q).candidates.size(), 1u);
  EXPECT_THROW(SearchFor(d[0], 5, {"no such"}), Error);
}

TEST_F(GalleryTest, DeletedFacesVanishAtOnceAndCompactionReclaimsSpace) {
  std::vector<AnalyzedImage> images;
  for (int i = 0; i < 20; ++i) images.push_back(MakeImage(2, "img" + std::to_string(i)));
  auto d = Write(std::move(images));
  SearchResult before = SearchFor(d[0]);
  int64_t image_id = before.candidates[0].provenance.image.id;
  fs::path crop = before.candidates[0].crop_path;
  fs::path copy = gallery_->ImagePath(before.candidates[0].provenance.image);
  DeletionReport r = gallery_->DeleteImage(image_id);
  EXPECT_EQ(r.faces, 2);
  EXPECT_FALSE(fs::exists(crop));
  EXPECT_FALSE(fs::exists(copy));
  for (const Candidate& c : SearchFor(d[0], 40).candidates) EXPECT_NE(c.provenance.image.id, image_id);
  EXPECT_EQ(SearchFor(d[0], 40).candidates.size(), 38u);

  DeletionReport by_source = gallery_->DeleteBySourcePrefix("https://example.org/photos/img1");  // img1, img10..img19
  EXPECT_EQ(by_source.images, 11);
  EXPECT_EQ(SearchFor(d[0], 40).candidates.size(), 38u - 22u);
  EXPECT_THROW(gallery_->DeleteBySourcePrefix(""), Error);

  int64_t reclaimed = gallery_->Compact();
  EXPECT_GT(reclaimed, 0);
  GalleryStats s = gallery_->Stats();
  EXPECT_EQ(s.store_records, 16u);
  EXPECT_EQ(s.live_faces, 16u);
  SearchResult after = SearchFor(d[4]);
  EXPECT_NEAR(after.candidates[0].score, 1.0, 1e-5);
  EXPECT_TRUE(gallery_->Check(false, false).ok());

  DeletionReport all = gallery_->DeleteCollection("bookings");
  EXPECT_EQ(all.faces, 16);
  EXPECT_TRUE(SearchFor(d[4]).candidates.empty());
}

// After deletion and compaction no file of the data directory holds a copy
// of what was deleted: not its source URL or title (SQLite overwrites deleted
// rows and the WAL is emptied), not its image bytes or crop, not its
// descriptor. What was kept is still there.
TEST_F(GalleryTest, DeletedImagesLeaveNoCopyOfTheirBytesOrDescriptors) {
  AnalyzedImage doomed = MakeImage(2, "doomed");
  doomed.write.source->source_url = "https://erase-me.example/ZQXJ-unique-marker.jpg";
  doomed.write.source->title = "title ZQXJ-title-marker";
  doomed.image_bytes.assign(4096, 0);
  for (size_t i = 0; i < doomed.image_bytes.size(); ++i) doomed.image_bytes[i] = static_cast<uint8_t>((i * 131 + 7) % 251);
  doomed.crops[0] = std::vector<uint8_t>(doomed.image_bytes.begin() + 100, doomed.image_bytes.begin() + 900);
  const std::vector<float> descriptor = doomed.descriptors[1];
  const std::string image_bytes(doomed.image_bytes.begin(), doomed.image_bytes.end());
  const std::string descriptor_bytes(reinterpret_cast<const char*>(descriptor.data()), descriptor.size() * sizeof(float));
  AnalyzedImage kept = MakeImage(1, "kept");
  kept.write.source->source_url = "https://keep.example/KEEP-marker.jpg";
  Write({doomed, kept});
  auto found_anywhere = [&](const std::string& needle) { return testing::FileHolding(options_.data_dir, needle).string(); };
  ASSERT_FALSE(found_anywhere(descriptor_bytes).empty()) << "the scan must see the descriptor before erasure";
  ASSERT_FALSE(found_anywhere(image_bytes).empty());

  const int64_t image_id = gallery_->catalog().FindImagesBySourcePrefix("https://erase-me.example/").at(0);
  DeletionReport r = gallery_->DeleteImage(image_id);
  EXPECT_EQ(r.faces, 2);
  gallery_->Compact();

  EXPECT_EQ(found_anywhere("ZQXJ-unique-marker"), "") << "source URL left behind";
  EXPECT_EQ(found_anywhere("ZQXJ-title-marker"), "") << "title left behind";
  EXPECT_EQ(found_anywhere(image_bytes.substr(1000, 256)), "") << "image bytes left behind";
  EXPECT_EQ(found_anywhere(image_bytes.substr(150, 256)), "") << "crop bytes left behind";
  EXPECT_EQ(found_anywhere(descriptor_bytes), "") << "descriptor left behind";
  EXPECT_NE(found_anywhere("KEEP-marker"), "") << "the other image's provenance is kept";
  SearchQuery q;
  q.descriptor = descriptor;
  for (const Candidate& c : gallery_->Search(q).candidates) EXPECT_NE(c.provenance.image.id, image_id);
}

TEST_F(GalleryTest, ReopensReadOnlyAndRefusesAnotherModel) {
  auto d = Write({MakeImage(1, "a")});
  gallery_.reset();
  GalleryOptions ro = options_;
  ro.read_only = true;
  auto reader = Gallery::Open(ro, kModel);
  SearchQuery q;
  q.descriptor = d[0];
  EXPECT_NEAR(reader->Search(q).candidates.at(0).score, 1.0, 1e-5);
  EXPECT_THROW(reader->DeleteFaces({1}), Error);
  try {
    Gallery::Open(ro, GalleryModel{"other-model", 64});
    FAIL() << "opened with another model";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("test-embedder-32"), std::string::npos) << e.what();
  }
  GalleryOptions missing = ro;
  missing.data_dir = options_.data_dir.parent_path() / "nothing-here";
  EXPECT_THROW(Gallery::Open(missing, kModel), Error);
}

TEST_F(GalleryTest, OrphanVectorsFromAnInterruptedWriteAreNeverFoundAndCheckCleansThem) {
  auto d = Write({MakeImage(1, "a")});
  gallery_.reset();
  // What a crash between "vectors synced" and "catalog commit" leaves behind.
  std::vector<float> orphan = d[0];
  {
    VectorStore store(options_.data_dir / "vectors.lvs", kDim, VectorStore::Mode::kReadWrite);
    int64_t id = 1'000'000;
    uint32_t collection = static_cast<uint32_t>(collection_id_);
    store.Append(&id, &collection, orphan.data(), 1);
    store.Sync();
  }
  gallery_ = Gallery::Open(options_, kModel);
  SearchResult r = SearchFor(d[0], 10);
  ASSERT_EQ(r.candidates.size(), 1u);
  CheckReport report = gallery_->Check(false, false);
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.orphan_vectors, 1);
  EXPECT_EQ(report.catalog_faces, 1);
  CheckReport repaired = gallery_->Check(true, false);
  EXPECT_EQ(gallery_->Stats().store_records, 1u);
  EXPECT_EQ(gallery_->Check(false, false).orphan_vectors, 0);
  (void)repaired;
}

TEST_F(GalleryTest, SearchesRunWhileBatchesAreWritten) {
  auto first = Write({MakeImage(1, "seed")});
  std::atomic<bool> done{false};
  std::atomic<int> searches{0}, failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!done) {
        SearchQuery q;
        q.descriptor = first[0];
        SearchResult r = gallery_->Search(q);
        if (r.candidates.empty() || r.candidates[0].score < 0.999f) ++failures;
        ++searches;
      }
    });
  }
  for (int b = 0; b < 30; ++b) {
    std::vector<AnalyzedImage> batch;
    for (int i = 0; i < 8; ++i) batch.push_back(MakeImage(1, "b" + std::to_string(b) + "_" + std::to_string(i)));
    Write(std::move(batch));
  }
  done = true;
  for (auto& t : readers) t.join();
  EXPECT_GT(searches.load(), 0);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(gallery_->Stats().live_faces, 241u);
}

// Searches (and FindMatches) in threads while one writer deletes faces and
// compacts the store, which moves every later face to a lower slot. Every
// face returned must be one that was written, not deleted before the search
// began, and its score must be the similarity of the query to that face's
// own descriptor (a slot read after compaction names another face).
TEST_F(GalleryTest, SearchesRaceDeletesAndCompactionsWithoutMixingUpFaces) {
  constexpr int kImages = 400;  // one face each, in two batches
  std::map<int64_t, std::vector<float>> descriptor_of;
  std::vector<int64_t> ids;
  for (int b = 0; b < 2; ++b) {
    std::vector<AnalyzedImage> batch;
    for (int i = 0; i < kImages / 2; ++i) batch.push_back(MakeImage(1, "s" + std::to_string(b) + "_" + std::to_string(i)));
    gallery_->WriteBatch(batch, job_id_, {});
    for (const AnalyzedImage& a : batch) {
      descriptor_of[a.write.faces[0].id] = a.descriptors[0];
      ids.push_back(a.write.faces[0].id);
    }
  }
  // Deletion order, published one by one: a search that read deleted_count
  // == n must not return ids[order[0..n)].
  std::vector<int64_t> order = ids;
  std::shuffle(order.begin(), order.end(), rng_);
  std::vector<int64_t> kept_ids(order.begin() + kImages / 2, order.end());
  order.resize(kImages / 2);
  std::atomic<size_t> deleted_count{0};
  std::atomic<bool> done{false};
  std::atomic<int> searches{0};
  std::mutex problems_mu;
  std::vector<std::string> problems;
  auto report = [&](std::string what) {
    std::lock_guard lock(problems_mu);
    if (problems.size() < 10) problems.push_back(std::move(what));
  };
  auto check = [&](int64_t id, float score, const std::vector<float>& query, size_t deleted_before) {
    auto it = descriptor_of.find(id);
    if (it == descriptor_of.end()) return report("unknown face id " + std::to_string(id));
    if (std::find(order.begin(), order.begin() + static_cast<long>(deleted_before), id) !=
        order.begin() + static_cast<long>(deleted_before)) {
      return report("face " + std::to_string(id) + " returned after its deletion");
    }
    double dot = 0;
    for (int j = 0; j < kDim; ++j) dot += static_cast<double>(query[j]) * it->second[j];
    if (std::abs(dot - score) > 1e-4) {
      report("face " + std::to_string(id) + " scored " + std::to_string(score) + ", its descriptor gives " +
             std::to_string(dot));
    }
  };
  std::vector<std::thread> searchers;
  for (int t = 0; t < 3; ++t) {
    searchers.emplace_back([&, t] {
      std::mt19937 local(100 + t);
      try {
        while (!done) {
          // A kept face (never deleted) must always be found first.
          const int64_t kept = kept_ids[local() % kept_ids.size()];
          const std::vector<float>& query = descriptor_of.at(kept);
          const size_t deleted_before = deleted_count.load();
          std::vector<std::pair<int64_t, float>> found;
          if (t == 0) {
            for (const FaceMatch& m : gallery_->FindMatches(query, -1.f, 20)) found.emplace_back(m.face_id, m.score);
          } else {
            SearchQuery q;
            q.descriptor = query;
            q.top_k = 20;
            for (const Candidate& c : gallery_->Search(q).candidates) found.emplace_back(c.provenance.face.id, c.score);
          }
          if (found.empty() || found[0].first != kept) report("kept face " + std::to_string(kept) + " not found first");
          for (const auto& [id, score] : found) check(id, score, query, deleted_before);
          ++searches;
        }
      } catch (const std::exception& e) {
        report(std::string("search threw: ") + e.what());
      }
    });
  }
  for (size_t i = 0; i < order.size(); ++i) {
    gallery_->DeleteFaces({order[i]});
    deleted_count.store(i + 1);
    if (i % 10 == 9) gallery_->Compact();
  }
  done = true;
  for (auto& t : searchers) t.join();
  EXPECT_GT(searches.load(), 0);
  EXPECT_TRUE(problems.empty()) << ::testing::PrintToString(problems);
  EXPECT_EQ(gallery_->Stats().live_faces, static_cast<size_t>(kImages) - order.size());
  EXPECT_EQ(gallery_->Stats().store_records, static_cast<size_t>(kImages) - order.size());
}

TEST_F(GalleryTest, ApproximateIndexResultsAreRescoredExactly) {
  std::vector<std::vector<float>> all;
  for (int b = 0; b < 10; ++b) {
    std::vector<AnalyzedImage> batch;
    for (int i = 0; i < 100; ++i) batch.push_back(MakeImage(1, "x" + std::to_string(b * 100 + i)));
    auto d = Write(std::move(batch));
    all.insert(all.end(), d.begin(), d.end());
  }
  gallery_.reset();
  options_.approximate_index = "HNSW16";
  options_.exact_limit = 0;
  gallery_ = Gallery::Open(options_, kModel);
  gallery_->BuildIndex(true, false);
  auto more = Write({MakeImage(1, "after-index")});  // not covered by the index: found by the tail scan
  int exact_hits = 0;
  for (size_t i = 0; i < all.size(); i += 50) {
    SearchResult r = SearchFor(all[i]);
    EXPECT_NE(r.index_used, "Flat");
    if (!r.candidates.empty() && std::abs(r.candidates[0].score - 1.0f) < 1e-5) ++exact_hits;
  }
  EXPECT_GE(exact_hits, 19);
  EXPECT_NEAR(SearchFor(more[0]).candidates.at(0).score, 1.0, 1e-5);
  gallery_->BuildIndex(false, false);  // extends the index with the new face
  EXPECT_NEAR(SearchFor(more[0]).candidates.at(0).score, 1.0, 1e-5);
  gallery_.reset();
  gallery_ = Gallery::Open(options_, kModel);  // index reloaded from disk
  EXPECT_NE(SearchFor(all[0]).index_used, "Flat");
  EXPECT_TRUE(gallery_->warnings().empty());
}

// The same gallery with its catalog in PostgreSQL (a server the test starts).
TEST(GalleryOnPostgres, WritesSearchesDeletesAndReopens) {
  if (std::string why = testing::PostgresUnavailableReason(); !why.empty()) GTEST_SKIP() << why;
  GalleryOptions options;
  options.data_dir = testing::TempDir("gallery-pg") / "data";
  options.catalog = testing::PostgresServer::Shared().CreateDatabase();
  std::mt19937 rng(3);
  auto gallery = Gallery::Open(options, kModel);
  Collection c;
  c.name = "bookings";
  c.legal_basis = "custody records (test)";
  int64_t collection_id = gallery->catalog().CreateCollection(c).id;
  std::vector<AnalyzedImage> images(3);
  std::vector<std::vector<float>> descriptors;
  for (int i = 0; i < 3; ++i) {
    AnalyzedImage& a = images[i];
    a.write.image.collection_id = collection_id;
    a.write.image.content_sha256 = std::string(63, 'a') + std::to_string(i);
    a.write.source = Source{0, "https://example.org/" + std::to_string(i) + ".jpg", "", "title", "", "", ""};
    a.write.faces.push_back(FaceRecord{});
    a.descriptors.push_back(RandomUnit(rng));
    a.crops.push_back({1, 2, 3});
    a.image_bytes = {4, 5, static_cast<uint8_t>(i)};
    a.image_extension = ".jpg";
    descriptors.push_back(a.descriptors[0]);
  }
  gallery->WriteBatch(images, 0, {});
  SearchQuery q;
  q.descriptor = descriptors[1];
  SearchResult r = gallery->Search(q);
  ASSERT_EQ(r.candidates.size(), 3u);
  EXPECT_NEAR(r.candidates[0].score, 1.0, 1e-5);
  EXPECT_EQ(r.candidates[0].provenance.source->source_url, "https://example.org/1.jpg");
  EXPECT_EQ(gallery->DeleteBySourcePrefix("https://example.org/1").faces, 1);
  gallery.reset();
  gallery = Gallery::Open(options, kModel);
  r = gallery->Search(q);
  ASSERT_EQ(r.candidates.size(), 2u);
  EXPECT_LT(r.candidates[0].score, 0.99f);
  EXPECT_TRUE(gallery->Check(false, false).ok());
}

}  // namespace
}  // namespace lineup
