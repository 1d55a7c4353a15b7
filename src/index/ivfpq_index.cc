#include "index/ivfpq_index.h"

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <faiss/invlists/InvertedLists.h>

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <thread>
#include <cstring>
#include <limits>
#include <string>
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

using FaissIdx = faiss::Index::idx_t;

constexpr size_t kPqBits = 8;
constexpr size_t kPqCentroids = size_t{1} << kPqBits;
constexpr size_t kMinPointsPerCentroid = 39;   // below this FAISS warns that k-means is unreliable
constexpr size_t kTrainPointsPerList = 64;
constexpr size_t kMinTrainingSample = 100'000;
constexpr size_t kAddBatch = 32768;            // vectors copied out of the store per add step

// ------------------------------------------------ nearest-centroid kernel
//
// Top-1 assignment of many vectors to a set of centroids, by the largest
// <x, c> + bias(c): inner product (bias 0) for the coarse quantiser, L2 for
// the PQ sub-quantisers (bias -|c|^2 / 2). It runs the k-means steps of
// training and the inverted-list assignment of every added vector. The
// Debian FAISS build has no AVX2 and links the reference BLAS (measured
// 2.6 GFlop/s on this machine), which made assigning 10M vectors to 4096
// lists take over an hour and training 48 sub-quantisers minutes; this
// kernel computes 6 vectors x 16 centroids per step with FMA, centroids
// stored in transposed panels of 8, and keeps a running argmax per lane.

constexpr size_t kPanel = 8;      // centroids per panel
constexpr size_t kRowGroup = 6;   // vectors per micro-kernel step
constexpr size_t kRowChunk = 96;  // vectors per parallel work item (a multiple of kRowGroup)
constexpr FaissIdx kMinBatch = 64; // fewer queries than this (a search) go to FAISS: not worth packing panels

// Centroids in panels of 8, transposed: panel p holds dim rows of 8 floats
// (component j of centroids 8p..8p+7), then a row of their biases. Padding
// centroids have bias -inf so they never win. The panel count is even.
struct CentroidPanels {
  std::vector<float> data;
  size_t count = 0;  // real centroids
  size_t panels = 0;
  int dim = 0;

  size_t stride() const { return (static_cast<size_t>(dim) + 1) * kPanel; }
};

CentroidPanels PackPanels(const float* centroids, size_t nc, int dim, const float* bias) {
  CentroidPanels packed;
  packed.count = nc;
  packed.dim = dim;
  packed.panels = (nc + 2 * kPanel - 1) / (2 * kPanel) * 2;
  packed.data.assign(packed.panels * packed.stride(), 0.0f);
  for (size_t c = 0; c < packed.panels * kPanel; ++c) {
    float* panel = &packed.data[(c / kPanel) * packed.stride()];
    const size_t lane = c % kPanel;
    if (c >= nc) {
      panel[dim * kPanel + lane] = -std::numeric_limits<float>::infinity();
      continue;
    }
    for (int j = 0; j < dim; ++j) panel[j * kPanel + lane] = centroids[c * dim + j];
    panel[dim * kPanel + lane] = bias != nullptr ? bias[c] : 0.0f;
  }
  return packed;
}

