#include "index/exact_search.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "common/error.h"
#include "common/file_util.h"
#include "index/flat_index.h"
#include "index/vector_store.h"
#include "test_env.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;
using Mode = VectorStore::Mode;

#define EXPECT_ERROR_CONTAINING(statement, needle)                                \
  try {                                                                           \
    statement;                                                                    \
    ADD_FAILURE() << "no Error thrown";                                           \
  } catch (const Error& e) {                                                      \
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what(); \
  }

std::vector<float> RandomUnitVectors(size_t n, int dim, std::mt19937& rng) {
  std::normal_distribution<float> normal;
  std::vector<float> v(n * dim);
  for (size_t i = 0; i < n; ++i) {
    float norm = 0;
    for (int j = 0; j < dim; ++j) {
      v[i * dim + j] = normal(rng);
      norm += v[i * dim + j] * v[i * dim + j];
    }
    for (int j = 0; j < dim; ++j) v[i * dim + j] /= std::sqrt(norm);
  }
  return v;
}

// A store of n random unit vectors, ids 1..n, collection of slot s = s % 5.
// With duplicate_every > 0, slot s repeats the vector of slot s % duplicate_every (ties).
std::unique_ptr<VectorStore> MakeStore(const std::string& tag, size_t n, int dim, std::mt19937& rng,
                                       size_t duplicate_every = 0) {
  fs::path path = testing::TempDir("exact-" + tag) / "vectors.lnv";
  auto store = std::make_unique<VectorStore>(path, dim, Mode::kReadWrite);
  std::vector<float> vectors = RandomUnitVectors(n, dim, rng);
  if (duplicate_every > 0) {
    for (size_t i = duplicate_every; i < n; ++i) {
      std::copy_n(&vectors[(i % duplicate_every) * dim], dim, &vectors[i * dim]);
    }
  }
  for (size_t done = 0; done < n;) {
    size_t m = std::min(n - done, VectorStore::kMaxAppendBatch);
    std::vector<int64_t> ids(m);
    std::vector<uint32_t> collections(m);
    for (size_t i = 0; i < m; ++i) {
      ids[i] = static_cast<int64_t>(done + i + 1);
      collections[i] = static_cast<uint32_t>((done + i) % 5);
    }
    store->Append(ids.data(), collections.data(), &vectors[done * dim], m);
    done += m;
  }
  store->Sync();
  return store;
}

// The reference: score every slot, filter with SlotFilter::Accept, sort.
std::vector<Neighbor> NaiveSearch(const VectorStore& store, const float* query, size_t k, const SlotFilter& filter,
                                  size_t end) {
  std::vector<Neighbor> all;
  for (size_t slot = 0; slot < std::min(end, store.size()); ++slot) {
    if (filter.Accept(slot)) all.push_back({slot, InnerProduct(query, store.Vector(slot), store.dim())});
  }
  std::sort(all.begin(), all.end(), [](const Neighbor& a, const Neighbor& b) {
    return a.score != b.score ? a.score > b.score : a.slot < b.slot;
  });
  if (all.size() > k) all.resize(k);
  return all;
}

void ExpectSameNeighbors(const std::vector<Neighbor>& got, const std::vector<Neighbor>& want,
                         const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].slot, want[i].slot) << what << " rank " << i;
    ASSERT_EQ(got[i].score, want[i].score) << what << " rank " << i;
  }
}

TEST(ExactSearch, KernelsMatchDoublePrecision) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> uniform(-1, 1);
  for (int dim : {1, 3, 8, 15, 64, 65, 100, 128, 192, 255, 512}) {
    std::vector<float> a(dim), b(dim);
    for (int i = 0; i < dim; ++i) {
      a[i] = uniform(rng);
      b[i] = uniform(rng);
    }
    double exact = 0;
    for (int i = 0; i < dim; ++i) exact += static_cast<double>(a[i]) * b[i];
    for (DotKernel kernel : {DotKernel::kAuto, DotKernel::kTargetClones, DotKernel::kScalar}) {
      EXPECT_NEAR(InnerProductWith(kernel, a.data(), b.data(), dim), exact, 1e-5 * dim)
          << DotKernelName(kernel) << " dim " << dim;
    }
    EXPECT_EQ(InnerProduct(a.data(), b.data(), dim), InnerProductWith(DotKernel::kAuto, a.data(), b.data(), dim));
  }
  EXPECT_STRNE(DotKernelName(DotKernel::kAuto), "");
}

