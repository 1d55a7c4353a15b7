#include "index/vector_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <random>
#include <utility>

#include "common/error.h"
#include "index/crc32c.h"

namespace lineup {

static_assert(std::endian::native == std::endian::little,
              "the vector store file format is little-endian; add byte swapping for this host");

namespace fs = std::filesystem;

namespace {

// File layout (all integers little-endian):
//   header, kHeaderBytes:
//     0  char[8]  magic "LNVSTORE"
//     8  u32      format version
//     12 u32      dim
//     16 u32      record bytes (= kRecordPrefixBytes + 4 * dim)
//     20 u32      reserved (0)
//     24 u8[16]   generation
//     40 u32      crc32c of bytes [0, 40)
//     44 ...      zero up to kHeaderBytes
//   record i at kHeaderBytes + i * record_bytes:
//     0  u64      face id
//     8  u32      collection id
//     12 u32      crc32c of bytes [0, 12) followed by the vector bytes
//     16 f32[dim] vector
constexpr char kMagic[8] = {'L', 'N', 'V', 'S', 'T', 'O', 'R', 'E'};
constexpr uint32_t kFormatVersion = 1;
constexpr size_t kHeaderBytes = 4096;
constexpr size_t kHeaderCrcOffset = 40;
constexpr size_t kRecordPrefixBytes = 16;
constexpr size_t kRecordCrcOffset = 12;
constexpr int kMaxDim = 1 << 16;
// Address space reserved for the mapping: pages beyond the end of the file
// are never touched, and they become readable as the file grows.
constexpr size_t kDefaultReservedBytes = size_t{1} << 40;  // 1 TiB
constexpr size_t kCopyChunkBytes = size_t{4} << 20;

std::string Errno() { return std::strerror(errno); }

template <typename T>
T Load(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

template <typename T>
void Store(uint8_t* p, T value) {
  std::memcpy(p, &value, sizeof(T));
}

size_t RecordBytesFor(int dim) { return kRecordPrefixBytes + sizeof(float) * static_cast<size_t>(dim); }

uint32_t RecordCrc(const uint8_t* record, size_t record_bytes) {
  uint32_t crc = Crc32c(record, kRecordCrcOffset);
  return Crc32cExtend(crc, record + kRecordPrefixBytes, record_bytes - kRecordPrefixBytes);
}

bool RecordCrcOk(const uint8_t* record, size_t record_bytes) {
  return Load<uint32_t>(record + kRecordCrcOffset) == RecordCrc(record, record_bytes);
}

std::array<uint8_t, 16> NewGeneration() {
  std::random_device random;  // /dev/urandom (or RDRAND) on Linux
  std::array<uint8_t, 16> generation{};
  for (size_t i = 0; i < generation.size(); i += 4) Store<uint32_t>(&generation[i], random());
  return generation;
}

std::vector<uint8_t> EncodeHeader(int dim, const std::array<uint8_t, 16>& generation) {
  std::vector<uint8_t> header(kHeaderBytes, 0);
  std::memcpy(header.data(), kMagic, sizeof(kMagic));
  Store<uint32_t>(&header[8], kFormatVersion);
  Store<uint32_t>(&header[12], static_cast<uint32_t>(dim));
  Store<uint32_t>(&header[16], static_cast<uint32_t>(RecordBytesFor(dim)));
  std::memcpy(&header[24], generation.data(), generation.size());
  Store<uint32_t>(&header[kHeaderCrcOffset], Crc32c(header.data(), kHeaderCrcOffset));
  return header;
}

struct HeaderFields {
  int dim = 0;
  std::array<uint8_t, 16> generation{};
};

// Checks in an order that gives the most useful message: size, magic,
// version (a newer version may lay the header out differently), checksum, dim.
HeaderFields DecodeHeader(const fs::path& path, const uint8_t* header, size_t file_bytes,
                          int expected_dim) {
  const std::string where = path.string();
  if (file_bytes == 0) throw Error(Context(where, "empty file, not a vector store"));
  if (file_bytes < kHeaderBytes) {
    throw Error(Context(where, "not a vector store (" + std::to_string(file_bytes) +
                                   " bytes, shorter than the " + std::to_string(kHeaderBytes) +
                                   "-byte header)"));
  }
  if (std::memcmp(header, kMagic, sizeof(kMagic)) != 0) {
    throw Error(Context(where, "not a vector store (bad magic)"));
  }
  const uint32_t version = Load<uint32_t>(header + 8);
  if (version > kFormatVersion) {
    throw Error(Context(where, "vector store format version " + std::to_string(version) +
                                   " is newer than this build supports (" +
                                   std::to_string(kFormatVersion) + "); upgrade Lineup"));
  }
  if (version == 0 ||
      Load<uint32_t>(header + kHeaderCrcOffset) != Crc32c(header, kHeaderCrcOffset)) {
    throw Error(Context(where, "vector store header is corrupt (checksum mismatch)"));
  }
  HeaderFields fields;
  const uint32_t dim = Load<uint32_t>(header + 12);
  if (dim == 0 || dim > static_cast<uint32_t>(kMaxDim) ||
      Load<uint32_t>(header + 16) != RecordBytesFor(static_cast<int>(dim))) {
    throw Error(Context(where, "vector store header is corrupt (dim " + std::to_string(dim) +
                                   ", record size " + std::to_string(Load<uint32_t>(header + 16)) + ")"));
  }
  fields.dim = static_cast<int>(dim);
  if (expected_dim != 0 && fields.dim != expected_dim) {
    throw Error(Context(where, "vector store holds " + std::to_string(fields.dim) +
                                   "-d vectors, expected " + std::to_string(expected_dim) + "-d"));
  }
  std::memcpy(fields.generation.data(), header + 24, fields.generation.size());
  return fields;
}

void WriteAll(int fd, const uint8_t* data, size_t size, off_t offset) {
  while (size > 0) {
    ssize_t n = ::pwrite(fd, data, size, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw errno;
    if (n == 0) {
      errno = EIO;
      throw errno;
    }
    data += n;
    size -= static_cast<size_t>(n);
    offset += n;
  }
}

void ReadAll(const fs::path& path, int fd, uint8_t* data, size_t size, off_t offset) {
  while (size > 0) {
    ssize_t n = ::pread(fd, data, size, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(Context(path.string(), "read failed: " + (n < 0 ? Errno() : "unexpected end of file")));
    data += n;
    size -= static_cast<size_t>(n);
    offset += n;
  }
}

void FsyncDirectoryOf(const fs::path& path) {
  fs::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) throw Error(Context(dir.string(), "cannot open directory to sync it: " + Errno()));
  int rc = ::fsync(dfd);
  std::string reason = rc != 0 ? Errno() : "";
  ::close(dfd);
  if (rc != 0) throw Error(Context(dir.string(), "directory fsync failed: " + reason));
}

struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const FileId&) const = default;
};

FileId IdOf(const struct stat& st) { return {st.st_dev, st.st_ino}; }

// Creates an empty store at `path` unless a file is already there. The
// header is written and synced under a temporary name and linked into place,
// so `path` never names a half-written header, and two processes creating
// the same store at once end up with one of the two.
void CreateEmptyStore(const fs::path& path, int dim) {
  if (dim <= 0 || dim > kMaxDim) {
    throw Error(Context(path.string(), "cannot create a vector store of dim " + std::to_string(dim)));
  }
  if (path.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
  }
  fs::path tmp = path;
  tmp += ".create." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw Error(Context(path.string(), "cannot create vector store: " + Errno()));
  std::vector<uint8_t> header = EncodeHeader(dim, NewGeneration());
  try {
    WriteAll(fd, header.data(), header.size(), 0);
    if (::fsync(fd) != 0) throw errno;
  } catch (int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw Error(Context(path.string(), std::string("cannot write vector store header: ") + std::strerror(err)));
  }
  ::close(fd);
  int rc = ::link(tmp.c_str(), path.c_str());
  int err = rc != 0 ? errno : 0;
  if (rc != 0 && err != EEXIST) {  // file systems without hard links
    rc = ::rename(tmp.c_str(), path.c_str());
    err = rc != 0 ? errno : 0;
  }
  ::unlink(tmp.c_str());
  if (rc != 0 && err != EEXIST) {
    throw Error(Context(path.string(), std::string("cannot create vector store: ") + std::strerror(err)));
  }
  FsyncDirectoryOf(path);
}

}  // namespace

struct VectorStore::Impl {
  fs::path path;
  Mode mode = Mode::kReadOnly;
  int fd = -1;
  int dim = 0;
  size_t record_bytes = 0;
  std::array<uint8_t, 16> generation{};
  FileId file_id;

