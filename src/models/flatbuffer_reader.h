// A minimal, bounds-checked reader of FlatBuffers binary data, written from
// the public description of the wire format (little-endian; a table starts
// with a signed offset to its vtable; the vtable lists uint16 field offsets;
// references are uint32 offsets relative to where they are stored; vectors
// and strings are prefixed by a uint32 length).
//
// Invariant: every accessor checks that what it reads lies inside the buffer
// and throws lineup::Error otherwise, so hostile or truncated files produce an
// error, never an out-of-bounds read.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>

namespace lineup::fb {

class Buffer {
 public:
  Buffer(std::span<const uint8_t> bytes, std::string name) : bytes_(bytes), name_(std::move(name)) {}

  template <typename T>
  T Read(size_t pos) const {
    Check(pos, sizeof(T));
    T value;
    std::memcpy(&value, bytes_.data() + pos, sizeof(T));
    return value;
  }
  // Follows a uint32 forward reference stored at `pos`.
  size_t Deref(size_t pos) const;
  void Check(size_t pos, size_t size) const;
  const uint8_t* At(size_t pos) const { return bytes_.data() + pos; }
  const std::string& name() const { return name_; }
  size_t size() const { return bytes_.size(); }

 private:
  std::span<const uint8_t> bytes_;
  std::string name_;
};

class Vector;

// A table: fields are addressed by their schema id (0, 1, 2, ...).
class Table {
 public:
  Table() = default;
  Table(const Buffer* buffer, size_t pos);

  bool valid() const { return buffer_ != nullptr; }
  bool Has(int field) const { return FieldPos(field) != 0; }

  template <typename T>
  T Scalar(int field, T default_value) const {
    size_t pos = FieldPos(field);
    return pos ? buffer_->Read<T>(pos) : default_value;
  }
  Table SubTable(int field) const;  // invalid Table if absent
  Vector VectorField(int field) const;  // empty Vector if absent
  std::string String(int field) const;  // "" if absent

 private:
  // Absolute position of the field's data, 0 if the field is absent.
  size_t FieldPos(int field) const;

  const Buffer* buffer_ = nullptr;
  size_t pos_ = 0;
  size_t vtable_ = 0;
  uint16_t vtable_size_ = 0;
};

class Vector {
 public:
  Vector() = default;
  Vector(const Buffer* buffer, size_t pos);  // pos = position of the length prefix

  uint32_t size() const { return size_; }
  template <typename T>
  T Scalar(uint32_t i) const {
    CheckIndex(i);
    return buffer_->Read<T>(data_ + size_t{i} * sizeof(T));
  }
  Table TableAt(uint32_t i) const;
  std::string StringAt(uint32_t i) const;
  // Raw bytes of a vector of scalars of `element_size` bytes each.
  std::span<const uint8_t> Bytes(size_t element_size) const;

 private:
  void CheckIndex(uint32_t i) const;

  const Buffer* buffer_ = nullptr;
  size_t data_ = 0;
  uint32_t size_ = 0;
};

// The root table of a buffer.
Table Root(const Buffer& buffer);

}  // namespace lineup::fb