TEST(ExactSearch, EqualsNaiveReferenceForEveryKThreadCountAndFilter) {
  std::mt19937 rng(2);
  const int dim = 20;  // not a multiple of 8: exercises the kernel tails
  const size_t n = 2500;
  auto store = MakeStore("naive", n, dim, rng);
  std::vector<float> queries = RandomUnitVectors(3, dim, rng);

  std::vector<uint64_t> live((n + 63) / 64);
  for (auto& word : live) word = (static_cast<uint64_t>(rng()) << 32) | rng();
  std::vector<uint64_t> sparse((n + 63) / 64, 0);  // mostly all-zero words: skipped unread
  for (size_t slot = 5; slot < n; slot += 211) sparse[slot / 64] |= uint64_t{1} << (slot % 64);
  std::vector<std::pair<std::string, SlotFilter>> filters;
  filters.push_back({"sparse-live", SlotFilter{sparse.data(), n, {}, nullptr}});
  filters.push_back({"all", SlotFilter{}});
  filters.push_back({"live", SlotFilter{live.data(), n, {}, nullptr}});
  filters.push_back({"live-short", SlotFilter{live.data(), 1700, {}, nullptr}});
  filters.push_back({"collection-2", SlotFilter{nullptr, 0, {2}, store.get()}});
  filters.push_back({"collections-4-1+live", SlotFilter{live.data(), n, {4, 1}, store.get()}});
  filters.push_back({"many-collections", SlotFilter{nullptr, 0, {9, 8, 7, 6, 3, 10, 11, 12, 13, 0}, store.get()}});
  filters.push_back({"no-such-collection", SlotFilter{nullptr, 0, {77}, store.get()}});

  for (size_t q = 0; q < 3; ++q) {
    const float* query = &queries[q * dim];
    for (const auto& [name, filter] : filters) {
      for (size_t k : {1u, 7u, 100u, 5000u}) {
        auto want = NaiveSearch(*store, query, k, filter, n);
        for (int threads : {1, 2, 3, 8, 0}) {
          std::string what = name + " k=" + std::to_string(k) + " threads=" + std::to_string(threads);
          ExpectSameNeighbors(ExactSearch(*store, query, k, filter, threads), want, what);
        }
        ExpectSameNeighbors(ExactSearchPrefix(*store, query, k, filter, 1234, 2),
                            NaiveSearch(*store, query, k, filter, 1234), name + " prefix");
      }
    }
  }
}

TEST(ExactSearch, TiesGoToTheLowerSlotWhateverTheThreads) {
  std::mt19937 rng(3);
  const int dim = 192;
  auto store = MakeStore("ties", 600, dim, rng, /*duplicate_every=*/50);  // every vector 12 times
  const float* query = store->Vector(7);
  auto want = NaiveSearch(*store, query, 30, SlotFilter{}, store->size());
  ASSERT_EQ(want[0].slot, 7u);
  ASSERT_EQ(want[1].slot, 57u);
  ASSERT_EQ(want[1].score, want[0].score);
  for (int threads : {1, 2, 5, 13}) {
    ExpectSameNeighbors(ExactSearch(*store, query, 30, SlotFilter{}, threads), want, "threads " + std::to_string(threads));
  }
  auto top = ExactSearch(*store, query, 12, SlotFilter{}, 4);
  for (size_t i = 0; i < top.size(); ++i) EXPECT_EQ(top[i].slot, 7 + 50 * i);
  EXPECT_NEAR(top[0].score, 1.0f, 1e-5);
}

