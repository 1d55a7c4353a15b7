// Translates a TfliteModel (NHWC, TFLite semantics) into an ONNX graph (NCHW)
// that OpenCV 4.6 DNN runs.
//
// Layout: every 4-D activation becomes NCHW; weights are permuted accordingly
// (conv OHWI -> OIHW, depthwise 1HWC -> C1HW, fully-connected columns that
// follow a 4-D input are reordered from HWC to CHW flattening order). The
// graph input is NCHW float with the model's declared H, W; the batch is
// symbolic. Constant padding of SAME convolutions is computed from the model's
// declared shapes; max-pool SAME uses ceil_mode, which stays exact for other
// input sizes, so fully convolutional models (MTCNN's P-Net) accept any size.
//
// Recognised idioms are fused into single ONNX ops:
//   relu(x) + a * (x - |x|)          -> PRelu(x, 2a)   (MobileFaceNet)
//   relu(x) + a * -relu(-x)          -> PRelu(x, a)    (MTCNN)
//   exp(x - max(x)) / sum(exp(...))  -> Softmax over channels
// Anything the translator does not know throws Error naming the operator.
#pragma once

#include <filesystem>
#include <string>

#include "models/onnx_builder.h"
#include "models/tflite_model.h"

namespace lineup {

struct TfliteImportOptions {
  std::string graph_name = "model";
  // Leave the input's spatial size symbolic (for fully convolutional nets).
  bool dynamic_spatial = false;
};

OnnxBuilder TfliteToOnnx(const TfliteModel& model, const TfliteImportOptions& options);

// Reads `tflite`, translates it and writes `onnx_out` atomically.
void ImportTflite(const std::filesystem::path& tflite, const std::filesystem::path& onnx_out,
                  const TfliteImportOptions& options);

}  // namespace lineup
