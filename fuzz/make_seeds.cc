// Writes the seed corpus of every fuzz target into <dir>/<target>/ from
// tiny inputs generated here: images encoded by OpenCV from an 8x6
// gradient (plus hand-written headers), a TFLite model laid out by a small
// FlatBuffers writer, a TF.js manifest with its shard (as in
// tfjs_weights_test.cc), manifests, JSON bodies and multipart bodies. No
// file of a data set or package is copied. Run by hand after changing it:
//   cmake --build build-fuzz --target fuzz_seeds && build-fuzz/fuzz/fuzz_seeds fuzz/corpus
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "flatbuffer_writer.h"

namespace fs = std::filesystem;

namespace {

fs::path g_out;

void Write(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(g_out / target);
  std::ofstream(g_out / target / name, std::ios::binary) << bytes;
}

std::string Encode(const cv::Mat& image, const std::string& ext, const std::vector<int>& params = {}) {
  std::vector<uint8_t> buf;
  if (!cv::imencode(ext, image, buf, params)) throw std::runtime_error("cannot encode " + ext);
  return std::string(buf.begin(), buf.end());
}

// A JPEG with an APP1 "Exif" segment holding IFD0 tag 0x0112 = orientation.
std::string WithExifOrientation(const std::string& jpeg, int orientation, bool big_endian) {
  std::string tiff = big_endian ? std::string("MM\0*\0\0\0\x08", 8) : std::string("II*\0\x08\0\0\0", 8);
  auto u16 = [&](int v) {
    return big_endian ? std::string{char(v >> 8), char(v & 255)} : std::string{char(v & 255), char(v >> 8)};
  };
  auto u32 = [&](uint32_t v) {
    return big_endian ? u16(v >> 16) + u16(v & 0xFFFF) : u16(v & 0xFFFF) + u16(v >> 16);
  };
  tiff += u16(1) + u16(0x0112) + u16(3) + u32(1) + u16(orientation) + u16(0) + u32(0);
  std::string payload = std::string("Exif\0\0", 6) + tiff;
  std::string segment = "\xFF\xE1" + std::string{char((payload.size() + 2) >> 8), char((payload.size() + 2) & 255)} + payload;
  return jpeg.substr(0, 2) + segment + jpeg.substr(2);
}

void ImageSeeds() {
  cv::Mat bgr(6, 8, CV_8UC3);
  for (int y = 0; y < bgr.rows; ++y)
    for (int x = 0; x < bgr.cols; ++x) bgr.at<cv::Vec3b>(y, x) = cv::Vec3b(x * 30, y * 40, 200 - x * 10);
  cv::Mat gray, bgra, gray16;
  cv::extractChannel(bgr, gray, 1);
  cv::Mat alpha(bgr.size(), CV_8U, cv::Scalar(128));
  cv::merge(std::vector<cv::Mat>{bgr, alpha}, bgra);
  gray.convertTo(gray16, CV_16U, 257);
  std::vector<std::pair<std::string, std::string>> seeds = {
      {"tiny.jpg", Encode(bgr, ".jpg", {cv::IMWRITE_JPEG_QUALITY, 50})},
      {"gray.jpg", Encode(gray, ".jpg")},
      {"progressive.jpg", Encode(bgr, ".jpg", {cv::IMWRITE_JPEG_PROGRESSIVE, 1})},
      {"tiny.png", Encode(bgr, ".png")},
      {"alpha.png", Encode(bgra, ".png")},
      {"gray16.png", Encode(gray16, ".png")},
      {"tiny.bmp", Encode(bgr, ".bmp")},
      {"tiny.webp", Encode(bgr, ".webp", {cv::IMWRITE_WEBP_QUALITY, 50})},
      {"lossless.webp", Encode(bgra, ".webp", {cv::IMWRITE_WEBP_QUALITY, 101})},
      {"tiny.tif", Encode(bgr, ".tif")},
      {"tiny.ppm", Encode(bgr, ".ppm")},
      {"tiny.pgm", Encode(gray, ".pgm")},
      {"ascii.pgm", "P2\n# c\n3 2\n255\n0 128 255\n1 2 3\n"},
      {"tiny.gif", std::string("GIF89a\x08\0\x06\0\0\0\0;", 14)},
  };
  const std::string jpeg = Encode(bgr, ".jpg", {cv::IMWRITE_JPEG_QUALITY, 50});
  seeds.push_back({"exif6_le.jpg", WithExifOrientation(jpeg, 6, false)});
  seeds.push_back({"exif3_be.jpg", WithExifOrientation(jpeg, 3, true)});
  for (const auto& [name, bytes] : seeds) {
    Write("image_header_fuzz", name, bytes);
    Write("image_decode_fuzz", name, bytes);
  }
}

void ModelSeeds() {
  using namespace lineup::fbw;
  // Tensors: 0 input [1,4,4,1] f32; 1 weights [1,1,1,1] f32 const; 2 bias [1] int32 const;
  // 3 conv out; 4 uint8 const [2] quantised; 5 f16 const [2]; 6 add out.
  auto tensor = [](const std::string& name, std::vector<int32_t> shape, int type, uint32_t buffer,
                   ObjPtr quant = nullptr) {
    std::vector<Field> f = {{0, 0, Vec(shape)}, {1, static_cast<uint32_t>(type)}, {2, buffer}, {3, 0, Str(name)}};
    if (quant) f.push_back({4, 0, quant});
    return Table(f);
  };
  auto buffer = [](std::vector<uint8_t> data) { return data.empty() ? Table({}) : Table({{0, 0, Vec(data)}}); };
  float w = 0.5f;
  int32_t b = -3;
  std::vector<uint8_t> wbytes(4), bbytes(4);
  std::memcpy(wbytes.data(), &w, 4);
  std::memcpy(bbytes.data(), &b, 4);
  ObjPtr quant = Table({{2, 0, Vec(std::vector<float>{0.25f})}, {3, 0, Vec(std::vector<int64_t>{1})}});
  ObjPtr graph = Table({
      {0, 0, Refs({tensor("input", {1, 4, 4, 1}, 0, 0), tensor("weights", {1, 1, 1, 1}, 0, 1),
                   tensor("bias", {1}, 2, 2), tensor("conv", {1, 4, 4, 1}, 0, 0),
                   tensor("q", {2}, 3, 3, quant), tensor("h", {2}, 1, 4), tensor("sum", {1, 4, 4, 1}, 0, 0)})},
      {1, 0, Vec(std::vector<int32_t>{0})},
      {2, 0, Vec(std::vector<int32_t>{6})},
      {3, 0, Refs({Table({{0, 0}, {1, 0, Vec(std::vector<int32_t>{0, 1, 2})}, {2, 0, Vec(std::vector<int32_t>{3})},
                          {3, 1}, {4, 0, Table({{0, 1}, {1, 1}, {2, 1}, {3, 1}})}}),
                   Table({{0, 1}, {1, 0, Vec(std::vector<int32_t>{3, -1})}, {2, 0, Vec(std::vector<int32_t>{6})},
                          {3, 11}, {4, 0, Table({{0, 3}})}}),
                   Table({{0, 2}, {1, 0, Vec(std::vector<int32_t>{6})}, {2, 0, Vec(std::vector<int32_t>{6})},
                          {3, 17}, {4, 0, Table({{0, 0, Vec(std::vector<int32_t>{1, 16})}})}})})},
  });
  ObjPtr model = Table({
      {0, 3},
      {1, 0, Refs({Table({{0, 3}, {3, 3}}), Table({{0, 0}, {3, 0}}), Table({{0, 22}, {3, 22}})})},
      {2, 0, Refs({graph})},
      {4, 0, Refs({buffer({}), buffer(wbytes), buffer(bbytes), buffer({7, 200}), buffer({0x00, 0x3C, 0x00, 0xC0})})},
  });
  Write("tflite_fuzz", "conv_add_reshape.tflite", Finish(model));
  Write("tflite_fuzz", "empty_graph.tflite", Finish(Table({{0, 3}, {2, 0, Refs({Table({})})}})));

  // TF.js: manifest, NUL, shard (the layout of tfjs_weights_test.cc's quantised example).
  const std::string manifest = R"([{"paths": ["s1.bin", "s2.bin"], "weights": [
    {"name": "a", "shape": [3], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1}},
    {"name": "b", "shape": [2, 1], "dtype": "float32", "quantization": {"dtype": "uint16", "scale": 0.001, "min": 2}},
    {"name": "c", "shape": [2], "dtype": "float32", "quantization": {"dtype": "float16"}},
    {"name": "d", "shape": [1], "dtype": "float32"},
    {"name": "e", "shape": [], "dtype": "int32"}]}])";
  const std::string one_path = R"([{"paths": ["w.bin"], "weights": [
    {"name": "a", "shape": [3], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1}},
    {"name": "b", "shape": [2, 1], "dtype": "float32", "quantization": {"dtype": "uint16", "scale": 0.001, "min": 2}},
    {"name": "c", "shape": [2], "dtype": "float32", "quantization": {"dtype": "float16"}},
    {"name": "d", "shape": [1], "dtype": "float32"},
    {"name": "e", "shape": [], "dtype": "int32"}]}])";
  const std::string shard = std::string("\x00\x01\xff", 3) + std::string("\x00\x00\xe8\x03", 4) +
                            std::string("\x00\x3c\x00\xc0", 4) + std::string("\x00\x00\x50\x40", 4) +
                            std::string("\xf9\xff\xff\xff", 4);
  Write("tfjs_weights_fuzz", "quantised.bin", one_path + std::string(1, '\0') + shard);
  Write("tfjs_weights_fuzz", "two_shards.bin", manifest + std::string(1, '\0') + shard.substr(0, 10) + "\x01");
  Write("tfjs_weights_fuzz", "empty_group.bin", std::string(R"([{"paths": ["x"], "weights": []}])") + '\0');
}

