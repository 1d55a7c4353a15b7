// DecodeImage / LoadImage: header checks, then cv::imdecode, then conversion
// to the CV_8UC3 BGR upright invariant documented in image_loader.h.

#include "image/image_loader.h"

#include <climits>
#include <cstring>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/error.h"
#include "common/file_util.h"
#include "image/image_integrity.h"

namespace lineup {
namespace {

// Keep depth, channels and alpha; never let OpenCV rotate. OpenCV applies EXIF
// orientation only when flags != IMREAD_UNCHANGED, and IMREAD_UNCHANGED (-1)
// already has every bit set, IMREAD_IGNORE_ORIENTATION included; orientation
// is applied by ApplyExifOrientation below, exactly once.
constexpr int kDecodeFlags = cv::IMREAD_UNCHANGED | cv::IMREAD_IGNORE_ORIENTATION;

[[noreturn]] void Fail(const std::string& name, const std::string& what) {
  throw Error(Context(name, what));
}

std::string SizeText(int64_t width, int64_t height) {
  return std::to_string(width) + "x" + std::to_string(height);
}

cv::Mat ToEightBit(const cv::Mat& image, const std::string& name) {
  cv::Mat out;
  switch (image.depth()) {
    case CV_8U:
      return image;
    case CV_16U:
      image.convertTo(out, CV_8U, 1.0 / 257.0);  // 65535 -> 255, rounded
      return out;
    case CV_32F:
    case CV_64F:
      image.convertTo(out, CV_8U, 255.0);  // 0..1 -> 0..255, saturated
      return out;
    default:
      Fail(name, "unsupported sample type (OpenCV depth " + std::to_string(image.depth()) + ")");
  }
}

// Composites 8-bit colour-plus-alpha (gray+alpha or BGRA) over opaque white:
// out = (c * a + 255 * (255 - a)) / 255, rounded.
cv::Mat CompositeOverWhite(const cv::Mat& image) {
  const int colours = image.channels() - 1;
  cv::Mat out(image.rows, image.cols, CV_8UC(colours));
  for (int y = 0; y < image.rows; ++y) {
    const uint8_t* in = image.ptr<uint8_t>(y);
    uint8_t* dst = out.ptr<uint8_t>(y);
    for (int x = 0; x < image.cols; ++x, in += colours + 1, dst += colours) {
      const int alpha = in[colours];
      for (int c = 0; c < colours; ++c) {
        dst[c] = static_cast<uint8_t>((in[c] * alpha + 255 * (255 - alpha) + 127) / 255);
      }
    }
  }
  return out;
}

cv::Mat ToBgr(const cv::Mat& eight_bit, const std::string& name) {
  cv::Mat out;
  switch (eight_bit.channels()) {
    case 1:
      cv::cvtColor(eight_bit, out, cv::COLOR_GRAY2BGR);
      return out;
    case 2:
      cv::cvtColor(CompositeOverWhite(eight_bit), out, cv::COLOR_GRAY2BGR);
      return out;
    case 3:
      return eight_bit;
    case 4:
      return CompositeOverWhite(eight_bit);
    default:
      Fail(name, "unsupported channel count " + std::to_string(eight_bit.channels()));
  }
}

// IMREAD_REDUCED_COLOR_<n> for n in 2, 4, 8: libjpeg scales while decoding
// and gives 8-bit BGR; orientation is still applied by ApplyExifOrientation.
int ReducedDecodeFlags(int reduction) {
  const int colour = reduction == 2 ? cv::IMREAD_REDUCED_COLOR_2
                     : reduction == 4 ? cv::IMREAD_REDUCED_COLOR_4
                                      : cv::IMREAD_REDUCED_COLOR_8;
  return colour | cv::IMREAD_IGNORE_ORIENTATION;
}

int64_t ReducedSide(int side, int reduction) { return (int64_t{side} + reduction - 1) / reduction; }

// cv::imdecode does not take the format: it gives the bytes to the first of
// its decoders whose signature check accepts them. Every format we accept is
// recognised by magic bytes at the start, which no other decoder claims; the
// exception is DICOM (GDCM), which looks for "DICM" at byte 128. A file that
// starts like WebP but fails libwebp's own check falls through to it, and
// GDCM asserts (aborts the whole process) on malformed data. Found by
// image_decode_fuzz. No photo format we take puts those four bytes there by
// design; the chance of it by accident is 1 in 2^32.
void RefuseDicomSignature(const std::vector<uint8_t>& bytes, const ImageHeader& header,
                          const std::string& name) {
  constexpr size_t kDicomMagicOffset = 128;
  if (bytes.size() >= kDicomMagicOffset + 4 &&
      std::memcmp(bytes.data() + kDicomMagicOffset, "DICM", 4) == 0) {
    Fail(name, "starts as " + header.format +
                   " but also carries a DICOM signature at byte 128; refused (DICOM is not accepted, "
                   "and the decoder would read the file as DICOM)");
  }
}

cv::Mat DecodeWithOpenCv(const std::vector<uint8_t>& bytes, const ImageHeader& header,
                         const std::string& name, int reduction) {
  RefuseDicomSignature(bytes, header, name);
  // imdecode does not modify its input; the Mat only wraps the bytes.
  cv::Mat wrapped(1, static_cast<int>(bytes.size()), CV_8U, const_cast<uint8_t*>(bytes.data()));
  cv::Mat decoded;
  try {
    decoded = cv::imdecode(wrapped, reduction == 1 ? kDecodeFlags : ReducedDecodeFlags(reduction));
  } catch (const cv::Exception& e) {
    Fail(name, "cannot decode " + header.format + ": " + e.err);  // e.what() names OpenCV's source files
  }
  if (decoded.empty()) {
    if (header.format == "gif") Fail(name, "GIF is recognised but this OpenCV cannot decode it");
    Fail(name, "cannot decode " + header.format + " (corrupt or unsupported variant)");
  }
  const int64_t width = ReducedSide(header.width, reduction), height = ReducedSide(header.height, reduction);
  if (decoded.cols != width || decoded.rows != height) {
    Fail(name, "decoded size " + SizeText(decoded.cols, decoded.rows) + " differs from header size " +
                   SizeText(header.width, header.height) +
                   (reduction == 1 ? "" : " reduced 1/" + std::to_string(reduction)));
  }
  return decoded;
}

}  // namespace

int ReductionFor(const ImageHeader& header, const LoadOptions& options) {
  const int max_reduction = options.reduce_jpeg_to_fit && header.format == "jpeg" ? 8 : 1;
  for (int reduction = 1; reduction <= max_reduction; reduction *= 2) {
    if (ReducedSide(header.width, reduction) * ReducedSide(header.height, reduction) <= options.max_pixels) {
      return reduction;
    }
  }
  return 0;
}

cv::Mat ApplyExifOrientation(const cv::Mat& image, int orientation) {
  cv::Mat out;
  switch (orientation) {
    case 2:
      cv::flip(image, out, 1);
      return out;
    case 3:
      cv::rotate(image, out, cv::ROTATE_180);
      return out;
    case 4:
      cv::flip(image, out, 0);
      return out;
    case 5:
      cv::transpose(image, out);
      return out;
    case 6:
      cv::rotate(image, out, cv::ROTATE_90_CLOCKWISE);
      return out;
    case 7:
      cv::transpose(image, out);
      cv::flip(out, out, -1);
      return out;
    case 8:
      cv::rotate(image, out, cv::ROTATE_90_COUNTERCLOCKWISE);
      return out;
    default:
      return image;
  }
}

cv::Mat DecodeImage(const std::vector<uint8_t>& bytes, const std::string& name,
                    const LoadOptions& options) {
  if (bytes.empty()) Fail(name, "empty file");
  const int64_t size = static_cast<int64_t>(bytes.size());
  if (size > options.max_file_bytes || size > INT_MAX) {
    Fail(name, "file is " + std::to_string(size) + " bytes, over the limit of " +
                   std::to_string(std::min<int64_t>(options.max_file_bytes, INT_MAX)));
  }
  const ImageHeader header = ReadImageHeader(bytes, name);
  const int64_t pixels = int64_t{header.width} * header.height;
  const int reduction = ReductionFor(header, options);
  if (reduction == 0) {
    Fail(name, "image is " + SizeText(header.width, header.height) + " = " +
                   std::to_string(pixels) + " pixels, over the limit of " +
                   std::to_string(options.max_pixels) + " (refused before decoding)");
  }
  CheckImageComplete(bytes, header.format, name);
  // Each step replaces the previous picture, so that at most two are alive.
  cv::Mat image = DecodeWithOpenCv(bytes, header, name, reduction);
  image = ToEightBit(image, name);
  image = ToBgr(image, name);
  cv::Mat upright = ApplyExifOrientation(image, header.exif_orientation);
  if (upright.type() != CV_8UC3 || upright.empty()) Fail(name, "internal: conversion failed");
  return upright;
}

cv::Mat LoadImage(const std::string& path, const LoadOptions& options) {
  return DecodeImage(ReadFileBytes(path, options.max_file_bytes), path, options);
}

}  // namespace lineup
