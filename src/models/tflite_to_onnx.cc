#include "models/tflite_to_onnx.h"

#include <optional>

#include "common/error.h"

namespace lineup {

namespace {

constexpr int32_t kTfliteReduceMax = 82;
constexpr int32_t kTfliteExp = 47;
constexpr int32_t kTfliteSum = 74;
constexpr int32_t kTfliteDiv = 42;

struct SamePads {
  int64_t begin, end;
};

// TFLite SAME padding along one axis for the declared input size.
SamePads ComputeSamePads(int64_t in, int64_t kernel, int64_t stride, int64_t dilation) {
  int64_t out = (in + stride - 1) / stride;
  int64_t total = std::max<int64_t>((out - 1) * stride + (kernel - 1) * dilation + 1 - in, 0);
  return {total / 2, total - total / 2};
}

// NHWC axis -> NCHW axis for 4-D tensors.
int64_t ToNchwAxis(int32_t axis) {
  static const int64_t kMap[4] = {0, 2, 3, 1};
  return kMap[(axis + 4) % 4];
}

class Translator {
 public:
  Translator(const TfliteModel& model, const TfliteImportOptions& options)
      : model_(model), options_(options), builder_(options.graph_name, 13),
        onnx_names_(model.tensors.size()), consumers_(model.tensors.size()),
        consumed_(model.operators.size(), false) {
    for (size_t i = 0; i < model.operators.size(); ++i) {
      for (int32_t in : model.operators[i].inputs) {
        if (in >= 0) consumers_[in].push_back(static_cast<int>(i));
      }
    }
  }

  OnnxBuilder Run() {
    AddGraphInput();
    for (size_t i = 0; i < model_.operators.size(); ++i) {
      if (consumed_[i]) continue;
      if (TryFusePrelu(static_cast<int>(i)) || TryFuseSoftmax(static_cast<int>(i))) continue;
      Translate(model_.operators[i]);
    }
    AddGraphOutputs();
    return std::move(builder_);
  }

 private:
  [[noreturn]] void Fail(const std::string& what) const {
    throw Error(Context(model_.source, what));
  }

  const TfliteTensor& T(int32_t index) const { return model_.tensors[index]; }
  int Rank(int32_t index) const { return static_cast<int>(T(index).shape.size()); }

  const std::string& Name(int32_t index) {
    if (onnx_names_[index].empty()) {
      const TfliteTensor& t = T(index);
      if (!t.is_constant) Fail("tensor '" + t.name + "' is used before it is produced");
      onnx_names_[index] = builder_.AddFloatTensor(t.name, Dims(t.shape), t.data);
    }
    return onnx_names_[index];
  }

  static std::vector<int64_t> Dims(const std::vector<int32_t>& shape) {
    return std::vector<int64_t>(shape.begin(), shape.end());
  }

  void AddGraphInput() {
    if (model_.inputs.size() != 1) Fail("expected one input tensor");
    const TfliteTensor& in = T(model_.inputs[0]);
    if (in.shape.size() == 4) {
      int64_t h = options_.dynamic_spatial ? -1 : in.shape[1];
      int64_t w = options_.dynamic_spatial ? -1 : in.shape[2];
      builder_.AddInput("input", {-1, in.shape[3], h, w});
    } else if (in.shape.size() == 2) {
      builder_.AddInput("input", {-1, in.shape[1]});
    } else {
      Fail("unsupported input rank " + std::to_string(in.shape.size()));
    }
    onnx_names_[model_.inputs[0]] = "input";
  }

  void AddGraphOutputs() {
    for (int32_t index : model_.outputs) {
      std::string name = T(index).name;
      for (char& c : name) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
      }
      std::vector<int64_t> dims = Dims(T(index).shape);
      if (dims.size() == 4) dims = {dims[0], dims[3], dims[1], dims[2]};
      dims[0] = -1;
      if (options_.dynamic_spatial && dims.size() == 4) dims[2] = dims[3] = -1;
      builder_.AddNodeWithOutputs("Identity", {Name(index)}, {name});
      builder_.AddOutput(name, dims);
    }
  }

  // A per-channel (or scalar) constant shaped to broadcast against an
  // activation of the given rank in NCHW layout.
  std::string BroadcastConstant(const TfliteTensor& c, int activation_rank,
                                const std::vector<float>& values) {
    int64_t n = static_cast<int64_t>(values.size());
    std::vector<int64_t> dims;
    if (n == 1) {
      dims = {1};
    } else if (activation_rank == 4) {
      dims = {1, n, 1, 1};
    } else {
      dims = {1, n};
    }
    return builder_.AddFloatTensor(c.name, dims, values);
  }

