// ASCII case folding for identifiers Lineup compares without case (URL
// hosts and schemes, file extensions, hex digests); never for user text.
#pragma once

#include <string>
#include <string_view>

namespace lineup {

// Lower-case copy: 'A'-'Z' become 'a'-'z'; every other byte (including
// bytes >= 0x80) is unchanged.
std::string ToLowerAscii(std::string_view text);

}  // namespace lineup
