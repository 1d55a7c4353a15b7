// A deliberately plain interpreter of TfliteModel graphs: NHWC float tensors,
// TFLite semantics, shapes inferred from the actual input, nested loops, no
// fusions and no layout changes. It exists to check the ONNX translation
// (tflite_to_onnx) numerically against an independent computation; it is far
// too slow for production use.
#pragma once

#include <vector>

#include "models/tflite_model.h"

namespace lineup {

struct NhwcTensor {
  std::vector<int> shape;  // e.g. {1, H, W, C}
  std::vector<float> data;
};

// Runs the graph on `input` (the model's single input) and returns the model's
// outputs in order. Throws Error for operators it does not implement.
std::vector<NhwcTensor> RunTfliteReference(const TfliteModel& model, const NhwcTensor& input);

}  // namespace lineup
