// Safe image loading: every photo Lineup touches enters through here.
//
// Invariants of a returned image: CV_8UC3, BGR, non-empty, rotated upright
// according to its EXIF orientation, at most LoadOptions::max_pixels pixels.
// Anything else (zero-byte, truncated, corrupt, not an image, too large,
// unsupported) throws lineup::Error whose message names the file and the
// problem. Size limits are checked from the header, before decoding, so a
// decompression bomb is refused without allocating its pixels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace lineup {

struct LoadOptions {
  int64_t max_pixels = 80'000'000;     // width * height from the header
  int64_t max_file_bytes = 256 << 20;  // refused before reading further
};

struct ImageHeader {
  std::string format;  // "jpeg", "png", "bmp", "webp", "tiff", "gif", "pnm"
  int width = 0;
  int height = 0;
  int exif_orientation = 1;  // 1..8, 1 = upright
};

// Reads the header only; throws Error if the bytes are not a supported image.
ImageHeader ReadImageHeader(const std::vector<uint8_t>& bytes, const std::string& name);

cv::Mat DecodeImage(const std::vector<uint8_t>& bytes, const std::string& name,
                    const LoadOptions& options = {});
cv::Mat LoadImage(const std::string& path, const LoadOptions& options = {});

}  // namespace lineup
