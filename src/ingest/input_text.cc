#include "ingest/input_text.h"

#include <cstdint>

#include "common/utf8.h"

namespace lineup::ingest_internal {
namespace {

void AppendHexEscape(uint8_t b, std::string* out) {
  static const char* kHex = "0123456789abcdef";
  *out += "\\x";
  *out += kHex[b >> 4];
  *out += kHex[b & 15];
}

}  // namespace

std::string PrintableLabel(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const auto b0 = static_cast<uint8_t>(text[i]);
    size_t length = DecodeUtf8At(text, i).length;
    const bool c0_or_del = length == 1 && (b0 < 0x20 || b0 == 0x7F);
    const bool c1 = length == 2 && b0 == 0xC2 && static_cast<uint8_t>(text[i + 1]) < 0xA0;
    if (length == 0 || c0_or_del || c1) {
      // Escape one byte at a time: an invalid sequence may hide a valid one.
      size_t escaped = c1 ? 2 : 1;
      for (size_t k = 0; k < escaped; ++k) AppendHexEscape(static_cast<uint8_t>(text[i + k]), &out);
      i += escaped;
      continue;
    }
    out.append(text.substr(i, length));
    i += length;
  }
  return out;
}

std::string Quoted(std::string_view text) {
  std::string quoted = "'";
  quoted.append(PrintableLabel(text)).append("'");
  return quoted;
}

}  // namespace lineup::ingest_internal
