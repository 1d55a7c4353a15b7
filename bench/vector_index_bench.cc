// Exact vs approximate vector indexes on synthetic face descriptors.
//
//   build/lineup_bench --benchmark_filter='VectorIndex/1M'
//   LINEUP_BENCH_10M=1 build/lineup_bench --benchmark_filter='VectorIndex/10M'
//
// Benchmarks (one iteration each = 1,000 single queries, one at a time):
//   VectorIndex/<n>/Exact                             ExactSearch, top 10
//   VectorIndex/<n>/IVF<l>,PQ<m>/nprobe:<p>/shortlist:<s>
//                                                     IVF-PQ shortlist of s, RescoreExact to 10
//   VectorIndex/<n>/HNSW<M>/ef:<e>                     HNSW top 10 (its scores are exact), RescoreExact
// Counters: p50_ms / p95_ms (query latency), recall10 (top 10 vs ExactSearch's,
// averaged), build_s (train + add, first row of an index), bytes_per_face
// (VectorIndex::MemoryBytes / n), cpu_ms (process CPU per query: > p50 means
// the search used more than one core). "Time" is the mean latency.
//
// Data: 192-d unit vectors like MobileFaceNet descriptors. Identity centres
// mix an isotropic part and a 16-d shared part (face descriptors are not
// uniform on the sphere), so that different identities have cosine
// ~0 +- 0.13 (up to ~0.5 in the tail of millions of pairs); each identity has
// 2-8 samples (mean 5) with noise such that same-identity cosine is
// ~0.58-0.77. Queries are fresh samples of stored identities. Everything is
// derived from fixed seeds, so a gallery is identical across runs.
//
// Galleries are written once to $LINEUP_BENCH_DIR (default
// /tmp/lineup-vector-index-bench: 0.8 GB for 1M, 7.8 GB for 10M) together
// with their exact top-10 ground truth, and reused by later runs; so are the
// indexes (saved with their build time; LINEUP_BENCH_REBUILD=1 rebuilds
// them). Delete the folder to reclaim the space. Only one index is held in
// memory at a time. LINEUP_BENCH_10M_HNSW=1 adds HNSW rows to the 10M suite
// (hours of build on 2 cores, ~10 GB of RAM). LINEUP_BENCH_SERIAL=1 scans an
// IVF-PQ query's lists on the calling thread only (IvfPqIndex::set_parallel_search).
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/error.h"
#include "index/exact_search.h"
#include "index/hnsw_index.h"
#include "index/ivfpq_index.h"
#include "index/vector_index.h"
#include "index/vector_store.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kDim = 192;
constexpr int kSharedDim = 16;
constexpr size_t kQueries = 1000;
constexpr size_t kExactQueries10M = 200;  // ExactSearch over 10M takes ~1 s a query
constexpr size_t kTopK = 10;
constexpr uint64_t kSeed = 0x4c494e4555500001ull;  // "LINEUP" + data version 1
constexpr const char* kDataVersion = "face-like-v1";

// ------------------------------------------------------------------ data

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A small counter-based generator: cheap to seed per identity and per slot,
// so the data does not depend on how generation is split over threads.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(SplitMix(seed)) {}
  uint64_t Next() { return state_ = SplitMix(state_); }
  double Uniform() { return (Next() >> 11) * (1.0 / 9007199254740992.0); }
  float Gaussian() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double u = std::max(Uniform(), 1e-300), v = Uniform();
    const double r = std::sqrt(-2.0 * std::log(u));
    spare_ = static_cast<float>(r * std::sin(2 * M_PI * v));
    has_spare_ = true;
    return static_cast<float>(r * std::cos(2 * M_PI * v));
  }

 private:
  uint64_t state_;
  bool has_spare_ = false;
  float spare_ = 0;
};

void Normalise(float* v) {
  double norm = 0;
  for (int j = 0; j < kDim; ++j) norm += static_cast<double>(v[j]) * v[j];
  const auto inv = static_cast<float>(1.0 / std::sqrt(norm));
  for (int j = 0; j < kDim; ++j) v[j] *= inv;
}

