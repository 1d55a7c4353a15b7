#include "models/tflite_reference.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "common/error.h"

namespace lineup {

namespace {

constexpr int32_t kReduceMax = 82, kExp = 47, kSum = 74, kDiv = 42;

size_t Count(const std::vector<int>& shape) {
  size_t n = 1;
  for (int d : shape) n *= static_cast<size_t>(d);
  return n;
}

float ApplyActivation(float v, int8_t activation) {
  if (activation == kActRelu) return std::max(v, 0.f);
  if (activation == kActRelu6) return std::min(std::max(v, 0.f), 6.f);
  return v;
}

// Output size and leading pad of one spatial axis, TFLite style.
void Window(int in, int kernel, int stride, int dilation, bool same, int* out, int* pad) {
  int effective = (kernel - 1) * dilation + 1;
  if (same) {
    *out = (in + stride - 1) / stride;
    *pad = std::max((*out - 1) * stride + effective - in, 0) / 2;
  } else {
    *out = (in - effective) / stride + 1;
    *pad = 0;
  }
}

class Interpreter {
 public:
  explicit Interpreter(const TfliteModel& model) : model_(model), values_(model.tensors.size()) {
    for (size_t i = 0; i < model.tensors.size(); ++i) {
      const auto& t = model.tensors[i];
      if (t.is_constant) values_[i] = {std::vector<int>(t.shape.begin(), t.shape.end()), t.data};
    }
  }

  std::vector<NhwcTensor> Run(const NhwcTensor& input) {
    values_[model_.inputs.at(0)] = input;
    for (const auto& op : model_.operators) Execute(op);
    std::vector<NhwcTensor> outputs;
    for (int32_t i : model_.outputs) outputs.push_back(values_[i]);
    return outputs;
  }

 private:
  const NhwcTensor& In(const TfliteOperator& op, int k) const { return values_[op.inputs[k]]; }
  NhwcTensor& Out(const TfliteOperator& op) { return values_[op.outputs[0]]; }

  void Execute(const TfliteOperator& op) {
    switch (op.builtin) {
      case kTfliteConv2D: return Conv(op, false);
      case kTfliteDepthwiseConv2D: return Conv(op, true);
      case kTfliteMaxPool2D: return Pool(op, true);
      case kTfliteAveragePool2D: return Pool(op, false);
      case kTfliteFullyConnected: return FullyConnected(op);
      case kTfliteAdd: return Binary(op, std::plus<float>());
      case kTfliteSub: return Binary(op, std::minus<float>());
      case kTfliteMul: return Binary(op, std::multiplies<float>());
      case kDiv: return Binary(op, std::divides<float>());
      case kTfliteRelu: return Unary(op, [](float v) { return std::max(v, 0.f); });
      case kTfliteRelu6: return Unary(op, [](float v) { return std::clamp(v, 0.f, 6.f); });
      case kTfliteNeg: return Unary(op, [](float v) { return -v; });
      case kTfliteAbs: return Unary(op, [](float v) { return std::fabs(v); });
      case kExp: return Unary(op, [](float v) { return std::exp(v); });
      case kTfliteLogistic: return Unary(op, [](float v) { return 1.f / (1.f + std::exp(-v)); });
      case kReduceMax: return ReduceLast(op, true);
      case kSum: return ReduceLast(op, false);
      case kTfliteSoftmax: return Softmax(op);
      case kTfliteReshape: return Reshape(op);
      default:
        throw Error(Context(model_.source, std::string("reference interpreter lacks ") +
                                               TfliteBuiltinName(op.builtin)));
    }
  }

  void Conv(const TfliteOperator& op, bool depthwise) {
    const NhwcTensor& x = In(op, 0);
    const NhwcTensor& w = In(op, 1);
    const float* bias = op.inputs.size() > 2 && op.inputs[2] >= 0 ? In(op, 2).data.data() : nullptr;
    int n = x.shape[0], h = x.shape[1], wd = x.shape[2], c = x.shape[3];
    int kh = w.shape[1], kw = w.shape[2];
    int oc = depthwise ? w.shape[3] : w.shape[0];
    int multiplier = depthwise ? oc / c : 1;
    int oh, ow, ph, pw;
    Window(h, kh, op.stride_h, op.dilation_h, op.padding_same, &oh, &ph);
    Window(wd, kw, op.stride_w, op.dilation_w, op.padding_same, &ow, &pw);
    NhwcTensor y{{n, oh, ow, oc}, std::vector<float>(Count({n, oh, ow, oc}))};
    for (int b = 0; b < n; ++b)
      for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox)
          for (int o = 0; o < oc; ++o) {
            double acc = bias ? bias[o] : 0.0;
            for (int ky = 0; ky < kh; ++ky) {
              int iy = oy * op.stride_h - ph + ky * op.dilation_h;
              if (iy < 0 || iy >= h) continue;
              for (int kx = 0; kx < kw; ++kx) {
                int ix = ox * op.stride_w - pw + kx * op.dilation_w;
                if (ix < 0 || ix >= wd) continue;
                const float* px = &x.data[((size_t(b) * h + iy) * wd + ix) * c];
                if (depthwise) {
                  acc += px[o / multiplier] * w.data[(size_t(ky) * kw + kx) * oc + o];
                } else {
                  const float* pk = &w.data[((size_t(o) * kh + ky) * kw + kx) * c];
                  for (int ci = 0; ci < c; ++ci) acc += double(px[ci]) * pk[ci];
                }
              }
            }
            y.data[((size_t(b) * oh + oy) * ow + ox) * oc + o] =
                ApplyActivation(static_cast<float>(acc), op.activation);
          }
    Out(op) = std::move(y);
  }