TEST(ExactSearch, EdgeCasesAndErrors) {
  std::mt19937 rng(4);
  auto store = MakeStore("edges", 10, 8, rng);
  auto other = MakeStore("edges-other", 10, 8, rng);
  std::vector<float> query(8, 0.25f);
  EXPECT_TRUE(ExactSearch(*store, query.data(), 0, SlotFilter{}).empty());
  EXPECT_EQ(ExactSearch(*store, query.data(), 100, SlotFilter{}).size(), 10u);
  EXPECT_ERROR_CONTAINING(ExactSearch(*store, query.data(), 5, SlotFilter{nullptr, 0, {1}, other.get()}),
                          "another store");
  EXPECT_ERROR_CONTAINING(ExactSearch(*store, query.data(), 5, SlotFilter{nullptr, 0, {1}, nullptr}), "another store");
  query[3] = std::nanf("");
  EXPECT_ERROR_CONTAINING(ExactSearch(*store, query.data(), 5, SlotFilter{}), "non-finite");
  EXPECT_ERROR_CONTAINING(ExactSearch(*store, nullptr, 5, SlotFilter{}), "query");

  VectorStore empty(testing::TempDir("exact-empty") / "v.lnv", 8, Mode::kReadWrite);
  query[3] = 0;
  EXPECT_TRUE(ExactSearch(empty, query.data(), 5, SlotFilter{}).empty());
}

TEST(SlotFilter, AcceptFollowsLiveBitsAndCollections) {
  std::mt19937 rng(5);
  auto store = MakeStore("filter", 100, 4, rng);
  uint64_t live[2] = {0, 0};
  live[0] |= uint64_t{1} << 3;
  live[1] |= uint64_t{1} << (70 - 64);
  live[1] |= uint64_t{1} << (90 - 64);
  SlotFilter all;
  EXPECT_TRUE(all.Accept(0));
  EXPECT_TRUE(all.Accept(123456));  // no store involved: nothing to reject on
  SlotFilter bits{live, 80, {}, nullptr};
  EXPECT_TRUE(bits.Accept(3));
  EXPECT_FALSE(bits.Accept(4));
  EXPECT_TRUE(bits.Accept(70));
  EXPECT_FALSE(bits.Accept(90)) << "bit set but at or beyond live_bits";
  SlotFilter in_collections{nullptr, 0, {2, 3}, store.get()};
  EXPECT_TRUE(in_collections.Accept(2));
  EXPECT_TRUE(in_collections.Accept(8));
  EXPECT_FALSE(in_collections.Accept(4));
  EXPECT_FALSE(in_collections.Accept(100)) << "beyond the store";
  SlotFilter both{live, 128, {0}, store.get()};
  EXPECT_TRUE(both.Accept(70));
  EXPECT_TRUE(both.Accept(90));   // live, collection 90 % 5 == 0
  EXPECT_FALSE(both.Accept(3));   // live, collection 3
  EXPECT_FALSE(both.Accept(5));   // collection 0, not live
  SlotFilter storeless{nullptr, 0, {1}, nullptr};
  EXPECT_ERROR_CONTAINING(storeless.Accept(1), "needs the store");
}

TEST(RescoreExact, TrueScoresBestFirstTiesByLowerSlot) {
  std::mt19937 rng(6);
  const int dim = 64;
  auto store = MakeStore("rescore", 200, dim, rng, /*duplicate_every=*/100);  // slot s and s+100 tie
  const float* query = store->Vector(150);  // same as slot 50
  std::vector<Neighbor> candidates = {{150, 0.0f}, {10, 9.0f}, {50, -1.0f}, {10, 9.0f}, {199, 0.5f}, {99, 0.0f}};
  auto result = RescoreExact(*store, query, candidates, 10);
  ASSERT_EQ(result.size(), 5u) << "duplicates are scored once";
  EXPECT_EQ(result[0].slot, 50u);
  EXPECT_EQ(result[1].slot, 150u);
  EXPECT_EQ(result[0].score, result[1].score);
  EXPECT_NEAR(result[0].score, 1.0f, 1e-5);
  for (size_t i = 0; i < result.size(); ++i) {
    EXPECT_EQ(result[i].score, InnerProduct(query, store->Vector(result[i].slot), dim));
    if (i > 0) {
      EXPECT_GE(result[i - 1].score, result[i].score);
    }
  }
  auto top2 = RescoreExact(*store, query, candidates, 2);
  ASSERT_EQ(top2.size(), 2u);
  EXPECT_EQ(top2[1].slot, 150u);
  EXPECT_TRUE(RescoreExact(*store, query, {}, 5).empty());
  EXPECT_ERROR_CONTAINING(RescoreExact(*store, query, {{200, 1.0f}}, 5), "beyond");
}

