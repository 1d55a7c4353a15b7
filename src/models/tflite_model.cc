#include "models/tflite_model.h"

#include <cmath>
#include <cstring>

#include "common/error.h"
#include "models/half_float.h"
#include "common/file_util.h"
#include "models/flatbuffer_reader.h"

namespace lineup {

namespace {

// Field ids of the public TFLite schema tables we read.
namespace model_f { enum { kVersion = 0, kOperatorCodes = 1, kSubgraphs = 2, kBuffers = 4 }; }
namespace opcode_f { enum { kDeprecatedBuiltin = 0, kVersion = 2, kBuiltin = 3 }; }
namespace subgraph_f { enum { kTensors = 0, kInputs = 1, kOutputs = 2, kOperators = 3 }; }
namespace tensor_f { enum { kShape = 0, kType = 1, kBuffer = 2, kName = 3, kQuantization = 4 }; }
namespace quant_f { enum { kScale = 2, kZeroPoint = 3 }; }
namespace operator_f { enum { kOpcodeIndex = 0, kInputs = 1, kOutputs = 2, kOptionsType = 3, kOptions = 4 }; }
namespace buffer_f { enum { kData = 0 }; }

constexpr int8_t kFloat32 = 0, kFloat16 = 1, kInt32 = 2, kUint8 = 3, kInt8 = 9;

// The vector's length is the file's claim: Bytes() checks that all of it
// lies inside the buffer before anything is allocated for it.
std::vector<int32_t> IntVector(const fb::Vector& v) {
  std::span<const uint8_t> bytes = v.Bytes(sizeof(int32_t));
  std::vector<int32_t> out(v.size());
  if (!bytes.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());  // little-endian, as the host
  return out;
}

// The number of elements of a constant tensor of `shape` whose data has
// `data_bytes` bytes: each element takes at least one byte, so a negative
// dimension, or a product beyond data_bytes (checked before it can
// overflow), is an Error before anything is allocated.
int64_t ConstantElementCount(const std::vector<int32_t>& shape, size_t data_bytes,
                             const std::string& tensor, const std::string& where) {
  const int64_t limit = static_cast<int64_t>(data_bytes);
  int64_t n = 1;
  for (int32_t d : shape) {
    if (d < 0) throw Error(Context(where, "tensor '" + tensor + "' has a negative dimension"));
    if (d == 0) return 0;
  }
  for (int32_t d : shape) {
    if (n > limit / d) {
      throw Error(Context(where, "tensor '" + tensor + "' has a shape larger than its " +
                                     std::to_string(data_bytes) + " bytes of data"));
    }
    n *= d;
  }
  return n;
}

// Decodes a constant buffer into floats (dequantising per-tensor or per-axis).
void DecodeConstant(const fb::Table& tensor_table, std::span<const uint8_t> bytes,
                    TfliteTensor& tensor, const std::string& where) {
  const int64_t count = ConstantElementCount(tensor.shape, bytes.size(), tensor.name, where);
  auto need = [&](size_t element) {
    if (static_cast<int64_t>(bytes.size()) != count * static_cast<int64_t>(element)) {
      throw Error(Context(where, "tensor '" + tensor.name + "' has " +
                                     std::to_string(bytes.size()) + " bytes for " +
                                     std::to_string(count) + " elements"));
    }
  };
  tensor.data.resize(count);  // count <= bytes.size(): bounded by the file
  switch (tensor.type) {
    case kFloat32:
      need(4);
      std::memcpy(tensor.data.data(), bytes.data(), bytes.size());
      return;
    case kFloat16:
      need(2);
      for (int64_t i = 0; i < count; ++i) {
        uint16_t h;
        std::memcpy(&h, bytes.data() + 2 * i, 2);
        tensor.data[i] = HalfToFloat(h);
      }
      return;
    case kInt32:
      need(4);
      tensor.int_data.resize(count);
      std::memcpy(tensor.int_data.data(), bytes.data(), bytes.size());
      for (int64_t i = 0; i < count; ++i) tensor.data[i] = static_cast<float>(tensor.int_data[i]);
      return;
    case kUint8:
    case kInt8: {
      need(1);
      fb::Table quant = tensor_table.SubTable(tensor_f::kQuantization);
      fb::Vector scales = quant.VectorField(quant_f::kScale);
      fb::Vector zeros = quant.VectorField(quant_f::kZeroPoint);
      if (scales.size() != 1 || zeros.size() > 1) {
        throw Error(Context(where, "tensor '" + tensor.name +
                                       "': only per-tensor quantisation is supported"));
      }
      float scale = scales.Scalar<float>(0);
      int64_t zero = zeros.size() ? zeros.Scalar<int64_t>(0) : 0;
      // The schema's zero point is an int64 but lies in the quantised type's
      // range; any other value is corrupt (and q - zero could overflow).
      const int64_t lowest = tensor.type == kUint8 ? 0 : -128, highest = tensor.type == kUint8 ? 255 : 127;
      if (zero < lowest || zero > highest) {
        throw Error(Context(where, "tensor '" + tensor.name + "' has zero point " + std::to_string(zero) +
                                       " outside " + std::to_string(lowest) + ".." + std::to_string(highest)));
      }
      for (int64_t i = 0; i < count; ++i) {
        int32_t q = tensor.type == kUint8 ? int32_t{bytes[i]} : int32_t{static_cast<int8_t>(bytes[i])};
        tensor.data[i] = scale * static_cast<float>(q - zero);
      }
      return;
    }
    default:
      throw Error(Context(where, "tensor '" + tensor.name + "' has unsupported type " +
                                     std::to_string(tensor.type)));
  }
}

void ReadOptions(const fb::Table& op_table, TfliteOperator& op) {
  uint8_t type = op_table.Scalar<uint8_t>(operator_f::kOptionsType, 0);
  fb::Table o = op_table.SubTable(operator_f::kOptions);
  if (!o.valid()) return;
  switch (type) {
    case 1:  // Conv2DOptions
      op.padding_same = o.Scalar<int8_t>(0, 0) == 0;
      op.stride_w = o.Scalar<int32_t>(1, 1);
      op.stride_h = o.Scalar<int32_t>(2, 1);
      op.activation = o.Scalar<int8_t>(3, 0);
      op.dilation_w = o.Scalar<int32_t>(4, 1);
      op.dilation_h = o.Scalar<int32_t>(5, 1);
      break;
    case 2:  // DepthwiseConv2DOptions
      op.padding_same = o.Scalar<int8_t>(0, 0) == 0;
      op.stride_w = o.Scalar<int32_t>(1, 1);
      op.stride_h = o.Scalar<int32_t>(2, 1);
      op.depth_multiplier = o.Scalar<int32_t>(3, 1);
      op.activation = o.Scalar<int8_t>(4, 0);
      op.dilation_w = o.Scalar<int32_t>(5, 1);
      op.dilation_h = o.Scalar<int32_t>(6, 1);
      break;
    case 5:  // Pool2DOptions
      op.padding_same = o.Scalar<int8_t>(0, 0) == 0;
      op.stride_w = o.Scalar<int32_t>(1, 1);
      op.stride_h = o.Scalar<int32_t>(2, 1);
      op.filter_w = o.Scalar<int32_t>(3, 1);
      op.filter_h = o.Scalar<int32_t>(4, 1);
      op.activation = o.Scalar<int8_t>(5, 0);
      break;
    case 8:  // FullyConnectedOptions
      op.activation = o.Scalar<int8_t>(0, 0);
      op.keep_num_dims = o.Scalar<uint8_t>(2, 0) != 0;
      break;
    case 9:  // SoftmaxOptions
      op.beta = o.Scalar<float>(0, 1.f);
      break;
    case 10:  // ConcatenationOptions
      op.axis = o.Scalar<int32_t>(0, 0);
      op.activation = o.Scalar<int8_t>(1, 0);
      break;
    case 11:  // AddOptions
    case 21:  // MulOptions
    case 28:  // SubOptions
      op.activation = o.Scalar<int8_t>(0, 0);
      break;
    case 17:  // ReshapeOptions
      op.new_shape = IntVector(o.VectorField(0));
      break;
    default:
      break;
  }
}

}  // namespace

TfliteModel ParseTfliteModel(const std::vector<uint8_t>& bytes, const std::string& name) {
  if (bytes.size() < 8 || std::memcmp(bytes.data() + 4, "TFL3", 4) != 0) {
    throw Error(Context(name, "not a TensorFlow Lite model (no TFL3 identifier)"));
  }
  fb::Buffer buffer(bytes, name);
  fb::Table root = fb::Root(buffer);
  fb::Vector subgraphs = root.VectorField(model_f::kSubgraphs);
  if (subgraphs.size() != 1) {
    throw Error(Context(name, "expected one subgraph, found " + std::to_string(subgraphs.size())));
  }
  fb::Vector opcodes = root.VectorField(model_f::kOperatorCodes);
  fb::Vector buffers = root.VectorField(model_f::kBuffers);
  fb::Table graph = subgraphs.TableAt(0);

  TfliteModel model;
  model.source = name;
  fb::Vector tensors = graph.VectorField(subgraph_f::kTensors);
  for (uint32_t i = 0; i < tensors.size(); ++i) {
    fb::Table t = tensors.TableAt(i);
    TfliteTensor tensor;
    tensor.name = t.String(tensor_f::kName);
    tensor.shape = IntVector(t.VectorField(tensor_f::kShape));
    tensor.type = t.Scalar<int8_t>(tensor_f::kType, 0);
    uint32_t buffer_index = t.Scalar<uint32_t>(tensor_f::kBuffer, 0);
    if (buffer_index >= buffers.size() && buffer_index != 0) {
      throw Error(Context(name, "tensor '" + tensor.name + "' names a missing buffer"));
    }
    if (buffer_index != 0) {
      auto data = buffers.TableAt(buffer_index).VectorField(buffer_f::kData).Bytes(1);
      if (!data.empty()) {
        tensor.is_constant = true;
        DecodeConstant(t, data, tensor, name);
      }
    }
    model.tensors.push_back(std::move(tensor));
  }
  auto check_index = [&](int32_t index) {
    if (index < -1 || index >= static_cast<int32_t>(model.tensors.size())) {
      throw Error(Context(name, "operator refers to tensor " + std::to_string(index) +
                                    " of " + std::to_string(model.tensors.size())));
    }
  };
  fb::Vector operators = graph.VectorField(subgraph_f::kOperators);
  for (uint32_t i = 0; i < operators.size(); ++i) {
    fb::Table o = operators.TableAt(i);
    TfliteOperator op;
    uint32_t opcode_index = o.Scalar<uint32_t>(operator_f::kOpcodeIndex, 0);
    fb::Table code = opcodes.TableAt(opcode_index);
    int32_t builtin = code.Scalar<int32_t>(opcode_f::kBuiltin, 0);
    int32_t deprecated = code.Scalar<int8_t>(opcode_f::kDeprecatedBuiltin, 0);
    op.builtin = std::max(builtin, deprecated);
    op.inputs = IntVector(o.VectorField(operator_f::kInputs));
    op.outputs = IntVector(o.VectorField(operator_f::kOutputs));
    for (int32_t index : op.inputs) check_index(index);
    for (int32_t index : op.outputs) check_index(index);
    ReadOptions(o, op);
    model.operators.push_back(std::move(op));
  }
  model.inputs = IntVector(graph.VectorField(subgraph_f::kInputs));
  model.outputs = IntVector(graph.VectorField(subgraph_f::kOutputs));
  for (int32_t index : model.inputs) check_index(index);
  for (int32_t index : model.outputs) check_index(index);
  return model;
}

TfliteModel ReadTfliteModel(const std::filesystem::path& path) {
  return ParseTfliteModel(ReadFileBytes(path, int64_t{1} << 30), path.string());
}

const char* TfliteBuiltinName(int32_t builtin) {
  switch (builtin) {
    case kTfliteAdd: return "ADD";
    case kTfliteAveragePool2D: return "AVERAGE_POOL_2D";
    case kTfliteConcatenation: return "CONCATENATION";
    case kTfliteConv2D: return "CONV_2D";
    case kTfliteDepthwiseConv2D: return "DEPTHWISE_CONV_2D";
    case kTfliteDequantize: return "DEQUANTIZE";
    case kTfliteFullyConnected: return "FULLY_CONNECTED";
    case kTfliteL2Normalization: return "L2_NORMALIZATION";
    case kTfliteLogistic: return "LOGISTIC";
    case kTfliteMaxPool2D: return "MAX_POOL_2D";
    case kTfliteMul: return "MUL";
    case kTfliteRelu: return "RELU";
    case kTfliteRelu6: return "RELU6";
    case kTfliteReshape: return "RESHAPE";
    case kTfliteSoftmax: return "SOFTMAX";
    case kTflitePad: return "PAD";
    case kTfliteTranspose: return "TRANSPOSE";
    case kTfliteMean: return "MEAN";
    case kTfliteSub: return "SUB";
    case kTfliteSqueeze: return "SQUEEZE";
    case kTflitePrelu: return "PRELU";
    case kTfliteMaximum: return "MAXIMUM";
    case kTfliteNeg: return "NEG";
    case kTfliteAbs: return "ABS";
    default: return "UNKNOWN";
  }
}

}  // namespace lineup
