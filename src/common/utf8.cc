#include "common/utf8.h"

namespace lineup {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD

size_t SequenceLength(uint8_t lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 0;
}

bool IsContinuation(uint8_t byte) { return (byte & 0xC0) == 0x80; }

}  // namespace

Utf8Char DecodeUtf8At(std::string_view text, size_t i) {
  constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};  // by length; smaller values are overlong
  if (i >= text.size()) return {};
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  const size_t length = SequenceLength(byte(i));
  if (length == 0 || i + length > text.size()) return {};
  if (length == 1) return {byte(i), 1};
  uint32_t value = byte(i) & (0x7Fu >> length);
  for (size_t k = 1; k < length; ++k) {
    if (!IsContinuation(byte(i + k))) return {};
    value = value << 6 | (byte(i + k) & 0x3Fu);
  }
  if (value < kSmallest[length] || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return {};
  return {value, length};
}

bool IsValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t length = DecodeUtf8At(text, i).length;
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string ToValidUtf8(std::string_view text) {
  if (IsValidUtf8(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 8);
  bool in_invalid_run = false;
  for (size_t i = 0; i < text.size();) {
    const size_t length = DecodeUtf8At(text, i).length;
    if (length == 0) {
      if (!in_invalid_run) out += kReplacement;
      in_invalid_run = true;
      ++i;
      continue;
    }
    in_invalid_run = false;
    out.append(text.substr(i, length));
    i += length;
  }
  return out;
}

std::string TruncateUtf8(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t end = max_bytes;
  while (end > 0 && IsContinuation(static_cast<uint8_t>(text[end]))) --end;
  return std::string(text.substr(0, end));
}

std::string SafeUtf8(std::string_view text, size_t max_bytes) { return TruncateUtf8(ToValidUtf8(text), max_bytes); }

}  // namespace lineup