TEST(FlatIndex, SearchesCoveredSlotsAndSavesTheGeneration) {
  std::mt19937 rng(7);
  const int dim = 32;
  auto store = MakeStore("flat", 300, dim, rng);
  FlatIndex index(*store);
  EXPECT_EQ(index.FactoryString(), "Flat");
  EXPECT_TRUE(index.IsExact());
  EXPECT_LT(index.MemoryBytes(), 1024u);
  EXPECT_EQ(index.covered(), 0u);
  const float* query = store->Vector(250);
  EXPECT_TRUE(index.Search(query, 5, SlotFilter{}).empty());
  size_t reported = 0;
  index.AddFromStore(200, [&](size_t done, size_t total) { reported = done; });
  EXPECT_EQ(reported, 200u);
  EXPECT_EQ(index.covered(), 200u);
  auto partial = index.Search(query, 300, SlotFilter{});
  EXPECT_EQ(partial.size(), 200u);
  for (const auto& n : partial) EXPECT_LT(n.slot, 200u);
  EXPECT_ERROR_CONTAINING(index.AddFromStore(301), "store holds 300");
  index.AddFromStore(300);
  auto full = index.Search(query, 5, SlotFilter{});
  ASSERT_EQ(full.size(), 5u);
  EXPECT_EQ(full[0].slot, 250u);
  ExpectSameNeighbors(full, NaiveSearch(*store, query, 5, SlotFilter{}, 300), "flat");

  fs::path saved = testing::TempDir("flat-save") / "flat.idx";
  index.Save(saved);
  auto loaded = FlatIndex::Load(saved, *store);
  EXPECT_EQ(loaded->covered(), 300u);
  ExpectSameNeighbors(loaded->Search(query, 5, SlotFilter{}), full, "loaded");

  auto bytes = ReadFileBytes(saved);
  std::string corrupt(bytes.begin(), bytes.end());
  corrupt[33] ^= 1;
  WriteFileAtomically(saved.parent_path() / "corrupt.idx", corrupt);
  EXPECT_ERROR_CONTAINING(FlatIndex::Load(saved.parent_path() / "corrupt.idx", *store), "corrupt");
  WriteFileAtomically(saved.parent_path() / "other.idx", "IVFPQ...........");
  EXPECT_ERROR_CONTAINING(FlatIndex::Load(saved.parent_path() / "other.idx", *store), "not a Flat index");

  store->Compact([](size_t slot) { return slot != 3; });
  EXPECT_ERROR_CONTAINING(FlatIndex::Load(saved, *store), "another store generation");
}

TEST(FlatIndex, RefusesToCoverMoreThanTheStoreHolds) {
  std::mt19937 rng(8);
  auto store = MakeStore("flat-shrunk", 20, 8, rng);
  const fs::path store_path = store->path();
  FlatIndex index(*store);
  index.AddFromStore(20);
  fs::path saved = testing::TempDir("flat-shrunk-save") / "flat.idx";
  index.Save(saved);
  store.reset();
  fs::resize_file(store_path, fs::file_size(store_path) - 10);  // torn tail: slot 19 goes
  VectorStore reopened(store_path, 8, Mode::kReadWrite);
  ASSERT_EQ(reopened.size(), 19u);
  EXPECT_ERROR_CONTAINING(FlatIndex::Load(saved, reopened), "covers 20 slots");
}

}  // namespace
}  // namespace lineup
