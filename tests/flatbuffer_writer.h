// A small FlatBuffers writer for tests and fuzz seeds: builds TFLite-style
// files by hand (tflite_to_onnx_test.cc, fuzz/make_seeds.cc), written from
// the public description of the wire format, like src/models/flatbuffer_reader.
//
// Objects are laid out front to back, so every uoffset points forward as the
// format requires: a table's vtable, the table, then what it references.
// Scalars take a 4-byte slot each (an int8 is read from the slot's first
// byte). A vector's `count` may be set to lie about its length, to build
// hostile files.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace lineup::fbw {

struct Obj;
using ObjPtr = std::shared_ptr<Obj>;

struct Field {
  int id;
  uint32_t scalar = 0;  // a scalar field's value ...
  ObjPtr ref;           // ... or a reference to a vector, string or table
};

struct Obj {
  enum Kind { kTable, kBytes, kRefs } kind;
  std::vector<Field> fields;   // kTable
  std::vector<uint8_t> bytes;  // kBytes: a vector of scalars or a string
  uint32_t count = 0;          // kBytes: the length written (elements)
  std::vector<ObjPtr> refs;    // kRefs: a vector of tables or strings
};

ObjPtr Table(std::vector<Field> fields);
ObjPtr Str(const std::string& s);
ObjPtr Refs(std::vector<ObjPtr> refs);
template <typename T>
ObjPtr Vec(const std::vector<T>& values) {
  auto o = std::make_shared<Obj>(Obj{Obj::kBytes});
  o->bytes.resize(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(o->bytes.data(), values.data(), o->bytes.size());
  o->count = static_cast<uint32_t>(values.size());
  return o;
}
uint32_t Bits(float f);

// The whole file: root offset, `identifier` (4 bytes, e.g. "TFL3"), objects.
std::string Finish(const ObjPtr& root, const char* identifier = "TFL3");

}  // namespace lineup::fbw
