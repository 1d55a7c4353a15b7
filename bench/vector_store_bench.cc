// Speed of the vector store and exact search on a synthetic gallery of
// 1,000,000 random 192-d unit vectors (MobileFaceNet's size), with a naive
// scalar scan as the baseline measured in the same run.
//
//   build/lineup_bench --benchmark_filter='ExactSearch|NaiveScan|VectorStore'
//
// Benchmarks:
//   ExactSearch/threads:<t>/k:<k>        ExactSearch() over all 1M slots
//   ExactSearch/filtered/threads:2       live bits (90% live) + 2 of 5 collections
//   ExactSearchKernel/<kernel>           one thread, each inner-product kernel
//   NaiveScan/scalar_sort                scalar dot per slot + partial_sort
//   VectorStore/Append[Sync]             4096-record batches (+ fdatasync)
//   VectorStore/Verify, VectorStore/OpenReadOnly
// Each search iteration is one query; the p50_ms / p90_ms counters are the
// median and 90th percentile query latency, "Time" is the mean.
//
// The gallery is written once, on first use, to a temporary folder under
// /tmp (784 MB) and removed at exit; building it takes a few seconds.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "index/exact_search.h"
#include "index/vector_index.h"
#include "index/vector_store.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kDim = 192;
constexpr size_t kGallerySize = 1'000'000;
constexpr size_t kQueries = 64;

