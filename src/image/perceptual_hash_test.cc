#include "image/perceptual_hash.h"

#include <bit>
#include <limits>
#include <vector>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/error.h"

namespace lineup {
namespace {

// A picture with structure at several scales: a diagonal gradient, a disc,
// a bar and a triangle, placed by `layout` (0 or 1 give different pictures).
cv::Mat MakePicture(int layout, int width = 320, int height = 240) {
  cv::Mat image(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const int g = layout == 0 ? 255 * x / width : 255 * y / height;
      image.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uint8_t>(g), static_cast<uint8_t>(128),
                                            static_cast<uint8_t>(255 - g));
    }
  }
  const double sx = width / 320.0, sy = height / 240.0;
  auto at = [&](int x, int y) { return cv::Point(static_cast<int>(x * sx), static_cast<int>(y * sy)); };
  if (layout == 0) {
    cv::circle(image, at(90, 80), static_cast<int>(45 * sx), cv::Scalar(255, 255, 255), cv::FILLED);
    cv::rectangle(image, at(180, 140), at(300, 200), cv::Scalar(0, 0, 0), cv::FILLED);
    std::vector<cv::Point> triangle = {at(40, 220), at(140, 150), at(150, 230)};
    cv::fillConvexPoly(image, triangle, cv::Scalar(30, 200, 60));
  } else {
    cv::circle(image, at(240, 170), static_cast<int>(50 * sx), cv::Scalar(0, 0, 0), cv::FILLED);
    cv::rectangle(image, at(20, 20), at(120, 60), cv::Scalar(255, 255, 255), cv::FILLED);
    std::vector<cv::Point> triangle = {at(200, 20), at(300, 40), at(220, 110)};
    cv::fillConvexPoly(image, triangle, cv::Scalar(200, 30, 160));
  }
  return image;
}

cv::Mat JpegRoundTrip(const cv::Mat& image, int quality) {
  std::vector<uint8_t> bytes;
  cv::imencode(".jpg", image, bytes, {cv::IMWRITE_JPEG_QUALITY, quality});
  return cv::imdecode(bytes, cv::IMREAD_COLOR);
}

TEST(PerceptualHash, HammingDistanceCountsDifferingBits) {
  EXPECT_EQ(HammingDistance(0, 0), 0);
  EXPECT_EQ(HammingDistance(0, ~uint64_t{0}), 64);
  EXPECT_EQ(HammingDistance(0b1011, 0b0001), 2);
  EXPECT_EQ(HammingDistance(0b1011, 0b0001), HammingDistance(0b0001, 0b1011));
  EXPECT_EQ(HammingDistance(uint64_t{1} << 63, 1), 2);
}

TEST(PerceptualHash, HalfTheAcBitsAreSetAndDcIsZero) {
  for (int layout : {0, 1}) {
    const uint64_t hash = PerceptualHash(MakePicture(layout));
    EXPECT_EQ(hash & 1, 0u);
    EXPECT_EQ(std::popcount(hash), 31) << std::hex << hash;  // above the median of 63
  }
}

TEST(PerceptualHash, RecompressionAndResizingChangeFewBits) {
  const cv::Mat original = MakePicture(0);
  const uint64_t hash = PerceptualHash(original);
  for (int quality : {90, 60, 40}) {
    const int distance = HammingDistance(hash, PerceptualHash(JpegRoundTrip(original, quality)));
    EXPECT_LE(distance, 4) << "JPEG quality " << quality;
  }
  cv::Mat half, half_linear, double_size;
  cv::resize(original, half, cv::Size(), 0.5, 0.5, cv::INTER_AREA);
  cv::resize(original, half_linear, cv::Size(), 0.5, 0.5, cv::INTER_LINEAR);
  cv::resize(original, double_size, cv::Size(), 2.0, 2.0, cv::INTER_CUBIC);
  EXPECT_LE(HammingDistance(hash, PerceptualHash(half)), 4);
  EXPECT_LE(HammingDistance(hash, PerceptualHash(half_linear)), 4);
  EXPECT_LE(HammingDistance(hash, PerceptualHash(double_size)), 4);
  // Both at once, as a re-shared photo would be.
  EXPECT_LE(HammingDistance(hash, PerceptualHash(JpegRoundTrip(half, 50))), 6);
  // Drawn at another resolution (not resampled): the same picture.
  EXPECT_LE(HammingDistance(hash, PerceptualHash(MakePicture(0, 640, 480))), 6);
}

