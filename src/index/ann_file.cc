#include "index/ann_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "index/crc32c.h"
#include "index/vector_store.h"

namespace lineup {
namespace {

constexpr size_t kFixedHeaderBytes = 56;  // up to the factory string
constexpr size_t kIoBufferBytes = size_t{1} << 20;

size_t HeaderBytes(const AnnFileHeader& header) { return kFixedHeaderBytes + header.factory.size() + 4; }

std::string EncodeHeader(const AnnFileHeader& header, uint64_t payload_bytes, uint32_t payload_crc) {
  std::string bytes(HeaderBytes(header), '\0');
  const uint32_t version = AnnFileHeader::kFormatVersion;
  const auto kind = static_cast<uint32_t>(header.kind);
  const auto factory_bytes = static_cast<uint32_t>(header.factory.size());
  std::memcpy(&bytes[0], AnnFileHeader::kMagic, 8);
  std::memcpy(&bytes[8], &version, 4);
  std::memcpy(&bytes[12], &kind, 4);
  std::memcpy(&bytes[16], header.generation.data(), 16);
  std::memcpy(&bytes[32], &header.covered, 8);
  std::memcpy(&bytes[40], &payload_bytes, 8);
  std::memcpy(&bytes[48], &payload_crc, 4);
  std::memcpy(&bytes[52], &factory_bytes, 4);
  std::memcpy(&bytes[kFixedHeaderBytes], header.factory.data(), header.factory.size());
  const size_t crc_offset = kFixedHeaderBytes + header.factory.size();
  const uint32_t header_crc = Crc32c(bytes.data(), crc_offset);
  std::memcpy(&bytes[crc_offset], &header_crc, 4);
  return bytes;
}

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

void SyncDirectoryOf(const std::filesystem::path& path) {
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw Error(Context(dir.string(), Errno("cannot open directory to sync it")));
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (rc != 0) throw Error(Context(dir.string(), std::string("fsync of directory failed: ") + std::strerror(saved)));
}

}  // namespace

// ---------------------------------------------------------------- writer

AnnFileWriter::AnnFileWriter(const std::filesystem::path& path, AnnFileHeader header)
    : path_(path), header_(std::move(header)) {
  if (header_.factory.empty() || header_.factory.size() > AnnFileHeader::kMaxFactoryBytes) {
    throw Error(Context(path.string(), "index factory string of " + std::to_string(header_.factory.size()) +
                                           " bytes cannot be saved"));
  }
  tmp_ = path_;
  tmp_ += ".tmp";
  if (path_.has_parent_path()) std::filesystem::create_directories(path_.parent_path());
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(Context(tmp_.string(), Errno("cannot create")));
  // The header is written last, once the payload's size and CRC are known;
  // its bytes are reserved now so the payload lands at its final offset.
  buffer_.assign(HeaderBytes(header_), '\0');
  buffer_.reserve(kIoBufferBytes);
}

AnnFileWriter::~AnnFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AnnFileWriter::Write(const void* data, size_t size) {
  payload_crc_ = Crc32cExtend(payload_crc_, data, size);
  payload_bytes_ += size;
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const size_t room = kIoBufferBytes - std::min(kIoBufferBytes, buffer_.size());
    if (room == 0) {
      Flush();
      continue;
    }
    const size_t n = std::min(room, size);
    buffer_.append(bytes, n);
    bytes += n;
    size -= n;
  }
}

void AnnFileWriter::Flush() {
  WriteAt(offset_, buffer_.data(), buffer_.size());
  offset_ += buffer_.size();
  buffer_.clear();
}

void AnnFileWriter::WriteAt(uint64_t offset, const void* data, size_t size) {
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::pwrite(fd_, bytes, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(Context(tmp_.string(), Errno("write failed")));
    bytes += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
}

void AnnFileWriter::Commit() {
  if (committed_) throw Error(Context(path_.string(), "index file committed twice"));
  Flush();
  const std::string header = EncodeHeader(header_, payload_bytes_, payload_crc_);
  WriteAt(0, header.data(), header.size());
  if (::fsync(fd_) != 0) throw Error(Context(tmp_.string(), Errno("fsync failed")));
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) throw Error(Context(tmp_.string(), Errno("close failed")));
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) throw Error(Context(path_.string(), Errno("rename failed")));
  committed_ = true;
  SyncDirectoryOf(path_);
}

// ---------------------------------------------------------------- reader

