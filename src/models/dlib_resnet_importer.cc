#include "models/dlib_resnet_importer.h"

#include <set>

#include "common/error.h"

namespace lineup {

namespace {

// Static shape of an activation (the batch dimension stays symbolic).
struct Activation {
  std::string name;
  int64_t channels = 0;
  int64_t size = 0;  // height == width
};

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

// Walks the network in order, taking each weight from the map exactly once.
class GraphWriter {
 public:
  GraphWriter(const TensorMap& weights, std::string where, OnnxBuilder* builder)
      : weights_(weights), where_(std::move(where)), b_(*builder) {}

  void Write() {
    b_.AddInput("input", {-1, 3, kDlibResnetInputSize, kDlibResnetInputSize});
    Activation x = Normalise({"input", 3, kDlibResnetInputSize});
    x = ConvLayer(x, "conv32_down", /*stride=*/2, /*relu=*/true);
    x = MaxPool3x3s2(x);
    for (const char* block : {"conv32_1", "conv32_2", "conv32_3"}) x = Residual(x, block);
    x = ResidualDown(x, "conv64_down");
    for (const char* block : {"conv64_1", "conv64_2", "conv64_3"}) x = Residual(x, block);
    x = ResidualDown(x, "conv128_down");
    for (const char* block : {"conv128_1", "conv128_2"}) x = Residual(x, block);
    x = ResidualDown(x, "conv256_down");
    for (const char* block : {"conv256_1", "conv256_2"}) x = Residual(x, block);
    x = ResidualDown(x, "conv256_down_out");
    FullyConnected(x);
    CheckAllWeightsUsed();
  }

 private:
  const NamedTensor& Take(const std::string& name, const std::vector<int64_t>& shape) {
    auto it = weights_.find(name);
    if (it == weights_.end()) throw Error(Context(where_, "missing weight '" + name + "'"));
    if (it->second.shape != shape) {
      throw Error(Context(where_, "weight '" + name + "' has shape " +
                                      ShapeString(it->second.shape) + ", expected " +
                                      ShapeString(shape)));
    }
    used_.insert(name);
    return it->second;
  }

  void CheckAllWeightsUsed() const {
    for (const auto& [name, tensor] : weights_) {
      if (!used_.count(name)) {
        throw Error(Context(where_, "weight '" + name + "' is not part of dlib's ResNet"));
      }
    }
  }

  // (x - mean) / 256 per channel, written as a 1x1 conv with weights 1/256 on
  // the diagonal and bias -mean/256. Both scalings are by a power of two, so
  // this is bit-exact with subtracting first. (OpenCV 4.6 mishandles Sub with a
  // [1,3,1,1] constant once the batch exceeds 1, hence no Sub node.)
  Activation Normalise(Activation x) {
    std::vector<float> w(9, 0.0f), b(3);
    for (int c = 0; c < 3; ++c) {
      w[c * 3 + c] = kDlibResnetInputScale;
      b[c] = -kDlibResnetMeanRgb[c] * kDlibResnetInputScale;
    }
    std::string wname = b_.AddFloatTensor("normalise/W", {3, 3, 1, 1}, std::move(w));
    std::string bname = b_.AddFloatTensor("normalise/B", {3}, std::move(b));
    x.name = b_.AddNode("Conv", {x.name, wname, bname}, "normalised",
                        {OnnxAttr::Ints("kernel_shape", {1, 1})});
    return x;
  }

  // conv (+bias) -> scale -> optional relu, with the scale folded into the conv.
  // Stride 1 convs pad by k/2 ("same"); stride 2 convs do not pad ("valid").
  Activation ConvLayer(const Activation& x, const std::string& prefix, int stride, bool relu) {
    auto it = weights_.find(prefix + "/conv/filters");
    if (it == weights_.end() || it->second.shape.size() != 4) {
      throw Error(Context(where_, "missing 4-d weight '" + prefix + "/conv/filters'"));
    }
    const int64_t k = it->second.shape[0];
    const int64_t out_ch = it->second.shape[3];
    const NamedTensor& filters = Take(prefix + "/conv/filters", {k, k, x.channels, out_ch});
    const NamedTensor& bias = Take(prefix + "/conv/bias", {out_ch});
    const NamedTensor& mul = Take(prefix + "/scale/weights", {out_ch});
    const NamedTensor& add = Take(prefix + "/scale/biases", {out_ch});

    // HWIO -> OIHW, times the per-output-channel scale.
    const int64_t in_ch = x.channels;
    std::vector<float> w(filters.data.size());
    for (int64_t ky = 0; ky < k; ++ky)
      for (int64_t kx = 0; kx < k; ++kx)
        for (int64_t i = 0; i < in_ch; ++i)
          for (int64_t o = 0; o < out_ch; ++o)
            w[((o * in_ch + i) * k + ky) * k + kx] =
                filters.data[((ky * k + kx) * in_ch + i) * out_ch + o] * mul.data[o];
    std::vector<float> b(out_ch);
    for (int64_t o = 0; o < out_ch; ++o) b[o] = bias.data[o] * mul.data[o] + add.data[o];

    const int64_t pad = stride == 1 ? k / 2 : 0;
    std::string wname = b_.AddFloatTensor(prefix + "/W", {out_ch, in_ch, k, k}, std::move(w));
    std::string bname = b_.AddFloatTensor(prefix + "/B", {out_ch}, std::move(b));
    Activation y;
    y.name = b_.AddNode("Conv", {x.name, wname, bname}, prefix,
                        {OnnxAttr::Ints("kernel_shape", {k, k}),
                         OnnxAttr::Ints("strides", {stride, stride}),
                         OnnxAttr::Ints("pads", {pad, pad, pad, pad})});
    y.channels = out_ch;
    y.size = (x.size + 2 * pad - k) / stride + 1;
    if (relu) y.name = b_.AddNode("Relu", {y.name}, prefix + "/relu");
    return y;
  }

