#include "detect/anchors.h"

#include <cmath>

#include "common/error.h"

namespace lineup {

SsdAnchorOptions BlazeFaceFrontAnchorOptions() {
  SsdAnchorOptions options;
  options.input_size = 128;
  options.strides = {8, 16, 16, 16};
  return options;
}

SsdAnchorOptions BlazeFaceBackAnchorOptions() {
  SsdAnchorOptions options;
  options.input_size = 256;
  options.strides = {16, 32, 32, 32};
  return options;
}

std::vector<cv::Point2f> GenerateSsdAnchorCentres(const SsdAnchorOptions& options) {
  if (options.input_size <= 0 || options.strides.empty() || options.anchors_per_layer <= 0) {
    throw Error(Context("SSD anchors", "invalid anchor options"));
  }
  std::vector<cv::Point2f> centres;
  size_t layer = 0;
  while (layer < options.strides.size()) {
    // Consecutive layers with the same stride share one feature map.
    const int stride = options.strides[layer];
    size_t group_end = layer;
    while (group_end < options.strides.size() && options.strides[group_end] == stride) {
      ++group_end;
    }
    if (stride <= 0) throw Error(Context("SSD anchors", "stride must be positive"));
    const int cells = static_cast<int>(std::ceil(static_cast<float>(options.input_size) / stride));
    const int per_cell = static_cast<int>(group_end - layer) * options.anchors_per_layer;
    for (int y = 0; y < cells; ++y) {
      for (int x = 0; x < cells; ++x) {
        const cv::Point2f centre((x + options.offset) / cells, (y + options.offset) / cells);
        for (int i = 0; i < per_cell; ++i) centres.push_back(centre);
      }
    }
    layer = group_end;
  }
  return centres;
}

}  // namespace lineup