#if defined(__x86_64__)
// Rows [0, kRowGroup) of `x` (zero-padded by the caller) against all panels;
// best/arg receive the first `rows` results. Each lane sees its centroids in
// increasing order and keeps the first maximum; the lanes are merged the
// same way, so ties go to the lowest centroid index.
__attribute__((target("avx2,fma"))) void NearestGroupAvx2(const float* x, size_t rows, const CentroidPanels& cp,
                                                          float* best, FaissIdx* arg) {
  const int dim = cp.dim;
  __m256 best_score[kRowGroup];
  __m256i best_index[kRowGroup];
  for (size_t r = 0; r < kRowGroup; ++r) {
    best_score[r] = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    best_index[r] = _mm256_setzero_si256();
  }
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (size_t p = 0; p < cp.panels; p += 2) {
    const float* a = cp.data.data() + p * cp.stride();
    const float* b = a + cp.stride();
    __m256 acc[kRowGroup][2];
    for (auto& row : acc) {
      row[0] = _mm256_loadu_ps(a + dim * kPanel);  // start from the biases
      row[1] = _mm256_loadu_ps(b + dim * kPanel);
    }
    for (int j = 0; j < dim; ++j) {
      const __m256 ca = _mm256_loadu_ps(a + j * kPanel);
      const __m256 cb = _mm256_loadu_ps(b + j * kPanel);
      for (size_t r = 0; r < kRowGroup; ++r) {
        const __m256 v = _mm256_broadcast_ss(x + r * dim + j);
        acc[r][0] = _mm256_fmadd_ps(v, ca, acc[r][0]);
        acc[r][1] = _mm256_fmadd_ps(v, cb, acc[r][1]);
      }
    }
    const __m256i index_a = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(p * kPanel)), lanes);
    const __m256i index_b = _mm256_add_epi32(index_a, _mm256_set1_epi32(static_cast<int>(kPanel)));
    for (size_t r = 0; r < kRowGroup; ++r) {
      for (int half = 0; half < 2; ++half) {
        const __m256 better = _mm256_cmp_ps(acc[r][half], best_score[r], _CMP_GT_OQ);
        best_score[r] = _mm256_blendv_ps(best_score[r], acc[r][half], better);
        best_index[r] = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(best_index[r]),
                                                             _mm256_castsi256_ps(half == 0 ? index_a : index_b), better));
      }
    }
  }
  for (size_t r = 0; r < rows; ++r) {
    alignas(32) float score[kPanel];
    alignas(32) int32_t index[kPanel];
    _mm256_store_ps(score, best_score[r]);
    _mm256_store_si256(reinterpret_cast<__m256i*>(index), best_index[r]);
    size_t pick = 0;
    for (size_t l = 1; l < kPanel; ++l) {
      if (score[l] > score[pick] || (score[l] == score[pick] && index[l] < index[pick])) pick = l;
    }
    best[r] = score[pick];
    arg[r] = index[pick];
  }
}

bool HasAvx2Fma() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
#endif

void NearestGroupPortable(const float* x, size_t rows, const CentroidPanels& cp, float* best, FaissIdx* arg) {
  const int dim = cp.dim;
  for (size_t r = 0; r < rows; ++r) {
    best[r] = -std::numeric_limits<float>::infinity();
    arg[r] = 0;
  }
  for (size_t p = 0; p < cp.panels; ++p) {
    const float* panel = cp.data.data() + p * cp.stride();
    for (size_t r = 0; r < rows; ++r) {
      float acc[kPanel];
      std::copy_n(panel + dim * kPanel, kPanel, acc);
      for (int j = 0; j < dim; ++j) {
        for (size_t l = 0; l < kPanel; ++l) acc[l] += x[r * dim + j] * panel[j * kPanel + l];
      }
      for (size_t l = 0; l < kPanel; ++l) {
        if (acc[l] > best[r]) {
          best[r] = acc[l];
          arg[r] = static_cast<FaissIdx>(p * kPanel + l);
        }
      }
    }
  }
}

// labels[i] = argmax_c <x_i, c> + bias(c), scores[i] = that maximum, on the
// calling thread.
void NearestCentroidsSerial(const float* x, size_t n, const CentroidPanels& cp, FaissIdx* labels, float* scores) {
  if (cp.count == 0) throw Error("nearest centroid: no centroids");
  const int dim = cp.dim;
  float group[kRowGroup * 256];  // kRowGroup rows of up to 256 floats, zero-padded
  std::vector<float> big;
  float* rows_buffer = group;
  if (dim > 256) {
    big.resize(kRowGroup * dim);
    rows_buffer = big.data();
  }
#if defined(__x86_64__)
  const bool avx2 = HasAvx2Fma();
#endif
  for (size_t row = 0; row < n; row += kRowGroup) {
    const size_t rows = std::min(kRowGroup, n - row);
    std::fill_n(rows_buffer, kRowGroup * dim, 0.0f);
    std::copy_n(x + row * dim, rows * dim, rows_buffer);
#if defined(__x86_64__)
    if (avx2) {
      NearestGroupAvx2(rows_buffer, rows, cp, scores + row, labels + row);
      continue;
    }
#endif
    NearestGroupPortable(rows_buffer, rows, cp, scores + row, labels + row);
  }
}

