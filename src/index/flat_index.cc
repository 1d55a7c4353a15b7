#include "index/flat_index.h"

#include <cstring>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/file_util.h"
#include "index/crc32c.h"
#include "index/exact_search.h"
#include "index/vector_store.h"

namespace lineup {
namespace {

constexpr uint32_t kFormatVersion = 1;
constexpr size_t kFileBytes = 44;
constexpr size_t kCrcOffset = 40;

}  // namespace

FlatIndex::FlatIndex(const VectorStore& store, int threads) : store_(store), threads_(threads) {}

void FlatIndex::AddFromStore(size_t end, const std::function<void(size_t done, size_t total)>& progress) {
  if (end > store_.size()) {
    throw Error(Context(store_.path().string(), "Flat index asked to cover " + std::to_string(end) +
                                                    " slots, the store holds " + std::to_string(store_.size())));
  }
  if (end > covered()) covered_.store(end, std::memory_order_release);
  if (progress) progress(end, end);
}

std::vector<Neighbor> FlatIndex::Search(const float* query, size_t k, const SlotFilter& filter) const {
  return ExactSearchPrefix(store_, query, k, filter, covered(), threads_);
}

void FlatIndex::Save(const std::filesystem::path& path) const {
  std::string bytes(kFileBytes, '\0');
  std::memcpy(&bytes[0], kFileMagic, 8);
  std::memcpy(&bytes[8], &kFormatVersion, 4);
  const auto generation = store_.generation();
  std::memcpy(&bytes[16], generation.data(), generation.size());
  const uint64_t covered64 = covered();
  std::memcpy(&bytes[32], &covered64, 8);
  const uint32_t crc = Crc32c(bytes.data(), kCrcOffset);
  std::memcpy(&bytes[kCrcOffset], &crc, 4);
  WriteFileAtomically(path, bytes);
}

std::unique_ptr<FlatIndex> FlatIndex::Load(const std::filesystem::path& path, const VectorStore& store) {
  const std::string where = path.string();
  std::vector<uint8_t> bytes = ReadFileBytes(path, 4096);
  if (bytes.size() < 12 || std::memcmp(bytes.data(), kFileMagic, 8) != 0) {
    throw Error(Context(where, "not a Flat index file"));
  }
  uint32_t version;
  std::memcpy(&version, &bytes[8], 4);
  if (version != kFormatVersion) {
    throw Error(Context(where, "Flat index format version " + std::to_string(version) + " is not supported (expected " +
                                   std::to_string(kFormatVersion) + ")"));
  }
  uint32_t crc;
  if (bytes.size() != kFileBytes ||
      (std::memcpy(&crc, &bytes[kCrcOffset], 4), crc != Crc32c(bytes.data(), kCrcOffset))) {
    throw Error(Context(where, "Flat index file is corrupt (size or checksum)"));
  }
  const auto generation = store.generation();
  if (std::memcmp(&bytes[16], generation.data(), generation.size()) != 0) {
    throw Error(Context(where, "Flat index was saved for another store generation than " + store.GenerationHex() +
                                   " (the store was compacted or replaced); rebuild it"));
  }
  uint64_t covered;
  std::memcpy(&covered, &bytes[32], 8);
  if (covered > store.size()) {
    throw Error(Context(where, "Flat index covers " + std::to_string(covered) + " slots but the store holds " +
                                   std::to_string(store.size()) + "; rebuild it"));
  }
  auto index = std::make_unique<FlatIndex>(store);
  index->covered_.store(static_cast<size_t>(covered), std::memory_order_release);
  return index;
}

}  // namespace lineup