  // Every mapping made of the current file: a larger one is added when the
  // file outgrows the reservation; older ones stay mapped so pointers taken
  // from them stay valid until Compact() or destruction.
  std::vector<std::pair<void*, size_t>> mappings;
  std::atomic<const uint8_t*> base{nullptr};  // newest mapping
  size_t reserved_bytes = 0;                   // its length

  // Records [0, count) are complete and valid; published with release
  // ordering after their bytes are in the file, so readers may use them.
  std::atomic<size_t> count{0};
  size_t synced_count = 0;     // read-write: records known durable
  size_t dropped_on_open = 0;
  bool failed = false;         // a rollback failed: refuse further writes

  ~Impl() {
    UnmapAll();
    if (fd >= 0) ::close(fd);
  }

  const uint8_t* Record(size_t slot) const {
    return base.load(std::memory_order_acquire) + kHeaderBytes + slot * record_bytes;
  }
  int64_t IdAt(size_t slot) const { return Load<int64_t>(Record(slot)); }
  size_t EndOffset(size_t records) const { return kHeaderBytes + records * record_bytes; }

  void UnmapAll() {
    for (auto& [addr, length] : mappings) ::munmap(addr, length);
    mappings.clear();
    base.store(nullptr);
    reserved_bytes = 0;
  }

