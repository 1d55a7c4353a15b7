// FUZZ_CHECK: an invariant of a fuzz target. A violated one prints what
// broke and aborts, which libFuzzer reports as a crash and saves the input
// (scripts/fuzz.sh keeps it under build-fuzz/crashes/<target>/).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

#define FUZZ_CHECK(condition, what)                                                     \
  do {                                                                                  \
    if (!(condition)) {                                                                 \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s (%s)\n", __FILE__, __LINE__, \
                   #condition, std::string_view(what).data());                          \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

namespace lineup::fuzz {

// True when every byte of `text` is printable ASCII (space..~): messages
// that promise not to quote the input's bytes are built only from these.
inline bool PrintableAscii(std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

}  // namespace lineup::fuzz