class FaceModel {
 public:
  FaceModel() : shared_(kDim * kSharedDim) {
    // Entries of variance 1/16: the shared part carries as much variance as
    // the isotropic one.
    Rng rng(kSeed);
    for (float& b : shared_) b = rng.Gaussian() / std::sqrt(static_cast<float>(kSharedDim));
  }

  static size_t SamplesOf(uint64_t identity) { return 2 + SplitMix(kSeed ^ (identity * 2 + 1)) % 7; }

  void Centre(uint64_t identity, float* out) const {
    Rng rng(kSeed + 0x1000 + identity);
    float h[kSharedDim];
    for (float& x : h) x = rng.Gaussian();
    for (int j = 0; j < kDim; ++j) {
      float v = rng.Gaussian();
      for (int s = 0; s < kSharedDim; ++s) v += shared_[j * kSharedDim + s] * h[s];
      out[j] = v;
    }
    Normalise(out);
  }

  // A sample of the identity whose centre is given; noise norm in [0.55, 0.85].
  static void Sample(const float* centre, uint64_t seed, float* out) {
    Rng rng(seed);
    const float sigma = static_cast<float>(0.55 + 0.3 * rng.Uniform()) / std::sqrt(static_cast<float>(kDim));
    for (int j = 0; j < kDim; ++j) out[j] = centre[j] + sigma * rng.Gaussian();
    Normalise(out);
  }

 private:
  std::vector<float> shared_;  // kDim x kSharedDim
};

// Identity of every slot of an n-slot gallery: identities 0, 1, ... with
// SamplesOf() consecutive slots each (the last one possibly cut).
std::vector<uint32_t> IdentityOfSlots(size_t n) {
  std::vector<uint32_t> identity(n);
  size_t slot = 0;
  for (uint32_t id = 0; slot < n; ++id) {
    for (size_t s = FaceModel::SamplesOf(id); s > 0 && slot < n; --s) identity[slot++] = id;
  }
  return identity;
}

fs::path BenchDir() {
  const char* dir = std::getenv("LINEUP_BENCH_DIR");
  return dir != nullptr && *dir != '\0' ? fs::path(dir) : fs::path("/tmp/lineup-vector-index-bench");
}

std::string SizeName(size_t n) { return n % 1'000'000 == 0 ? std::to_string(n / 1'000'000) + "M" : std::to_string(n); }

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

double ProcessCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Writes the gallery's store (vectors generated on every core, appended in
// slot order) unless a complete one from the same data version exists.
void WriteGallery(const fs::path& path, size_t n) {
  std::fprintf(stderr, "vector_index_bench: writing %s gallery to %s ...\n", SizeName(n).c_str(), path.c_str());
  const auto start = Clock::now();
  fs::remove(path);
  const FaceModel model;
  const std::vector<uint32_t> identity = IdentityOfSlots(n);
  VectorStore store(path, kDim, VectorStore::Mode::kReadWrite);
  const size_t chunk = 16 * VectorStore::kMaxAppendBatch;
  std::vector<float> vectors(chunk * kDim);
  std::vector<int64_t> ids(chunk);
  std::vector<uint32_t> collections(chunk);
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  for (size_t first = 0; first < n; first += chunk) {
    const size_t m = std::min(chunk, n - first);
    auto generate = [&](size_t begin, size_t end) {
      std::vector<float> centre(kDim);
      for (size_t i = begin; i < end; ++i) {
        const size_t slot = first + i;
        if (i == begin || identity[slot] != identity[slot - 1]) model.Centre(identity[slot], centre.data());
        FaceModel::Sample(centre.data(), kSeed ^ (0x5a5a000000000000ull + slot), &vectors[i * kDim]);
        ids[i] = static_cast<int64_t>(slot) + 1;
        collections[i] = identity[slot] % 4;
      }
    };
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) pool.emplace_back(generate, m * t / threads, m * (t + 1) / threads);
    for (auto& t : pool) t.join();
    for (size_t done = 0; done < m; done += VectorStore::kMaxAppendBatch) {
      const size_t b = std::min(VectorStore::kMaxAppendBatch, m - done);
      store.Append(&ids[done], &collections[done], &vectors[done * kDim], b);
    }
  }
  store.Sync();
  std::fprintf(stderr, "vector_index_bench: gallery written in %.0f s\n", Seconds(start));
}