  // Makes sure the newest mapping covers `file_bytes`.
  void EnsureMapped(size_t file_bytes) {
    if (file_bytes <= reserved_bytes) return;
    size_t want = std::max(kDefaultReservedBytes, file_bytes * 2);
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    const size_t minimum = (file_bytes + page - 1) / page * page;
    void* addr = MAP_FAILED;
    while (true) {
      addr = ::mmap(nullptr, want, PROT_READ, MAP_SHARED, fd, 0);
      if (addr != MAP_FAILED || want <= minimum) break;
      want = std::max(minimum, want / 4);  // address space limits (ulimit -v): ask for less
    }
    if (addr == MAP_FAILED) throw Error(Context(path.string(), "cannot map vector store: " + Errno()));
    mappings.emplace_back(addr, want);
    reserved_bytes = want;
    base.store(static_cast<const uint8_t*>(addr), std::memory_order_release);
  }

  // First slot in [begin, end) whose CRC fails or whose id is not greater
  // than the previous one (slot begin-1 is trusted); `end` if none.
  size_t FirstBadSlot(size_t begin, size_t end) const {
    int64_t previous = begin > 0 ? IdAt(begin - 1) : 0;
    for (size_t slot = begin; slot < end; ++slot) {
      const uint8_t* record = Record(slot);
      if (!RecordCrcOk(record, record_bytes)) return slot;
      int64_t id = Load<int64_t>(record);
      if (slot > 0 && id <= previous) return slot;
      previous = id;
    }
    return end;
  }

  size_t FileBytesOnDisk() const {
    struct stat st;
    if (::fstat(fd, &st) != 0) throw Error(Context(path.string(), "fstat failed: " + Errno()));
    return static_cast<size_t>(st.st_size);
  }

  void OpenForWriting(int expected_dim);
  void OpenReadOnly(int expected_dim);
  void ReadHeaderAndMap(int expected_dim, size_t file_bytes);
  void RecoverTail(size_t file_bytes);
  void Truncate(size_t records);
};

void VectorStore::Impl::ReadHeaderAndMap(int expected_dim, size_t file_bytes) {
  std::vector<uint8_t> header(kHeaderBytes, 0);
  if (file_bytes >= kHeaderBytes) ReadAll(path, fd, header.data(), kHeaderBytes, 0);
  HeaderFields fields = DecodeHeader(path, header.data(), file_bytes, expected_dim);
  dim = fields.dim;
  record_bytes = RecordBytesFor(dim);
  generation = fields.generation;
  EnsureMapped(file_bytes);
}

void VectorStore::Impl::OpenForWriting(int expected_dim) {
  // Another process's Compact() may rename a new file over `path` between our
  // open() and flock(); then we hold a lock on a dead inode and must retry.
  for (int attempt = 0;; ++attempt) {
    if (!fs::exists(path)) CreateEmptyStore(path, expected_dim);
    fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) throw Error(Context(path.string(), "cannot open vector store: " + Errno()));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const bool in_use = errno == EWOULDBLOCK;
      std::string reason = in_use ? "in use by another process (opened for writing)" : "cannot lock: " + Errno();
      ::close(fd);
      fd = -1;
      if (in_use) throw StoreInUseError(Context(path.string(), reason));
      throw Error(Context(path.string(), reason));
    }
    struct stat by_fd;
    struct stat by_path;
    if (::fstat(fd, &by_fd) == 0 && ::stat(path.c_str(), &by_path) == 0 &&
        IdOf(by_fd) == IdOf(by_path)) {
      file_id = IdOf(by_fd);
      break;
    }
    ::close(fd);
    fd = -1;
    if (attempt == 10) throw Error(Context(path.string(), "vector store keeps being replaced while opening"));
  }
  // Under the lock: a .compact file is the leftover of a Compact() that
  // crashed before its rename; the store itself is the old, intact file.
  fs::path leftover = path;
  leftover += ".compact";
  std::error_code ignored;
  fs::remove(leftover, ignored);

  size_t file_bytes = FileBytesOnDisk();
  ReadHeaderAndMap(expected_dim, file_bytes);
  RecoverTail(file_bytes);
}

