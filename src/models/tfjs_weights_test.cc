#include "models/tfjs_weights.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "common/error.h"
#include "test_env.h"

namespace lineup {
namespace {

constexpr char kRecognitionManifest[] =
    "@vladmandic/face-api/model/face_recognition_model-weights_manifest.json";

void WriteBytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

template <typename T>
std::string Le(T value) {  // tests run on little-endian hosts only
  std::string s(sizeof(T), '\0');
  std::memcpy(s.data(), &value, sizeof(T));
  return s;
}

// Expects fn() to throw lineup::Error whose message contains `needle`.
template <typename Fn>
void ExpectErrorMentioning(Fn fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no Error thrown; expected one mentioning " << needle;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(TfjsWeightsTest, ReadsFaceRecognitionManifest) {
  LINEUP_REQUIRE_PACKAGE_FILE(manifest, kRecognitionManifest);
  const TensorMap weights = ReadTfjsWeights(manifest);
  EXPECT_EQ(weights.size(), 4u + 14u * 8u + 1u);  // first conv layer, 14 blocks, fc

  // uint8-quantised: every value lies on the grid min + q * scale, q in 0..255.
  const NamedTensor& first = weights.at("conv32_down/conv/filters");
  EXPECT_EQ(first.shape, (std::vector<int64_t>{7, 7, 3, 32}));
  ASSERT_EQ(first.data.size(), 7u * 7 * 3 * 32);
  const double scale = 0.0005260649557207145, min = -0.07101876902229645;
  for (float v : first.data) {
    const double q = (v - min) / scale;
    ASSERT_GE(q, -1e-3);
    ASSERT_LE(q, 255 + 1e-3);
    ASSERT_NEAR(q, std::round(q), 1e-2);
  }
  // Unquantised float32 entries sit between quantised ones in the stream.
  const NamedTensor& raw = weights.at("conv64_down/conv1/conv/filters");
  EXPECT_EQ(raw.shape, (std::vector<int64_t>{3, 3, 32, 64}));
  float max_abs = 0;
  for (float v : raw.data) max_abs = std::max(max_abs, std::abs(v));
  EXPECT_GT(max_abs, 1e-3f);
  EXPECT_LT(max_abs, 1.0f);
  EXPECT_EQ(weights.at("fc").shape, (std::vector<int64_t>{256, 128}));
}

TEST(TfjsWeightsTest, DecodesEveryEncodingAcrossShards) {
  const auto dir = testing::TempDir("tfjs_encodings");
  // Stream: a uint8 [3], b uint16 [2], c float16 [2], d float32 [2], e int32 [1];
  // cut into two shards in the middle of d.
  std::string stream;
  stream += std::string("\x00\x01\xff", 3);
  stream += Le<uint16_t>(0) + Le<uint16_t>(1000);
  stream += Le<uint16_t>(0x3c00) + Le<uint16_t>(0xc000);  // 1.0, -2.0
  stream += Le<float>(3.25f) + Le<float>(-1e-3f);
  stream += Le<int32_t>(-7);
  const size_t cut = 3 + 4 + 4 + 2;
  WriteBytes(dir / "s1.bin", stream.substr(0, cut));
  WriteBytes(dir / "s2.bin", stream.substr(cut));
  WriteBytes(dir / "m.json", R"([{"paths": ["s1.bin", "s2.bin"], "weights": [
    {"name": "a", "shape": [3], "dtype": "float32",
     "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1}},
    {"name": "b", "shape": [2, 1], "dtype": "float32",
     "quantization": {"dtype": "uint16", "scale": 0.001, "min": 2}},
    {"name": "c", "shape": [2], "dtype": "float32", "quantization": {"dtype": "float16"}},
    {"name": "d", "shape": [1, 2], "dtype": "float32"},
    {"name": "e", "shape": [], "dtype": "int32"}]}])");
  const TensorMap w = ReadTfjsWeights(dir / "m.json");
  EXPECT_EQ(w.at("a").data, (std::vector<float>{-1.0f, -0.5f, 126.5f}));
  EXPECT_EQ(w.at("b").shape, (std::vector<int64_t>{2, 1}));
  EXPECT_FLOAT_EQ(w.at("b").data[0], 2.0f);
  EXPECT_FLOAT_EQ(w.at("b").data[1], 3.0f);
  EXPECT_EQ(w.at("c").data, (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(w.at("d").data, (std::vector<float>{3.25f, -1e-3f}));
  EXPECT_EQ(w.at("e").data, (std::vector<float>{-7.0f}));
  EXPECT_EQ(w.at("e").ElementCount(), 1);
}

class TfjsWeightsErrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir("tfjs_errors");
    WriteBytes(dir_ / "w.bin", std::string(8, '\x01'));
  }
  std::filesystem::path Manifest(const std::string& json) {
    WriteBytes(dir_ / "m.json", json);
    return dir_ / "m.json";
  }
  std::filesystem::path dir_;
};

