// Fuzz target: DecodeImage (src/image/image_loader.cc) with the options of a
// server upload (reduce_jpeg_to_fit), i.e. the whole path an uploaded photo
// takes: header checks, completeness checks, OpenCV's decoders (libjpeg,
// libpng, libwebp, libtiff; not instrumented) and the conversion to 8-bit
// BGR. Feeds: the input as the uploaded bytes. The pixel cap is lowered to
// 1 Mpx (upload default: 40 Mpx) so that each run stays fast; the code path
// is the same.
//
// Asserts beyond "no crash":
//  - a decoded image is CV_8UC3, non-empty, within the pixel cap, and has the
//    header's sides divided (rounded up) by ReductionFor's reduction, swapped
//    for EXIF orientations 5..8 (image_loader.h);
//  - failures are lineup::Error only: a cv::Exception or std::exception from
//    OpenCV escaping DecodeImage would crash the target (the server would
//    answer 500 instead of 400 bad_image).
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/error.h"
#include "fuzz_check.h"
#include "image/image_loader.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
  cv::setNumThreads(1);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lineup;
  const std::vector<uint8_t> bytes(data, data + size);
  LoadOptions options;
  options.max_pixels = 1 << 20;
  options.max_file_bytes = 20 << 20;
  options.reduce_jpeg_to_fit = true;
  cv::Mat image;
  try {
    image = DecodeImage(bytes, "upload", options);
  } catch (const Error&) {
    return 0;
  }
  FUZZ_CHECK(!image.empty() && image.type() == CV_8UC3, "decoded image is not non-empty CV_8UC3");
  FUZZ_CHECK(int64_t{image.cols} * image.rows <= options.max_pixels, "decoded image over the pixel cap");
  // DecodeImage succeeded, so the header parses.
  const ImageHeader header = ReadImageHeader(bytes, "upload");
  const int reduction = ReductionFor(header, options);
  FUZZ_CHECK(reduction > 0, "decoded an image ReductionFor refuses");
  int w = (header.width + reduction - 1) / reduction;
  int h = (header.height + reduction - 1) / reduction;
  if (header.exif_orientation >= 5) std::swap(w, h);
  FUZZ_CHECK(image.cols == w && image.rows == h, "decoded size differs from the header's");
  return 0;
}
