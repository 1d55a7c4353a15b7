// IvfPqIndex ("IVF<nlist>,PQ<m>[,nprobe=<p>]"): FAISS inverted lists with
// product-quantised residuals (m bytes per vector, 8-bit codes), inner
// product metric, labels = store slots.
//
// RAM per indexed vector: m code bytes + 8 bytes of label (+ the centroids,
// nlist x dim floats, and the PQ codebooks). The full vectors stay in the
// VectorStore (on disk / page cache) and are read only to re-score the
// shortlist (RescoreExact).
//
// Invariants:
//  - The first AddFromStore() trains the coarse quantiser (spherical k-means,
//    since descriptors are unit vectors) and the PQ codebooks on a sample of
//    up to TrainingSampleSize() vectors spread evenly over the slots being
//    added; it throws Error if there are fewer than MinTrainingVectors().
//    Later calls only encode and add.
//  - Search() scores with the PQ approximation: the result is a shortlist
//    ordered by approximate score, meant to be re-scored exactly. By default
//    the lists a query probes are scanned by all OpenMP threads (like
//    ExactSearch, one query uses every core); set_parallel_search(false)
//    keeps a query on the calling thread (many concurrent callers).
//  - The inverted lists hold exactly the slots [0, covered()).
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include "index/vector_index.h"

namespace faiss {
struct IndexIVFPQ;
}

namespace lineup {

class AnnFileReader;

struct IvfPqParams {
  size_t nlist = 0;   // coarse centroids (inverted lists)
  size_t m = 0;       // PQ sub-quantisers = code bytes per vector; must divide dim
  size_t nprobe = 0;  // lists scanned per query (<= nlist)

  // The canonical factory string, e.g. "IVF4096,PQ48,nprobe=512".
  std::string FactoryString() const;
};

class IvfPqIndex : public VectorIndex {
 public:
  // nprobe used when the factory string gives none: nlist / 8. Face
  // descriptors spread a query's 10 nearest over many lists (the strangers
  // in a top 10 sit at cosine ~0.4, all around the sphere), so a query must
  // probe a sizeable share of the lists; measured in docs/PERFORMANCE.md
  // (bench/vector_index_bench.cc).
  static size_t DefaultNprobe(size_t nlist);
  // FAISS's own advice: at least 39 training points per centroid, both for
  // the nlist coarse centroids and the 256 centroids of each sub-quantiser.
  static size_t MinTrainingVectors(const IvfPqParams& params);
  // How many vectors training uses when more are available.
  static size_t TrainingSampleSize(const IvfPqParams& params);

  // An empty, untrained index over `store` (which must outlive it). Throws
  // Error if m does not divide the store's dim.
  IvfPqIndex(const VectorStore& store, const IvfPqParams& params);
  ~IvfPqIndex() override;

  // Reads the payload of a file whose header names this kind and `params`
  // (the caller checked the header against the store).
  static std::unique_ptr<IvfPqIndex> Load(AnnFileReader& file, const VectorStore& store, const IvfPqParams& params);

  std::string FactoryString() const override { return params_.FactoryString(); }
  bool IsExact() const override { return false; }
  size_t covered() const override { return covered_; }
  size_t MemoryBytes() const override;

  void AddFromStore(size_t end, const std::function<void(size_t done, size_t total)>& progress = {}) override;
  std::vector<Neighbor> Search(const float* query, size_t k, const SlotFilter& filter) const override;
  void Save(const std::filesystem::path& path) const override;

  // Changes the number of lists scanned per query (1..nlist). Not thread
  // safe: call it while no Search() runs (benchmarks, tuning).
  void set_nprobe(size_t nprobe);
  // Whether one query's lists are scanned by all OpenMP threads (default)
  // or by the calling thread only. Same results either way. Not thread safe.
  void set_parallel_search(bool parallel);

 private:
  void Train(size_t end);
  void AddRange(size_t begin, size_t end, const std::function<void(size_t done, size_t total)>& progress);
  void ShrinkLists();

  const VectorStore& store_;
  IvfPqParams params_;
  std::unique_ptr<faiss::IndexIVFPQ> index_;
  size_t covered_ = 0;
};

}  // namespace lineup
