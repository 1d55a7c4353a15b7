// A TensorFlow Lite model read into plain structs: tensors (with constant data
// dequantised to float) and operators (with the builtin options Lineup's
// importers understand). Read from the public TFLite FlatBuffers schema by our
// own reader; unsupported constructs are rejected with an Error naming them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace lineup {

// Builtin operator codes from the public TFLite schema (only those we name).
enum TfliteBuiltin : int32_t {
  kTfliteAdd = 0,
  kTfliteAveragePool2D = 1,
  kTfliteConcatenation = 2,
  kTfliteConv2D = 3,
  kTfliteDepthwiseConv2D = 4,
  kTfliteDequantize = 6,
  kTfliteFullyConnected = 9,
  kTfliteL2Normalization = 11,
  kTfliteLogistic = 14,
  kTfliteMaxPool2D = 17,
  kTfliteMul = 18,
  kTfliteRelu = 19,
  kTfliteRelu6 = 21,
  kTfliteReshape = 22,
  kTfliteSoftmax = 25,
  kTflitePad = 34,
  kTfliteTranspose = 39,
  kTfliteMean = 40,
  kTfliteSub = 41,
  kTfliteSqueeze = 43,
  kTflitePrelu = 54,
  kTfliteMaximum = 55,
  kTfliteNeg = 59,
  kTfliteAbs = 101,
};

// Fused activation codes.
enum TfliteActivation : int8_t { kActNone = 0, kActRelu = 1, kActRelu6 = 3 };

struct TfliteTensor {
  std::string name;
  std::vector<int32_t> shape;
  int8_t type = 0;                 // TensorType: 0 float32, 1 float16, 2 int32, 3 uint8, 9 int8
  bool is_constant = false;        // has data in a buffer
  std::vector<float> data;         // constant values, dequantised, row-major
  std::vector<int32_t> int_data;   // constant int32 values (shapes, axes)
};

struct TfliteOperator {
  int32_t builtin = -1;
  std::vector<int32_t> inputs;   // tensor indices, -1 = absent optional input
  std::vector<int32_t> outputs;
  // Options (meaning depends on the operator; defaults as in the schema).
  bool padding_same = true;
  int32_t stride_w = 1, stride_h = 1;
  int32_t dilation_w = 1, dilation_h = 1;
  int32_t depth_multiplier = 1;
  int32_t filter_w = 1, filter_h = 1;
  int8_t activation = kActNone;
  int32_t axis = 0;
  float beta = 1.f;
  bool keep_num_dims = false;
  std::vector<int32_t> new_shape;
};

struct TfliteModel {
  std::string source;  // file it was read from
  std::vector<TfliteTensor> tensors;
  std::vector<TfliteOperator> operators;
  std::vector<int32_t> inputs;
  std::vector<int32_t> outputs;
};

TfliteModel ReadTfliteModel(const std::filesystem::path& path);
TfliteModel ParseTfliteModel(const std::vector<uint8_t>& bytes, const std::string& name);

const char* TfliteBuiltinName(int32_t builtin);

}  // namespace lineup