  // Appends the fused activation of `op` to `value`; returns the result's name.
  std::string Activate(const std::string& value, int8_t activation) {
    switch (activation) {
      case kActNone:
        return value;
      case kActRelu:
        return builder_.AddNode("Relu", {value}, value + "_relu");
      case kActRelu6: {
        std::string lo = builder_.AddFloatTensor("zero", {}, {0.f});
        std::string hi = builder_.AddFloatTensor("six", {}, {6.f});
        return builder_.AddNode("Clip", {value, lo, hi}, value + "_relu6");
      }
      default:
        Fail("unsupported fused activation " + std::to_string(activation));
    }
  }

  void Emit(const TfliteOperator& op, const std::string& value) {
    onnx_names_[op.outputs[0]] = Activate(value, op.activation);
  }

  // ---- idiom fusion ------------------------------------------------------

  // The single consumer op of tensor `index`, if there is exactly one.
  std::optional<int> OnlyConsumer(int32_t index) const {
    if (consumers_[index].size() != 1) return std::nullopt;
    return consumers_[index][0];
  }
  const TfliteOperator& Op(int i) const { return model_.operators[i]; }
  int32_t Out(int i) const { return Op(i).outputs[0]; }

  // The constant operand of a binary op and the other (activation) operand.
  bool SplitConstant(const TfliteOperator& op, int32_t* constant, int32_t* other) const {
    if (op.inputs.size() != 2) return false;
    bool c0 = T(op.inputs[0]).is_constant, c1 = T(op.inputs[1]).is_constant;
    if (c0 == c1) return false;
    *constant = c0 ? op.inputs[0] : op.inputs[1];
    *other = c0 ? op.inputs[1] : op.inputs[0];
    return true;
  }

  // Matches MUL(const a, y) -> ADD(relu_out, mul_out); returns the ADD op.
  std::optional<int> MatchScaledAdd(int32_t y, int32_t relu_out, int32_t* alpha) const {
    auto mul = OnlyConsumer(y);
    int32_t other;
    if (!mul || Op(*mul).builtin != kTfliteMul || !SplitConstant(Op(*mul), alpha, &other)) {
      return std::nullopt;
    }
    auto add = OnlyConsumer(Out(*mul));
    if (!add || Op(*add).builtin != kTfliteAdd || Op(*add).activation != kActNone) return std::nullopt;
    const auto& in = Op(*add).inputs;
    if (!((in[0] == relu_out && in[1] == Out(*mul)) || (in[1] == relu_out && in[0] == Out(*mul)))) {
      return std::nullopt;
    }
    return add;
  }

  bool TryFusePrelu(int relu_index) {
    const TfliteOperator& relu = Op(relu_index);
    if (relu.builtin != kTfliteRelu) return false;
    int32_t x = relu.inputs[0];
    int32_t relu_out = relu.outputs[0];
    for (int sibling : consumers_[x]) {
      if (sibling == relu_index) continue;
      std::vector<int> chain;
      int32_t negative_part = -1;
      float slope_factor = 1.f;
      size_t users_of_x = 2;  // relu and neg; the abs form also feeds x to the sub
      if (Op(sibling).builtin == kTfliteAbs) {
        // relu(x) + a * (x - |x|): x - |x| = 2 min(x, 0).
        auto sub = OnlyConsumer(Out(sibling));
        if (!sub || Op(*sub).builtin != kTfliteSub || Op(*sub).inputs[0] != x ||
            Op(*sub).inputs[1] != Out(sibling)) {
          continue;
        }
        chain = {sibling, *sub};
        negative_part = Out(*sub);
        slope_factor = 2.f;
        users_of_x = 3;
      } else if (Op(sibling).builtin == kTfliteNeg) {
        // relu(x) + a * -relu(-x): -relu(-x) = min(x, 0).
        auto relu2 = OnlyConsumer(Out(sibling));
        if (!relu2 || Op(*relu2).builtin != kTfliteRelu) continue;
        auto neg2 = OnlyConsumer(Out(*relu2));
        if (!neg2 || Op(*neg2).builtin != kTfliteNeg) continue;
        chain = {sibling, *relu2, *neg2};
        negative_part = Out(*neg2);
      } else {
        continue;
      }
      int32_t alpha = -1;
      auto add = MatchScaledAdd(negative_part, relu_out, &alpha);
      if (!add || consumers_[relu_out].size() != 1 || consumers_[x].size() != users_of_x) continue;
      std::vector<float> slope = T(alpha).data;
      for (float& s : slope) s *= slope_factor;
      std::vector<int64_t> dims = {static_cast<int64_t>(slope.size())};
      if (Rank(x) == 4) dims = {static_cast<int64_t>(slope.size()), 1, 1};
      std::string slope_name = builder_.AddFloatTensor(T(alpha).name, dims, slope);
      onnx_names_[Out(*add)] = builder_.AddNode("PRelu", {Name(x), slope_name}, "prelu");
      for (int i : chain) consumed_[i] = true;
      consumed_[*OnlyConsumer(negative_part)] = true;  // the MUL
      consumed_[*add] = true;
      return true;
    }
    return false;
  }

