#include "image/perceptual_hash.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "common/error.h"

namespace lineup {
namespace {

constexpr int kSide = 32;  // DCT input is kSide x kSide
constexpr int kKept = 8;   // kKept x kKept lowest frequencies

// One grey float channel, values on the image's own scale.
cv::Mat GreyFloat(const cv::Mat& image) {
  cv::Mat single;
  if (image.channels() == 1) {
    single = image;
  } else if ((image.channels() == 3 || image.channels() == 4) &&
             (image.depth() == CV_8U || image.depth() == CV_16U || image.depth() == CV_32F)) {
    cv::cvtColor(image, single, image.channels() == 3 ? cv::COLOR_BGR2GRAY : cv::COLOR_BGRA2GRAY);
  } else if (image.channels() == 3 || image.channels() == 4) {
    cv::Mat as_float;
    image.convertTo(as_float, CV_32F);
    cv::cvtColor(as_float, single, image.channels() == 3 ? cv::COLOR_BGR2GRAY : cv::COLOR_BGRA2GRAY);
  } else {
    cv::extractChannel(image, single, 0);
  }
  cv::Mat grey;
  single.convertTo(grey, CV_32F);
  if (image.depth() == CV_32F || image.depth() == CV_64F || image.depth() == CV_16F) {
    // NaN and infinity would spread through resizing and the DCT: they count as 0.
    for (int y = 0; y < grey.rows; ++y) {
      float* row = grey.ptr<float>(y);
      for (int x = 0; x < grey.cols; ++x) {
        if (!std::isfinite(row[x])) row[x] = 0.f;
      }
    }
  }
  return grey;
}

}  // namespace

uint64_t PerceptualHash(const cv::Mat& image) {
  if (image.empty()) throw Error("perceptual hash: empty image");
  cv::Mat small;
  cv::resize(GreyFloat(image), small, cv::Size(kSide, kSide), 0, 0, cv::INTER_AREA);
  cv::Mat frequencies;
  cv::dct(small, frequencies);

  // Coefficients this small relative to the image are float rounding, not
  // content: they count as 0, so a flat image hashes to 0 instead of to
  // rounding noise.
  const double negligible = 1e-5 * cv::norm(small);
  std::array<float, kKept * kKept> low{};
  for (int r = 0; r < kKept; ++r) {
    for (int c = 0; c < kKept; ++c) {
      const float value = frequencies.at<float>(r, c);
      // (isfinite: float overflow in the DCT must not break the median's ordering.)
      const bool keep = std::isfinite(value) && std::abs(value) > negligible;
      low[r * kKept + c] = keep ? value : 0.f;
    }
  }
  std::array<float, kKept * kKept - 1> ac{};
  std::copy(low.begin() + 1, low.end(), ac.begin());
  auto middle = ac.begin() + ac.size() / 2;  // 63 values: the 32nd smallest is the median
  std::nth_element(ac.begin(), middle, ac.end());
  const float median = *middle;

  uint64_t hash = 0;
  for (int i = 1; i < kKept * kKept; ++i) {
    if (low[i] > median) hash |= uint64_t{1} << i;
  }
  return hash;
}

int HammingDistance(uint64_t a, uint64_t b) { return std::popcount(a ^ b); }

}  // namespace lineup