void VectorStore::Impl::RecoverTail(size_t file_bytes) {
  const size_t whole = (file_bytes - kHeaderBytes) / record_bytes;
  const bool partial = (file_bytes - kHeaderBytes) % record_bytes != 0;
  const size_t check_from = whole > kMaxAppendBatch ? whole - kMaxAppendBatch : 0;
  const size_t valid = FirstBadSlot(check_from, whole);
  dropped_on_open = (whole - valid) + (partial ? 1 : 0);
  if (file_bytes != EndOffset(valid)) {
    if (::ftruncate(fd, static_cast<off_t>(EndOffset(valid))) != 0 || ::fdatasync(fd) != 0) {
      throw Error(Context(path.string(), "cannot truncate the torn tail of the vector store: " + Errno()));
    }
  }
  count.store(valid, std::memory_order_release);
  synced_count = valid;
}

void VectorStore::Impl::OpenReadOnly(int expected_dim) {
  fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw Error(Context(path.string(), errno == ENOENT ? "no such vector store"
                                                       : "cannot open vector store: " + Errno()));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) throw Error(Context(path.string(), "fstat failed: " + Errno()));
  if (!S_ISREG(st.st_mode)) throw Error(Context(path.string(), "not a regular file"));
  file_id = IdOf(st);
  const auto file_bytes = static_cast<size_t>(st.st_size);
  ReadHeaderAndMap(expected_dim, file_bytes);
  // Same rule as the writer's recovery, without truncating: a writer may be
  // in the middle of an append, or a crash left a torn tail.
  const size_t whole = (file_bytes - kHeaderBytes) / record_bytes;
  const size_t check_from = whole > kMaxAppendBatch ? whole - kMaxAppendBatch : 0;
  count.store(FirstBadSlot(check_from, whole), std::memory_order_release);
}

void VectorStore::Impl::Truncate(size_t records) {
  if (::ftruncate(fd, static_cast<off_t>(EndOffset(records))) != 0) failed = true;
}

VectorStore::VectorStore(const fs::path& path, int dim, Mode mode) : impl_(new Impl) {
  impl_->path = path;
  impl_->mode = mode;
  try {
    if (dim < 0 || dim > kMaxDim) throw Error(Context(path.string(), "invalid dim " + std::to_string(dim)));
    if (mode == Mode::kReadWrite) {
      impl_->OpenForWriting(dim);
    } else {
      impl_->OpenReadOnly(dim);
    }
  } catch (...) {
    delete impl_;
    throw;
  }
}

VectorStore::~VectorStore() { delete impl_; }

int VectorStore::dim() const { return impl_->dim; }
size_t VectorStore::size() const { return impl_->count.load(std::memory_order_acquire); }
std::array<uint8_t, 16> VectorStore::generation() const { return impl_->generation; }
const fs::path& VectorStore::path() const { return impl_->path; }
VectorStore::Mode VectorStore::mode() const { return impl_->mode; }
size_t VectorStore::dropped_on_open() const { return impl_->dropped_on_open; }

std::string VectorStore::GenerationHex() const {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (uint8_t b : impl_->generation) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  return hex;
}