  bool IsLastAxisReduction(const TfliteOperator& op) const {
    if (op.inputs.size() != 2 || !T(op.inputs[1]).is_constant) return false;
    const auto& axes = T(op.inputs[1]).int_data;
    int rank = Rank(op.inputs[0]);
    return axes.size() == 1 && (axes[0] == rank - 1 || axes[0] == -1);
  }

  bool TryFuseSoftmax(int max_index) {
    const TfliteOperator& max_op = Op(max_index);
    if (max_op.builtin != kTfliteReduceMax || !IsLastAxisReduction(max_op)) return false;
    int32_t x = max_op.inputs[0];
    auto sub = OnlyConsumer(Out(max_index));
    if (!sub || Op(*sub).builtin != kTfliteSub || Op(*sub).inputs[0] != x) return false;
    auto exp = OnlyConsumer(Out(*sub));
    if (!exp || Op(*exp).builtin != kTfliteExp) return false;
    const auto& exp_users = consumers_[Out(*exp)];
    if (exp_users.size() != 2) return false;
    int sum = -1, div = -1;
    for (int u : exp_users) {
      if (Op(u).builtin == kTfliteSum && IsLastAxisReduction(Op(u))) sum = u;
      if (Op(u).builtin == kTfliteDiv) div = u;
    }
    if (sum < 0 || div < 0 || Op(div).inputs[0] != Out(*exp) || Op(div).inputs[1] != Out(sum)) {
      return false;
    }
    onnx_names_[Out(div)] =
        builder_.AddNode("Softmax", {Name(x)}, "softmax", {OnnxAttr::Int("axis", 1)});
    for (int i : {max_index, *sub, *exp, sum, div}) consumed_[i] = true;
    return true;
  }

  // ---- single operators -----------------------------------------------------

  std::vector<int64_t> ConvPads(const TfliteOperator& op, int64_t kh, int64_t kw) {
    if (!op.padding_same) return {0, 0, 0, 0};
    const auto& in = T(op.inputs[0]).shape;
    SamePads ph = ComputeSamePads(in[1], kh, op.stride_h, op.dilation_h);
    SamePads pw = ComputeSamePads(in[2], kw, op.stride_w, op.dilation_w);
    bool padded = ph.begin || ph.end || pw.begin || pw.end;
    if (padded && options_.dynamic_spatial) {
      Fail("SAME-padded convolution cannot be exported with a symbolic input size");
    }
    return {ph.begin, pw.begin, ph.end, pw.end};
  }

  void TranslateConv(const TfliteOperator& op, bool depthwise) {
    const TfliteTensor& w = T(op.inputs[1]);
    if (!w.is_constant || w.shape.size() != 4) Fail("convolution with non-constant weights");
    int64_t kh = w.shape[1], kw = w.shape[2];
    std::vector<float> weights(w.data.size());
    std::vector<int64_t> dims;
    int64_t group = 1;
    if (!depthwise) {  // OHWI -> OIHW
      int64_t o = w.shape[0], ci = w.shape[3];
      for (int64_t a = 0; a < o; ++a)
        for (int64_t y = 0; y < kh; ++y)
          for (int64_t x = 0; x < kw; ++x)
            for (int64_t c = 0; c < ci; ++c)
              weights[((a * ci + c) * kh + y) * kw + x] = w.data[((a * kh + y) * kw + x) * ci + c];
      dims = {o, ci, kh, kw};
    } else {  // 1 H W (C*M) -> (C*M) 1 H W
      int64_t cm = w.shape[3];
      for (int64_t y = 0; y < kh; ++y)
        for (int64_t x = 0; x < kw; ++x)
          for (int64_t c = 0; c < cm; ++c) weights[(c * kh + y) * kw + x] = w.data[(y * kw + x) * cm + c];
      dims = {cm, 1, kh, kw};
      group = T(op.inputs[0]).shape[3];
    }
    std::vector<std::string> inputs = {Name(op.inputs[0]),
                                       builder_.AddFloatTensor(w.name, dims, std::move(weights))};
    if (op.inputs.size() > 2 && op.inputs[2] >= 0) inputs.push_back(Name(op.inputs[2]));
    std::string out = builder_.AddNode(
        "Conv", inputs, "conv",
        {OnnxAttr::Ints("kernel_shape", {kh, kw}), OnnxAttr::Ints("strides", {op.stride_h, op.stride_w}),
         OnnxAttr::Ints("dilations", {op.dilation_h, op.dilation_w}),
         OnnxAttr::Ints("pads", ConvPads(op, kh, kw)), OnnxAttr::Int("group", group)});
    Emit(op, out);
  }

