// Encodings both catalog implementations (sqlite_catalog.cc,
// postgres_catalog.cc) use for the same rows, so the two stores agree byte
// for byte: face geometry as little-endian float32 blobs, whether a source
// row is worth storing, and the upper bound of a prefix range scan.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "catalog/catalog.h"
#include "common/error.h"

namespace lineup::row_encoding {

// N floats as 4*N bytes, each little-endian whatever the host.
template <size_t N>
std::string PackFloats(const std::array<float, N>& values) {
  std::string bytes(4 * N, '\0');
  for (size_t k = 0; k < N; ++k) {
    const uint32_t bits = std::bit_cast<uint32_t>(values[k]);
    for (int b = 0; b < 4; ++b) bytes[4 * k + b] = static_cast<char>((bits >> (8 * b)) & 0xFF);
  }
  return bytes;
}

// The inverse of PackFloats; throws Error naming `where` unless bytes holds
// exactly N floats.
template <size_t N>
std::array<float, N> UnpackFloats(const std::string& bytes, const std::string& where) {
  if (bytes.size() != 4 * N) throw Error(Context(where, "corrupt face geometry value"));
  std::array<float, N> values{};
  for (size_t k = 0; k < N; ++k) {
    uint32_t bits = 0;
    for (int b = 0; b < 4; ++b) bits |= uint32_t{static_cast<uint8_t>(bytes[4 * k + b])} << (8 * b);
    values[k] = std::bit_cast<float>(bits);
  }
  return values;
}

// False for a source with every field empty: no row is stored for it.
bool HasAnyField(const Source& s);

// The smallest string greater than every string that starts with `prefix`
// (byte order), or nullopt when there is none (a prefix of only 0xFF bytes).
std::optional<std::string> PrefixSuccessor(std::string prefix);

}  // namespace lineup::row_encoding