// A gallery on disk, its queries and its exact top-10 ground truth.
class Gallery {
 public:
  explicit Gallery(size_t n) : n_(n) {
    fs::create_directories(BenchDir());
    const fs::path path = BenchDir() / ("gallery-" + SizeName(n) + ".lnv");
    const fs::path marker = path.string() + ".done";
    if (!fs::exists(marker) || ReadText(marker) != Marker()) {
      fs::remove(marker);
      WriteGallery(path, n);
      std::ofstream(marker) << Marker();
    }
    store_ = std::make_unique<VectorStore>(path, kDim, VectorStore::Mode::kReadOnly);
    if (store_->size() != n) throw Error(Context(path.string(), "holds " + std::to_string(store_->size()) + " vectors; delete it"));
    MakeQueries();
    LoadOrComputeTruth(path.string() + ".truth");
  }

  const VectorStore& store() const { return *store_; }
  size_t size() const { return n_; }
  const std::vector<std::vector<float>>& queries() const { return queries_; }
  const std::vector<size_t>& truth(size_t q) const { return truth_[q]; }

 private:
  std::string Marker() const { return std::string(kDataVersion) + " n=" + std::to_string(n_) + "\n"; }

  static std::string ReadText(const fs::path& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // Fresh samples (seeds no slot uses) of identities that have all their
  // samples in the gallery.
  void MakeQueries() {
    const FaceModel model;
    const uint32_t identities = IdentityOfSlots(n_).back();  // the last may be cut: excluded
    std::vector<float> centre(kDim);
    for (size_t q = 0; q < kQueries; ++q) {
      const uint32_t identity = static_cast<uint32_t>(SplitMix(kSeed ^ (0x77000000ull + q)) % identities);
      model.Centre(identity, centre.data());
      std::vector<float> query(kDim);
      FaceModel::Sample(centre.data(), kSeed ^ (0x3c3c000000000000ull + q), query.data());
      queries_.push_back(std::move(query));
    }
  }

  void LoadOrComputeTruth(const fs::path& path) {
    truth_.assign(kQueries, {});
    std::ifstream in(path, std::ios::binary);
    std::vector<uint64_t> flat(kQueries * kTopK);
    if (in.read(reinterpret_cast<char*>(flat.data()), static_cast<std::streamsize>(flat.size() * 8)) &&
        in.peek() == std::char_traits<char>::eof()) {
      for (size_t q = 0; q < kQueries; ++q) truth_[q].assign(flat.begin() + q * kTopK, flat.begin() + (q + 1) * kTopK);
      return;
    }
    std::fprintf(stderr, "vector_index_bench: exact top-%zu of %zu queries over %s ...\n", kTopK, kQueries,
                 SizeName(n_).c_str());
    const auto start = Clock::now();
    for (size_t q = 0; q < kQueries; ++q) {
      for (const Neighbor& nb : ExactSearch(*store_, queries_[q].data(), kTopK, SlotFilter{})) {
        truth_[q].push_back(nb.slot);
        flat[q * kTopK + truth_[q].size() - 1] = nb.slot;
      }
    }
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(flat.data()),
                                                static_cast<std::streamsize>(flat.size() * 8));
    std::fprintf(stderr, "vector_index_bench: ground truth in %.0f s\n", Seconds(start));
  }

  size_t n_;
  std::unique_ptr<VectorStore> store_;
  std::vector<std::vector<float>> queries_;
  std::vector<std::vector<size_t>> truth_;
};

Gallery& GetGallery(size_t n) {
  static std::map<size_t, std::unique_ptr<Gallery>> galleries;
  auto& gallery = galleries[n];
  if (!gallery) gallery = std::make_unique<Gallery>(n);
  return *gallery;
}

// The index of the running benchmark, kept while consecutive benchmarks
// use the same one (they differ in search parameters only).
struct BuiltIndex {
  std::string key;
  std::unique_ptr<VectorIndex> index;
  double build_seconds = 0;
};