  void TranslatePool(const TfliteOperator& op, bool max_pool) {
    const auto& in = T(op.inputs[0]).shape;
    std::vector<int64_t> pads = {0, 0, 0, 0};
    int64_t ceil_mode = 0;
    if (op.padding_same) {
      SamePads ph = ComputeSamePads(in[1], op.filter_h, op.stride_h, 1);
      SamePads pw = ComputeSamePads(in[2], op.filter_w, op.stride_w, 1);
      if (ph.begin == 0 && pw.begin == 0) {
        ceil_mode = 1;  // trailing partial windows == SAME's end padding, at any input size
      } else if (options_.dynamic_spatial) {
        Fail("SAME pooling with leading padding cannot be exported with a symbolic input size");
      } else {
        pads = {ph.begin, pw.begin, ph.end, pw.end};
      }
    }
    std::vector<OnnxAttr> attrs = {OnnxAttr::Ints("kernel_shape", {op.filter_h, op.filter_w}),
                                   OnnxAttr::Ints("strides", {op.stride_h, op.stride_w}),
                                   OnnxAttr::Ints("pads", pads), OnnxAttr::Int("ceil_mode", ceil_mode)};
    if (!max_pool) attrs.push_back(OnnxAttr::Int("count_include_pad", 0));
    Emit(op, builder_.AddNode(max_pool ? "MaxPool" : "AveragePool", {Name(op.inputs[0])},
                              max_pool ? "maxpool" : "avgpool", attrs));
  }

  void TranslateFullyConnected(const TfliteOperator& op) {
    const TfliteTensor& w = T(op.inputs[1]);
    if (!w.is_constant || w.shape.size() != 2) Fail("fully-connected with non-constant weights");
    int32_t x = op.inputs[0];
    std::vector<float> weights = w.data;
    std::string input = Name(x);
    if (Rank(x) == 4) {
      // Columns are in NHWC flattening order; the ONNX input flattens NCHW.
      const auto& s = T(x).shape;
      int64_t h = s[1], wd = s[2], c = s[3], outs = w.shape[0], ins = w.shape[1];
      if (h * wd * c != ins) Fail("fully-connected input size mismatch for '" + w.name + "'");
      for (int64_t o = 0; o < outs; ++o)
        for (int64_t y = 0; y < h; ++y)
          for (int64_t xx = 0; xx < wd; ++xx)
            for (int64_t ch = 0; ch < c; ++ch)
              weights[o * ins + (ch * h + y) * wd + xx] = w.data[o * ins + (y * wd + xx) * c + ch];
      input = builder_.AddNode("Flatten", {input}, "flatten", {OnnxAttr::Int("axis", 1)});
    }
    std::vector<std::string> inputs = {input, builder_.AddFloatTensor(w.name, Dims(w.shape), weights)};
    if (op.inputs.size() > 2 && op.inputs[2] >= 0) inputs.push_back(Name(op.inputs[2]));
    Emit(op, builder_.AddNode("Gemm", inputs, "fc", {OnnxAttr::Int("transB", 1)}));
  }