fs::path NewTempDir(const std::string& tag) {
  fs::path dir = fs::temp_directory_path() / ("lineup-bench-" + tag + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void NormalizeRows(std::vector<float>& v, int dim) {
  for (size_t row = 0; row < v.size() / dim; ++row) {
    float norm = 0;
    for (int j = 0; j < dim; ++j) norm += v[row * dim + j] * v[row * dim + j];
    for (int j = 0; j < dim; ++j) v[row * dim + j] /= std::sqrt(norm);
  }
}

// n x dim random unit vectors (uniform in the cube, then normalised: cheap,
// and the scan's speed does not depend on the distribution).
std::vector<float> RandomUnitVectors(size_t n, int dim, uint32_t seed) {
  std::minstd_rand rng(seed);
  std::uniform_real_distribution<float> uniform(-1, 1);
  std::vector<float> v(n * dim);
  for (float& x : v) x = uniform(rng);
  NormalizeRows(v, dim);
  return v;
}

// Appends n records with ids first.. to `store` in full batches.
void AppendSynthetic(VectorStore& store, int64_t first, const std::vector<float>& vectors, size_t n, bool sync) {
  const size_t batch = VectorStore::kMaxAppendBatch;
  std::vector<int64_t> ids(batch);
  std::vector<uint32_t> collections(batch);
  for (size_t done = 0; done < n; done += batch) {
    size_t m = std::min(batch, n - done);
    for (size_t i = 0; i < m; ++i) {
      ids[i] = first + static_cast<int64_t>(done + i);
      collections[i] = static_cast<uint32_t>((done + i) % 5);
    }
    store.Append(ids.data(), collections.data(), &vectors[(done % (vectors.size() / store.dim())) * store.dim()], m);
    if (sync) store.Sync();
  }
}

// The 1M-vector gallery, built on first use and deleted at exit.
class Gallery {
 public:
  Gallery() : dir_(NewTempDir("gallery")) {
    {
      VectorStore writer(dir_ / "vectors.lnv", kDim, VectorStore::Mode::kReadWrite);
      const size_t chunk = 65536;
      for (size_t done = 0; done < kGallerySize; done += chunk) {
        auto vectors = RandomUnitVectors(chunk, kDim, static_cast<uint32_t>(done + 1));
        AppendSynthetic(writer, static_cast<int64_t>(done) + 1, vectors, std::min(chunk, kGallerySize - done), false);
      }
      writer.Sync();
    }
    store_ = std::make_unique<VectorStore>(dir_ / "vectors.lnv", kDim, VectorStore::Mode::kReadOnly);
    queries_ = RandomUnitVectors(kQueries, kDim, 4242);
    live_.assign((kGallerySize + 63) / 64, 0);
    std::minstd_rand rng(7);
    for (size_t slot = 0; slot < kGallerySize; ++slot) {
      if (rng() % 10 != 0) live_[slot / 64] |= uint64_t{1} << (slot % 64);
    }
  }
  ~Gallery() {
    store_.reset();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  const VectorStore& store() const { return *store_; }
  const fs::path& path() const { return store_->path(); }
  const float* query(size_t i) const { return &queries_[(i % kQueries) * kDim]; }
  const std::vector<uint64_t>& live() const { return live_; }

 private:
  fs::path dir_;
  std::unique_ptr<VectorStore> store_;
  std::vector<float> queries_;
  std::vector<uint64_t> live_;
};

const Gallery& TheGallery() {
  static Gallery gallery;
  return gallery;
}

// Runs `search(query)` once per iteration and reports latency percentiles.
template <typename Search>
void RunQueries(benchmark::State& state, Search search) {
  const Gallery& gallery = TheGallery();
  benchmark::DoNotOptimize(search(gallery.query(kQueries - 1)));  // maps the pages once
  std::vector<double> ms;
  size_t i = 0;
  for (auto _ : state) {
    auto start = Clock::now();
    auto result = search(gallery.query(i++));
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    benchmark::DoNotOptimize(result.data());
  }
  std::sort(ms.begin(), ms.end());
  state.counters["p50_ms"] = ms[ms.size() / 2];
  state.counters["p90_ms"] = ms[ms.size() * 9 / 10];
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * gallery.store().size()));
}

void BM_ExactSearch(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const auto k = static_cast<size_t>(state.range(1));
  RunQueries(state, [&](const float* q) { return ExactSearch(TheGallery().store(), q, k, SlotFilter{}, threads); });
}
BENCHMARK(BM_ExactSearch)
    ->Name("ExactSearch")
    ->ArgNames({"threads", "k"})
    ->Args({1, 10})
    ->Args({2, 10})
    ->Args({2, 100})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

void BM_ExactSearchFiltered(benchmark::State& state) {
  const Gallery& gallery = TheGallery();
  SlotFilter filter{gallery.live().data(), kGallerySize, {1, 3}, &gallery.store()};
  RunQueries(state, [&](const float* q) { return ExactSearch(gallery.store(), q, 10, filter, 2); });
}
BENCHMARK(BM_ExactSearchFiltered)->Name("ExactSearch/filtered/threads:2")->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_ExactSearchKernel(benchmark::State& state) {
  const auto kernel = static_cast<DotKernel>(state.range(0));
  state.SetLabel(DotKernelName(kernel));
  RunQueries(state, [&](const float* q) {
    return ExactSearchPrefix(TheGallery().store(), q, 10, SlotFilter{}, kGallerySize, 1, kernel);
  });
}
BENCHMARK(BM_ExactSearchKernel)
    ->Name("ExactSearchKernel")
    ->Arg(static_cast<int>(DotKernel::kAvx2Fma))
    ->Arg(static_cast<int>(DotKernel::kTargetClones))
    ->Arg(static_cast<int>(DotKernel::kScalar))
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// The baseline: what one would write first. One thread, a scalar loop per
// vector, every score kept and partially sorted.
void BM_NaiveScan(benchmark::State& state) {
  const VectorStore& store = TheGallery().store();
  RunQueries(state, [&](const float* q) {
    std::vector<Neighbor> all(store.size());
    for (size_t slot = 0; slot < store.size(); ++slot) {
      const float* v = store.Vector(slot);
      float sum = 0;
      for (int j = 0; j < kDim; ++j) sum += q[j] * v[j];
      all[slot] = {slot, sum};
    }
    std::partial_sort(all.begin(), all.begin() + 10, all.end(), RanksBefore);
    all.resize(10);
    return all;
  });
}
BENCHMARK(BM_NaiveScan)->Name("NaiveScan/scalar_sort")->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_Append(benchmark::State& state) {
  const bool sync = state.range(0) != 0;
  fs::path dir = NewTempDir("append");
  auto vectors = RandomUnitVectors(VectorStore::kMaxAppendBatch, kDim, 99);
  {
    VectorStore store(dir / "vectors.lnv", kDim, VectorStore::Mode::kReadWrite);
    int64_t next = 1;
    for (auto _ : state) {
      AppendSynthetic(store, next, vectors, VectorStore::kMaxAppendBatch, sync);
      next += VectorStore::kMaxAppendBatch;
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * VectorStore::kMaxAppendBatch));
    state.SetBytesProcessed(static_cast<int64_t>(store.FileBytes()));
  }
  fs::remove_all(dir);
}
BENCHMARK(BM_Append)->Name("VectorStore/Append")->Arg(0)->Iterations(64)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Append)->Name("VectorStore/AppendSync")->Arg(1)->Iterations(64)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_Verify(benchmark::State& state) {
  const VectorStore& store = TheGallery().store();
  for (auto _ : state) {
    auto bad = store.Verify();
    if (!bad.empty()) state.SkipWithError("Verify found bad records in a fresh store");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * store.FileBytes()));
}
BENCHMARK(BM_Verify)->Name("VectorStore/Verify")->Unit(benchmark::kMillisecond);

void BM_OpenReadOnly(benchmark::State& state) {
  const fs::path path = TheGallery().path();
  for (auto _ : state) {
    VectorStore store(path, kDim, VectorStore::Mode::kReadOnly);
    benchmark::DoNotOptimize(store.size());
  }
}
BENCHMARK(BM_OpenReadOnly)->Name("VectorStore/OpenReadOnly")->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace lineup
