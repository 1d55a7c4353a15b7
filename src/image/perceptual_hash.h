// Perceptual hash: a 64-bit fingerprint of what an image looks like, so that
// near-duplicates (the same photo resized, recompressed, converted to grey or
// to another bit depth) can be found by Hamming distance where a content
// hash (SHA-256 of the bytes) sees only different files.
//
// Definition (DCT hash): the image is converted to one grey channel (BGR or
// BGRA taken as OpenCV orders them; other channel counts use channel 0) in
// float, resized to 32 x 32 by area averaging, transformed by a 2-D DCT, and
// the 8 x 8 lowest frequencies are kept. Bit r * 8 + c (r, c in 0..7) is 1
// when coefficient (r, c) is above the median of the 63 coefficients other
// than DC; bit 0 (the DC position) is always 0, so a hash has 63 meaningful
// bits, 31 of them set (fewer only when coefficients tie with the median).
// Coefficients below 1e-5 of the image's norm count as 0, so a flat image
// (all AC coefficients 0) hashes to 0.
//
// Invariants:
//  - Independent of brightness scale and offset: multiplying the pixels by a
//    positive factor or adding a constant leaves the hash unchanged (up to
//    float rounding at the median), so 8-bit, 16-bit and float versions of
//    one picture hash alike.
//  - Resizing and recompressing an image change few bits: the kept
//    coefficients describe the coarse layout of light and dark, which
//    survives both (the tests pin a 50% resize and JPEG quality 40 within a
//    few bits), while different pictures differ in about half of the bits.
//    Crops, rotations and mirroring are NOT tolerated. Measured on 300 real
//    face photos: JPEG quality 40 and 50% resize changed at most 2 bits;
//    between different photos, the only pairs within 9 bits were two
//    re-shared copies of one photo (0 and 2 bits).
//  - Pictures with little structure (flat, or a plain gradient) have many
//    coefficients at or near the median; their bits are unstable, so a small
//    distance between two such hashes means little.
#pragma once

#include <cstdint>

#include <opencv2/core.hpp>

namespace lineup {

// Throws Error if the image is empty.
uint64_t PerceptualHash(const cv::Mat& image);

// Number of differing bits, 0..64.
int HammingDistance(uint64_t a, uint64_t b);

}  // namespace lineup
