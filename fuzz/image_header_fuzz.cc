// Fuzz target: ReadImageHeader, ReductionFor and CheckImageComplete
// (src/image/), the header-only checks every upload and ingested file passes
// before any decoder sees it. Feeds: the input as a whole file.
//
// Asserts beyond "no crash, no UB, no leak":
//  - a header that parses names one of the seven accepted formats, has each
//    side in 1..100000 and an EXIF orientation in 1..8 (image_loader.h);
//  - ReductionFor with the server's upload options returns 0, 1, 2, 4 or 8,
//    more than 1 only for JPEG, and a non-zero reduction fits the pixel cap;
//  - every Error message is printable ASCII: the parsers describe the bytes,
//    they never echo them (a "photo" may be any file);
//  - nothing but lineup::Error is thrown (anything else escapes and crashes).
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"
#include "fuzz_check.h"
#include "image/image_integrity.h"
#include "image/image_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lineup;
  const std::vector<uint8_t> bytes(data, data + size);
  ImageHeader header;
  try {
    header = ReadImageHeader(bytes, "upload");
  } catch (const Error& e) {
    FUZZ_CHECK(fuzz::PrintableAscii(e.what()), e.what());
    return 0;
  }
  static const std::set<std::string> kFormats = {"jpeg", "png", "bmp", "webp", "tiff", "gif", "pnm"};
  FUZZ_CHECK(kFormats.count(header.format), header.format);
  FUZZ_CHECK(header.width >= 1 && header.width <= 100000, "width out of 1..100000");
  FUZZ_CHECK(header.height >= 1 && header.height <= 100000, "height out of 1..100000");
  FUZZ_CHECK(header.exif_orientation >= 1 && header.exif_orientation <= 8, "orientation out of 1..8");

  LoadOptions upload;  // as Service::DecodeUpload (server/service.h defaults)
  upload.max_pixels = 40'000'000;
  upload.reduce_jpeg_to_fit = true;
  const int reduction = ReductionFor(header, upload);
  FUZZ_CHECK(reduction == 0 || reduction == 1 || reduction == 2 || reduction == 4 || reduction == 8,
             "reduction not 0, 1, 2, 4 or 8");
  FUZZ_CHECK(reduction <= 1 || header.format == "jpeg", "a reduction for a format libjpeg does not decode");
  if (reduction > 0) {
    const int64_t w = (int64_t{header.width} + reduction - 1) / reduction;
    const int64_t h = (int64_t{header.height} + reduction - 1) / reduction;
    FUZZ_CHECK(w * h <= upload.max_pixels, "reduced size over the pixel cap");
  }
  try {
    CheckImageComplete(bytes, header.format, "upload");
  } catch (const Error& e) {
    FUZZ_CHECK(fuzz::PrintableAscii(e.what()), e.what());
  }
  return 0;
}
