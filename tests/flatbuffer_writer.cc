#include "flatbuffer_writer.h"

#include <algorithm>

namespace lineup::fbw {

ObjPtr Table(std::vector<Field> fields) { return std::make_shared<Obj>(Obj{Obj::kTable, std::move(fields)}); }

ObjPtr Str(const std::string& s) {
  auto o = Vec(std::vector<uint8_t>(s.begin(), s.end()));
  o->bytes.push_back(0);
  return o;
}

ObjPtr Refs(std::vector<ObjPtr> refs) {
  auto o = std::make_shared<Obj>(Obj{Obj::kRefs});
  o->refs = std::move(refs);
  return o;
}

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

namespace {

class Writer {
 public:
  std::string Finish(const ObjPtr& root, const char* identifier) {
    buf_.resize(8);
    std::memcpy(buf_.data() + 4, identifier, 4);
    Put32(0, static_cast<uint32_t>(Emit(root)));
    return std::string(buf_.begin(), buf_.end());
  }

 private:
  void Align() { buf_.resize((buf_.size() + 3) & ~size_t{3}); }
  void Put32(size_t at, uint32_t v) { std::memcpy(buf_.data() + at, &v, 4); }
  void Put16(size_t at, uint16_t v) { std::memcpy(buf_.data() + at, &v, 2); }

  size_t Emit(const ObjPtr& o) {
    Align();
    if (o->kind == Obj::kBytes) {
      const size_t pos = buf_.size();
      buf_.resize(pos + 4);
      Put32(pos, o->count);
      buf_.insert(buf_.end(), o->bytes.begin(), o->bytes.end());
      return pos;
    }
    if (o->kind == Obj::kRefs) {
      const size_t pos = buf_.size();
      buf_.resize(pos + 4 + 4 * o->refs.size());
      Put32(pos, static_cast<uint32_t>(o->refs.size()));
      for (size_t i = 0; i < o->refs.size(); ++i) {
        const size_t slot = pos + 4 + 4 * i;
        Put32(slot, static_cast<uint32_t>(Emit(o->refs[i]) - slot));
      }
      return pos;
    }
    int max_id = -1;
    for (const Field& f : o->fields) max_id = std::max(max_id, f.id);
    const size_t vtable = buf_.size();
    const size_t vtable_size = 4 + 2 * static_cast<size_t>(max_id + 1);
    buf_.resize(vtable + ((vtable_size + 3) & ~size_t{3}));
    const size_t table = buf_.size();
    buf_.resize(table + 4 + 4 * o->fields.size());
    Put16(vtable, static_cast<uint16_t>(vtable_size));
    Put16(vtable + 2, static_cast<uint16_t>(4 + 4 * o->fields.size()));
    Put32(table, static_cast<uint32_t>(table - vtable));  // soffset: the vtable is before the table
    for (size_t i = 0; i < o->fields.size(); ++i) {
      Put16(vtable + 4 + 2 * o->fields[i].id, static_cast<uint16_t>(4 + 4 * i));
      Put32(table + 4 + 4 * i, o->fields[i].scalar);
    }
    for (size_t i = 0; i < o->fields.size(); ++i) {
      if (!o->fields[i].ref) continue;
      const size_t slot = table + 4 + 4 * i;
      Put32(slot, static_cast<uint32_t>(Emit(o->fields[i].ref) - slot));
    }
    return table;
  }

  std::vector<uint8_t> buf_;
};

}  // namespace

std::string Finish(const ObjPtr& root, const char* identifier) { return Writer().Finish(root, identifier); }

}  // namespace lineup::fbw
