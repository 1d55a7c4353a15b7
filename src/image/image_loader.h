// Safe image loading: every photo Lineup touches enters through here.
//
// Invariants of a returned image: CV_8UC3, BGR, non-empty, rotated upright
// according to its EXIF orientation, at most LoadOptions::max_pixels pixels.
// With LoadOptions::reduce_jpeg_to_fit, a JPEG over max_pixels is decoded by
// libjpeg at 1/2, 1/4 or 1/8 of each side (the least reduction that fits;
// its pixels are never held at full size); every other image over the cap is
// refused.
// Anything else (zero-byte, truncated, corrupt, not an image, too large,
// unsupported) throws lineup::Error whose message names the file and the
// problem. Size limits are checked from the header, before decoding, so a
// decompression bomb is refused without allocating its pixels.
//
// Conversions to the invariant: grayscale is replicated to BGR; 16-bit
// samples are scaled by 1/257 (65535 -> 255); float samples (TIFF) are taken
// as 0..1 and scaled by 255 with saturation; an alpha channel is composited
// over opaque white (a transparent pixel becomes 255,255,255). CMYK/YCCK JPEGs
// are converted by OpenCV, which treats CMYK samples as Adobe-inverted (as
// Photoshop writes them and browsers read them), accurate to about 1 level.
// GIF is recognised and its header read, but OpenCV 4.6 cannot decode it, so
// DecodeImage refuses it with a clear message. EXIF orientation is honoured for
// JPEG only (TIFF's own orientation tag and PNG/WebP EXIF are ignored).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace lineup {

struct LoadOptions {
  int64_t max_pixels = 80'000'000;     // width * height from the header
  int64_t max_file_bytes = 256 << 20;  // refused before reading further
  bool reduce_jpeg_to_fit = false;     // decode a JPEG over max_pixels at 1/2, 1/4 or 1/8
};

struct ImageHeader {
  std::string format;  // "jpeg", "png", "bmp", "webp", "tiff", "gif", "pnm"
  // Sides as stored in the file, BEFORE any EXIF rotation: for orientations
  // 5..8 the loaded image is height x width. Each side is in 1..100000.
  int width = 0;
  int height = 0;
  // 1..8, 1 = upright. Read from IFD0 tag 0x0112 of a JPEG's APP1 "Exif"
  // segment (either byte order); other formats, absent or malformed EXIF and
  // out-of-range values all report 1.
  int exif_orientation = 1;
};

// Reads the header only; throws Error if the bytes are empty, not a supported
// image, or claim absurd dimensions (0 or more than 100000 on a side).
// Cost is independent of the claimed size: no pixel is decoded.
ImageHeader ReadImageHeader(const std::vector<uint8_t>& bytes, const std::string& name);

// The reduction (1, 2, 4 or 8 per side) DecodeImage applies to an image of
// `header`'s size under `options`; 0 when it refuses the image as too large.
int ReductionFor(const ImageHeader& header, const LoadOptions& options);

// Returns `image` flipped/rotated so that a picture stored with EXIF
// `orientation` appears upright (6 = rotate 90 degrees clockwise, 8 = 90
// counter-clockwise, 3 = 180, 2/4 = mirror horizontally/vertically,
// 5/7 = transpose/transverse). 1 and values outside 1..8 return `image` as is.
cv::Mat ApplyExifOrientation(const cv::Mat& image, int orientation);

// Decodes an in-memory image; `name` is used only in error messages.
cv::Mat DecodeImage(const std::vector<uint8_t>& bytes, const std::string& name,
                    const LoadOptions& options = {});
// Reads `path` (refusing files over options.max_file_bytes) and decodes it.
cv::Mat LoadImage(const std::string& path, const LoadOptions& options = {});

}  // namespace lineup
