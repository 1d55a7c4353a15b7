// A plain reference forward pass of dlib's face descriptor ResNet, computed
// straight from the TF.js weights: NHWC float loops, scale layers applied as
// written (no folding), no OpenCV DNN. It exists to check the ONNX importer;
// it is slow (a fraction of a second per face) and not meant for production.
#pragma once

#include <vector>

#include <opencv2/core.hpp>

#include "models/tfjs_weights.h"

namespace lineup {

// rgb150: CV_8UC3, 150x150, RGB channel order. Returns the 128-d descriptor,
// not L2-normalised, with the same preprocessing as the imported ONNX graph
// (subtract kDlibResnetMeanRgb, divide by 256). Throws Error on a wrong image
// type/size or a missing/misshapen weight.
std::vector<float> DlibResnetReference(const TensorMap& weights, const cv::Mat& rgb150);

}  // namespace lineup