TEST_F(TfjsWeightsErrorTest, BadJsonNamesManifest) {
  auto m = Manifest(R"([{"paths": ["w.bin"], "weights": [)");
  ExpectErrorMentioning([&] { ReadTfjsWeights(m); }, m.string());
  ExpectErrorMentioning([&] { ReadTfjsWeights(m); }, "JSON");
  auto not_array = Manifest(R"({"paths": []})");
  ExpectErrorMentioning([&] { ReadTfjsWeights(not_array); }, not_array.string());
}

TEST_F(TfjsWeightsErrorTest, MissingManifestOrShardNamesIt) {
  ExpectErrorMentioning([&] { ReadTfjsWeights(dir_ / "absent.json"); }, "absent.json");
  auto m = Manifest(R"([{"paths": ["gone.bin"],
      "weights": [{"name": "x", "shape": [2], "dtype": "float32"}]}])");
  ExpectErrorMentioning([&] { ReadTfjsWeights(m); }, (dir_ / "gone.bin").string());
}

TEST_F(TfjsWeightsErrorTest, ShortShardNamesShard) {
  auto m = Manifest(R"([{"paths": ["w.bin"],
      "weights": [{"name": "x", "shape": [3], "dtype": "float32"}]}])");
  ExpectErrorMentioning([&] { ReadTfjsWeights(m); }, (dir_ / "w.bin").string());
  ExpectErrorMentioning([&] { ReadTfjsWeights(m); }, "too short");
}

TEST_F(TfjsWeightsErrorTest, ShapeProductNotMatchingDataNamesManifest) {
  // 8 bytes of data, but the shapes describe only 4.
  auto m = Manifest(R"([{"paths": ["w.bin"],
      "weights": [{"name": "x", "shape": [2, 2], "dtype": "float32",
                   "quantization": {"dtype": "uint8", "scale": 1, "min": 0}}]}])");
  ExpectErrorMentioning([&] { ReadTfjsWeights(m); }, m.string());
}

TEST_F(TfjsWeightsErrorTest, RejectsUnsupportedDtypeAndDuplicates) {
  auto str = Manifest(R"([{"paths": ["w.bin"],
      "weights": [{"name": "s", "shape": [8], "dtype": "string"}]}])");
  ExpectErrorMentioning([&] { ReadTfjsWeights(str); }, "unsupported dtype");
  auto dup = Manifest(R"([{"paths": ["w.bin"],
      "weights": [{"name": "x", "shape": [1], "dtype": "float32"},
                  {"name": "x", "shape": [1], "dtype": "float32"}]}])");
  ExpectErrorMentioning([&] { ReadTfjsWeights(dup); }, "twice");
  auto neg = Manifest(R"([{"paths": ["w.bin"],
      "weights": [{"name": "x", "shape": [-2], "dtype": "float32"}]}])");
  ExpectErrorMentioning([&] { ReadTfjsWeights(neg); }, "shape");
}

// Found by tfjs_weights_fuzz: a "dtype" that is not a string escaped as
// nlohmann's type_error instead of a lineup::Error naming the weight.
TEST_F(TfjsWeightsErrorTest, DtypeThatIsNotAStringIsAnErrorNamingTheWeight) {
  auto weight = Manifest(R"([{"paths": ["w.bin"],
      "weights": [{"name": "x", "shape": [2], "dtype": 32}]}])");
  ExpectErrorMentioning([&] { ReadTfjsWeights(weight); }, "weight 'x'");
  auto quantised = Manifest(R"([{"paths": ["w.bin"],
      "weights": [{"name": "q", "shape": [8], "dtype": "float32",
                   "quantization": {"dtype": 0.001, "scale": 1, "min": 0}}]}])");
  ExpectErrorMentioning([&] { ReadTfjsWeights(quantised); }, "weight 'q' quantization");
}

}  // namespace
}  // namespace lineup
