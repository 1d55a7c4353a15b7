// FlatIndex ("Flat"): the exact index. It holds no vectors of its own; a
// search is ExactSearch() over the store's slots [0, covered()).
//
// Saved file (little-endian, 44 bytes): magic "LNFLATIX", u32 format
// version, u32 reserved, the store's 16-byte generation, u64 covered, u32
// crc32c of the preceding bytes.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>

#include "index/vector_index.h"

namespace lineup {

class FlatIndex : public VectorIndex {
 public:
  static constexpr char kFileMagic[9] = "LNFLATIX";  // first 8 bytes of a saved Flat index

  // An empty index (covered() == 0) over `store`, which must outlive it.
  explicit FlatIndex(const VectorStore& store, int threads = 0);

  // Loads a file written by Save(); throws Error if it is not a Flat index,
  // is corrupt, was saved for another store generation or covers more slots
  // than the store holds.
  static std::unique_ptr<FlatIndex> Load(const std::filesystem::path& path, const VectorStore& store);

  std::string FactoryString() const override { return "Flat"; }
  bool IsExact() const override { return true; }
  size_t covered() const override { return covered_.load(std::memory_order_acquire); }
  size_t MemoryBytes() const override { return sizeof(*this); }

  void AddFromStore(size_t end, const std::function<void(size_t done, size_t total)>& progress = {}) override;
  std::vector<Neighbor> Search(const float* query, size_t k, const SlotFilter& filter) const override;
  void Save(const std::filesystem::path& path) const override;

 private:
  const VectorStore& store_;
  int threads_;
  std::atomic<size_t> covered_{0};
};

}  // namespace lineup
