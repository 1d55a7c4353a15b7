// What erasure and opt-out cost: one image erased (journal, catalog
// transaction, media, compaction of the whole store, scrub) by gallery size,
// and the query-time blocklist check by number of opt-outs, against the same
// search without opt-outs in the same run.
//
//   build/lineup_bench --benchmark_filter='Erasure|Blocklist'
//
// Galleries of synthetic 192-d unit descriptors (one face per image, with a
// source URL, crop and image file each) are built once per size in
// $TMPDIR/lineup-erasure-bench-<faces> and reused by later runs.
#include <filesystem>
#include <random>

#include <benchmark/benchmark.h>

#include "common/error.h"
#include "gallery/erasure.h"
#include "governance/audit_once.h"
#include "gallery/gallery.h"
#include "synthetic_gallery.h"

namespace lineup {
namespace {

namespace fs = std::filesystem;

constexpr int kDim = 192;
const GalleryModel kModel{"bench-embedder-192", kDim};

std::vector<float> Unit(std::mt19937& rng) { return testing::RandomUnitVector(rng, kDim); }

AnalyzedImage Image(int64_t collection, int64_t n, std::mt19937& rng) {
  AnalyzedImage a;
  a.write.image.collection_id = collection;
  std::string name = std::to_string(n);
  a.write.image.content_sha256 = std::string(64 - name.size(), '0') + name;
  a.write.image.width = a.write.image.height = 100;
  Source s;
  s.source_url = "https://site" + std::to_string(n % 100) + ".example/" + name + ".jpg";
  a.write.source = s;
  FaceRecord f;
  f.model_id = kModel.model_id;
  a.write.faces.push_back(f);
  a.descriptors.push_back(Unit(rng));
  a.crops.push_back(std::vector<uint8_t>(2000, 0x55));
  a.image_bytes.assign(20000, 0x77);
  a.image_extension = ".jpg";
  return a;
}

int64_t next_image = 0;  // numbers of images written, across benchmarks of one process

// The gallery of `faces` faces (built on first use).
std::unique_ptr<Gallery> BenchGallery(int64_t faces) {
  const char* tmp = std::getenv("TMPDIR");
  GalleryOptions options;
  options.data_dir = fs::path(tmp && *tmp ? tmp : "/tmp") / ("lineup-erasure-bench-" + std::to_string(faces));
  auto g = Gallery::Open(options, kModel);
  if (!g->catalog().FindCollection("bench")) {
    Collection c;
    c.name = "bench";
    c.legal_basis = "synthetic benchmark data";
    g->catalog().CreateCollection(c);
  }
  int64_t collection = g->catalog().FindCollection("bench")->id;
  std::mt19937 rng(42);
  int64_t have = g->catalog().Stats().faces;
  while (have < faces) {
    std::vector<AnalyzedImage> batch;
    for (int i = 0; i < 256 && have + static_cast<int64_t>(batch.size()) < faces; ++i) {
      batch.push_back(Image(collection, have + i, rng));
    }
    have += static_cast<int64_t>(batch.size());
    g->WriteBatch(batch, 0, {});
  }
  next_image = std::max(next_image, faces + 1);
  return g;
}

void BM_EraseOneImage(benchmark::State& state) {
  auto g = BenchGallery(state.range(0));
  int64_t collection = g->catalog().FindCollection("bench")->id;
  std::mt19937 rng(7);
  GovernanceDb trail(g->options().data_dir / "governance.db");
  AuditLog log(trail);
  AuditOnce once(trail, log);
  const ErasureAudit audit{AuditEventJson({0, "bench", "operator", "erase", "bench", "", ""}, {}), once.Recorder()};
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<AnalyzedImage> one = {Image(collection, next_image++, rng)};
    int64_t id = g->WriteBatch(one, 0, {}).image_ids.at(0);
    state.ResumeTiming();
    Erase(*g, {EraseBy::kImage, std::to_string(id)}, audit);
  }
  state.counters["faces"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_EraseOneImage)
    ->Name("Erasure/one_image")
    ->ArgName("faces")
    ->Arg(20'000)
    ->Arg(100'000)
    ->Iterations(5)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

// Exact search of the 100k gallery for top 20 with `opt-outs` blocklist
// entries that match nothing (the filter runs on every candidate).
void BM_SearchWithBlocklist(benchmark::State& state) {
  auto g = BenchGallery(100'000);
  std::mt19937 rng(state.range(0) + 1);
  const int64_t wanted = state.range(0);
  std::vector<OptOut> existing = g->blocklist().List();
  for (const OptOut& e : existing) g->blocklist().Remove(e.id);
  for (int64_t i = 0; i < wanted; ++i) {
    OptOut e;
    e.request_id = "bench";
    e.threshold = 0.99;
    e.descriptor = Unit(rng);
    g->blocklist().Add(e);
  }
  SearchQuery q;
  q.top_k = 20;
  for (auto _ : state) {
    q.descriptor = Unit(rng);
    benchmark::DoNotOptimize(g->Search(q));
  }
  for (const OptOut& e : g->blocklist().List()) g->blocklist().Remove(e.id);
  state.counters["optouts"] = static_cast<double>(wanted);
}
BENCHMARK(BM_SearchWithBlocklist)
    ->Name("Blocklist/search_100k")
    ->ArgName("optouts")
    ->Arg(0)
    ->Arg(100)
    ->Arg(1'000)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace lineup
