// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
// vector store records. Uses the SSE4.2 crc32 instruction when the CPU has
// it and a slice-by-8 table otherwise; both give identical results.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lineup {

// Extends `crc` (the CRC of some preceding bytes; 0 for none) with `size`
// bytes, so Crc32c(a+b) == Crc32cExtend(Crc32cExtend(0, a), b).
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);

inline uint32_t Crc32c(const void* data, size_t size) { return Crc32cExtend(0, data, size); }

// The table-driven implementation alone (tests compare it with the dispatching one).
uint32_t Crc32cExtendPortable(uint32_t crc, const void* data, size_t size);

}  // namespace lineup
