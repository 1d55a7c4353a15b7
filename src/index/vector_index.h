// VectorIndex: finds the stored descriptors most similar (inner product of
// unit vectors = cosine) to a query. One abstraction, several implementations
// chosen by a factory string, FAISS-style:
//
//   "Flat"            exact scan of the VectorStore (no extra memory)
//   "IVF<n>,PQ<m>"    FAISS inverted lists + product quantisation (8-bit codes),
//                     e.g. "IVF4096,PQ48"; optional ",nprobe=<p>"
//   "HNSW<M>"         hnswlib graph over the full vectors, e.g. "HNSW32";
//                     optional ",ef=<e>"
//
// An index is built over a VectorStore and labels its entries with store
// slots. Approximate indexes return a shortlist that the caller re-scores
// exactly with RescoreExact(), so every score shown is a true similarity.
//
// Invariants:
//  - The index covers slots [0, covered()); AddFromStore() extends it. Slots
//    appended to the store later are found only after AddFromStore().
//  - Search() returns only slots for which filter.Accept(slot) is true, best
//    first, at most k of them. Approximate indexes may return fewer than k
//    when the filter rejects many candidates; the caller can retry with a
//    larger k or fall back to "Flat".
//  - Save() records the store's generation and covered(); LoadIndex() refuses
//    an index saved for another generation (the caller rebuilds it).
//
// Thread safety: Search() is const and may run concurrently with other
// Search() calls; AddFromStore() needs exclusive access (the caller locks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace lineup {

class VectorStore;

struct Neighbor {
  size_t slot = 0;
  float score = 0;  // inner product (exact for Flat and after RescoreExact)
};

// Which slots a search may return: live (not deleted) and, optionally, in
// one of a set of collections. `live` is one bit per slot (bit i of word
// i/64); slots at or beyond live_bits are rejected.
struct SlotFilter {
  const uint64_t* live = nullptr;   // nullptr = all slots live
  size_t live_bits = 0;
  std::vector<uint32_t> collections;  // empty = any collection
  const VectorStore* store = nullptr; // needed when collections is not empty

  bool Accept(size_t slot) const;
};

class VectorIndex {
 public:
  virtual ~VectorIndex() = default;

  virtual std::string FactoryString() const = 0;
  virtual bool IsExact() const = 0;
  virtual size_t covered() const = 0;
  // Bytes of RAM the index itself holds (not counting the store's mapping).
  virtual size_t MemoryBytes() const = 0;

  // Indexes store slots [covered(), end). Approximate indexes train on their
  // first call (on up to train_sample vectors spread over the store) and
  // throw Error if there are too few vectors to train on.
  virtual void AddFromStore(size_t end, const std::function<void(size_t done, size_t total)>& progress = {}) = 0;

  virtual std::vector<Neighbor> Search(const float* query, size_t k, const SlotFilter& filter) const = 0;

  virtual void Save(const std::filesystem::path& path) const = 0;
};

// Builds an empty index of the given kind over `store` (which must outlive
// it). Throws Error naming the string if it is not understood.
std::unique_ptr<VectorIndex> CreateIndex(const std::string& factory, const VectorStore& store);

// Loads an index saved by Save(); throws Error if the file is corrupt, of
// another format version, or saved for another store generation.
std::unique_ptr<VectorIndex> LoadIndex(const std::filesystem::path& path, const VectorStore& store);

// Minimum number of vectors an approximate factory string needs to train
// (0 for Flat); throws Error if the string is not understood.
size_t MinTrainingVectors(const std::string& factory);

// Exact inner products of `query` with the candidate slots; returns the best
// k, best first (ties broken by lower slot).
std::vector<Neighbor> RescoreExact(const VectorStore& store, const float* query,
                                   const std::vector<Neighbor>& candidates, size_t k);

// Exact top-k over all slots [0, store.size()) accepted by the filter, using
// `threads` threads (0 = hardware concurrency).
std::vector<Neighbor> ExactSearch(const VectorStore& store, const float* query, size_t k,
                                  const SlotFilter& filter, int threads = 0);

}  // namespace lineup
