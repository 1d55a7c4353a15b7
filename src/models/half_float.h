// IEEE 754 binary16 -> float, for the half-precision weights both model
// readers meet (TF.js float16 quantisation, TFLite FLOAT16 tensors). Exact
// for every input: subnormals, infinities and NaN included.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

namespace lineup {

inline float HalfToFloat(uint16_t h) {
  const int sign = (h >> 15) & 1;
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  float magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);
  } else if (exponent == 31) {
    magnitude = mantissa == 0 ? std::numeric_limits<float>::infinity() : std::numeric_limits<float>::quiet_NaN();
  } else {
    magnitude = std::ldexp(static_cast<float>(mantissa | 0x400), exponent - 25);
  }
  return sign ? -magnitude : magnitude;
}

}  // namespace lineup
