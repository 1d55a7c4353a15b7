#include "index/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace lineup {
namespace {

constexpr uint32_t kPolynomial = 0x82F63B78u;  // CRC-32C, bit-reflected

// tables[0] is the classic byte table; tables[j][b] is the CRC of byte b
// followed by j zero bytes, which lets the loop fold 8 bytes per step.
using SliceTables = std::array<std::array<uint32_t, 256>, 8>;

constexpr SliceTables MakeTables() {
  SliceTables tables{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t crc = b;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1u) ? kPolynomial : 0u);
    tables[0][b] = crc;
  }
  for (int j = 1; j < 8; ++j) {
    for (uint32_t b = 0; b < 256; ++b) {
      uint32_t prev = tables[j - 1][b];
      tables[j][b] = (prev >> 8) ^ tables[0][prev & 0xFF];
    }
  }
  return tables;
}

constexpr SliceTables kTables = MakeTables();

// `state` is the raw (non-inverted) register.
uint32_t UpdatePortable(uint32_t state, const uint8_t* p, size_t size) {
  while (size >= 8) {
    uint32_t lo;
    uint32_t hi;
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    lo ^= state;
    state = kTables[7][lo & 0xFF] ^ kTables[6][(lo >> 8) & 0xFF] ^ kTables[5][(lo >> 16) & 0xFF] ^
            kTables[4][lo >> 24] ^ kTables[3][hi & 0xFF] ^ kTables[2][(hi >> 8) & 0xFF] ^
            kTables[1][(hi >> 16) & 0xFF] ^ kTables[0][hi >> 24];
    p += 8;
    size -= 8;
  }
  while (size-- > 0) state = (state >> 8) ^ kTables[0][(state ^ *p++) & 0xFF];
  return state;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t UpdateSse42(uint32_t state, const uint8_t* p, size_t size) {
  uint64_t wide = state;
  while (size >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    wide = _mm_crc32_u64(wide, word);
    p += 8;
    size -= 8;
  }
  auto narrow = static_cast<uint32_t>(wide);
  while (size-- > 0) narrow = _mm_crc32_u8(narrow, *p++);
  return narrow;
}

bool HasSse42() {
  static const bool has = __builtin_cpu_supports("sse4.2");  // constant for the process
  return has;
}
#endif

}  // namespace

uint32_t Crc32cExtendPortable(uint32_t crc, const void* data, size_t size) {
  return ~UpdatePortable(~crc, static_cast<const uint8_t*>(data), size);
}

uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size) {
#if defined(__x86_64__)
  if (HasSse42()) return ~UpdateSse42(~crc, static_cast<const uint8_t*>(data), size);
#endif
  return Crc32cExtendPortable(crc, data, size);
}

}  // namespace lineup