  void TranslateBinary(const TfliteOperator& op, const char* onnx_op) {
    int32_t a = op.inputs[0], b = op.inputs[1];
    int rank = std::max(Rank(a), Rank(b));
    auto operand = [&](int32_t index) {
      const TfliteTensor& t = T(index);
      if (!t.is_constant) return Name(index);
      int64_t channels = rank == 4 ? T(op.outputs[0]).shape[3] : T(op.outputs[0]).shape.back();
      if (static_cast<int64_t>(t.data.size()) != channels && t.data.size() != 1) {
        Fail("constant '" + t.name + "' does not broadcast per channel");
      }
      return BroadcastConstant(t, rank, t.data);
    };
    std::string lhs = operand(a);
    std::string rhs = operand(b);
    Emit(op, builder_.AddNode(onnx_op, {lhs, rhs}, onnx_op));
  }

  void TranslateReshape(const TfliteOperator& op) {
    int32_t x = op.inputs[0];
    const auto& out = T(op.outputs[0]).shape;
    if (Rank(x) == 4 && out.size() == 2) {
      const auto& s = T(x).shape;
      std::string value = Name(x);
      if (s[1] * s[2] != 1) {  // keep TFLite's HWC flattening order
        value = builder_.AddNode("Transpose", {value}, "to_nhwc",
                                 {OnnxAttr::Ints("perm", {0, 2, 3, 1})});
      }
      onnx_names_[op.outputs[0]] =
          builder_.AddNode("Flatten", {value}, "flatten", {OnnxAttr::Int("axis", 1)});
      return;
    }
    if (Rank(x) == 2 && out.size() == 2) {
      onnx_names_[op.outputs[0]] = Name(x);
      return;
    }
    Fail("unsupported RESHAPE from rank " + std::to_string(Rank(x)) + " to rank " +
         std::to_string(out.size()));
  }

  void Translate(const TfliteOperator& op) {
    switch (op.builtin) {
      case kTfliteConv2D: return TranslateConv(op, false);
      case kTfliteDepthwiseConv2D: return TranslateConv(op, true);
      case kTfliteMaxPool2D: return TranslatePool(op, true);
      case kTfliteAveragePool2D: return TranslatePool(op, false);
      case kTfliteFullyConnected: return TranslateFullyConnected(op);
      case kTfliteAdd: return TranslateBinary(op, "Add");
      case kTfliteSub: return TranslateBinary(op, "Sub");
      case kTfliteMul: return TranslateBinary(op, "Mul");
      case kTfliteDiv: return TranslateBinary(op, "Div");
      case kTfliteReshape: return TranslateReshape(op);
      case kTfliteRelu: return Emit(op, builder_.AddNode("Relu", {Name(op.inputs[0])}, "relu"));
      case kTfliteRelu6: return Emit(op, Activate(Name(op.inputs[0]), kActRelu6));
      case kTfliteLogistic: return Emit(op, builder_.AddNode("Sigmoid", {Name(op.inputs[0])}, "sigmoid"));
      case kTfliteAbs: return Emit(op, builder_.AddNode("Abs", {Name(op.inputs[0])}, "abs"));
      case kTfliteNeg: {
        std::string minus_one = builder_.AddFloatTensor("minus_one", {1}, {-1.f});
        return Emit(op, builder_.AddNode("Mul", {Name(op.inputs[0]), minus_one}, "neg"));
      }
      case kTfliteSoftmax:
        return Emit(op, builder_.AddNode("Softmax", {Name(op.inputs[0])}, "softmax",
                                         {OnnxAttr::Int("axis", 1)}));
      case kTfliteConcatenation: {
        std::vector<std::string> inputs;
        for (int32_t in : op.inputs) inputs.push_back(Name(in));
        int64_t axis = Rank(op.inputs[0]) == 4 ? ToNchwAxis(op.axis) : op.axis;
        return Emit(op, builder_.AddNode("Concat", inputs, "concat", {OnnxAttr::Int("axis", axis)}));
      }
      default:
        Fail(std::string("unsupported TFLite operator ") + TfliteBuiltinName(op.builtin) + " (" +
             std::to_string(op.builtin) + ")");
    }
  }

  const TfliteModel& model_;
  TfliteImportOptions options_;
  OnnxBuilder builder_;
  std::vector<std::string> onnx_names_;
  std::vector<std::vector<int>> consumers_;
  std::vector<bool> consumed_;
};

}  // namespace

OnnxBuilder TfliteToOnnx(const TfliteModel& model, const TfliteImportOptions& options) {
  return Translator(model, options).Run();
}

void ImportTflite(const std::filesystem::path& tflite, const std::filesystem::path& onnx_out,
                  const TfliteImportOptions& options) {
  TfliteToOnnx(ReadTfliteModel(tflite), options).Save(onnx_out);
}

}  // namespace lineup