void VectorStore::Append(const int64_t* ids, const uint32_t* collection_ids, const float* vectors,
                         size_t n) {
  Impl& s = *impl_;
  const std::string where = s.path.string();
  if (s.mode != Mode::kReadWrite) throw Error(Context(where, "vector store is open read-only"));
  if (s.failed) throw Error(Context(where, "vector store is in a failed state after an I/O error; reopen it"));
  if (n > kMaxAppendBatch) {
    throw Error(Context(where, "append of " + std::to_string(n) + " records exceeds the batch limit of " +
                                   std::to_string(kMaxAppendBatch)));
  }
  if (n == 0) return;
  const size_t old_count = s.count.load(std::memory_order_relaxed);
  int64_t previous = old_count > 0 ? s.IdAt(old_count - 1) : 0;
  const size_t floats = static_cast<size_t>(s.dim);
  for (size_t i = 0; i < n; ++i) {
    if ((old_count > 0 || i > 0) && ids[i] <= previous) {
      throw Error(Context(where, "face id " + std::to_string(ids[i]) + " is not greater than the previous id " +
                                     std::to_string(previous) + " (ids must strictly increase)"));
    }
    previous = ids[i];
    for (size_t j = 0; j < floats; ++j) {
      if (!std::isfinite(vectors[i * floats + j])) {
        throw Error(Context(where, "vector of face id " + std::to_string(ids[i]) + " has a non-finite value"));
      }
    }
  }

  std::vector<uint8_t> batch(n * s.record_bytes);
  for (size_t i = 0; i < n; ++i) {
    uint8_t* record = &batch[i * s.record_bytes];
    Store<int64_t>(record, ids[i]);
    Store<uint32_t>(record + 8, collection_ids[i]);
    std::memcpy(record + kRecordPrefixBytes, vectors + i * floats, floats * sizeof(float));
    Store<uint32_t>(record + kRecordCrcOffset, RecordCrc(record, s.record_bytes));
  }
  const size_t offset = s.EndOffset(old_count);
  try {
    WriteAll(s.fd, batch.data(), batch.size(), static_cast<off_t>(offset));
  } catch (int err) {
    s.Truncate(old_count);
    throw Error(Context(where, "append of " + std::to_string(n) + " records failed: " + std::strerror(err)));
  }
  s.EnsureMapped(offset + batch.size());
  s.count.store(old_count + n, std::memory_order_release);
}

void VectorStore::Sync() {
  Impl& s = *impl_;
  if (s.mode != Mode::kReadWrite) return;
  if (s.failed) throw Error(Context(s.path.string(), "vector store is in a failed state after an I/O error; reopen it"));
  const size_t current = s.count.load(std::memory_order_relaxed);
  if (current == s.synced_count) return;
  if (::fdatasync(s.fd) != 0) {
    std::string reason = Errno();
    const size_t lost = current - s.synced_count;
    s.count.store(s.synced_count, std::memory_order_release);
    s.Truncate(s.synced_count);
    throw Error(Context(s.path.string(), "sync failed (" + reason + "); dropped the " + std::to_string(lost) +
                                             " records appended since the last sync"));
  }
  s.synced_count = current;
}

void VectorStore::Refresh() {
  Impl& s = *impl_;
  if (s.mode != Mode::kReadOnly) return;  // a writer always knows its own size
  struct stat by_path;
  if (::stat(s.path.c_str(), &by_path) != 0 || !(IdOf(by_path) == s.file_id)) {
    throw Error(Context(s.path.string(), "vector store was replaced (compacted) by another process; reopen it"));
  }
  const size_t file_bytes = s.FileBytesOnDisk();
  const size_t current = s.count.load(std::memory_order_relaxed);
  const size_t whole = (file_bytes - kHeaderBytes) / s.record_bytes;
  if (whole < current) {
    throw Error(Context(s.path.string(), "vector store shrank from " + std::to_string(current) + " to " +
                                             std::to_string(whole) + " records (a writer rolled back); reopen it"));
  }
  if (whole == current) return;
  s.EnsureMapped(file_bytes);
  s.count.store(s.FirstBadSlot(current, whole), std::memory_order_release);
}

int64_t VectorStore::id(size_t slot) const {
  if (slot >= size()) throw Error(Context(impl_->path.string(), "slot " + std::to_string(slot) + " out of range"));
  return impl_->IdAt(slot);
}

uint32_t VectorStore::collection(size_t slot) const {
  if (slot >= size()) throw Error(Context(impl_->path.string(), "slot " + std::to_string(slot) + " out of range"));
  return Load<uint32_t>(impl_->Record(slot) + 8);
}