  void Pool(const TfliteOperator& op, bool max_pool) {
    const NhwcTensor& x = In(op, 0);
    int n = x.shape[0], h = x.shape[1], wd = x.shape[2], c = x.shape[3];
    int oh, ow, ph, pw;
    Window(h, op.filter_h, op.stride_h, 1, op.padding_same, &oh, &ph);
    Window(wd, op.filter_w, op.stride_w, 1, op.padding_same, &ow, &pw);
    NhwcTensor y{{n, oh, ow, c}, std::vector<float>(Count({n, oh, ow, c}))};
    for (int b = 0; b < n; ++b)
      for (int oy = 0; oy < oh; ++oy)
        for (int ox = 0; ox < ow; ++ox)
          for (int ch = 0; ch < c; ++ch) {
            float best = -std::numeric_limits<float>::infinity();
            double sum = 0;
            int count = 0;
            for (int ky = 0; ky < op.filter_h; ++ky)
              for (int kx = 0; kx < op.filter_w; ++kx) {
                int iy = oy * op.stride_h - ph + ky, ix = ox * op.stride_w - pw + kx;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                float v = x.data[((size_t(b) * h + iy) * wd + ix) * c + ch];
                best = std::max(best, v);
                sum += v;
                ++count;
              }
            float v = max_pool ? best : static_cast<float>(sum / std::max(count, 1));
            y.data[((size_t(b) * oh + oy) * ow + ox) * c + ch] = ApplyActivation(v, op.activation);
          }
    Out(op) = std::move(y);
  }

  void FullyConnected(const TfliteOperator& op) {
    const NhwcTensor& x = In(op, 0);
    const NhwcTensor& w = In(op, 1);
    const float* bias = op.inputs.size() > 2 && op.inputs[2] >= 0 ? In(op, 2).data.data() : nullptr;
    int outs = w.shape[0], ins = w.shape[1];
    int batch = static_cast<int>(Count(x.shape) / ins);
    NhwcTensor y{{batch, outs}, std::vector<float>(size_t(batch) * outs)};
    for (int b = 0; b < batch; ++b)
      for (int o = 0; o < outs; ++o) {
        double acc = bias ? bias[o] : 0.0;
        for (int i = 0; i < ins; ++i) acc += double(x.data[size_t(b) * ins + i]) * w.data[size_t(o) * ins + i];
        y.data[size_t(b) * outs + o] = ApplyActivation(static_cast<float>(acc), op.activation);
      }
    Out(op) = std::move(y);
  }

  // Broadcasting limited to what the supported graphs use: equal shapes, a
  // scalar, a vector along the last axis, or a last-axis-reduced tensor.
  template <typename F>
  void Binary(const TfliteOperator& op, F f) {
    const NhwcTensor& a = In(op, 0);
    const NhwcTensor& b = In(op, 1);
    const NhwcTensor& big = Count(a.shape) >= Count(b.shape) ? a : b;
    size_t n = Count(big.shape);
    size_t last = big.shape.empty() ? 1 : static_cast<size_t>(big.shape.back());
    auto at = [&](const NhwcTensor& t, size_t i) {
      size_t count = Count(t.shape);
      if (count == n) return t.data[i];
      if (count == 1) return t.data[0];
      if (count == last) return t.data[i % last];
      if (count * last == n) return t.data[i / last];
      throw Error(Context(model_.source, "reference interpreter cannot broadcast operands"));
    };
    NhwcTensor y{big.shape, std::vector<float>(n)};
    for (size_t i = 0; i < n; ++i) y.data[i] = ApplyActivation(f(at(a, i), at(b, i)), op.activation);
    Out(op) = std::move(y);
  }

  template <typename F>
  void Unary(const TfliteOperator& op, F f) {
    NhwcTensor y = In(op, 0);
    for (float& v : y.data) v = f(v);
    Out(op) = std::move(y);
  }

  void ReduceLast(const TfliteOperator& op, bool max) {
    const NhwcTensor& x = In(op, 0);
    size_t last = x.shape.back(), rows = Count(x.shape) / last;
    NhwcTensor y{x.shape, std::vector<float>(rows)};
    y.shape.back() = 1;
    for (size_t r = 0; r < rows; ++r) {
      const float* p = &x.data[r * last];
      y.data[r] = max ? *std::max_element(p, p + last) : std::accumulate(p, p + last, 0.f);
    }
    Out(op) = std::move(y);
  }

  void Softmax(const TfliteOperator& op) {
    NhwcTensor y = In(op, 0);
    size_t last = y.shape.back(), rows = Count(y.shape) / last;
    for (size_t r = 0; r < rows; ++r) {
      float* p = &y.data[r * last];
      float top = *std::max_element(p, p + last);
      double sum = 0;
      for (size_t i = 0; i < last; ++i) sum += (p[i] = std::exp(op.beta * (p[i] - top)));
      for (size_t i = 0; i < last; ++i) p[i] = static_cast<float>(p[i] / sum);
    }
    Out(op) = std::move(y);
  }

  void Reshape(const TfliteOperator& op) {
    NhwcTensor y = In(op, 0);
    std::vector<int> shape(model_.tensors[op.outputs[0]].shape.begin(),
                           model_.tensors[op.outputs[0]].shape.end());
    size_t rest = 1;
    for (size_t i = 1; i < shape.size(); ++i) rest *= shape[i];
    shape[0] = static_cast<int>(Count(y.shape) / rest);  // batch follows the input
    y.shape = shape;
    Out(op) = std::move(y);
  }

  const TfliteModel& model_;
  std::vector<NhwcTensor> values_;
};

}  // namespace

std::vector<NhwcTensor> RunTfliteReference(const TfliteModel& model, const NhwcTensor& input) {
  return Interpreter(model).Run(input);
}

}  // namespace lineup
