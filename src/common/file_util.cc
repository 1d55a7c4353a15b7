#include "common/file_util.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/error.h"

namespace lineup {

std::vector<uint8_t> ReadFileBytes(const std::filesystem::path& path, int64_t max_bytes) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw Error(Context(path.string(), std::filesystem::exists(path, ec) ? "not a regular file"
                                                                          : "no such file"));
  }
  auto size = static_cast<int64_t>(std::filesystem::file_size(path, ec));
  if (ec) throw Error(Context(path.string(), "cannot read size: " + ec.message()));
  if (size > max_bytes) {
    throw Error(Context(path.string(), "file is " + std::to_string(size) +
                                           " bytes, over the limit of " +
                                           std::to_string(max_bytes)));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(Context(path.string(), std::string("cannot open: ") + std::strerror(errno)));
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.read(reinterpret_cast<char*>(bytes.data()), size);
  if (in.gcount() != size) throw Error(Context(path.string(), "short read"));
  return bytes;
}

std::string ReadFileText(const std::filesystem::path& path) {
  auto bytes = ReadFileBytes(path);
  return std::string(bytes.begin(), bytes.end());
}

void WriteFileAtomically(const std::filesystem::path& path, const std::string& bytes) {
  WriteFileAtomically(path, bytes.data(), bytes.size(), FileSync::kFsync);
}

void WriteFileAtomically(const std::filesystem::path& path, const void* data, size_t size,
                         FileSync sync) {
  const char* bytes_data = static_cast<const char*>(data);
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(Context(tmp.string(), std::string("cannot create: ") + std::strerror(errno)));
  size_t written = 0;
  while (written < size) {
    ssize_t n = ::write(fd, bytes_data + written, size - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      std::string reason = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      throw Error(Context(tmp.string(), "write failed: " + reason));
    }
    written += static_cast<size_t>(n);
  }
  bool synced = sync == FileSync::kNone || ::fsync(fd) == 0;
  if (!synced || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    throw Error(Context(tmp.string(), "fsync/close failed"));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string reason = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw Error(Context(path.string(), "rename failed: " + reason));
  }
}

std::string Sha256Hex(const void* data, size_t size) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, static_cast<const unsigned char*>(data), size);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : digest) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  return hex;
}

std::string Sha256OfFile(const std::filesystem::path& path) {
  auto bytes = ReadFileBytes(path);
  return Sha256Hex(bytes.data(), bytes.size());
}

}  // namespace lineup

namespace lineup {

void SyncFileSystem(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(Context(path.string(), std::string("cannot open to sync: ") + std::strerror(errno)));
  int rc = ::syncfs(fd);
  int saved = errno;
  ::close(fd);
  if (rc != 0) throw Error(Context(path.string(), std::string("syncfs failed: ") + std::strerror(saved)));
}

}  // namespace lineup
