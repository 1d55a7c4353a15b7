// ReadImageHeader: format sniffing and header-only size reading for the seven
// formats Lineup accepts. Nothing here decodes pixels or allocates in
// proportion to what a header claims; every read is bounds-checked through
// ByteReader, so hostile offsets end in an Error or a default, never a crash.

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <optional>

#include "common/error.h"
#include "image/byte_reader.h"
#include "image/image_loader.h"

namespace lineup {
namespace {

constexpr int64_t kMaxSide = 100000;  // pixels per side; anything larger is refused

struct Size {
  int64_t width = 0;
  int64_t height = 0;
};

[[noreturn]] void Fail(const std::string& name, const std::string& what) {
  throw Error(Context(name, what));
}

// What the first bytes look like, without quoting them: an error message may
// reach a log, a terminal or an HTTP answer, and a file that is not an image
// may be any file (a password list named .jpg), so none of its bytes are
// echoed.
std::string DescribeStart(const ByteReader& r) {
  bool text = true;
  for (size_t i = 0; i < r.size() && i < 64; ++i) {
    unsigned char c = r.data()[i];
    text = text && (std::isprint(c) || std::isspace(c));
  }
  return text ? "text, not an image" : "unknown format";
}

// Names formats we recognise but do not accept, for a clearer refusal.
std::string KnownUnsupported(const ByteReader& r) {
  if (r.Matches(4, "ftyp")) return "ISO media container such as HEIC, AVIF or MP4";
  if (r.Matches(0, "%PDF")) return "PDF document";
  if (r.Matches(0, std::string_view("II+\0", 4)) || r.Matches(0, std::string_view("MM\0+", 4))) {
    return "BigTIFF";
  }
  if (r.Matches(0, std::string_view("\0\0\0\x0cjP  ", 8)) || r.Matches(0, "\xff\x4f\xff\x51")) {
    return "JPEG 2000";
  }
  if (r.Matches(0, "P7")) return "PAM";
  return "";
}

bool IsPnmSpace(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

// Returns "" when the bytes match none of the accepted formats.
std::string SniffFormat(const ByteReader& r) {
  if (r.Matches(0, "\xff\xd8\xff")) return "jpeg";
  if (r.Matches(0, "\x89PNG\r\n\x1a\n")) return "png";
  if (r.Matches(0, "BM")) return "bmp";
  if (r.Matches(0, "GIF87a") || r.Matches(0, "GIF89a")) return "gif";
  if (r.Matches(0, "RIFF") && r.Matches(8, "WEBP")) return "webp";
  if (r.Matches(0, std::string_view("II*\0", 4)) || r.Matches(0, std::string_view("MM\0*", 4))) {
    return "tiff";
  }
  auto digit = r.U8(1);
  auto space = r.U8(2);
  if (r.Matches(0, "P") && digit && *digit >= '1' && *digit <= '6' && space &&
      IsPnmSpace(*space)) {
    return "pnm";
  }
  return "";
}

// Value of a one-element SHORT or LONG entry `tag` in the TIFF directory at
// `ifd_offset`; nullopt if absent, of another type, or out of bounds.
std::optional<uint32_t> FindIfdValue(const ByteReader& r, bool big_endian, size_t ifd_offset,
                                     uint16_t tag) {
  auto count = r.U16(ifd_offset, big_endian);
  if (!count) return std::nullopt;
  for (size_t i = 0; i < *count; ++i) {
    size_t entry = ifd_offset + 2 + 12 * i;
    auto entry_tag = r.U16(entry, big_endian);
    auto type = r.U16(entry + 2, big_endian);
    auto values = r.U32(entry + 4, big_endian);
    if (!entry_tag || !type || !values) return std::nullopt;  // directory runs off the end
    if (*entry_tag != tag) continue;
    if (*values < 1) return std::nullopt;
    if (*type == 3) return r.U16(entry + 8, big_endian);  // SHORT, stored left-justified
    if (*type == 4) return r.U32(entry + 8, big_endian);  // LONG
    return std::nullopt;
  }
  return std::nullopt;
}

// Byte order of a TIFF structure ("II*\0" little, "MM\0*" big); nullopt if neither.
std::optional<bool> TiffBigEndian(const ByteReader& r) {
  if (r.Matches(0, std::string_view("MM\0*", 4))) return true;
  if (r.Matches(0, std::string_view("II*\0", 4))) return false;
  return std::nullopt;
}

// Orientation tag 0x0112 of IFD0 in the TIFF structure that follows "Exif\0\0".
// Anything malformed or out of range reads as 1 (upright): a bad EXIF block
// must not make a decodable photo unloadable.
int ExifOrientation(const ByteReader& tiff) {
  auto big_endian = TiffBigEndian(tiff);
  if (!big_endian) return 1;
  auto ifd = tiff.U32(4, *big_endian);
  if (!ifd) return 1;
  auto value = FindIfdValue(tiff, *big_endian, *ifd, 0x0112);
  if (!value || *value < 1 || *value > 8) return 1;
  return static_cast<int>(*value);
}

bool IsStartOfFrame(uint8_t marker) {
  // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
  return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

// Walks marker segments from SOI to the first SOFn; reads the EXIF orientation
// from the first APP1 "Exif" segment met on the way.
Size ReadJpegSize(const ByteReader& r, const std::string& name, int* orientation) {
  bool seen_exif = false;
  size_t pos = 2;
  while (true) {
    while (pos < r.size() && r.data()[pos] != 0xFF) ++pos;  // libjpeg skips junk too
    while (pos < r.size() && r.data()[pos] == 0xFF) ++pos;  // fill bytes
    auto marker = r.U8(pos++);
    if (!marker) Fail(name, "truncated JPEG (ends before its frame header)");
    if (*marker == 0x01 || (*marker >= 0xD0 && *marker <= 0xD7)) continue;  // no length
    if (*marker == 0xDA || *marker == 0xD9 || *marker == 0xD8 || *marker == 0x00) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "FF%02X", *marker);
      Fail(name, std::string("corrupt JPEG (no frame header before marker ") + hex + ")");
    }
    auto length = r.U16(pos, true);
    if (!length) Fail(name, "truncated JPEG (ends inside a marker segment)");
    if (*length < 2) Fail(name, "corrupt JPEG (marker segment length below 2)");
    if (IsStartOfFrame(*marker)) {
      auto height = r.U16(pos + 3, true);
      auto width = r.U16(pos + 5, true);
      if (!height || !width) Fail(name, "truncated JPEG (ends inside its frame header)");
      return {*width, *height};
    }
    if (*marker == 0xE1 && !seen_exif && *length >= 8 && r.Matches(pos + 2, {"Exif\0\0", 6})) {
      seen_exif = true;
      size_t start = pos + 8;
      size_t available = r.Has(start, 0) ? r.size() - start : 0;
      size_t segment = std::min<size_t>(*length - 8, available);
      *orientation = ExifOrientation(ByteReader(r.data() + start, segment));
    }
    pos += *length;
  }
}

Size ReadPngSize(const ByteReader& r, const std::string& name) {
  auto length = r.U32(8, true);
  auto width = r.U32(16, true);
  auto height = r.U32(20, true);
  if (!length || !width || !height) Fail(name, "truncated PNG (ends inside its header)");
  if (!r.Matches(12, "IHDR") || *length != 13) {
    Fail(name, "corrupt PNG (first chunk is not a 13-byte IHDR)");
  }
  return {*width, *height};
}

Size ReadBmpSize(const ByteReader& r, const std::string& name) {
  auto header_size = r.U32(14, false);
  if (!header_size) Fail(name, "truncated BMP (ends inside its header)");
  if (*header_size == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit unsigned sides
    auto width = r.U16(18, false);
    auto height = r.U16(20, false);
    if (!width || !height) Fail(name, "truncated BMP (ends inside its header)");
    return {*width, *height};
  }
  auto width = r.U32(18, false);
  auto height = r.U32(22, false);
  if (*header_size < 16 || !width || !height) {
    Fail(name, "corrupt or truncated BMP header");
  }
  // Signed 32-bit sides; a negative height means rows are stored top-down.
  int64_t signed_width = static_cast<int32_t>(*width);
  int64_t signed_height = static_cast<int32_t>(*height);
  return {signed_width, signed_height < 0 ? -signed_height : signed_height};
}

Size ReadGifSize(const ByteReader& r, const std::string& name) {
  auto width = r.U16(6, false);
  auto height = r.U16(8, false);
  if (!width || !height) Fail(name, "truncated GIF (ends inside its header)");
  return {*width, *height};
}

Size ReadWebpSize(const ByteReader& r, const std::string& name) {
  const std::string truncated = "truncated WebP (ends inside its header)";
  if (r.Matches(12, "VP8X")) {  // extended: 24-bit canvas sides minus one
    auto width = r.U24(24, false);
    auto height = r.U24(27, false);
    if (!width || !height) Fail(name, truncated);
    return {int64_t{*width} + 1, int64_t{*height} + 1};
  }
  if (r.Matches(12, "VP8L")) {  // lossless: signature 0x2f, then 14-bit sides minus one
    auto signature = r.U8(20);
    auto bits = r.U32(21, false);
    if (!signature || !bits) Fail(name, truncated);
    if (*signature != 0x2F) Fail(name, "corrupt WebP (bad VP8L signature)");
    return {int64_t{*bits & 0x3FFF} + 1, int64_t{(*bits >> 14) & 0x3FFF} + 1};
  }
  if (r.Matches(12, "VP8 ")) {  // lossy: key frame start code, then 14-bit sides
    if (!r.Has(20, 10)) Fail(name, truncated);
    if (!r.Matches(23, "\x9d\x01\x2a")) Fail(name, "corrupt WebP (bad VP8 start code)");
    return {*r.U16(26, false) & 0x3FFF, *r.U16(28, false) & 0x3FFF};
  }
  Fail(name, "unsupported WebP variant (first chunk is not VP8, VP8L or VP8X)");
}

Size ReadTiffSize(const ByteReader& r, const std::string& name) {
  bool big_endian = *TiffBigEndian(r);
  auto ifd = r.U32(4, big_endian);
  if (!ifd) Fail(name, "truncated TIFF (ends inside its header)");
  auto width = FindIfdValue(r, big_endian, *ifd, 256);
  auto height = FindIfdValue(r, big_endian, *ifd, 257);
  if (!width || !height) {
    Fail(name, "corrupt TIFF (first directory lacks a readable ImageWidth/ImageLength)");
  }
  return {*width, *height};
}

// Next decimal number of a PNM header, skipping whitespace and '#' comments.
// Values are capped just above kMaxSide so that long digit strings cannot overflow.
std::optional<int64_t> NextPnmNumber(const ByteReader& r, size_t* pos) {
  while (*pos < r.size()) {
    uint8_t c = r.data()[*pos];
    if (IsPnmSpace(c)) {
      ++*pos;
    } else if (c == '#') {
      while (*pos < r.size() && r.data()[*pos] != '\n' && r.data()[*pos] != '\r') ++*pos;
    } else {
      break;
    }
  }
  int64_t value = 0;
  size_t digits = 0;
  while (*pos < r.size() && std::isdigit(r.data()[*pos])) {
    value = std::min<int64_t>(value * 10 + (r.data()[*pos] - '0'), kMaxSide + 1);
    ++*pos;
    ++digits;
  }
  if (digits == 0) return std::nullopt;
  return value;
}

Size ReadPnmSize(const ByteReader& r, const std::string& name) {
  size_t pos = 2;
  auto width = NextPnmNumber(r, &pos);
  auto height = NextPnmNumber(r, &pos);
  if (!width || !height) Fail(name, "truncated or corrupt PNM header");
  return {*width, *height};
}

}  // namespace

ImageHeader ReadImageHeader(const std::vector<uint8_t>& bytes, const std::string& name) {
  if (bytes.empty()) Fail(name, "empty file");
  ByteReader r(bytes.data(), bytes.size());
  ImageHeader header;
  header.format = SniffFormat(r);
  Size size;
  if (header.format == "jpeg") {
    size = ReadJpegSize(r, name, &header.exif_orientation);
  } else if (header.format == "png") {
    size = ReadPngSize(r, name);
  } else if (header.format == "bmp") {
    size = ReadBmpSize(r, name);
  } else if (header.format == "gif") {
    size = ReadGifSize(r, name);
  } else if (header.format == "webp") {
    size = ReadWebpSize(r, name);
  } else if (header.format == "tiff") {
    size = ReadTiffSize(r, name);
  } else if (header.format == "pnm") {
    size = ReadPnmSize(r, name);
  } else {
    std::string known = KnownUnsupported(r);
    Fail(name, "not a supported image (" + (known.empty() ? DescribeStart(r) : known) + ")");
  }
  if (size.width <= 0 || size.height <= 0 || size.width > kMaxSide || size.height > kMaxSide) {
    Fail(name, "absurd " + header.format + " dimensions " + std::to_string(size.width) + "x" +
                   std::to_string(size.height) + " (each side must be 1.." +
                   std::to_string(kMaxSide) + ")");
  }
  header.width = static_cast<int>(size.width);
  header.height = static_cast<int>(size.height);
  return header;
}

}  // namespace lineup