  Activation MaxPool3x3s2(Activation x) {
    x.name = b_.AddNode("MaxPool", {x.name}, "max_pool",
                        {OnnxAttr::Ints("kernel_shape", {3, 3}), OnnxAttr::Ints("strides", {2, 2}),
                         OnnxAttr::Ints("pads", {0, 0, 0, 0})});
    x.size = (x.size - 3) / 2 + 1;
    return x;
  }

  Activation Residual(const Activation& x, const std::string& prefix) {
    Activation y = ConvLayer(x, prefix + "/conv1", 1, true);
    y = ConvLayer(y, prefix + "/conv2", 1, false);
    return AddRelu(x, y, prefix);
  }

  Activation ResidualDown(const Activation& x, const std::string& prefix) {
    Activation y = ConvLayer(x, prefix + "/conv1", 2, true);
    y = ConvLayer(y, prefix + "/conv2", 1, false);

    Activation shortcut = x;
    shortcut.name = b_.AddNode(
        "AveragePool", {x.name}, prefix + "/pool",
        {OnnxAttr::Ints("kernel_shape", {2, 2}), OnnxAttr::Ints("strides", {2, 2}),
         OnnxAttr::Ints("pads", {0, 0, 0, 0})});
    shortcut.size = (x.size - 2) / 2 + 1;

    // dlib adds tensors of different sizes by treating the missing parts of
    // the smaller one as zeros: channels at the end, rows/columns at the
    // bottom/right. The ONNX graph pads explicitly.
    if (shortcut.channels < y.channels) {
      shortcut = ZeroPad(shortcut, y.channels - shortcut.channels, 0, prefix + "/pad_channels");
    }
    if (y.size < shortcut.size) y = ZeroPad(y, 0, shortcut.size - y.size, prefix + "/pad_spatial");
    if (y.channels != shortcut.channels || y.size != shortcut.size) {
      throw Error(Context(where_, "block '" + prefix + "' produces " +
                                      std::to_string(y.channels) + " channels of " +
                                      std::to_string(y.size) + " px, its shortcut " +
                                      std::to_string(shortcut.channels) + " of " +
                                      std::to_string(shortcut.size)));
    }
    return AddRelu(shortcut, y, prefix);
  }

  // Appends `channels` zero channels and `pixels` zero rows (bottom) and
  // columns (right).
  Activation ZeroPad(Activation x, int64_t channels, int64_t pixels, const std::string& hint) {
    std::string pads = b_.AddInt64Tensor(hint + "/pads", {8},
                                         {0, 0, 0, 0, 0, channels, pixels, pixels});
    x.name = b_.AddNode("Pad", {x.name, pads}, hint, {OnnxAttr::Str("mode", "constant")});
    x.channels += channels;
    x.size += pixels;
    return x;
  }

  Activation AddRelu(const Activation& a, const Activation& b, const std::string& prefix) {
    Activation y = b;
    y.name = b_.AddNode("Add", {a.name, b.name}, prefix + "/add");
    y.name = b_.AddNode("Relu", {y.name}, prefix + "/out");
    return y;
  }

  // Global average, then embedding = avg . fc (fc is [in, out], no bias).
  void FullyConnected(const Activation& x) {
    const NamedTensor& fc = Take("fc", {x.channels, kDlibResnetEmbeddingSize});
    std::string pooled = b_.AddNode("GlobalAveragePool", {x.name}, "global_avg");
    std::string flat = b_.AddNode("Flatten", {pooled}, "flat", {OnnxAttr::Int("axis", 1)});
    // Gemm with transB=1 wants B as [out, in].
    std::vector<float> wt(fc.data.size());
    for (int64_t i = 0; i < x.channels; ++i)
      for (int64_t o = 0; o < kDlibResnetEmbeddingSize; ++o)
        wt[o * x.channels + i] = fc.data[i * kDlibResnetEmbeddingSize + o];
    std::string w = b_.AddFloatTensor("fc/W", {kDlibResnetEmbeddingSize, x.channels},
                                      std::move(wt));
    std::string zero = b_.AddFloatTensor("fc/B", {kDlibResnetEmbeddingSize},
                                         std::vector<float>(kDlibResnetEmbeddingSize, 0.0f));
    b_.AddNodeWithOutputs("Gemm", {flat, w, zero}, {"embedding"},
                          {OnnxAttr::Int("transB", 1)});
    b_.AddOutput("embedding", {-1, kDlibResnetEmbeddingSize});
  }

  const TensorMap& weights_;
  const std::string where_;
  OnnxBuilder& b_;
  std::set<std::string> used_;
};

}  // namespace

void BuildDlibResnetGraph(const TensorMap& weights, const std::string& where,
                          OnnxBuilder* builder) {
  GraphWriter(weights, where, builder).Write();
}

void ImportDlibResnet(const std::filesystem::path& manifest_json,
                      const std::filesystem::path& out_onnx) {
  const TensorMap weights = ReadTfjsWeights(manifest_json);
  OnnxBuilder builder("dlib_resnet_face_descriptor");
  builder.SetDocString(
      "dlib face descriptor ResNet imported from " + manifest_json.filename().string() +
      ". input: float [N,3,150,150] raw RGB 0..255 (graph subtracts mean, scales by 1/256); "
      "output: embedding float [N,128], not L2-normalised.");
  BuildDlibResnetGraph(weights, manifest_json.string(), &builder);
  builder.Save(out_onnx);
}

}  // namespace lineup
