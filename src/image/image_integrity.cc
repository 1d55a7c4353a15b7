#include "image/image_integrity.h"

#include <cstring>

#include "common/error.h"
#include "image/byte_reader.h"

namespace lineup {
namespace {

// Offset of the first marker after entropy-coded data starting at `pos`, or
// r.size() if the data runs to the end. Inside entropy-coded data FF00 is a
// stuffed FF byte and FFD0..FFD7 are restart markers; neither ends the scan.
size_t SkipEntropyCodedData(const ByteReader& r, size_t pos) {
  while (pos < r.size()) {
    const void* found = std::memchr(r.data() + pos, 0xFF, r.size() - pos);
    if (found == nullptr) return r.size();
    pos = static_cast<size_t>(static_cast<const uint8_t*>(found) - r.data());
    auto next = r.U8(pos + 1);
    if (!next) return r.size();
    if (*next == 0x00 || (*next >= 0xD0 && *next <= 0xD7)) {
      pos += 2;
    } else if (*next == 0xFF) {
      pos += 1;  // fill byte before a marker
    } else {
      return pos;
    }
  }
  return r.size();
}

bool JpegReachesEndOfImage(const ByteReader& r) {
  size_t pos = 2;  // after SOI
  while (true) {
    while (pos < r.size() && r.data()[pos] != 0xFF) ++pos;  // junk, as libjpeg tolerates
    while (pos < r.size() && r.data()[pos] == 0xFF) ++pos;  // fill bytes
    auto marker = r.U8(pos++);
    if (!marker) return false;
    if (*marker == 0xD9) return true;
    if (*marker == 0x00 || *marker == 0x01 || (*marker >= 0xD0 && *marker <= 0xD8)) continue;
    auto length = r.U16(pos, true);
    if (!length || *length < 2 || !r.Has(pos, *length)) return false;
    pos += *length;
    if (*marker == 0xDA) pos = SkipEntropyCodedData(r, pos);
  }
}

bool PngReachesEnd(const ByteReader& r) {
  size_t pos = 8;  // after the signature
  while (true) {
    auto length = r.U32(pos, true);
    if (!length || !r.Has(pos + 4, 4)) return false;
    if (r.Matches(pos + 4, "IEND")) return true;
    pos += size_t{12} + *length;  // length, type, data, CRC
    if (pos > r.size()) return false;
  }
}

}  // namespace

void CheckImageComplete(const std::vector<uint8_t>& bytes, const std::string& format,
                        const std::string& name) {
  ByteReader r(bytes.data(), bytes.size());
  if (format == "jpeg" && !JpegReachesEndOfImage(r)) {
    throw Error(Context(name, "truncated JPEG (no end-of-image marker)"));
  }
  if (format == "png" && !PngReachesEnd(r)) {
    throw Error(Context(name, "truncated PNG (no IEND chunk)"));
  }
  if (format == "webp") {
    auto riff_size = r.U32(4, false);
    if (!riff_size || bytes.size() < size_t{8} + *riff_size) {
      throw Error(Context(name, "truncated WebP (file is shorter than its RIFF header says)"));
    }
  }
}

}  // namespace lineup