bool EnvFlag(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && std::string(value) == "1";
}

// Builds the index, or loads the one an earlier run built and saved next
// to the gallery (with its build time), unless LINEUP_BENCH_REBUILD=1.
VectorIndex& GetIndex(Gallery& gallery, const std::string& factory, double* build_seconds) {
  static BuiltIndex built;
  const std::string key = SizeName(gallery.size()) + "/" + factory;
  if (built.key != key) {
    built = BuiltIndex{};  // free the previous index first
    const fs::path path = BenchDir() / ("index-" + SizeName(gallery.size()) + "-" + factory + ".lnx");
    const fs::path seconds_path = path.string() + ".build_s";
    if (!EnvFlag("LINEUP_BENCH_REBUILD") && fs::exists(path) && fs::exists(seconds_path)) {
      try {
        built.index = LoadIndex(path, gallery.store());
        std::ifstream(seconds_path) >> built.build_seconds;
        std::fprintf(stderr, "vector_index_bench: loaded %s (built in %.0f s by an earlier run)\n", path.c_str(),
                     built.build_seconds);
      } catch (const Error& e) {
        std::fprintf(stderr, "vector_index_bench: rebuilding: %s\n", e.what());
        built.index.reset();
      }
    }
    if (!built.index) {
      std::fprintf(stderr, "vector_index_bench: building %s over %s ...\n", factory.c_str(),
                   SizeName(gallery.size()).c_str());
      const auto start = Clock::now();
      built.index = CreateIndex(factory, gallery.store());
      built.index->AddFromStore(gallery.size());
      built.build_seconds = Seconds(start);
      std::fprintf(stderr, "vector_index_bench: built in %.0f s, %.1f bytes/face\n", built.build_seconds,
                   static_cast<double>(built.index->MemoryBytes()) / gallery.size());
      built.index->Save(path);
      std::ofstream(seconds_path) << built.build_seconds << "\n";
    }
    built.key = key;
  }
  *build_seconds = built.build_seconds;
  return *built.index;
}

// ------------------------------------------------------------ benchmarks

struct Config {
  size_t n = 0;
  std::string kind;     // "Exact", "IVF" or "HNSW"
  std::string factory;  // without search parameters
  size_t nprobe = 0, ef = 0, shortlist = kTopK;
};

double Percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(p * values.size()))];
}

void BM_VectorIndex(benchmark::State& state, Config config) {
  Gallery& gallery = GetGallery(config.n);
  const VectorStore& store = gallery.store();
  VectorIndex* index = nullptr;
  double build_seconds = 0;
  if (config.kind != "Exact") {
    index = &GetIndex(gallery, config.factory, &build_seconds);
    if (auto* ivf = dynamic_cast<IvfPqIndex*>(index)) {
      ivf->set_nprobe(config.nprobe);
      ivf->set_parallel_search(!EnvFlag("LINEUP_BENCH_SERIAL"));
    }
    if (auto* hnsw = dynamic_cast<HnswIndex*>(index)) hnsw->set_ef(config.ef);
  }
  const size_t queries = config.kind == "Exact" && config.n >= 10'000'000 ? kExactQueries10M : kQueries;
  std::vector<double> latency_ms;
  double recall = 0, cpu_seconds = 0;
  for (auto _ : state) {
    latency_ms.clear();
    size_t hits = 0;
    const double cpu_start = ProcessCpuSeconds();
    for (size_t q = 0; q < queries; ++q) {
      const float* query = gallery.queries()[q].data();
      const auto start = Clock::now();
      const std::vector<Neighbor> top =
          index == nullptr ? ExactSearch(store, query, kTopK, SlotFilter{})
                           : RescoreExact(store, query, index->Search(query, config.shortlist, SlotFilter{}), kTopK);
      latency_ms.push_back(Seconds(start) * 1e3);
      const std::set<size_t> want(gallery.truth(q).begin(), gallery.truth(q).end());
      for (const Neighbor& nb : top) hits += want.count(nb.slot);
    }
    cpu_seconds = ProcessCpuSeconds() - cpu_start;
    recall = static_cast<double>(hits) / static_cast<double>(queries * kTopK);
    double total_ms = 0;
    for (double ms : latency_ms) total_ms += ms;
    state.SetIterationTime(total_ms / 1e3 / queries);
  }
  const double p50 = Percentile(latency_ms, 0.50), p95 = Percentile(latency_ms, 0.95);
  const double bytes_per_face = index ? static_cast<double>(index->MemoryBytes()) / config.n : 0.0;
  state.counters["p50_ms"] = p50;
  state.counters["p95_ms"] = p95;
  state.counters["recall10"] = recall;
  state.counters["build_s"] = build_seconds;
  state.counters["bytes_per_face"] = bytes_per_face;
  state.counters["cpu_ms"] = cpu_seconds * 1e3 / queries;
  // One markdown row per benchmark, for docs/INDEX_BENCHMARKS.md.
  std::string params = config.kind == "IVF"    ? "nprobe=" + std::to_string(config.nprobe)
                       : config.kind == "HNSW" ? "ef=" + std::to_string(config.ef)
                                               : "-";
  std::fprintf(stderr, "| %s | %s | %s | %zu | %.0f | %.1f | %.2f | %.2f | %.2f | %.4f |\n", SizeName(config.n).c_str(),
               config.kind == "Exact" ? "Exact (Flat)" : config.factory.c_str(), params.c_str(),
               config.kind == "Exact" ? kTopK : config.shortlist, build_seconds, bytes_per_face, p50, p95,
               cpu_seconds * 1e3 / queries, recall);
}

