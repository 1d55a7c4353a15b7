#include "index/hnsw_index.h"

// hnswlib 0.6.2 defines non-inline functions and globals in its headers:
// this must stay the only translation unit that includes it.
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "common/error.h"
#include "index/ann_file.h"
#include "index/exact_search.h"
#include "index/vector_store.h"

namespace lineup {
namespace {

using Hnsw = hnswlib::HierarchicalNSW<float>;

constexpr size_t kRandomSeed = 100;
constexpr int kMaxLevel = 64;           // levels are ~ln(n)/ln(M); more means a corrupt file
constexpr size_t kProgressEvery = 4096;
constexpr size_t kGrowthFactor = 4;     // a filtered search asks for 4x more candidates each round
constexpr size_t kScanFraction = 16;    // ... until it would ask for 1/16 of the graph: then it scans

// ------------------------------------------------------ distance kernels
// hnswlib minimises a distance; for unit vectors 1 - <a, b> orders like cosine.

float IpDistancePortable(const void* a, const void* b, const void* param) {
  const size_t dim = *static_cast<const size_t*>(param);
  const auto* x = static_cast<const float*>(a);
  const auto* y = static_cast<const float*>(b);
  float acc[8] = {};
  size_t i = 0;
  for (; i + 8 <= dim; i += 8) {
    for (size_t l = 0; l < 8; ++l) acc[l] += x[i + l] * y[i + l];
  }
  float sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; i < dim; ++i) sum += x[i] * y[i];
  return 1.0f - sum;
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) float IpDistanceAvx2(const void* a, const void* b, const void* param) {
  const size_t dim = *static_cast<const size_t*>(param);
  const auto* x = static_cast<const float*>(a);
  const auto* y = static_cast<const float*>(b);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps(),
         acc3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= dim; i += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), acc3);
  }
  for (; i + 8 <= dim; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc0);
  const __m256 sum8 = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
  __m128 sum4 = _mm_add_ps(_mm256_castps256_ps128(sum8), _mm256_extractf128_ps(sum8, 1));
  sum4 = _mm_add_ps(sum4, _mm_movehl_ps(sum4, sum4));
  sum4 = _mm_add_ss(sum4, _mm_movehdup_ps(sum4));
  float sum = _mm_cvtss_f32(sum4);
  for (; i < dim; ++i) sum += x[i] * y[i];
  return 1.0f - sum;
}
#endif

hnswlib::DISTFUNC<float> PickDistance() {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return IpDistanceAvx2;
#endif
  return IpDistancePortable;
}

// hnswlib's metric interface with our kernel, chosen once per index.
class UnitInnerProductSpace : public hnswlib::SpaceInterface<float> {
 public:
  explicit UnitInnerProductSpace(size_t dim) : dim_(dim), distance_(PickDistance()) {}
  size_t get_data_size() override { return dim_ * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return distance_; }
  void* get_dist_func_param() override { return &dim_; }

 private:
  size_t dim_;
  hnswlib::DISTFUNC<float> distance_;
};

template <typename T>
void WritePod(AnnFileWriter& out, const T& value) {
  out.Write(&value, sizeof(value));
}

template <typename T>
T ReadPod(AnnFileReader& in) {
  T value;
  in.Read(&value, sizeof(value));
  return value;
}

// Link list of `id` at `level` (0 = bottom): count, then ids.
const uint32_t* Links(const Hnsw& hnsw, uint32_t id, int level) {
  return level == 0 ? reinterpret_cast<const uint32_t*>(hnsw.data_level0_memory_ + id * hnsw.size_data_per_element_ +
                                                        hnsw.offsetLevel0_)
                    : reinterpret_cast<const uint32_t*>(hnsw.linkLists_[id] +
                                                        (level - 1) * hnsw.size_links_per_element_);
}

}  // namespace

struct HnswIndex::Graph {
  explicit Graph(size_t dim) : space(dim) {}

  UnitInnerProductSpace space;
  std::unique_ptr<Hnsw> hnsw;  // null while empty
  size_t upper_link_bytes = 0; // malloc'ed link lists above the bottom layer
  bool incomplete = false;     // an AddFromStore failed half way

