#include "models/dlib_resnet_reference.h"

#include <algorithm>
#include <string>

#include "common/error.h"
#include "models/dlib_resnet_importer.h"

namespace lineup {

namespace {

// One image's activation, HWC row-major.
struct Map {
  int h = 0, w = 0, c = 0;
  std::vector<float> v;

  Map(int h_, int w_, int c_) : h(h_), w(w_), c(c_), v(static_cast<size_t>(h_) * w_ * c_, 0.f) {}
  float& at(int y, int x, int ch) { return v[(static_cast<size_t>(y) * w + x) * c + ch]; }
  float at(int y, int x, int ch) const { return v[(static_cast<size_t>(y) * w + x) * c + ch]; }
};

const NamedTensor& Weight(const TensorMap& weights, const std::string& name, size_t rank) {
  auto it = weights.find(name);
  if (it == weights.end() || it->second.shape.size() != rank) {
    throw Error(Context("dlib resnet reference", "missing or misshapen weight '" + name + "'"));
  }
  return it->second;
}

// TF-style conv2d with HWIO filters, plus bias. Stride 1 uses "same" padding
// (k/2 zeros around); stride 2 uses "valid" (none).
Map Conv(const Map& x, const NamedTensor& filters, const NamedTensor& bias, int stride) {
  const int k = static_cast<int>(filters.shape[0]);
  const int cin = static_cast<int>(filters.shape[2]);
  const int cout = static_cast<int>(filters.shape[3]);
  if (cin != x.c || filters.shape[1] != k || bias.data.size() != static_cast<size_t>(cout)) {
    throw Error(Context("dlib resnet reference", "conv weights do not fit the activation"));
  }
  const int pad = stride == 1 ? k / 2 : 0;
  const int oh = (x.h + 2 * pad - k) / stride + 1;
  const int ow = (x.w + 2 * pad - k) / stride + 1;
  Map y(oh, ow, cout);
  for (int oy = 0; oy < oh; ++oy) {
    for (int ox = 0; ox < ow; ++ox) {
      float* out = &y.at(oy, ox, 0);
      for (int ky = 0; ky < k; ++ky) {
        const int iy = oy * stride + ky - pad;
        if (iy < 0 || iy >= x.h) continue;
        for (int kx = 0; kx < k; ++kx) {
          const int ix = ox * stride + kx - pad;
          if (ix < 0 || ix >= x.w) continue;
          const float* in = &x.v[(static_cast<size_t>(iy) * x.w + ix) * x.c];
          const float* f = &filters.data[static_cast<size_t>(ky * k + kx) * cin * cout];
          for (int ci = 0; ci < cin; ++ci) {
            const float a = in[ci];
            const float* fr = f + static_cast<size_t>(ci) * cout;
            for (int co = 0; co < cout; ++co) out[co] += a * fr[co];
          }
        }
      }
      for (int co = 0; co < cout; ++co) out[co] += bias.data[co];
    }
  }
  return y;
}

void Relu(Map* x) {
  for (float& a : x->v) a = std::max(a, 0.0f);
}

// face-api's convLayer: conv + bias, then scale (x * weights + biases), then relu.
Map ConvLayer(const TensorMap& w, const Map& x, const std::string& prefix, int stride,
              bool relu) {
  Map y = Conv(x, Weight(w, prefix + "/conv/filters", 4), Weight(w, prefix + "/conv/bias", 1),
               stride);
  const NamedTensor& mul = Weight(w, prefix + "/scale/weights", 1);
  const NamedTensor& add = Weight(w, prefix + "/scale/biases", 1);
  if (mul.data.size() != static_cast<size_t>(y.c) || add.data.size() != mul.data.size()) {
    throw Error(Context("dlib resnet reference", "scale of '" + prefix + "' misshapen"));
  }
  for (size_t i = 0; i < y.v.size(); ++i) {
    const size_t ch = i % y.c;
    y.v[i] = y.v[i] * mul.data[ch] + add.data[ch];
  }
  if (relu) Relu(&y);
  return y;
}

Map Pool(const Map& x, int k, int stride, bool average) {
  const int oh = (x.h - k) / stride + 1, ow = (x.w - k) / stride + 1;
  Map y(oh, ow, x.c);
  for (int oy = 0; oy < oh; ++oy)
    for (int ox = 0; ox < ow; ++ox)
      for (int ch = 0; ch < x.c; ++ch) {
        float acc = average ? 0.0f : x.at(oy * stride, ox * stride, ch);
        for (int ky = 0; ky < k; ++ky)
          for (int kx = 0; kx < k; ++kx) {
            const float a = x.at(oy * stride + ky, ox * stride + kx, ch);
            acc = average ? acc + a : std::max(acc, a);
          }
        y.at(oy, ox, ch) = average ? acc / (k * k) : acc;
      }
  return y;
}

// relu(a + b) where the smaller tensor counts as zero outside its extent
// (dlib's add_prev; face-api concatenates zeros to the same effect).
Map AddRelu(const Map& a, const Map& b) {
  Map y(std::max(a.h, b.h), std::max(a.w, b.w), std::max(a.c, b.c));
  for (const Map* m : {&a, &b})
    for (int yy = 0; yy < m->h; ++yy)
      for (int xx = 0; xx < m->w; ++xx)
        for (int ch = 0; ch < m->c; ++ch) y.at(yy, xx, ch) += m->at(yy, xx, ch);
  Relu(&y);
  return y;
}

Map Residual(const TensorMap& w, const Map& x, const std::string& prefix) {
  Map y = ConvLayer(w, x, prefix + "/conv1", 1, true);
  y = ConvLayer(w, y, prefix + "/conv2", 1, false);
  return AddRelu(y, x);
}

Map ResidualDown(const TensorMap& w, const Map& x, const std::string& prefix) {
  Map y = ConvLayer(w, x, prefix + "/conv1", 2, true);
  y = ConvLayer(w, y, prefix + "/conv2", 1, false);
  return AddRelu(y, Pool(x, 2, 2, /*average=*/true));
}

}  // namespace

std::vector<float> DlibResnetReference(const TensorMap& weights, const cv::Mat& rgb150) {
  if (rgb150.type() != CV_8UC3 || rgb150.rows != kDlibResnetInputSize ||
      rgb150.cols != kDlibResnetInputSize) {
    throw Error(Context("dlib resnet reference", "input must be a 150x150 CV_8UC3 RGB image"));
  }
  Map x(kDlibResnetInputSize, kDlibResnetInputSize, 3);
  for (int y = 0; y < x.h; ++y)
    for (int xx = 0; xx < x.w; ++xx) {
      const cv::Vec3b& p = rgb150.at<cv::Vec3b>(y, xx);
      for (int ch = 0; ch < 3; ++ch)
        x.at(y, xx, ch) = (p[ch] - kDlibResnetMeanRgb[ch]) * kDlibResnetInputScale;
    }

  x = ConvLayer(weights, x, "conv32_down", 2, true);
  x = Pool(x, 3, 2, /*average=*/false);
  for (const char* b : {"conv32_1", "conv32_2", "conv32_3"}) x = Residual(weights, x, b);
  x = ResidualDown(weights, x, "conv64_down");
  for (const char* b : {"conv64_1", "conv64_2", "conv64_3"}) x = Residual(weights, x, b);
  x = ResidualDown(weights, x, "conv128_down");
  for (const char* b : {"conv128_1", "conv128_2"}) x = Residual(weights, x, b);
  x = ResidualDown(weights, x, "conv256_down");
  for (const char* b : {"conv256_1", "conv256_2"}) x = Residual(weights, x, b);
  x = ResidualDown(weights, x, "conv256_down_out");

  std::vector<double> mean(x.c, 0.0);
  for (int y = 0; y < x.h; ++y)
    for (int xx = 0; xx < x.w; ++xx)
      for (int ch = 0; ch < x.c; ++ch) mean[ch] += x.at(y, xx, ch);
  for (double& m : mean) m /= static_cast<double>(x.h) * x.w;

  const NamedTensor& fc = Weight(weights, "fc", 2);
  if (fc.shape[0] != x.c) throw Error(Context("dlib resnet reference", "fc misshapen"));
  const int out_dim = static_cast<int>(fc.shape[1]);
  std::vector<float> embedding(out_dim, 0.0f);
  for (int o = 0; o < out_dim; ++o) {
    double acc = 0.0;
    for (int i = 0; i < x.c; ++i) acc += mean[i] * fc.data[static_cast<size_t>(i) * out_dim + o];
    embedding[o] = static_cast<float>(acc);
  }
  return embedding;
}

}  // namespace lineup
