#include "models/flatbuffer_reader.h"

#include "common/error.h"

namespace lineup::fb {

void Buffer::Check(size_t pos, size_t size) const {
  if (pos > bytes_.size() || size > bytes_.size() - pos) {
    throw Error(Context(name_, "corrupt or truncated FlatBuffer (read of " + std::to_string(size) +
                                   " bytes at offset " + std::to_string(pos) + ", file has " +
                                   std::to_string(bytes_.size()) + ")"));
  }
}

size_t Buffer::Deref(size_t pos) const {
  uint32_t offset = Read<uint32_t>(pos);
  size_t target = pos + offset;
  Check(target, 4);
  return target;
}

Table::Table(const Buffer* buffer, size_t pos) : buffer_(buffer), pos_(pos) {
  int32_t soffset = buffer->Read<int32_t>(pos);
  int64_t vtable = static_cast<int64_t>(pos) - soffset;
  if (vtable < 0) throw Error(Context(buffer->name(), "corrupt FlatBuffer (vtable before start)"));
  vtable_ = static_cast<size_t>(vtable);
  vtable_size_ = buffer->Read<uint16_t>(vtable_);
  if (vtable_size_ < 4 || vtable_size_ % 2 != 0) {
    throw Error(Context(buffer->name(), "corrupt FlatBuffer (bad vtable size)"));
  }
  buffer->Check(vtable_, vtable_size_);
}

size_t Table::FieldPos(int field) const {
  if (!buffer_) return 0;
  size_t entry = 4 + 2 * static_cast<size_t>(field);
  if (entry + 2 > vtable_size_) return 0;
  uint16_t offset = buffer_->Read<uint16_t>(vtable_ + entry);
  return offset ? pos_ + offset : 0;
}

Table Table::SubTable(int field) const {
  size_t pos = FieldPos(field);
  return pos ? Table(buffer_, buffer_->Deref(pos)) : Table();
}

Vector Table::VectorField(int field) const {
  size_t pos = FieldPos(field);
  return pos ? Vector(buffer_, buffer_->Deref(pos)) : Vector();
}

std::string Table::String(int field) const {
  size_t pos = FieldPos(field);
  if (!pos) return {};
  Vector chars(buffer_, buffer_->Deref(pos));
  auto bytes = chars.Bytes(1);
  return std::string(bytes.begin(), bytes.end());
}

Vector::Vector(const Buffer* buffer, size_t pos)
    : buffer_(buffer), data_(pos + 4), size_(buffer->Read<uint32_t>(pos)) {}

void Vector::CheckIndex(uint32_t i) const {
  if (i >= size_) {
    throw Error(Context(buffer_ ? buffer_->name() : "flatbuffer",
                        "vector index " + std::to_string(i) + " out of range " +
                            std::to_string(size_)));
  }
}

Table Vector::TableAt(uint32_t i) const {
  CheckIndex(i);
  size_t slot = data_ + size_t{i} * 4;
  return Table(buffer_, buffer_->Deref(slot));
}

std::string Vector::StringAt(uint32_t i) const {
  CheckIndex(i);
  size_t slot = data_ + size_t{i} * 4;
  Vector chars(buffer_, buffer_->Deref(slot));
  auto bytes = chars.Bytes(1);
  return std::string(bytes.begin(), bytes.end());
}

std::span<const uint8_t> Vector::Bytes(size_t element_size) const {
  if (!buffer_ || size_ == 0) return {};
  size_t total = size_t{size_} * element_size;
  buffer_->Check(data_, total);
  return {buffer_->At(data_), total};
}

Table Root(const Buffer& buffer) { return Table(&buffer, buffer.Deref(0)); }

}  // namespace lineup::fb
