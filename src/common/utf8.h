// UTF-8 for text that comes from clients (names, addresses, file names,
// notes) and goes to storage or into JSON. nlohmann::json refuses to dump
// invalid UTF-8, so a single stored invalid byte would make every answer that
// includes it fail: text is made valid before it is stored, and cut only on
// character boundaries.
//
// "Valid" follows RFC 3629: no overlong forms, no surrogates (U+D800..DFFF),
// nothing above U+10FFFF.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace lineup {

// The code point that starts at text[i] and its length in bytes (1..4), or
// length 0 when the bytes there are not a well-formed character.
struct Utf8Char {
  uint32_t code_point = 0;
  size_t length = 0;
};
Utf8Char DecodeUtf8At(std::string_view text, size_t i);

bool IsValidUtf8(std::string_view text);

// `text` with each ill-formed byte sequence replaced by U+FFFD (one per
// maximal invalid run of bytes, never splitting a valid character).
std::string ToValidUtf8(std::string_view text);

// The longest prefix of `text` of at most `max_bytes` bytes that ends on a
// character boundary. `text` must be valid UTF-8 (ToValidUtf8 first).
std::string TruncateUtf8(std::string_view text, size_t max_bytes);

// ToValidUtf8 then TruncateUtf8: what any client text should go through
// before it is stored.
std::string SafeUtf8(std::string_view text, size_t max_bytes);

}  // namespace lineup