AnnFileReader::AnnFileReader(const std::filesystem::path& path) : where_(path.string()) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw Error(Context(where_, Errno("cannot open index file")));
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw Error(Context(where_, Errno("cannot stat index file")));
  if (!S_ISREG(st.st_mode)) throw Error(Context(where_, "index file is not a regular file"));
  const auto file_bytes = static_cast<uint64_t>(st.st_size);

  uint8_t fixed[kFixedHeaderBytes];
  if (file_bytes < kFixedHeaderBytes) throw Error(Context(where_, "not an index file (too short)"));
  ReadAt(0, fixed, kFixedHeaderBytes);
  if (std::memcmp(fixed, AnnFileHeader::kMagic, 8) != 0) throw Error(Context(where_, "not an index file (bad magic)"));
  uint32_t version, kind, factory_bytes, payload_crc;
  uint64_t payload_bytes;
  std::memcpy(&version, &fixed[8], 4);
  std::memcpy(&kind, &fixed[12], 4);
  std::memcpy(header_.generation.data(), &fixed[16], 16);
  std::memcpy(&header_.covered, &fixed[32], 8);
  std::memcpy(&payload_bytes, &fixed[40], 8);
  std::memcpy(&payload_crc, &fixed[48], 4);
  std::memcpy(&factory_bytes, &fixed[52], 4);
  if (version != AnnFileHeader::kFormatVersion) {
    throw Error(Context(where_, "index file format version " + std::to_string(version) +
                                    " is not supported (expected " + std::to_string(AnnFileHeader::kFormatVersion) +
                                    "); rebuild the index"));
  }
  if (factory_bytes == 0 || factory_bytes > AnnFileHeader::kMaxFactoryBytes ||
      file_bytes < kFixedHeaderBytes + factory_bytes + 4) {
    throw Error(Context(where_, "index file header is corrupt"));
  }
  std::string rest(factory_bytes + 4, '\0');
  ReadAt(kFixedHeaderBytes, rest.data(), rest.size());
  uint32_t header_crc;
  std::memcpy(&header_crc, &rest[factory_bytes], 4);
  uint32_t actual_crc = Crc32cExtend(Crc32c(fixed, kFixedHeaderBytes), rest.data(), factory_bytes);
  if (header_crc != actual_crc) throw Error(Context(where_, "index file header is corrupt (checksum)"));
  header_.factory = rest.substr(0, factory_bytes);
  if (kind != static_cast<uint32_t>(AnnKind::kIvfPq) && kind != static_cast<uint32_t>(AnnKind::kHnsw)) {
    throw Error(Context(where_, "index file of unknown kind " + std::to_string(kind)));
  }
  header_.kind = static_cast<AnnKind>(kind);

  position_ = HeaderBytes(header_);
  if (file_bytes != position_ + payload_bytes) {
    throw Error(Context(where_, "index file is " + std::to_string(file_bytes) + " bytes, its header says " +
                                    std::to_string(position_ + payload_bytes) + " (truncated or corrupt)"));
  }
  payload_end_ = file_bytes;
  VerifyPayloadCrc(payload_crc);
}

AnnFileReader::~AnnFileReader() {
  if (fd_ >= 0) ::close(fd_);
}

void AnnFileReader::CheckStore(const VectorStore& store) const {
  if (header_.generation != store.generation()) {
    throw Error(Context(where_, "index was saved for another store generation than " + store.GenerationHex() +
                                    " (the store was compacted or replaced); rebuild it"));
  }
  if (header_.covered > store.size()) {
    throw Error(Context(where_, "index covers " + std::to_string(header_.covered) + " slots but the store holds " +
                                    std::to_string(store.size()) + "; rebuild it"));
  }
}

void AnnFileReader::ReadAt(uint64_t offset, void* data, size_t size) {
  char* bytes = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::pread(fd_, bytes, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(Context(where_, Errno("read failed")));
    if (n == 0) throw Error(Context(where_, "index file is truncated"));
    bytes += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
}

void AnnFileReader::VerifyPayloadCrc(uint32_t expected) {
  std::string chunk(kIoBufferBytes * 4, '\0');
  uint32_t crc = 0;
  for (uint64_t offset = position_; offset < payload_end_;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk.size(), payload_end_ - offset));
    ReadAt(offset, chunk.data(), n);
    crc = Crc32cExtend(crc, chunk.data(), n);
    offset += n;
  }
  if (crc != expected) throw Error(Context(where_, "index file is corrupt (payload checksum mismatch)"));
}

size_t AnnFileReader::ReadSome(void* data, size_t size) {
  char* out = static_cast<char*>(data);
  size_t done = 0;
  while (done < size && position_ < payload_end_) {
    const uint64_t buffer_end = buffer_offset_ + buffer_.size();
    if (position_ < buffer_offset_ || position_ >= buffer_end) {
      // Large requests bypass the buffer; small ones refill it.
      const uint64_t left = payload_end_ - position_;
      if (size - done >= kIoBufferBytes) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(size - done, left));
        ReadAt(position_, out + done, n);
        position_ += n;
        done += n;
        continue;
      }
      buffer_.resize(static_cast<size_t>(std::min<uint64_t>(kIoBufferBytes, left)));
      ReadAt(position_, buffer_.data(), buffer_.size());
      buffer_offset_ = position_;
      continue;
    }
    const size_t n = static_cast<size_t>(std::min<uint64_t>(size - done, buffer_end - position_));
    std::memcpy(out + done, buffer_.data() + (position_ - buffer_offset_), n);
    position_ += n;
    done += n;
  }
  return done;
}

void AnnFileReader::Read(void* data, size_t size) {
  if (ReadSome(data, size) != size) throw Error(Context(where_, "index payload ends too early (corrupt)"));
}

bool IsAnnFile(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char magic[8];
  const bool match = ::pread(fd, magic, 8, 0) == 8 && std::memcmp(magic, AnnFileHeader::kMagic, 8) == 0;
  ::close(fd);
  return match;
}

}  // namespace lineup
