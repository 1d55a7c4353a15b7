// HnswIndex ("HNSW<M>[,ef=<e>]"): an hnswlib graph (M links per node, 2M on
// the bottom layer) over copies of the full vectors, inner product metric,
// labels = store slots.
//
// RAM per indexed vector: dim floats + the links (~(2M + 1) x 4 bytes on the
// bottom layer, ~M x 4 x 1/(M-1) above) + hnswlib's bookkeeping (label
// map, one mutex per element). Its scores are exact inner products (the
// graph holds full vectors), but the candidate set is approximate.
//
// Invariants:
//  - The graph holds exactly the slots [0, covered()); AddFromStore() inserts
//    the new ones with one thread per core (hnswlib's addPoint is thread
//    safe), so insertion order, and the graph, depend on scheduling.
//  - hnswlib 0.6.2 has no filter hook: Search() asks the graph for
//    max(k, ef) candidates, keeps those the filter accepts, and asks again
//    for 4 times more until k are accepted. Once the request would reach
//    1/16 of the graph (a graph walk that wide costs more than a scan) it
//    scans slots [0, covered()) exactly instead, so a search always returns
//    min(k, accepted slots) results.
//  - Distances use our AVX2/FMA kernel when the CPU has it (checked at run
//    time), a portable loop otherwise; hnswlib's own InnerProductSpace picks
//    its kernel from compile-time macros and is not used.
//  - Saved files hold the graph (links and labels), not the vectors: Load
//    copies each vector back from the store, whose generation the header
//    pins.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include "index/vector_index.h"

namespace lineup {

class AnnFileReader;

struct HnswParams {
  size_t m = 0;   // links per node and layer (2m on the bottom layer)
  size_t ef = 0;  // candidate list size of a search (>= k is implied)

  // The canonical factory string, e.g. "HNSW32,ef=128".
  std::string FactoryString() const;
};

class HnswIndex : public VectorIndex {
 public:
  static constexpr size_t kDefaultEf = 128;
  static constexpr size_t kEfConstruction = 200;

  // An empty index over `store` (which must outlive it).
  HnswIndex(const VectorStore& store, const HnswParams& params);
  ~HnswIndex() override;

  // Reads the payload of a file whose header names this kind and `params`
  // (the caller checked the header against the store).
  static std::unique_ptr<HnswIndex> Load(AnnFileReader& file, const VectorStore& store, const HnswParams& params);

  std::string FactoryString() const override { return params_.FactoryString(); }
  bool IsExact() const override { return false; }
  size_t covered() const override { return covered_; }
  size_t MemoryBytes() const override;

  void AddFromStore(size_t end, const std::function<void(size_t done, size_t total)>& progress = {}) override;
  std::vector<Neighbor> Search(const float* query, size_t k, const SlotFilter& filter) const override;
  void Save(const std::filesystem::path& path) const override;

  // Changes the search candidate list size. Not thread safe: call it while
  // no Search() runs (benchmarks, tuning).
  void set_ef(size_t ef);

 private:
  struct Graph;  // hnswlib's types stay out of this header

  const VectorStore& store_;
  HnswParams params_;
  std::unique_ptr<Graph> graph_;
  size_t covered_ = 0;
};

}  // namespace lineup