  void CountUpperLinks() {
    upper_link_bytes = 0;
    for (size_t i = 0; i < hnsw->cur_element_count; ++i) {
      if (hnsw->element_levels_[i] > 0) upper_link_bytes += hnsw->size_links_per_element_ * hnsw->element_levels_[i] + 1;
    }
  }
};

std::string HnswParams::FactoryString() const {
  return "HNSW" + std::to_string(m) + ",ef=" + std::to_string(ef);
}

HnswIndex::HnswIndex(const VectorStore& store, const HnswParams& params)
    : store_(store), params_(params), graph_(std::make_unique<Graph>(static_cast<size_t>(store.dim()))) {
  if (params.m < 2 || params.ef == 0) throw Error("index \"" + params.FactoryString() + "\": M >= 2 and ef >= 1 required");
}

HnswIndex::~HnswIndex() = default;

void HnswIndex::set_ef(size_t ef) {
  if (ef == 0) throw Error("index \"" + params_.FactoryString() + "\": ef must be positive");
  params_.ef = ef;
  if (graph_->hnsw) graph_->hnsw->setEf(ef);
}

size_t HnswIndex::MemoryBytes() const {
  size_t bytes = sizeof(*this) + sizeof(Graph);
  const Hnsw* h = graph_->hnsw.get();
  if (h == nullptr) return bytes;
  bytes += sizeof(Hnsw) + h->max_elements_ * h->size_data_per_element_ + graph_->upper_link_bytes;
  // linkLists_, element_levels_, link_list_locks_, the visited-list pool's
  // first list, the update locks.
  bytes += h->max_elements_ * (sizeof(char*) + sizeof(int) + sizeof(std::mutex) + sizeof(hnswlib::vl_type));
  bytes += h->link_list_update_locks_.size() * sizeof(std::mutex);
  // label_lookup_: buckets plus one heap node (next pointer, key, value, cached hash) per label.
  bytes += h->label_lookup_.bucket_count() * sizeof(void*) +
           h->label_lookup_.size() * (sizeof(void*) + sizeof(hnswlib::labeltype) + sizeof(hnswlib::tableint) + sizeof(size_t));
  return bytes;
}

