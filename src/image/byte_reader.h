// Bounds-checked reads of fixed-width integers from an untrusted byte buffer.
//
// Every read names an absolute offset; a read that would pass the end of the
// buffer (including by overflow of offset + width) returns std::nullopt instead
// of touching memory outside it. Header parsers build on this so that hostile
// offsets in a file can never crash Lineup.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace lineup {

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  size_t size() const { return size_; }
  const uint8_t* data() const { return data_; }

  // True if [offset, offset + count) lies inside the buffer.
  bool Has(size_t offset, size_t count) const {
    return offset <= size_ && count <= size_ - offset;
  }

  std::optional<uint8_t> U8(size_t offset) const {
    if (!Has(offset, 1)) return std::nullopt;
    return data_[offset];
  }

  std::optional<uint32_t> U16(size_t offset, bool big_endian) const {
    return Read(offset, 2, big_endian);
  }
  std::optional<uint32_t> U24(size_t offset, bool big_endian) const {
    return Read(offset, 3, big_endian);
  }
  std::optional<uint32_t> U32(size_t offset, bool big_endian) const {
    return Read(offset, 4, big_endian);
  }

  // True if the bytes at offset equal `text` exactly.
  bool Matches(size_t offset, std::string_view text) const {
    if (!Has(offset, text.size())) return false;
    for (size_t i = 0; i < text.size(); ++i) {
      if (data_[offset + i] != static_cast<uint8_t>(text[i])) return false;
    }
    return true;
  }

 private:
  std::optional<uint32_t> Read(size_t offset, size_t width, bool big_endian) const {
    if (!Has(offset, width)) return std::nullopt;
    uint32_t value = 0;
    for (size_t i = 0; i < width; ++i) {
      size_t index = big_endian ? i : width - 1 - i;
      value = (value << 8) | data_[offset + index];
    }
    return value;
  }

  const uint8_t* data_;
  size_t size_;
};

}  // namespace lineup