void TextSeeds() {
  // manifest_fuzz: first byte even = JSON lines, odd = CSV.
  Write("manifest_fuzz", "rows.jsonl", std::string(1, '\0') + R"({"path": "a.jpg", "source_url": "https://example.org/a.jpg", "title": "A"}
{"path": "sub/b.png", "collection": "c1", "date": "2024-01-02"}

{"path": "forbidden/c.jpg"}
{"path": "link.jpg"}
{"path": "../outside/d.jpg"}
{"path": "file:///nonexistent/%41.jpg"}
{"path": "http://example.org/x.jpg"}
{"path": null, "title": 3}
[1, 2]
{"bad": "key"}
{"path": "a.jpg")");
  Write("manifest_fuzz", "rows.csv", "\x01" "\xEF\xBB\xBFpath,source_url,title,legal_basis\r\n"
        "a.jpg,https://example.org/a.jpg,\"A, with comma\",consent\r\n"
        "sub/b.png,,\"multi\nline \"\"quoted\"\"\",\n"
        "\n"
        "link.jpg\n"
        "\"forbidden/c.jpg\"x,1\n"
        "a.jpg,1,2,3,4\n"
        "\"open");
  Write("manifest_fuzz", "bad_header.csv", "\x01" "path,nope\na.jpg,1\n");

  // json_body_fuzz: first byte picks the Content-Type (0 = application/json).
  Write("json_body_fuzz", "search.json", std::string(1, '\0') +
        R"({"probe_id": 3, "top_k": 10, "face": 0, "collections": ["a", "b"], "box": [1.5, 2, 30, 40]})");
  Write("json_body_fuzz", "login.json", std::string(1, '\1') + R"({"username": "ada", "password": "p\u00e9", "totp": "123456"})");
  Write("json_body_fuzz", "types.json", std::string(1, '\0') +
        R"({"purpose": 5, "top_k": "x", "box": [1e30, -1, 2, 3], "collections": null, "days": 1.5, "face": 18446744073709551615})");
  Write("json_body_fuzz", "not_object.json", std::string(1, '\0') + "[1, 2, 3]");

  // multipart_fuzz: the body of a multipart/form-data POST with boundary "lineupfuzz".
  auto part = [](const std::string& name, const std::string& filename, const std::string& content) {
    std::string p = "--lineupfuzz\r\nContent-Disposition: form-data; name=\"" + name + "\"";
    if (!filename.empty()) p += "; filename=\"" + filename + "\"\r\nContent-Type: image/jpeg";
    return p + "\r\n\r\n" + content + "\r\n";
  };
  Write("multipart_fuzz", "optout.txt", part("photo", "p.jpg", "\xFF\xD8\xFF\xE0 not really") + part("request_id", "", "R-1") +
        part("note", "", "by letter") + part("face", "", "2") + "--lineupfuzz--\r\n");
  Write("multipart_fuzz", "probe.txt", part("photo", "caf\xC3\xA9.png", "\x89PNG\r\n\x1a\n") + "--lineupfuzz--\r\n");
  Write("multipart_fuzz", "bad_face.txt", part("photo", "a", "x") + part("face", "", "12a4") + "--lineupfuzz--\r\n");
  Write("multipart_fuzz", "no_photo.txt", part("note", "", "") + "--lineupfuzz--\r\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_seeds <corpus dir>\n";
    return 2;
  }
  g_out = argv[1];
  ImageSeeds();
  ModelSeeds();
  TextSeeds();
  return 0;
}