const float* VectorStore::Vector(size_t slot) const {
  if (slot >= size()) throw Error(Context(impl_->path.string(), "slot " + std::to_string(slot) + " out of range"));
  return reinterpret_cast<const float*>(impl_->Record(slot) + kRecordPrefixBytes);
}

std::optional<size_t> VectorStore::FindSlot(int64_t face_id) const {
  size_t lo = 0;
  size_t hi = size();
  while (lo < hi) {  // first slot with id >= face_id
    size_t mid = lo + (hi - lo) / 2;
    if (impl_->IdAt(mid) < face_id) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo < size() && impl_->IdAt(lo) == face_id) return lo;
  return std::nullopt;
}

std::vector<size_t> VectorStore::Verify(const std::function<void(size_t done, size_t total)>& progress) const {
  const Impl& s = *impl_;
  const size_t total = size();
  std::vector<size_t> bad;
  bool have_previous = false;
  int64_t previous = 0;  // id of the last record that passed
  for (size_t slot = 0; slot < total; ++slot) {
    const uint8_t* record = s.Record(slot);
    const int64_t id = Load<int64_t>(record);
    if (!RecordCrcOk(record, s.record_bytes) || (have_previous && id <= previous)) {
      bad.push_back(slot);
    } else {
      previous = id;
      have_previous = true;
    }
    if (progress && (slot + 1) % 65536 == 0) progress(slot + 1, total);
  }
  if (progress) progress(total, total);
  return bad;
}

size_t VectorStore::Compact(const std::function<bool(size_t slot)>& keep) {
  Impl& s = *impl_;
  const std::string where = s.path.string();
  if (s.mode != Mode::kReadWrite) throw Error(Context(where, "cannot compact a vector store opened read-only"));
  if (s.failed) throw Error(Context(where, "vector store is in a failed state after an I/O error; reopen it"));
  fs::path compact_path = s.path;
  compact_path += ".compact";
  int fd = ::open(compact_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw Error(Context(compact_path.string(), "cannot create: " + Errno()));
  // Locked before it becomes the store, so no other writer can slip in.
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    throw Error(Context(compact_path.string(), "cannot lock: " + Errno()));
  }
  const std::array<uint8_t, 16> generation = NewGeneration();
  const size_t total = size();
  size_t kept = 0;
  struct stat st{};
  try {
    std::vector<uint8_t> header = EncodeHeader(s.dim, generation);
    WriteAll(fd, header.data(), header.size(), 0);
    std::vector<uint8_t> chunk;
    chunk.reserve(kCopyChunkBytes + s.record_bytes);
    size_t written = kHeaderBytes;
    auto flush = [&] {
      WriteAll(fd, chunk.data(), chunk.size(), static_cast<off_t>(written));
      written += chunk.size();
      chunk.clear();
    };
    for (size_t slot = 0; slot < total; ++slot) {
      if (!keep(slot)) continue;
      const uint8_t* record = s.Record(slot);
      chunk.insert(chunk.end(), record, record + s.record_bytes);
      ++kept;
      if (chunk.size() >= kCopyChunkBytes) flush();
    }
    flush();
    if (::fsync(fd) != 0) throw errno;
    if (::fstat(fd, &st) != 0) throw errno;
  } catch (int err) {
    ::close(fd);
    ::unlink(compact_path.c_str());
    throw Error(Context(where, std::string("compaction failed, store unchanged: ") + std::strerror(err)));
  } catch (...) {
    ::close(fd);
    ::unlink(compact_path.c_str());
    throw;
  }
  if (::rename(compact_path.c_str(), s.path.c_str()) != 0) {
    std::string reason = Errno();
    ::close(fd);
    ::unlink(compact_path.c_str());
    throw Error(Context(where, "compaction failed, store unchanged: rename: " + reason));
  }
  // The new file is the store now: switch to it (old pointers die here).
  s.UnmapAll();
  ::close(s.fd);  // releases the lock on the old, now unlinked, inode
  s.fd = fd;
  s.file_id = IdOf(st);
  s.generation = generation;
  s.EnsureMapped(s.EndOffset(kept));
  s.count.store(kept, std::memory_order_release);
  s.synced_count = kept;
  FsyncDirectoryOf(s.path);
  return kept;
}

size_t VectorStore::FileBytes() const { return impl_->EndOffset(size()); }

}  // namespace lineup
