// Small file helpers with Lineup's error convention (lineup::Error naming the path).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace lineup {

// Reads a whole file; throws Error if it is missing, unreadable or larger than max_bytes.
std::vector<uint8_t> ReadFileBytes(const std::filesystem::path& path,
                                   int64_t max_bytes = int64_t{1} << 32);
std::string ReadFileText(const std::filesystem::path& path);

// Writes to `path.tmp`, fsyncs, then renames over `path`: readers see the old
// file or the new one, never a torn write.
void WriteFileAtomically(const std::filesystem::path& path, const std::string& bytes);
// kNone skips the fsync (the rename is still atomic against a killed process,
// not against power loss): for many small derived files whose durability the
// caller provides with one syncfs() per batch.
enum class FileSync { kFsync, kNone };
void WriteFileAtomically(const std::filesystem::path& path, const void* data, size_t size,
                         FileSync sync);
// syncfs() of the file system holding `path`.
void SyncFileSystem(const std::filesystem::path& path);

// Lower-case hex SHA-256.
std::string Sha256Hex(const void* data, size_t size);
std::string Sha256OfFile(const std::filesystem::path& path);

}  // namespace lineup