void HnswIndex::AddFromStore(size_t end, const std::function<void(size_t done, size_t total)>& progress) {
  const std::string where = store_.path().string();
  if (graph_->incomplete) throw Error(Context(where, params_.FactoryString() + " index is incomplete after a failed add; rebuild it"));
  if (end > store_.size()) {
    throw Error(Context(where, params_.FactoryString() + " index asked to cover " + std::to_string(end) +
                                   " slots, the store holds " + std::to_string(store_.size())));
  }
  if (end <= covered_) {
    if (progress) progress(0, 0);
    return;
  }
  const size_t begin = covered_;
  const size_t total = end - begin;
  if (progress) progress(0, total);
  try {
    if (!graph_->hnsw) {
      graph_->hnsw = std::make_unique<Hnsw>(&graph_->space, end, params_.m, kEfConstruction, kRandomSeed);
      graph_->hnsw->setEf(params_.ef);
    } else if (end > graph_->hnsw->max_elements_) {
      graph_->hnsw->resizeIndex(std::max(end, graph_->hnsw->max_elements_ + graph_->hnsw->max_elements_ / 4));
    }
  } catch (const std::exception& e) {
    throw Error(Context(where, params_.FactoryString() + ": cannot make room for " + std::to_string(end) +
                                   " vectors: " + e.what()));
  }

  // One inserter per core; the calling thread is one of them and reports
  // progress. hnswlib 0.6.2 draws each node's level from an unsynchronised
  // RNG, so concurrent inserts may draw the same level twice (as in its own
  // Python bindings): harmless for the graph's structure.
  Hnsw& hnsw = *graph_->hnsw;
  std::atomic<size_t> next{begin};
  std::atomic<size_t> done{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto insert = [&](bool report) {
    try {
      size_t reported = 0;
      for (size_t slot; !failed.load(std::memory_order_relaxed) && (slot = next.fetch_add(1)) < end;) {
        hnsw.addPoint(store_.Vector(slot), static_cast<hnswlib::labeltype>(slot));
        const size_t now = done.fetch_add(1) + 1;
        if (report && progress && now - reported >= kProgressEvery) {
          progress(now, total);
          reported = now;
        }
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      failed = true;
    }
  };
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> helpers;
  for (unsigned t = 1; t < threads; ++t) helpers.emplace_back(insert, false);
  insert(true);
  for (auto& t : helpers) t.join();
  if (error) {
    graph_->incomplete = true;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      throw Error(Context(where, "adding to " + params_.FactoryString() + " failed: " + e.what()));
    }
  }
  covered_ = end;
  graph_->CountUpperLinks();
  if (progress) progress(total, total);
}

std::vector<Neighbor> HnswIndex::Search(const float* query, size_t k, const SlotFilter& filter) const {
  CheckQueryVector(store_, query);
  if (!filter.collections.empty() && filter.store != &store_) {
    throw Error(Context(store_.path().string(), "collection filter built for another store (or none)"));
  }
  if (graph_->incomplete) {
    throw Error(Context(store_.path().string(), params_.FactoryString() + " index is incomplete after a failed add; rebuild it"));
  }
  const size_t count = covered_;
  if (k == 0 || count == 0) return {};
  const bool filtered = filter.live != nullptr || !filter.collections.empty();
  const Hnsw& hnsw = *graph_->hnsw;
  std::vector<Neighbor> accepted;
  for (size_t request = std::min(count, std::max(k, params_.ef));; request = std::min(count, request * kGrowthFactor)) {
    auto found = hnsw.searchKnn(query, request);
    accepted.clear();
    for (; !found.empty(); found.pop()) {
      const auto slot = static_cast<size_t>(found.top().second);
      if (!filtered || filter.Accept(slot)) accepted.push_back({slot, 1.0f - found.top().first});
    }
    if (accepted.size() >= k || request >= count) break;
    if (request * kGrowthFactor > count / kScanFraction) {
      return ExactSearchPrefix(store_, query, k, filter, count);
    }
  }
  std::sort(accepted.begin(), accepted.end(), RanksBefore);
  if (accepted.size() > k) accepted.resize(k);
  // 1 - distance loses low bits: report the inner product computed like
  // ExactSearch's, from the graph's own copy of the vector (no store read).
  for (Neighbor& n : accepted) {
    const hnswlib::tableint id = hnsw.label_lookup_.at(static_cast<hnswlib::labeltype>(n.slot));
    n.score = InnerProduct(query, reinterpret_cast<const float*>(hnsw.getDataByInternalId(id)), store_.dim());
  }
  std::sort(accepted.begin(), accepted.end(), RanksBefore);
  return accepted;
}

// Payload: u64 count, u64 M, u64 maxM0, u64 ef_construction, i32 max level,
// u32 entry point; then per internal id: u64 label (slot), i32 level, the
// bottom-layer link list (size_links_level0_ bytes), the upper link lists
// (level x size_links_per_element_ bytes). Vectors are not saved.
void HnswIndex::Save(const std::filesystem::path& path) const {
  if (graph_->incomplete) throw Error(Context(path.string(), params_.FactoryString() + " index is incomplete; rebuild it"));
  AnnFileHeader header;
  header.kind = AnnKind::kHnsw;
  header.generation = store_.generation();
  header.covered = covered_;
  header.factory = params_.FactoryString();
  AnnFileWriter out(path, header);
  const Hnsw* h = graph_->hnsw.get();
  WritePod<uint64_t>(out, covered_);
  WritePod<uint64_t>(out, params_.m);
  WritePod<uint64_t>(out, h ? h->maxM0_ : 2 * params_.m);
  WritePod<uint64_t>(out, h ? h->ef_construction_ : kEfConstruction);
  WritePod<int32_t>(out, h ? h->maxlevel_ : -1);
  WritePod<uint32_t>(out, h ? h->enterpoint_node_ : 0);
  for (uint32_t id = 0; h != nullptr && id < covered_; ++id) {
    WritePod<uint64_t>(out, h->getExternalLabel(id));
    const int level = h->element_levels_[id];
    WritePod<int32_t>(out, level);
    out.Write(Links(*h, id, 0), h->size_links_level0_);
    if (level > 0) out.Write(h->linkLists_[id], h->size_links_per_element_ * level);
  }
  out.Commit();
}

std::unique_ptr<HnswIndex> HnswIndex::Load(AnnFileReader& file, const VectorStore& store, const HnswParams& params) {
  auto corrupt = [&](const std::string& why) {
    return Error(Context(file.where(), "not a valid " + params.FactoryString() + " index: " + why));
  };
  auto index = std::make_unique<HnswIndex>(store, params);
  const auto count = ReadPod<uint64_t>(file);
  const auto m = ReadPod<uint64_t>(file);
  const auto max_m0 = ReadPod<uint64_t>(file);
  const auto ef_construction = ReadPod<uint64_t>(file);
  const auto max_level = ReadPod<int32_t>(file);
  const auto entry_point = ReadPod<uint32_t>(file);
  if (count != file.header().covered || m != params.m || max_m0 != 2 * m || ef_construction == 0 ||
      ef_construction > (uint64_t{1} << 20) || count > std::numeric_limits<uint32_t>::max()) {
    throw corrupt("graph parameters differ from the header");
  }
  if (count == 0) {
    if (file.remaining() != 0) throw corrupt("trailing bytes after an empty graph");
    return index;
  }
  if (max_level < 0 || max_level > kMaxLevel || entry_point >= count) throw corrupt("bad entry point");

  Graph& graph = *index->graph_;
  try {
    graph.hnsw = std::make_unique<Hnsw>(&graph.space, count, m, ef_construction, kRandomSeed);
  } catch (const std::exception& e) {
    throw Error(Context(file.where(), std::string("cannot allocate the graph: ") + e.what()));
  }
  Hnsw& h = *graph.hnsw;
  h.label_lookup_.reserve(count);
  std::vector<bool> seen(count, false);
  for (uint32_t id = 0; id < count; ++id) {
    const auto label = ReadPod<uint64_t>(file);
    const auto level = ReadPod<int32_t>(file);
    if (label >= count || seen[label]) throw corrupt("bad or repeated slot label " + std::to_string(label));
    if (level < 0 || level > max_level) throw corrupt("bad level " + std::to_string(level));
    seen[label] = true;
    char* element = h.data_level0_memory_ + id * h.size_data_per_element_;
    file.Read(element + h.offsetLevel0_, h.size_links_level0_);
    std::memcpy(h.getDataByInternalId(id), store.Vector(label), h.data_size_);
    h.setExternalLabel(id, label);
    h.linkLists_[id] = nullptr;
    h.element_levels_[id] = 0;
    if (level > 0) {
      // Allocated like hnswlib's addPoint, so its destructor frees it.
      h.linkLists_[id] = static_cast<char*>(std::malloc(h.size_links_per_element_ * level + 1));
      if (h.linkLists_[id] == nullptr) throw Error(Context(file.where(), "out of memory loading the graph"));
      h.element_levels_[id] = level;
      file.Read(h.linkLists_[id], h.size_links_per_element_ * level);
    }
    h.cur_element_count = id + 1;  // from here the destructor owns linkLists_[id]
    h.label_lookup_[label] = id;
  }
  if (file.remaining() != 0) throw corrupt("trailing bytes after the graph");
  // Every link must name an element that exists on that level: hnswlib
  // trusts them blindly.
  for (uint32_t id = 0; id < count; ++id) {
    for (int level = 0; level <= h.element_levels_[id]; ++level) {
      const uint32_t* links = Links(h, id, level);
      const size_t limit = level == 0 ? h.maxM0_ : h.maxM_;
      const uint32_t n = *links & 0xffff;  // hnswlib keeps the count in the low 16 bits
      if (n > limit) throw corrupt("link list too long");
      for (uint32_t j = 1; j <= n; ++j) {
        if (links[j] >= count || h.element_levels_[links[j]] < level) throw corrupt("dangling link");
      }
    }
  }
  if (h.element_levels_[entry_point] != max_level) throw corrupt("entry point is not on the top level");
  h.maxlevel_ = max_level;
  h.enterpoint_node_ = entry_point;
  h.setEf(params.ef);
  graph.CountUpperLinks();
  index->covered_ = count;
  return index;
}

}  // namespace lineup
