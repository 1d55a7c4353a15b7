// The file format of saved approximate indexes (IVF-PQ, HNSW): a small header
// of ours, then the index's own payload.
//
//   offset  field (little-endian)
//        0  magic "LNANNIDX"
//        8  u32 format version
//       12  u32 kind (AnnKind)
//       16  the store's 16-byte generation
//       32  u64 covered (slots [0, covered) are in the index)
//       40  u64 payload bytes
//       48  u32 crc32c of the payload
//       52  u32 length L of the factory string (1..kMaxFactoryBytes)
//       56  the canonical factory string (L bytes)
//     56+L  u32 crc32c of bytes [0, 56+L)
//     60+L  payload
//
// Invariants:
//  - A file is written to "<path>.tmp", fsynced and renamed over <path> (and
//    the directory fsynced): readers see the old file or the new one.
//  - AnnFileReader checks the header, the file size and the payload CRC
//    before any payload byte is handed out, so index parsers (FAISS,
//    hnswlib) never see a corrupt or truncated payload.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace lineup {

class VectorStore;

enum class AnnKind : uint32_t { kIvfPq = 1, kHnsw = 2 };

struct AnnFileHeader {
  static constexpr char kMagic[9] = "LNANNIDX";
  static constexpr uint32_t kFormatVersion = 1;
  static constexpr size_t kMaxFactoryBytes = 256;

  AnnKind kind = AnnKind::kIvfPq;
  std::array<uint8_t, 16> generation{};
  uint64_t covered = 0;
  std::string factory;
};

// Streams a payload to "<path>.tmp"; Commit() writes the header and renames
// the file into place. Destroying an uncommitted writer removes the tmp file.
class AnnFileWriter {
 public:
  AnnFileWriter(const std::filesystem::path& path, AnnFileHeader header);
  ~AnnFileWriter();
  AnnFileWriter(const AnnFileWriter&) = delete;
  AnnFileWriter& operator=(const AnnFileWriter&) = delete;

  void Write(const void* data, size_t size);
  void Commit();

 private:
  void Flush();
  void WriteAt(uint64_t offset, const void* data, size_t size);

  std::filesystem::path path_;
  std::filesystem::path tmp_;
  AnnFileHeader header_;
  int fd_ = -1;
  std::string buffer_;
  uint64_t offset_ = 0;  // file offset where buffer_ starts
  uint64_t payload_bytes_ = 0;
  uint32_t payload_crc_ = 0;
  bool committed_ = false;
};

// Opens a saved index, checks its header and its whole payload (size, CRC),
// then hands out the payload in order.
class AnnFileReader {
 public:
  explicit AnnFileReader(const std::filesystem::path& path);
  ~AnnFileReader();
  AnnFileReader(const AnnFileReader&) = delete;
  AnnFileReader& operator=(const AnnFileReader&) = delete;

  const AnnFileHeader& header() const { return header_; }
  const std::string& where() const { return where_; }
  uint64_t remaining() const { return payload_end_ - position_; }

  // Throws Error if the index was saved for another store generation or
  // covers more slots than the store holds.
  void CheckStore(const VectorStore& store) const;

  // Exactly `size` payload bytes; throws Error past the end of the payload.
  void Read(void* data, size_t size);
  // Up to `size` payload bytes; returns how many were read (0 at the end).
  size_t ReadSome(void* data, size_t size);

 private:
  // Reads [offset, offset + size) of the file; throws Error on a short read.
  void ReadAt(uint64_t offset, void* data, size_t size);
  void VerifyPayloadCrc(uint32_t expected);

  std::string where_;
  AnnFileHeader header_;
  int fd_ = -1;
  uint64_t position_ = 0;  // file offset of the next payload byte
  uint64_t payload_end_ = 0;
  std::string buffer_;      // file bytes [buffer_offset_, buffer_offset_ + buffer_.size())
  uint64_t buffer_offset_ = 0;
};

// True if the file starts with AnnFileHeader::kMagic (false if unreadable).
bool IsAnnFile(const std::filesystem::path& path);

}  // namespace lineup
