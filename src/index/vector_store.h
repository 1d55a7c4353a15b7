// VectorStore: the durable home of every face descriptor of a gallery, one
// append-only file of fixed-size records
//
//   header (4096 bytes): magic "LNVSTORE", format version, dim, generation (random 128-bit)
//   record i ("slot" i): u64 face_id | u32 collection_id | u32 crc32c(id, collection, vector) | float[dim]
//
// Invariants:
//  - Face ids are strictly increasing along the slots (Append refuses
//    otherwise), so FindSlot() is a binary search and needs no map.
//  - Append() writes whole records and Sync() makes them durable; the gallery
//    syncs before it commits the catalog rows of those faces, so every face in
//    the catalog has its record on disk.
//  - A crash can leave a torn or garbage tail (at most kMaxAppendBatch records
//    written since the last Sync). Opening for writing checks the CRC of the
//    last kMaxAppendBatch records and truncates from the first bad one or
//    the first out-of-order id; opening read-only ignores them the same way
//    without touching the file.
//  - The file is mapped once with a large reserved length, so pointers
//    returned by Vector() stay valid while the store grows. Records are never
//    modified in place; deletion is the catalog's business (the gallery keeps
//    a live set) and space comes back with Compact().
//  - Compact() writes a new file with a new generation, fsyncs it and renames
//    it over the old one: a crash leaves either the old or the new file.
//
// Thread safety: any number of concurrent readers (Vector, FindSlot, size)
// with one appender; Compact() needs exclusive access (the caller locks).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"

namespace lineup {

// Opening a store for writing while another process has it open for
// writing (its message names the file): callers may wait and retry.
class StoreInUseError : public Error {
 public:
  using Error::Error;
};

class VectorStore {
 public:
  static constexpr size_t kMaxAppendBatch = 4096;

  enum class Mode { kReadOnly, kReadWrite };

  // Creates the file if missing (kReadWrite only) with `dim`; throws Error if
  // the file exists with another dim, is not a vector store, or is of a newer
  // format version. dim 0 opens an existing store whatever its dim. A
  // read-write open takes an exclusive flock() on the file (a second writer
  // gets Error "in use by another process") and removes a leftover
  // "<path>.compact" of a crashed Compact(); read-only opens never lock or
  // modify anything.
  VectorStore(const std::filesystem::path& path, int dim, Mode mode);
  ~VectorStore();
  VectorStore(const VectorStore&) = delete;
  VectorStore& operator=(const VectorStore&) = delete;

  int dim() const;
  size_t size() const;                        // number of records (slots)
  std::array<uint8_t, 16> generation() const; // changes with every Compact()
  std::string GenerationHex() const;
  const std::filesystem::path& path() const;
  Mode mode() const;
  // Records (a torn partial record counts as one) that the read-write open
  // truncated from the tail because of a bad CRC or id order; 0 read-only.
  size_t dropped_on_open() const;

  // Appends n <= kMaxAppendBatch records; ids strictly increasing and greater
  // than every id already stored; every value finite. vectors: n x dim
  // row-major. Not durable until Sync(). A failed write (e.g. ENOSPC) throws
  // Error and truncates the partial batch away: the store is as before.
  void Append(const int64_t* ids, const uint32_t* collection_ids, const float* vectors, size_t n);
  // fdatasync. On failure throws Error and drops the records appended since
  // the last successful Sync() (size() shrinks back).
  void Sync();

  // Read-only stores: picks up records appended by another process since
  // open (a torn tail is ignored until it is complete). Throws Error if the
  // file was replaced by a Compact() (slots changed meaning: reopen).
  void Refresh();

  int64_t id(size_t slot) const;
  uint32_t collection(size_t slot) const;
  const float* Vector(size_t slot) const;       // dim floats, valid for the store's lifetime
  std::optional<size_t> FindSlot(int64_t face_id) const;

  // Checks every record's CRC and the id order; returns the slots that fail.
  std::vector<size_t> Verify(const std::function<void(size_t done, size_t total)>& progress = {}) const;

  // Rewrites the file keeping the slots for which keep(slot) is true, in
  // order. Returns the number of records kept. Pointers from Vector() are
  // invalid afterwards.
  size_t Compact(const std::function<bool(size_t slot)>& keep);

  size_t FileBytes() const;

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace lineup