TEST(PerceptualHash, DifferentPicturesAreFarApart) {
  const uint64_t a = PerceptualHash(MakePicture(0));
  const uint64_t b = PerceptualHash(MakePicture(1));
  EXPECT_GE(HammingDistance(a, b), 20);
  cv::Mat mirrored;
  cv::flip(MakePicture(0), mirrored, 1);  // documented: not tolerated
  EXPECT_GE(HammingDistance(a, PerceptualHash(mirrored)), 10);
}

TEST(PerceptualHash, SameForGreyAlphaDepthsAndBrightnessScale) {
  const cv::Mat bgr = MakePicture(0);
  cv::Mat grey, bgra, bgr16, bgr_float, grey_double, brighter;
  cv::cvtColor(bgr, grey, cv::COLOR_BGR2GRAY);
  cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
  bgr.convertTo(bgr16, CV_16U, 257.0);
  bgr.convertTo(bgr_float, CV_32F, 1.0 / 255.0);
  grey.convertTo(grey_double, CV_64F, 3.0, -100.0);  // scale and offset
  bgr.convertTo(brighter, CV_8U, 0.6, 40.0);          // no clipping: 0.6 * 255 + 40 < 255
  const uint64_t hash = PerceptualHash(bgr);
  for (const cv::Mat* variant : {&grey, &bgra, &bgr16, &bgr_float, &grey_double, &brighter}) {
    EXPECT_LE(HammingDistance(hash, PerceptualHash(*variant)), 2)
        << "type " << variant->type();
  }
  // Grey vs its own 16-bit copy: exactly linear, identical up to float ties.
  cv::Mat grey16;
  grey.convertTo(grey16, CV_16U, 257.0);
  EXPECT_LE(HammingDistance(PerceptualHash(grey), PerceptualHash(grey16)), 1);
}

TEST(PerceptualHash, OddInputsDoNotBreakIt) {
  EXPECT_THROW(PerceptualHash(cv::Mat()), Error);
  cv::Mat tiny(3, 2, CV_8UC1, cv::Scalar(7));
  tiny.at<uint8_t>(0, 0) = 200;
  EXPECT_NO_THROW(PerceptualHash(tiny));
  const uint64_t flat = PerceptualHash(cv::Mat(50, 50, CV_8UC3, cv::Scalar(9, 9, 9)));
  EXPECT_EQ(flat, 0u);  // all AC coefficients are 0: none above the median
  EXPECT_EQ(PerceptualHash(cv::Mat(20, 30, CV_16UC1, cv::Scalar(60000))), 0u);
  cv::Mat clean, with_nan;
  cv::cvtColor(MakePicture(0), clean, cv::COLOR_BGR2GRAY);
  clean.convertTo(clean, CV_32F, 1.0 / 255.0);
  clean.copyTo(with_nan);
  with_nan.at<float>(3, 30) = std::numeric_limits<float>::quiet_NaN();
  with_nan.at<float>(35, 9) = std::numeric_limits<float>::infinity();
  EXPECT_LE(HammingDistance(PerceptualHash(clean), PerceptualHash(with_nan)), 4);
  EXPECT_NE(PerceptualHash(with_nan), 0u);
  cv::Mat two_channels(40, 40, CV_8UC2, cv::Scalar(10, 200));
  EXPECT_NO_THROW(PerceptualHash(two_channels));
  cv::Mat signed16(40, 40, CV_16SC3, cv::Scalar(-300, 0, 300));
  EXPECT_NO_THROW(PerceptualHash(signed16));
}

}  // namespace
}  // namespace lineup