// NearestCentroidsSerial over chunks of rows on the OpenMP threads.
void NearestCentroids(const float* x, size_t n, const CentroidPanels& cp, FaissIdx* labels, float* scores) {
  const auto chunks = static_cast<int64_t>((n + kRowChunk - 1) / kRowChunk);
  const int dim = cp.dim;
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic)
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    const size_t first = static_cast<size_t>(chunk) * kRowChunk;
    try {
      NearestCentroidsSerial(x + first * dim, std::min(kRowChunk, n - first), cp, labels + first, scores + first);
    } catch (...) {
#pragma omp critical
      error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

// Panels of the 256 centroids of each PQ sub-quantiser, biased for L2.
std::vector<CentroidPanels> PqPanels(const faiss::ProductQuantizer& pq) {
  std::vector<CentroidPanels> panels;
  std::vector<float> bias(pq.ksub);
  for (size_t j = 0; j < pq.M; ++j) {
    const float* c = pq.get_centroids(j, 0);
    for (size_t i = 0; i < pq.ksub; ++i) {
      float norm = 0;
      for (size_t t = 0; t < pq.dsub; ++t) norm += c[i * pq.dsub + t] * c[i * pq.dsub + t];
      bias[i] = -0.5f * norm;
    }
    panels.push_back(PackPanels(c, pq.ksub, static_cast<int>(pq.dsub), bias.data()));
  }
  return panels;
}

// PQ codes of the residuals x_i - centroid(list_i): for each sub-vector the
// sub-quantiser centroid nearest in L2, as FAISS's ProductQuantizer encodes.
void EncodeResiduals(const float* x, size_t n, const FaissIdx* lists, const float* coarse, int dim,
                     const faiss::ProductQuantizer& pq, const std::vector<CentroidPanels>& pq_panels, uint8_t* codes) {
  const auto chunks = static_cast<int64_t>((n + kRowChunk - 1) / kRowChunk);
  std::exception_ptr error;
#pragma omp parallel for schedule(dynamic)
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    const size_t first = static_cast<size_t>(chunk) * kRowChunk;
    const size_t rows = std::min(kRowChunk, n - first);
    std::vector<float> residual(rows * dim), sub(rows * pq.dsub), scores(rows);
    std::vector<FaissIdx> labels(rows);
    try {
      for (size_t r = 0; r < rows; ++r) {
        const float* v = x + (first + r) * dim;
        const float* c = coarse + lists[first + r] * dim;
        for (int t = 0; t < dim; ++t) residual[r * dim + t] = v[t] - c[t];
      }
      for (size_t j = 0; j < pq.M; ++j) {
        for (size_t r = 0; r < rows; ++r) {
          std::copy_n(&residual[r * dim + j * pq.dsub], pq.dsub, &sub[r * pq.dsub]);
        }
        NearestCentroidsSerial(sub.data(), rows, pq_panels[j], labels.data(), scores.data());
        for (size_t r = 0; r < rows; ++r) codes[(first + r) * pq.M + j] = static_cast<uint8_t>(labels[r]);
      }
    } catch (...) {
#pragma omp critical
      error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

// Flat indexes whose top-1 search (what k-means and list assignment ask
// for) runs NearestCentroids; anything else goes to FAISS. They are saved
// and loaded as the plain FAISS classes.
struct FastFlatIP : faiss::IndexFlatIP {
  using faiss::IndexFlatIP::IndexFlatIP;

  void search(FaissIdx n, const float* x, FaissIdx k, float* distances, FaissIdx* labels,
              const faiss::SearchParameters* params) const override {
    if (k != 1 || params != nullptr || ntotal == 0 || n < kMinBatch) {
      faiss::IndexFlatIP::search(n, x, k, distances, labels, params);
      return;
    }
    const CentroidPanels panels = PackPanels(get_xb(), static_cast<size_t>(ntotal), d, nullptr);
    NearestCentroids(x, static_cast<size_t>(n), panels, labels, distances);
  }
};

struct FastFlatL2 : faiss::IndexFlatL2 {
  using faiss::IndexFlatL2::IndexFlatL2;

  void search(FaissIdx n, const float* x, FaissIdx k, float* distances, FaissIdx* labels,
              const faiss::SearchParameters* params) const override {
    if (k != 1 || params != nullptr || ntotal == 0 || n < kMinBatch) {
      faiss::IndexFlatL2::search(n, x, k, distances, labels, params);
      return;
    }
    // |x - c|^2 = |x|^2 - 2 (<x, c> - |c|^2 / 2)
    std::vector<float> bias(static_cast<size_t>(ntotal));
    const float* c = get_xb();
    for (size_t i = 0; i < bias.size(); ++i) {
      float norm = 0;
      for (int j = 0; j < d; ++j) norm += c[i * d + j] * c[i * d + j];
      bias[i] = -0.5f * norm;
    }
    const CentroidPanels panels = PackPanels(c, bias.size(), d, bias.data());
    NearestCentroids(x, static_cast<size_t>(n), panels, labels, distances);
    for (FaissIdx i = 0; i < n; ++i) {
      float norm = 0;
      for (int j = 0; j < d; ++j) norm += x[i * d + j] * x[i * d + j];
      distances[i] = std::max(0.0f, norm - 2 * distances[i]);
    }
  }
};

// Trains the sub-quantisers of `pq` on n residuals, like ProductQuantizer::
// train (one FAISS k-means per sub-quantiser, same parameters) but with the
// sub-quantisers spread over one thread per core, each k-means on a single
// thread: FAISS's own loop runs 2 x M x niter tiny OpenMP regions, and on a
// busy 2-core machine half of its time went to threads spinning at barriers.
void TrainProductQuantizer(faiss::ProductQuantizer& pq, const float* residuals, size_t n) {
  pq.centroids.resize(pq.d * pq.ksub);
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto train = [&] {
    // This thread's own OpenMP regions get no team (restored after: the
    // calling thread is one of the trainers).
    const int saved_threads = omp_get_max_threads();
    omp_set_num_threads(1);
    try {
      std::vector<float> sub(n * pq.dsub);
      for (size_t j; (j = next.fetch_add(1)) < pq.M;) {
        for (size_t i = 0; i < n; ++i) std::copy_n(residuals + i * pq.d + j * pq.dsub, pq.dsub, &sub[i * pq.dsub]);
        faiss::Clustering clustering(static_cast<int>(pq.dsub), static_cast<int>(pq.ksub), pq.cp);
        FastFlatL2 assign(static_cast<FaissIdx>(pq.dsub));
        clustering.train(static_cast<FaissIdx>(n), sub.data(), assign);
        std::copy(clustering.centroids.begin(), clustering.centroids.end(), pq.get_centroids(j, 0));
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      next = pq.M;
    }
    omp_set_num_threads(saved_threads);
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < std::max(1u, std::thread::hardware_concurrency()); ++t) pool.emplace_back(train);
  train();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

// Lets FAISS consult a SlotFilter while it scans the inverted lists.
class SlotFilterSelector : public faiss::IDSelector {
 public:
  explicit SlotFilterSelector(const SlotFilter& filter) : filter_(filter) {}
  bool is_member(FaissIdx id) const override { return id >= 0 && filter_.Accept(static_cast<size_t>(id)); }

 private:
  const SlotFilter& filter_;
};

class FaissWriter : public faiss::IOWriter {
 public:
  explicit FaissWriter(AnnFileWriter& out) : out_(out) {}
  size_t operator()(const void* ptr, size_t size, size_t nitems) override {
    out_.Write(ptr, size * nitems);
    return nitems;
  }

 private:
  AnnFileWriter& out_;
};

class FaissReader : public faiss::IOReader {
 public:
  explicit FaissReader(AnnFileReader& in) : in_(in) {}
  size_t operator()(void* ptr, size_t size, size_t nitems) override {
    if (size == 0 || nitems == 0) return nitems;
    return in_.ReadSome(ptr, size * nitems) / size;  // short count: FAISS reports the truncation
  }

 private:
  AnnFileReader& in_;
};

// Runs a FAISS call, turning its exceptions into Error naming `where`.
template <typename Call>
void CallFaiss(const std::string& where, const std::string& what, Call&& call) {
  try {
    call();
  } catch (const faiss::FaissException& e) {
    throw Error(Context(where, what + " failed in FAISS: " + e.what()));
  }
}

// Copies slots into a contiguous n x dim buffer.
void CopyVectors(const VectorStore& store, const std::vector<size_t>& slots, float* out) {
  const int dim = store.dim();
  for (size_t i = 0; i < slots.size(); ++i) std::memcpy(out + i * dim, store.Vector(slots[i]), dim * sizeof(float));
}

}  // namespace

std::string IvfPqParams::FactoryString() const {
  return "IVF" + std::to_string(nlist) + ",PQ" + std::to_string(m) + ",nprobe=" + std::to_string(nprobe);
}

size_t IvfPqIndex::DefaultNprobe(size_t nlist) { return std::max<size_t>(1, nlist / 8); }

size_t IvfPqIndex::MinTrainingVectors(const IvfPqParams& params) {
  return kMinPointsPerCentroid * std::max(params.nlist, kPqCentroids);
}

size_t IvfPqIndex::TrainingSampleSize(const IvfPqParams& params) {
  return std::max({kMinTrainingSample, kTrainPointsPerList * params.nlist, MinTrainingVectors(params)});
}

IvfPqIndex::IvfPqIndex(const VectorStore& store, const IvfPqParams& params) : store_(store), params_(params) {
  const auto dim = static_cast<size_t>(store.dim());
  if (params.nlist == 0 || params.m == 0 || params.nprobe == 0 || params.nprobe > params.nlist) {
    throw Error("index \"" + params.FactoryString() + "\": nlist, m and nprobe must be positive, nprobe <= nlist");
  }
  if (dim % params.m != 0) {
    throw Error("index \"" + params.FactoryString() + "\": PQ" + std::to_string(params.m) +
                " does not divide the store's dimension " + std::to_string(dim) + " (pick m among its divisors)");
  }
  CallFaiss(store.path().string(), "creating " + params.FactoryString(), [&] {
    auto quantizer = std::make_unique<FastFlatIP>(store.dim());
    index_ = std::make_unique<faiss::IndexIVFPQ>(quantizer.get(), dim, params.nlist, params.m, kPqBits,
                                                 faiss::METRIC_INNER_PRODUCT);
    quantizer.release();
    index_->own_fields = true;
    index_->cp.spherical = true;  // unit descriptors: centroids on the sphere too
  });
  set_parallel_search(true);
}

IvfPqIndex::~IvfPqIndex() = default;

void IvfPqIndex::set_parallel_search(bool parallel) {
  // FAISS's parallel_mode 1: the lists of one query are shared out over the
  // OpenMP threads (mode 0 parallelises over queries only, and we search one
  // at a time).
  index_->parallel_mode = parallel ? 1 : 0;
}

void IvfPqIndex::set_nprobe(size_t nprobe) {
  if (nprobe == 0 || nprobe > params_.nlist) {
    throw Error("index \"" + params_.FactoryString() + "\": nprobe must be in 1.." + std::to_string(params_.nlist));
  }
  params_.nprobe = nprobe;
}

size_t IvfPqIndex::MemoryBytes() const {
  size_t bytes = sizeof(*this) + sizeof(faiss::IndexIVFPQ);
  if (const auto* flat = dynamic_cast<const faiss::IndexFlat*>(index_->quantizer)) bytes += flat->codes.capacity();
  bytes += index_->pq.centroids.capacity() * sizeof(float);
  bytes += index_->precomputed_table.size() * sizeof(float);
  if (const auto* lists = dynamic_cast<const faiss::ArrayInvertedLists*>(index_->invlists)) {
    for (size_t i = 0; i < lists->nlist; ++i) {
      bytes += lists->codes[i].capacity() + lists->ids[i].capacity() * sizeof(FaissIdx) +
               sizeof(lists->codes[i]) + sizeof(lists->ids[i]);
    }
  }
  return bytes;
}

void IvfPqIndex::AddFromStore(size_t end, const std::function<void(size_t done, size_t total)>& progress) {
  if (end > store_.size()) {
    throw Error(Context(store_.path().string(), params_.FactoryString() + " index asked to cover " +
                                                    std::to_string(end) + " slots, the store holds " +
                                                    std::to_string(store_.size())));
  }
  if (end <= covered_) {
    if (progress) progress(0, 0);
    return;
  }
  if (progress) progress(0, end - covered_);
  if (!index_->is_trained) Train(end);
  AddRange(covered_, end, progress);
}

void IvfPqIndex::Train(size_t end) {
  const size_t needed = MinTrainingVectors(params_);
  if (end < needed) {
    throw Error(Context(store_.path().string(), "index " + params_.FactoryString() + " needs at least " +
                                                    std::to_string(needed) + " vectors to train, the store has " +
                                                    std::to_string(end) +
                                                    "; use \"Flat\" or fewer lists (IVF<n>) until then"));
  }
  // An even spread over [0, end): galleries are often appended in batches of
  // one source, so the first slots alone would be a biased sample.
  const size_t n = std::min(end, TrainingSampleSize(params_));
  std::vector<size_t> slots(n);
  for (size_t i = 0; i < n; ++i) slots[i] = static_cast<size_t>((static_cast<unsigned __int128>(i) * end) / n);
  std::vector<float> sample(n * store_.dim());
  CopyVectors(store_, slots, sample.data());
  // What IndexIVFPQ::train does, with our kernel and threading: the coarse
  // k-means (FastFlatIP quantiser), then the PQ on the residuals of at most
  // 256 x 256 of the sample (FAISS's own cap).
  const std::string where = store_.path().string();
  CallFaiss(where, "training the lists of " + params_.FactoryString(),
            [&] { index_->train_q1(n, sample.data(), false, faiss::METRIC_INNER_PRODUCT); });
  const auto* quantizer = dynamic_cast<const faiss::IndexFlat*>(index_->quantizer);
  const size_t pq_n = std::min(n, kPqCentroids * kPqCentroids);
  const int dim = store_.dim();
  std::vector<float> residuals(pq_n * dim);
  for (size_t i = 0; i < pq_n; ++i) {
    std::copy_n(&sample[(i * n / pq_n) * dim], dim, &residuals[i * dim]);
  }
  const CentroidPanels coarse = PackPanels(quantizer->get_xb(), params_.nlist, dim, nullptr);
  std::vector<FaissIdx> lists(pq_n);
  std::vector<float> scores(pq_n);
  NearestCentroids(residuals.data(), pq_n, coarse, lists.data(), scores.data());
  for (size_t i = 0; i < pq_n; ++i) {
    const float* c = quantizer->get_xb() + lists[i] * dim;
    for (int t = 0; t < dim; ++t) residuals[i * dim + t] -= c[t];
  }
  CallFaiss(where, "training the codes of " + params_.FactoryString(),
            [&] { TrainProductQuantizer(index_->pq, residuals.data(), pq_n); });
  index_->precompute_table();  // a no-op for inner product, kept for FAISS's invariants
  index_->is_trained = true;
}

void IvfPqIndex::AddRange(size_t begin, size_t end, const std::function<void(size_t done, size_t total)>& progress) {
  const int dim = store_.dim();
  const auto* quantizer = dynamic_cast<const faiss::IndexFlat*>(index_->quantizer);
  if (quantizer == nullptr || static_cast<size_t>(quantizer->ntotal) != params_.nlist) {
    throw Error(Context(store_.path().string(), params_.FactoryString() + ": coarse quantiser is not a trained flat index"));
  }
  if (index_->direct_map.type != faiss::DirectMap::NoMap) {
    throw Error(Context(store_.path().string(), params_.FactoryString() + ": unexpected FAISS direct map"));
  }
  // Encoded here rather than by IndexIVFPQ::add_core: same codes (nearest
  // sub-quantiser centroid of each residual sub-vector), our kernel.
  const CentroidPanels panels = PackPanels(quantizer->get_xb(), params_.nlist, dim, nullptr);
  const std::vector<CentroidPanels> pq_panels = PqPanels(index_->pq);
  std::vector<uint8_t> codes;
  std::vector<float> batch(std::min(kAddBatch, end - begin) * dim);
  std::vector<FaissIdx> ids, lists;
  std::vector<float> scores;
  std::vector<size_t> slots;
  for (size_t first = begin; first < end; first += kAddBatch) {
    const size_t n = std::min(kAddBatch, end - first);
    slots.resize(n);
    ids.resize(n);
    for (size_t i = 0; i < n; ++i) ids[i] = static_cast<FaissIdx>(slots[i] = first + i);
    CopyVectors(store_, slots, batch.data());
    lists.resize(n);
    scores.resize(n);
    NearestCentroids(batch.data(), n, panels, lists.data(), scores.data());
    codes.resize(n * params_.m);
    EncodeResiduals(batch.data(), n, lists.data(), quantizer->get_xb(), dim, index_->pq, pq_panels, codes.data());
    CallFaiss(store_.path().string(), "adding to " + params_.FactoryString(), [&] {
      for (size_t i = 0; i < n; ++i) index_->invlists->add_entry(lists[i], ids[i], &codes[i * params_.m]);
      index_->ntotal += static_cast<FaissIdx>(n);
    });
    covered_ = first + n;
    if (progress) progress(covered_ - begin, end - begin);
  }
  ShrinkLists();
}

// Inverted lists grow by doubling; after a bulk add up to half their
// capacity is slack, so give it back.
void IvfPqIndex::ShrinkLists() {
  if (auto* lists = dynamic_cast<faiss::ArrayInvertedLists*>(index_->invlists)) {
    for (size_t i = 0; i < lists->nlist; ++i) {
      lists->codes[i].shrink_to_fit();
      lists->ids[i].shrink_to_fit();
    }
  }
}

std::vector<Neighbor> IvfPqIndex::Search(const float* query, size_t k, const SlotFilter& filter) const {
  CheckQueryVector(store_, query);
  if (!filter.collections.empty() && filter.store != &store_) {
    throw Error(Context(store_.path().string(), "collection filter built for another store (or none)"));
  }
  k = std::min(k, covered_);
  if (k == 0) return {};
  SlotFilterSelector selector(filter);
  faiss::SearchParametersIVF search_params;
  search_params.nprobe = params_.nprobe;
  const bool filtered = filter.live != nullptr || !filter.collections.empty();
  search_params.sel = filtered ? &selector : nullptr;
  std::vector<float> scores(k);
  std::vector<FaissIdx> labels(k);
  CallFaiss(store_.path().string(), "searching " + params_.FactoryString(), [&] {
    index_->search(1, query, static_cast<FaissIdx>(k), scores.data(), labels.data(), &search_params);
  });
  std::vector<Neighbor> result;
  result.reserve(k);
  for (size_t i = 0; i < k; ++i) {
    if (labels[i] >= 0) result.push_back({static_cast<size_t>(labels[i]), scores[i]});
  }
  std::sort(result.begin(), result.end(), RanksBefore);
  return result;
}

void IvfPqIndex::Save(const std::filesystem::path& path) const {
  AnnFileHeader header;
  header.kind = AnnKind::kIvfPq;
  header.generation = store_.generation();
  header.covered = covered_;
  header.factory = params_.FactoryString();
  AnnFileWriter out(path, header);
  FaissWriter writer(out);
  CallFaiss(path.string(), "saving " + params_.FactoryString(), [&] { faiss::write_index(index_.get(), &writer); });
  out.Commit();
}

std::unique_ptr<IvfPqIndex> IvfPqIndex::Load(AnnFileReader& file, const VectorStore& store,
                                             const IvfPqParams& params) {
  auto index = std::make_unique<IvfPqIndex>(store, params);
  FaissReader reader(file);
  std::unique_ptr<faiss::Index> loaded;
  CallFaiss(file.where(), "loading " + params.FactoryString(),
            [&] { loaded.reset(faiss::read_index(&reader)); });
  auto corrupt = [&](const std::string& why) { return Error(Context(file.where(), "not a valid " + params.FactoryString() + " index: " + why)); };
  auto* ivfpq = dynamic_cast<faiss::IndexIVFPQ*>(loaded.get());
  if (ivfpq == nullptr) throw corrupt("payload is not an IVF-PQ index");
  if (file.remaining() != 0) throw corrupt("trailing bytes after the index");
  if (ivfpq->metric_type != faiss::METRIC_INNER_PRODUCT || ivfpq->d != store.dim() || ivfpq->nlist != params.nlist ||
      ivfpq->pq.M != params.m || ivfpq->pq.nbits != kPqBits || !ivfpq->by_residual) {
    throw corrupt("parameters differ from the header or the store's dimension");
  }
  const uint64_t covered = file.header().covered;
  auto* lists = dynamic_cast<faiss::ArrayInvertedLists*>(ivfpq->invlists);
  if (lists == nullptr || static_cast<uint64_t>(ivfpq->ntotal) != covered || (covered > 0 && !ivfpq->is_trained)) {
    throw corrupt("it holds " + std::to_string(ivfpq->ntotal) + " vectors, the header says " + std::to_string(covered));
  }
  // Every slot of [0, covered) exactly once: a search must never return a
  // slot the store does not hold.
  std::vector<bool> seen(covered, false);
  for (size_t list = 0; list < lists->nlist; ++list) {
    for (FaissIdx id : lists->ids[list]) {
      if (id < 0 || static_cast<uint64_t>(id) >= covered || seen[id]) throw corrupt("bad slot label " + std::to_string(id));
      seen[id] = true;
    }
  }
  loaded.release();
  index->index_.reset(ivfpq);
  index->set_parallel_search(true);
  index->covered_ = covered;
  return index;
}

}  // namespace lineup