void Register(const Config& config) {
  std::string name = "VectorIndex/" + SizeName(config.n) + "/" + (config.kind == "Exact" ? "Exact" : config.factory);
  if (config.kind == "IVF") name += "/nprobe:" + std::to_string(config.nprobe) + "/shortlist:" + std::to_string(config.shortlist);
  if (config.kind == "HNSW") name += "/ef:" + std::to_string(config.ef);
  benchmark::RegisterBenchmark(name.c_str(), BM_VectorIndex, config)
      ->Iterations(1)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
}

void RegisterIvf(size_t n, const std::string& factory, const std::vector<size_t>& nprobes,
                 const std::vector<size_t>& shortlists) {
  for (size_t nprobe : nprobes) {
    for (size_t shortlist : shortlists) Register({n, "IVF", factory, nprobe, 0, shortlist});
  }
}

void RegisterHnsw(size_t n, const std::string& factory, const std::vector<size_t>& efs) {
  for (size_t ef : efs) Register({n, "HNSW", factory, 0, ef, kTopK});
}

bool RegisterAllVectorIndexBenchmarks() {
  constexpr size_t k1M = 1'000'000, k10M = 10'000'000;
  Register({k1M, "Exact", "Flat"});
  for (const char* factory : {"IVF1024,PQ32", "IVF1024,PQ48", "IVF1024,PQ64"}) {
    RegisterIvf(k1M, factory, {16, 32, 64, 128, 256}, {100, 200, 400});
  }
  RegisterIvf(k1M, "IVF4096,PQ48", {64, 128, 256, 512}, {100, 200, 400});
  RegisterHnsw(k1M, "HNSW16", {64, 128, 256, 512});
  RegisterHnsw(k1M, "HNSW32", {64, 128, 256, 512});
  if (EnvFlag("LINEUP_BENCH_10M")) {
    Register({k10M, "Exact", "Flat"});
    RegisterIvf(k10M, "IVF4096,PQ48", {128, 256, 512, 1024}, {100, 200, 400});
    RegisterIvf(k10M, "IVF4096,PQ64", {128, 256, 512, 1024}, {100, 200, 400});
    // Building HNSW over 10M takes hours on 2 cores and ~10 GB of RAM.
    if (EnvFlag("LINEUP_BENCH_10M_HNSW")) RegisterHnsw(k10M, "HNSW16", {64, 128, 256, 512});
  }
  return true;
}

[[maybe_unused]] const bool kRegistered = RegisterAllVectorIndexBenchmarks();

}  // namespace
}  // namespace lineup
