#include "image/image_loader.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include <opencv2/imgcodecs.hpp>

#include "common/error.h"
#include "test_env.h"

namespace lineup {
namespace {

using Bytes = std::vector<uint8_t>;

// BGR colours of the asymmetric test pattern's quadrants.
const cv::Vec3b kRed(0, 0, 255);
const cv::Vec3b kGreen(0, 255, 0);
const cv::Vec3b kBlue(255, 0, 0);
const cv::Vec3b kYellow(0, 255, 255);

constexpr int kWidth = 48;
constexpr int kHeight = 32;

// 48x32 image: top-left red, top-right green, bottom-left blue, bottom-right yellow.
// Quadrant edges fall on JPEG block boundaries so lossy codecs keep the colours.
cv::Mat Pattern() {
  cv::Mat image(kHeight, kWidth, CV_8UC3);
  for (int y = 0; y < kHeight; ++y) {
    for (int x = 0; x < kWidth; ++x) {
      bool top = y < kHeight / 2;
      bool left = x < kWidth / 2;
      image.at<cv::Vec3b>(y, x) = top ? (left ? kRed : kGreen) : (left ? kBlue : kYellow);
    }
  }
  return image;
}

Bytes Encode(const std::string& ext, const cv::Mat& image, const std::vector<int>& params = {}) {
  Bytes bytes;
  EXPECT_TRUE(cv::imencode(ext, image, bytes, params)) << ext;
  return bytes;
}

// Max channel difference between the pixel at (x, y) and `expected`.
int Distance(const cv::Mat& image, int x, int y, cv::Vec3b expected) {
  cv::Vec3b got = image.at<cv::Vec3b>(y, x);
  int worst = 0;
  for (int c = 0; c < 3; ++c) worst = std::max(worst, std::abs(int{got[c]} - int{expected[c]}));
  return worst;
}

// Checks the colour at the centre of each quadrant of an upright-or-rotated pattern.
void ExpectQuadrants(const cv::Mat& image, cv::Vec3b top_left, cv::Vec3b top_right,
                     cv::Vec3b bottom_left, cv::Vec3b bottom_right, int tolerance) {
  ASSERT_EQ(image.type(), CV_8UC3);
  int w = image.cols;
  int h = image.rows;
  EXPECT_LE(Distance(image, w / 4, h / 4, top_left), tolerance) << "top-left";
  EXPECT_LE(Distance(image, 3 * w / 4, h / 4, top_right), tolerance) << "top-right";
  EXPECT_LE(Distance(image, w / 4, 3 * h / 4, bottom_left), tolerance) << "bottom-left";
  EXPECT_LE(Distance(image, 3 * w / 4, 3 * h / 4, bottom_right), tolerance) << "bottom-right";
}

// Runs `f`, expecting lineup::Error whose message contains every string in `parts`.
template <typename F>
void ExpectError(F f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no Error thrown; expected one mentioning " << parts.front();
  } catch (const Error& e) {
    for (const auto& part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
          << "message \"" << e.what() << "\" lacks \"" << part << "\"";
    }
  }
}

void Put16(Bytes* out, uint32_t v, bool big_endian) {
  if (big_endian) {
    out->insert(out->end(), {uint8_t(v >> 8), uint8_t(v)});
  } else {
    out->insert(out->end(), {uint8_t(v), uint8_t(v >> 8)});
  }
}

void Put32(Bytes* out, uint32_t v, bool big_endian) {
  if (big_endian) {
    Put16(out, v >> 16, true);
    Put16(out, v & 0xFFFF, true);
  } else {
    Put16(out, v & 0xFFFF, false);
    Put16(out, v >> 16, false);
  }
}

// TIFF structure with IFD0 holding one entry (tag, type, count, value).
Bytes TiffWithEntry(bool big_endian, uint16_t tag, uint16_t type, uint32_t count, uint32_t value,
                    uint32_t ifd_offset = 8) {
  Bytes tiff = big_endian ? Bytes{'M', 'M', 0, 42} : Bytes{'I', 'I', 42, 0};
  Put32(&tiff, ifd_offset, big_endian);
  Put16(&tiff, 1, big_endian);  // one entry
  Put16(&tiff, tag, big_endian);
  Put16(&tiff, type, big_endian);
  Put32(&tiff, count, big_endian);
  if (type == 3) {  // SHORT: left-justified in the 4-byte value field
    Put16(&tiff, value, big_endian);
    Put16(&tiff, 0, big_endian);
  } else {
    Put32(&tiff, value, big_endian);
  }
  Put32(&tiff, 0, big_endian);  // no next IFD
  return tiff;
}

Bytes ExifTiff(int orientation, bool big_endian) {
  return TiffWithEntry(big_endian, 0x0112, 3, 1, orientation);
}

// Inserts an APP1 "Exif" segment carrying `tiff` right after a JPEG's SOI.
Bytes InsertExif(const Bytes& jpeg, const Bytes& tiff) {
  Bytes segment = {0xFF, 0xE1};
  Put16(&segment, static_cast<uint32_t>(2 + 6 + tiff.size()), true);
  segment.insert(segment.end(), {'E', 'x', 'i', 'f', 0, 0});
  segment.insert(segment.end(), tiff.begin(), tiff.end());
  Bytes out = jpeg;
  out.insert(out.begin() + 2, segment.begin(), segment.end());
  return out;
}

Bytes PatternJpeg() { return Encode(".jpg", Pattern(), {cv::IMWRITE_JPEG_QUALITY, 95}); }

std::filesystem::path WriteFile(const std::string& tag, const std::string& filename,
                                const Bytes& bytes) {
  std::filesystem::path path = lineup::testing::TempDir(tag) / filename;
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  return path;
}

// ---------------------------------------------------------------------------
// Every accepted format loads as CV_8UC3 BGR with the right size and colours.

struct FormatCase {
  std::string ext;
  std::vector<int> params;
  std::string format;
  int tolerance;  // 0 for lossless codecs
};

TEST(ImageLoaderFormats, EachFormatLoadsWithRightSizeTypeAndColours) {
  const std::vector<FormatCase> cases = {
      {".jpg", {cv::IMWRITE_JPEG_QUALITY, 95}, "jpeg", 30},
      {".png", {}, "png", 0},
      {".bmp", {}, "bmp", 0},
      {".webp", {cv::IMWRITE_WEBP_QUALITY, 90}, "webp", 40},   // lossy: VP8 chunk
      {".webp", {cv::IMWRITE_WEBP_QUALITY, 101}, "webp", 0},   // lossless: VP8L chunk
      {".tiff", {}, "tiff", 0},
      {".ppm", {}, "pnm", 0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.ext + " quality param count " + std::to_string(c.params.size()));
    Bytes bytes = Encode(c.ext, Pattern(), c.params);
    ImageHeader header = ReadImageHeader(bytes, "pattern" + c.ext);
    EXPECT_EQ(header.format, c.format);
    EXPECT_EQ(header.width, kWidth);
    EXPECT_EQ(header.height, kHeight);
    EXPECT_EQ(header.exif_orientation, 1);
    cv::Mat image = DecodeImage(bytes, "pattern" + c.ext);
    ASSERT_EQ(image.type(), CV_8UC3);
    EXPECT_EQ(image.cols, kWidth);
    EXPECT_EQ(image.rows, kHeight);
    ExpectQuadrants(image, kRed, kGreen, kBlue, kYellow, c.tolerance);
  }
}

TEST(ImageLoaderFormats, WebpVariantsAreTheExpectedChunks) {
  Bytes lossy = Encode(".webp", Pattern(), {cv::IMWRITE_WEBP_QUALITY, 90});
  Bytes lossless = Encode(".webp", Pattern(), {cv::IMWRITE_WEBP_QUALITY, 101});
  EXPECT_EQ(std::string(lossy.begin() + 12, lossy.begin() + 16), "VP8 ");
  EXPECT_EQ(std::string(lossless.begin() + 12, lossless.begin() + 16), "VP8L");
}

TEST(ImageLoaderFormats, GrayscaleBecomesEqualBgrChannels) {
  cv::Mat gray(10, 20, CV_8UC1, cv::Scalar(77));
  gray(cv::Rect(0, 0, 10, 10)).setTo(200);
  for (const std::string ext : {".png", ".pgm", ".jpg"}) {
    SCOPED_TRACE(ext);
    cv::Mat image = DecodeImage(Encode(ext, gray), "gray" + ext);
    ASSERT_EQ(image.type(), CV_8UC3);
    ASSERT_EQ(image.size(), cv::Size(20, 10));
    int tolerance = ext == ".jpg" ? 3 : 0;
    EXPECT_LE(Distance(image, 3, 5, cv::Vec3b(200, 200, 200)), tolerance);
    EXPECT_LE(Distance(image, 16, 5, cv::Vec3b(77, 77, 77)), tolerance);
  }
}

TEST(ImageLoaderFormats, SixteenBitIsScaledBy257) {
  cv::Mat wide(4, 3, CV_16UC3);
  wide.setTo(cv::Scalar(65535, 128 * 257, 257));
  wide.at<cv::Vec3w>(0, 0) = cv::Vec3w(0, 1000, 30000);  // 1000/257 = 3.9, 30000/257 = 116.7
  for (const std::string ext : {".png", ".tiff"}) {
    SCOPED_TRACE(ext);
    cv::Mat image = DecodeImage(Encode(ext, wide), "wide" + ext);
    ASSERT_EQ(image.type(), CV_8UC3);
    EXPECT_EQ(image.at<cv::Vec3b>(2, 2), cv::Vec3b(255, 128, 1));
    EXPECT_EQ(image.at<cv::Vec3b>(0, 0), cv::Vec3b(0, 4, 117));
  }
  cv::Mat gray16(2, 2, CV_16UC1, cv::Scalar(65535));
  cv::Mat image = DecodeImage(Encode(".png", gray16), "gray16.png");
  EXPECT_EQ(image.at<cv::Vec3b>(1, 1), cv::Vec3b(255, 255, 255));
}

TEST(ImageLoaderFormats, FloatTiffIsTakenAsZeroToOne) {
  // Single-channel: OpenCV stores it losslessly (3-channel float becomes lossy SGILOG).
  cv::Mat floats = (cv::Mat_<float>(1, 4) << 0.5f, 0.25f, 2.0f, -1.0f);
  cv::Mat image = DecodeImage(Encode(".tiff", floats), "float.tiff");
  ASSERT_EQ(image.type(), CV_8UC3);
  EXPECT_EQ(image.at<cv::Vec3b>(0, 0), cv::Vec3b(128, 128, 128));  // 127.5 rounds up
  EXPECT_EQ(image.at<cv::Vec3b>(0, 1), cv::Vec3b(64, 64, 64));     // 63.75
  EXPECT_EQ(image.at<cv::Vec3b>(0, 2), cv::Vec3b(255, 255, 255));  // saturated
  EXPECT_EQ(image.at<cv::Vec3b>(0, 3), cv::Vec3b(0, 0, 0));        // saturated
}

TEST(ImageLoaderFormats, AlphaIsCompositedOverWhite) {
  cv::Mat bgra(2, 3, CV_8UC4);
  bgra.at<cv::Vec4b>(0, 0) = cv::Vec4b(10, 20, 30, 0);     // transparent -> white
  bgra.at<cv::Vec4b>(0, 1) = cv::Vec4b(10, 20, 30, 255);   // opaque -> itself
  bgra.at<cv::Vec4b>(0, 2) = cv::Vec4b(0, 100, 200, 128);  // half -> blend
  bgra.at<cv::Vec4b>(1, 0) = cv::Vec4b(0, 0, 0, 51);
  bgra.at<cv::Vec4b>(1, 1) = cv::Vec4b(255, 255, 255, 7);
  bgra.at<cv::Vec4b>(1, 2) = cv::Vec4b(0, 0, 0, 255);
  auto blend = [](int c, int a) { return uint8_t((c * a + 255 * (255 - a) + 127) / 255); };
  for (const std::string ext : {".png", ".webp", ".tiff"}) {
    SCOPED_TRACE(ext);
    std::vector<int> params;
    if (ext == ".webp") params = {cv::IMWRITE_WEBP_QUALITY, 101};  // lossless keeps alpha exact
    cv::Mat image = DecodeImage(Encode(ext, bgra, params), "alpha" + ext);
    ASSERT_EQ(image.type(), CV_8UC3);
    EXPECT_EQ(image.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 255, 255));
    EXPECT_EQ(image.at<cv::Vec3b>(0, 1), cv::Vec3b(10, 20, 30));
    EXPECT_EQ(image.at<cv::Vec3b>(0, 2),
              cv::Vec3b(blend(0, 128), blend(100, 128), blend(200, 128)));
    EXPECT_EQ(image.at<cv::Vec3b>(0, 2), cv::Vec3b(127, 177, 227));
    EXPECT_EQ(image.at<cv::Vec3b>(1, 0), cv::Vec3b(204, 204, 204));
    EXPECT_EQ(image.at<cv::Vec3b>(1, 1), cv::Vec3b(255, 255, 255));
    EXPECT_EQ(image.at<cv::Vec3b>(1, 2), cv::Vec3b(0, 0, 0));
  }
}

TEST(ImageLoaderFormats, SixteenBitAlphaIsScaledThenComposited) {
  cv::Mat bgra(1, 2, CV_16UC4);
  bgra.at<cv::Vec4w>(0, 0) = cv::Vec4w(0, 0, 65535, 0);
  bgra.at<cv::Vec4w>(0, 1) = cv::Vec4w(0, 0, 65535, 65535);
  cv::Mat image = DecodeImage(Encode(".png", bgra), "alpha16.png");
  EXPECT_EQ(image.at<cv::Vec3b>(0, 0), cv::Vec3b(255, 255, 255));
  EXPECT_EQ(image.at<cv::Vec3b>(0, 1), cv::Vec3b(0, 0, 255));
}

TEST(ImageLoaderFormats, PnmHeaderWithCommentsLoads) {
  std::string header = "P5\n# written by hand\n3 2\n# max\n255\n";
  Bytes bytes(header.begin(), header.end());
  bytes.insert(bytes.end(), {0, 50, 100, 150, 200, 250});
  ImageHeader parsed = ReadImageHeader(bytes, "hand.pgm");
  EXPECT_EQ(parsed.format, "pnm");
  EXPECT_EQ(parsed.width, 3);
  EXPECT_EQ(parsed.height, 2);
  cv::Mat image = DecodeImage(bytes, "hand.pgm");
  ASSERT_EQ(image.size(), cv::Size(3, 2));
  EXPECT_EQ(image.at<cv::Vec3b>(1, 2), cv::Vec3b(250, 250, 250));
  EXPECT_EQ(image.at<cv::Vec3b>(0, 1), cv::Vec3b(50, 50, 50));
}

// ---------------------------------------------------------------------------
// Header-only parsing of hand-made headers.

TEST(ImageLoaderHeader, TiffBothByteOrders) {
  for (bool big_endian : {false, true}) {
    SCOPED_TRACE(big_endian ? "MM" : "II");
    Bytes tiff = big_endian ? Bytes{'M', 'M', 0, 42} : Bytes{'I', 'I', 42, 0};
    Put32(&tiff, 8, big_endian);
    Put16(&tiff, 2, big_endian);
    for (auto [tag, type, value] : {std::array<uint32_t, 3>{256, 3, 640},  // SHORT width
                                    std::array<uint32_t, 3>{257, 4, 70000}}) {  // LONG height
      Put16(&tiff, tag, big_endian);
      Put16(&tiff, type, big_endian);
      Put32(&tiff, 1, big_endian);
      if (type == 3) {
        Put16(&tiff, value, big_endian);
        Put16(&tiff, 0, big_endian);
      } else {
        Put32(&tiff, value, big_endian);
      }
    }
    Put32(&tiff, 0, big_endian);
    ImageHeader header = ReadImageHeader(tiff, "hand.tiff");
    EXPECT_EQ(header.format, "tiff");
    EXPECT_EQ(header.width, 640);
    EXPECT_EQ(header.height, 70000);
  }
}

TEST(ImageLoaderHeader, TiffDirectoryOutsideFileIsAnError) {
  Bytes tiff = TiffWithEntry(false, 256, 3, 1, 10, /*ifd_offset=*/0xFFFFFFF0);
  ExpectError([&] { ReadImageHeader(tiff, "far.tiff"); }, {"far.tiff", "TIFF"});
}

TEST(ImageLoaderHeader, WebpExtendedCanvas) {
  Bytes webp = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'X'};
  Put32(&webp, 10, false);
  webp.insert(webp.end(), {0x10, 0, 0, 0});          // flags (alpha), reserved
  webp.insert(webp.end(), {0x3F, 0x1F, 0x00});       // width - 1 = 7999
  webp.insert(webp.end(), {0xCF, 0x11, 0x00});       // height - 1 = 4559
  ImageHeader header = ReadImageHeader(webp, "x.webp");
  EXPECT_EQ(header.format, "webp");
  EXPECT_EQ(header.width, 8000);
  EXPECT_EQ(header.height, 4560);
}

TEST(ImageLoaderHeader, BmpTopDownHeightIsPositive) {
  Bytes bmp = Encode(".bmp", Pattern());
  int32_t negative = -kHeight;
  std::memcpy(bmp.data() + 22, &negative, 4);  // little-endian host, as BMP
  ImageHeader header = ReadImageHeader(bmp, "topdown.bmp");
  EXPECT_EQ(header.width, kWidth);
  EXPECT_EQ(header.height, kHeight);
  // The rows were written bottom-up; read as top-down they come out upside down.
  cv::Mat image = DecodeImage(bmp, "topdown.bmp");
  ExpectQuadrants(image, kBlue, kYellow, kRed, kGreen, 0);
}

TEST(ImageLoaderHeader, GifIsRecognisedButNotDecodable) {
  Bytes gif = {'G', 'I', 'F', '8', '9', 'a', 0x40, 0x01, 0xF0, 0x00, 0x00, 0x00, 0x00};
  ImageHeader header = ReadImageHeader(gif, "anim.gif");
  EXPECT_EQ(header.format, "gif");
  EXPECT_EQ(header.width, 320);
  EXPECT_EQ(header.height, 240);
  ExpectError([&] { DecodeImage(gif, "anim.gif"); }, {"anim.gif", "GIF"});
}

TEST(ImageLoaderHeader, AbsurdDimensionsAreRefused) {
  auto png = [](uint32_t width, uint32_t height) {
    Bytes bytes = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    Put32(&bytes, 13, true);
    bytes.insert(bytes.end(), {'I', 'H', 'D', 'R'});
    Put32(&bytes, width, true);
    Put32(&bytes, height, true);
    bytes.insert(bytes.end(), {8, 2, 0, 0, 0, 0, 0, 0, 0});  // depth, colour, ..., CRC
    return bytes;
  };
  ExpectError([&] { ReadImageHeader(png(0, 10), "zero.png"); }, {"zero.png", "absurd", "0x10"});
  ExpectError([&] { ReadImageHeader(png(100001, 1), "wide.png"); }, {"absurd", "100001x1"});
  ExpectError([&] { ReadImageHeader(png(0x80000000u, 5), "huge.png"); }, {"absurd"});
  EXPECT_EQ(ReadImageHeader(png(100000, 1), "edge.png").width, 100000);
}

TEST(ImageLoaderHeader, KnownUnsupportedFormatsAreNamed) {
  Bytes heic = {0, 0, 0, 0x18, 'f', 't', 'y', 'p', 'h', 'e', 'i', 'c'};
  ExpectError([&] { DecodeImage(heic, "photo.heic"); },
              {"photo.heic", "not a supported image", "HEIC"});
}

// ---------------------------------------------------------------------------
// Bad input: every case is a clear Error naming the file.

TEST(ImageLoaderBadInput, ZeroByteFile) {
  ExpectError([] { DecodeImage({}, "nothing.jpg"); }, {"nothing.jpg", "empty file"});
  ExpectError([] { ReadImageHeader({}, "nothing.jpg"); }, {"empty file"});
  auto path = WriteFile("empty", "empty.png", {});
  ExpectError([&] { LoadImage(path.string()); }, {path.string(), "empty file"});
}

TEST(ImageLoaderBadInput, RandomBytes) {
  std::mt19937 rng(1234);
  Bytes noise(4096);
  for (auto& b : noise) b = static_cast<uint8_t>(rng());
  noise[0] = 0x13;  // make sure no accepted signature happens to appear
  ExpectError([&] { DecodeImage(noise, "noise.bin"); }, {"noise.bin", "not a supported image"});
}

TEST(ImageLoaderBadInput, TextFile) {
  std::string text = "<!DOCTYPE html><html>not a photo</html>\n";
  auto path = WriteFile("text", "page.jpg", Bytes(text.begin(), text.end()));
  ExpectError([&] { LoadImage(path.string()); }, {path.string(), "not a supported image", "text, not an image"});
  // The message never echoes the file's bytes (it may reach a log or an HTTP answer).
  try {
    LoadImage(path.string());
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find("DOCTYP"), std::string::npos) << e.what();
    EXPECT_EQ(std::string(e.what()).find("3c 21"), std::string::npos) << e.what();
  }
}

TEST(ImageLoaderBadInput, TruncatedJpeg) {
  Bytes jpeg = PatternJpeg();
  Bytes half(jpeg.begin(), jpeg.begin() + jpeg.size() / 2);
  ExpectError([&] { DecodeImage(half, "half.jpg"); }, {"half.jpg", "truncated JPEG"});
  Bytes no_eoi(jpeg.begin(), jpeg.end() - 2);  // only the FFD9 marker missing
  ASSERT_EQ(jpeg[jpeg.size() - 2], 0xFF);
  ASSERT_EQ(jpeg[jpeg.size() - 1], 0xD9);
  ExpectError([&] { DecodeImage(no_eoi, "no_eoi.jpg"); }, {"truncated JPEG"});
  Bytes header_only(jpeg.begin(), jpeg.begin() + 10);
  ExpectError([&] { DecodeImage(header_only, "stub.jpg"); }, {"stub.jpg", "truncated JPEG"});
}

TEST(ImageLoaderBadInput, TrailingBytesAfterJpegEndAreAllowed) {
  Bytes jpeg = PatternJpeg();
  Bytes trailer(5000, 0xAB);
  trailer[100] = 0xFF;  // stray marker-like bytes after EOI must not matter
  trailer[101] = 0xD8;
  jpeg.insert(jpeg.end(), trailer.begin(), trailer.end());
  cv::Mat image = DecodeImage(jpeg, "trailer.jpg");
  ExpectQuadrants(image, kRed, kGreen, kBlue, kYellow, 30);
}

TEST(ImageLoaderBadInput, TruncatedPng) {
  Bytes png = Encode(".png", Pattern());
  Bytes half(png.begin(), png.begin() + png.size() / 2);
  ExpectError([&] { DecodeImage(half, "half.png"); }, {"half.png", "truncated PNG"});
  Bytes no_iend(png.begin(), png.end() - 12);  // IEND is the last 12-byte chunk
  ExpectError([&] { DecodeImage(no_iend, "no_iend.png"); }, {"no_iend.png", "truncated PNG"});
}

TEST(ImageLoaderBadInput, TruncatedOtherFormats) {
  for (const std::string ext : {".webp", ".bmp", ".tiff", ".ppm"}) {
    SCOPED_TRACE(ext);
    Bytes bytes = Encode(ext, Pattern());
    Bytes half(bytes.begin(), bytes.begin() + bytes.size() / 2);
    ExpectError([&] { DecodeImage(half, "half" + ext); }, {"half" + ext});
  }
}

TEST(ImageLoaderBadInput, CorruptPixelDataIsAnError) {
  Bytes png = Encode(".png", Pattern());
  // Flip bytes inside the IDAT payload: libpng's CRC check must reject it.
  for (size_t i = 60; i < 70 && i < png.size() - 12; ++i) png[i] ^= 0x5A;
  ExpectError([&] { DecodeImage(png, "flipped.png"); }, {"flipped.png", "png"});
}

// Found by image_decode_fuzz: a WebP header that libwebp rejects, with "DICM"
// at byte 128, went from cv::imdecode to OpenCV's DICOM reader (GDCM), whose
// assertion aborted the process: one upload would have stopped the server.
TEST(ImageLoaderBadInput, WebpWithADicomSignatureIsRefusedNotHandedToGdcm) {
  const std::string hex =
      "524946462e000000574542505650384c220000002f0740ffffffffffffffffff"
      "ffffffffffffffffffffffffffffffffff2effffffffffffffffffffffffffff"
      "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
      "ffff0dffffffffffffffffffffffffffffff0110998ce87f6c228ad0ff809080"
      "4449434d6c0f00004c546d";
  Bytes bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) bytes.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  ASSERT_EQ(bytes.size(), 139u);
  ExpectError([&] { DecodeImage(bytes, "crafted.webp"); }, {"crafted.webp", "DICOM", "webp"});
}

TEST(ImageLoaderBadInput, HeaderBombIsRefusedWithoutDecoding) {
  // A PNG that is nothing but a signature and an IHDR claiming 60000x60000 RGBA.
  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  Put32(&png, 13, true);
  png.insert(png.end(), {'I', 'H', 'D', 'R'});
  Put32(&png, 60000, true);
  Put32(&png, 60000, true);
  png.insert(png.end(), {8, 6, 0, 0, 0, 0, 0, 0, 0});
  // A JPEG with SOI and a baseline SOF0 claiming 60000x60000, nothing else.
  Bytes jpeg = {0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 8};
  Put16(&jpeg, 60000, true);
  Put16(&jpeg, 60000, true);
  jpeg.insert(jpeg.end(), {3, 1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1});

  for (const auto& [name, bytes] : {std::pair{"bomb.png", png}, std::pair{"bomb.jpg", jpeg}}) {
    SCOPED_TRACE(name);
    ImageHeader header = ReadImageHeader(bytes, name);
    EXPECT_EQ(header.width, 60000);
    EXPECT_EQ(header.height, 60000);
    auto start = std::chrono::steady_clock::now();
    ExpectError([&] { DecodeImage(bytes, name); },
                {name, "60000x60000", "3600000000 pixels", "over the limit of 80000000"});
    auto elapsed = std::chrono::steady_clock::now() - start;
    // Refused from the header: a decode would allocate 14 GB and take many
    // seconds. The bound is loose so that a loaded machine does not fail it.
    EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), 2000);
  }
}

TEST(ImageLoaderBadInput, LimitsFromOptions) {
  Bytes png = Encode(".png", Pattern());
  LoadOptions few_pixels;
  few_pixels.max_pixels = kWidth * kHeight - 1;
  ExpectError([&] { DecodeImage(png, "p.png", few_pixels); }, {"1536 pixels", "limit of 1535"});
  LoadOptions exact;
  exact.max_pixels = kWidth * kHeight;
  EXPECT_EQ(DecodeImage(png, "p.png", exact).cols, kWidth);

  LoadOptions few_bytes;
  few_bytes.max_file_bytes = 100;
  ExpectError([&] { DecodeImage(png, "p.png", few_bytes); }, {"p.png", "limit of 100"});
  auto path = WriteFile("limit", "p.png", png);
  ExpectError([&] { LoadImage(path.string(), few_bytes); }, {path.string(), "limit of 100"});
}

// Over the cap, a JPEG is decoded at the least libjpeg reduction that fits
// (sides rounded up); other formats are refused whatever reduce_jpeg_to_fit says.
TEST(ImageLoaderBadInput, JpegOverThePixelCapIsDecodedReduced) {
  cv::Mat big(301, 400, CV_8UC3, cv::Scalar(40, 120, 200));
  LoadOptions cap;
  cap.max_pixels = 200 * 151 - 1;  // half size (200 x 151) just misses: a quarter
  cap.reduce_jpeg_to_fit = true;
  cv::Mat quarter = DecodeImage(Encode(".jpg", big), "big.jpg", cap);
  EXPECT_EQ(quarter.cols, 100);
  EXPECT_EQ(quarter.rows, 76);
  EXPECT_EQ(quarter.type(), CV_8UC3);
  EXPECT_NEAR(quarter.at<cv::Vec3b>(38, 50)[2], 200, 4);
  cap.max_pixels = 200 * 151;
  EXPECT_EQ(DecodeImage(Encode(".jpg", big), "big.jpg", cap).cols, 200);
  cap.max_pixels = 10;
  ExpectError([&] { DecodeImage(Encode(".jpg", big), "big.jpg", cap); }, {"limit of 10"});
  cap.max_pixels = 200 * 151;
  ExpectError([&] { DecodeImage(Encode(".png", big), "big.png", cap); }, {"limit of 30200"});
  LoadOptions no_reduction;
  no_reduction.max_pixels = 200 * 151;
  ExpectError([&] { DecodeImage(Encode(".jpg", big), "big.jpg", no_reduction); }, {"limit of 30200"});
}

TEST(ImageLoaderBadInput, MissingFileAndDirectory) {
  auto dir = lineup::testing::TempDir("paths");
  std::string missing = (dir / "absent.jpg").string();
  ExpectError([&] { LoadImage(missing); }, {missing, "no such file"});
  ExpectError([&] { LoadImage(dir.string()); }, {dir.string(), "not a regular file"});
}

TEST(ImageLoaderBadInput, LoadImageFromDiskMatchesDecode) {
  Bytes png = Encode(".png", Pattern());
  auto path = WriteFile("disk", "pattern.png", png);
  cv::Mat image = LoadImage(path.string());
  ASSERT_EQ(image.size(), cv::Size(kWidth, kHeight));
  ExpectQuadrants(image, kRed, kGreen, kBlue, kYellow, 0);
}

// ---------------------------------------------------------------------------
// EXIF orientation.

TEST(ImageLoaderExif, Rotate180) {
  Bytes jpeg = InsertExif(PatternJpeg(), ExifTiff(3, /*big_endian=*/false));
  ImageHeader header = ReadImageHeader(jpeg, "o3.jpg");
  EXPECT_EQ(header.exif_orientation, 3);
  cv::Mat image = DecodeImage(jpeg, "o3.jpg");
  ASSERT_EQ(image.size(), cv::Size(kWidth, kHeight));
  ExpectQuadrants(image, kYellow, kBlue, kGreen, kRed, 30);
}

TEST(ImageLoaderExif, Rotate90ClockwiseBigEndian) {
  Bytes jpeg = InsertExif(PatternJpeg(), ExifTiff(6, /*big_endian=*/true));
  ImageHeader header = ReadImageHeader(jpeg, "o6.jpg");
  EXPECT_EQ(header.exif_orientation, 6);
  EXPECT_EQ(header.width, kWidth);  // header sides are as stored, before rotation
  EXPECT_EQ(header.height, kHeight);
  cv::Mat image = DecodeImage(jpeg, "o6.jpg");
  ASSERT_EQ(image.size(), cv::Size(kHeight, kWidth));
  // Clockwise: the stored left column becomes the top row.
  ExpectQuadrants(image, kBlue, kRed, kYellow, kGreen, 30);
}

TEST(ImageLoaderExif, Rotate90CounterClockwiseBothByteOrders) {
  for (bool big_endian : {false, true}) {
    SCOPED_TRACE(big_endian ? "MM" : "II");
    Bytes jpeg = InsertExif(PatternJpeg(), ExifTiff(8, big_endian));
    EXPECT_EQ(ReadImageHeader(jpeg, "o8.jpg").exif_orientation, 8);
    cv::Mat image = DecodeImage(jpeg, "o8.jpg");
    ASSERT_EQ(image.size(), cv::Size(kHeight, kWidth));
    ExpectQuadrants(image, kGreen, kYellow, kRed, kBlue, 30);
  }
}

TEST(ImageLoaderExif, AllEightMatchOpenCvsOwnExifHandling) {
  Bytes plain = PatternJpeg();
  for (int orientation = 1; orientation <= 8; ++orientation) {
    SCOPED_TRACE("orientation " + std::to_string(orientation));
    Bytes jpeg = InsertExif(plain, ExifTiff(orientation, orientation % 2 == 0));
    cv::Mat ours = DecodeImage(jpeg, "o.jpg");
    cv::Mat reference = cv::imdecode(jpeg, cv::IMREAD_COLOR);  // OpenCV rotates by EXIF here
    ASSERT_EQ(ours.size(), reference.size());
    EXPECT_EQ(cv::norm(ours, reference, cv::NORM_INF), 0.0);
    bool swapped = orientation >= 5;
    EXPECT_EQ(ours.cols, swapped ? kHeight : kWidth);
  }
}

TEST(ImageLoaderExif, ApplyExifOrientationOnTinyMatrix) {
  // 2x3 single-channel matrix with distinct values: a b c / d e f.
  cv::Mat m = (cv::Mat_<uint8_t>(2, 3) << 1, 2, 3, 4, 5, 6);
  auto rows = [](const cv::Mat& x) {
    std::vector<int> v;
    for (int y = 0; y < x.rows; ++y) {
      for (int c = 0; c < x.cols; ++c) v.push_back(x.at<uint8_t>(y, c));
    }
    return v;
  };
  EXPECT_EQ(rows(ApplyExifOrientation(m, 1)), (std::vector<int>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(rows(ApplyExifOrientation(m, 2)), (std::vector<int>{3, 2, 1, 6, 5, 4}));
  EXPECT_EQ(rows(ApplyExifOrientation(m, 3)), (std::vector<int>{6, 5, 4, 3, 2, 1}));
  EXPECT_EQ(rows(ApplyExifOrientation(m, 4)), (std::vector<int>{4, 5, 6, 1, 2, 3}));
  EXPECT_EQ(rows(ApplyExifOrientation(m, 5)), (std::vector<int>{1, 4, 2, 5, 3, 6}));
  EXPECT_EQ(rows(ApplyExifOrientation(m, 6)), (std::vector<int>{4, 1, 5, 2, 6, 3}));
  EXPECT_EQ(rows(ApplyExifOrientation(m, 7)), (std::vector<int>{6, 3, 5, 2, 4, 1}));
  EXPECT_EQ(rows(ApplyExifOrientation(m, 8)), (std::vector<int>{3, 6, 2, 5, 1, 4}));
  EXPECT_EQ(rows(ApplyExifOrientation(m, 9)), (std::vector<int>{1, 2, 3, 4, 5, 6}));
}

TEST(ImageLoaderExif, HostileExifIsIgnoredNotFatal) {
  const Bytes plain = PatternJpeg();
  struct Case {
    std::string what;
    Bytes tiff;
  };
  Bytes huge_count = {'I', 'I', 42, 0, 8, 0, 0, 0, 0xFF, 0xFF, 0x12, 0x01};  // 65535 entries
  const std::vector<Case> cases = {
      {"IFD offset far outside", TiffWithEntry(false, 0x0112, 3, 1, 6, 0xFFFFFFF0)},
      {"IFD offset just past end", TiffWithEntry(true, 0x0112, 3, 1, 6, 26)},
      {"IFD offset 0xFFFFFFFF", TiffWithEntry(true, 0x0112, 3, 1, 6, 0xFFFFFFFF)},
      {"entry count runs off the end", huge_count},
      {"orientation 0", ExifTiff(0, false)},
      {"orientation 9", ExifTiff(9, true)},
      {"orientation 65535", ExifTiff(65535, false)},
      {"wrong type (ASCII)", TiffWithEntry(false, 0x0112, 2, 1, 6)},
      {"zero count", TiffWithEntry(false, 0x0112, 3, 0, 6)},
      {"bad byte order mark", Bytes{'X', 'X', 42, 0, 8, 0, 0, 0}},
      {"empty TIFF", Bytes{}},
      {"two bytes", Bytes{'I', 'I'}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    Bytes jpeg = InsertExif(plain, c.tiff);
    EXPECT_EQ(ReadImageHeader(jpeg, "hostile.jpg").exif_orientation, 1);
    cv::Mat image = DecodeImage(jpeg, "hostile.jpg");
    ASSERT_EQ(image.size(), cv::Size(kWidth, kHeight));
    ExpectQuadrants(image, kRed, kGreen, kBlue, kYellow, 30);
  }
}

TEST(ImageLoaderExif, App1LengthPastEndOfFileIsTruncationNotACrash) {
  Bytes jpeg = {0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xF0, 'E', 'x', 'i', 'f', 0, 0,
                'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3};
  ExpectError([&] { ReadImageHeader(jpeg, "cut.jpg"); }, {"cut.jpg", "truncated JPEG"});
  ExpectError([&] { DecodeImage(jpeg, "cut.jpg"); }, {"cut.jpg", "truncated JPEG"});
}

// ---------------------------------------------------------------------------
// CMYK JPEG. OpenCV cannot write one, so the test encodes it by hand: a
// minimal baseline JPEG whose 4 components each have one 8x8 block per MCU
// holding only a DC coefficient. With all quantisers 1, a flat block of
// sample v has DC = 8 * (v - 128) and decodes back to exactly v.

class BitWriter {
 public:
  explicit BitWriter(Bytes* out) : out_(out) {}
  void Put(uint32_t value, int bits) {
    for (int i = bits - 1; i >= 0; --i) PutBit((value >> i) & 1);
  }
  void Flush() {
    while (count_ != 0) PutBit(1);  // pad with ones, as the standard asks
  }

 private:
  void PutBit(int bit) {
    byte_ = static_cast<uint8_t>((byte_ << 1) | bit);
    if (++count_ == 8) {
      out_->push_back(byte_);
      if (byte_ == 0xFF) out_->push_back(0x00);  // byte stuffing
      byte_ = 0;
      count_ = 0;
    }
  }
  Bytes* out_;
  uint8_t byte_ = 0;
  int count_ = 0;
};

// One 8x8 flat block per entry of `blocks` (stored CMYK samples), left to right.
Bytes FlatCmykJpeg(const std::vector<std::array<uint8_t, 4>>& blocks, bool adobe_marker) {
  Bytes jpeg = {0xFF, 0xD8};
  if (adobe_marker) {  // APP14 "Adobe", version 100, flags 0, transform 0 (no YCCK)
    jpeg.insert(jpeg.end(), {0xFF, 0xEE, 0, 14, 'A', 'd', 'o', 'b', 'e', 0, 100, 0, 0, 0, 0, 0});
  }
  jpeg.insert(jpeg.end(), {0xFF, 0xDB, 0, 67, 0x00});  // DQT table 0, all ones
  jpeg.insert(jpeg.end(), 64, 1);
  jpeg.insert(jpeg.end(), {0xFF, 0xC0, 0, 20, 8, 0, 8});  // SOF0, 8-bit, height 8
  Put16(&jpeg, static_cast<uint32_t>(8 * blocks.size()), true);
  jpeg.push_back(4);
  for (uint8_t id = 1; id <= 4; ++id) jpeg.insert(jpeg.end(), {id, 0x11, 0});
  // DC table 0: categories 0..11 all with 4-bit codes, so category s has code s.
  jpeg.insert(jpeg.end(),
              {0xFF, 0xC4, 0, 31, 0x00, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  for (uint8_t s = 0; s < 12; ++s) jpeg.push_back(s);
  // AC table 0: only end-of-block, with the 1-bit code 0.
  jpeg.insert(jpeg.end(), {0xFF, 0xC4, 0, 20, 0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                           0x00});
  jpeg.insert(jpeg.end(), {0xFF, 0xDA, 0, 14, 4, 1, 0, 2, 0, 3, 0, 4, 0, 0, 63, 0});
  BitWriter bits(&jpeg);
  int predictor[4] = {0, 0, 0, 0};
  for (const auto& block : blocks) {
    for (int c = 0; c < 4; ++c) {
      int dc = 8 * (block[c] - 128);
      int diff = dc - predictor[c];
      predictor[c] = dc;
      int magnitude = std::abs(diff);
      int category = 0;
      while ((1 << category) <= magnitude) ++category;
      bits.Put(category, 4);
      if (category > 0) bits.Put(diff >= 0 ? diff : diff + (1 << category) - 1, category);
      bits.Put(0, 1);  // end of block
    }
  }
  bits.Flush();
  jpeg.insert(jpeg.end(), {0xFF, 0xD9});
  return jpeg;
}

TEST(ImageLoaderCmyk, AdobeInvertedCmykComesOutInTheRightColours) {
  // Stored Adobe-style (inverted) samples; R = c*k/255, G = m*k/255, B = y*k/255.
  const std::vector<std::array<uint8_t, 4>> blocks = {
      {255, 0, 0, 255},      // red
      {0, 255, 255, 255},    // cyan
      {255, 255, 128, 200},  // dark yellow: R = G = 200, B = 100
      {0, 0, 0, 0},          // full black ink
  };
  const std::vector<cv::Vec3b> expected = {
      {0, 0, 255}, {255, 255, 0}, {100, 200, 200}, {0, 0, 0}};
  for (bool adobe_marker : {true, false}) {
    SCOPED_TRACE(adobe_marker ? "with Adobe marker" : "without Adobe marker");
    Bytes jpeg = FlatCmykJpeg(blocks, adobe_marker);
    ImageHeader header = ReadImageHeader(jpeg, "cmyk.jpg");
    EXPECT_EQ(header.width, 32);
    EXPECT_EQ(header.height, 8);
    cv::Mat image = DecodeImage(jpeg, "cmyk.jpg");
    ASSERT_EQ(image.type(), CV_8UC3);
    ASSERT_EQ(image.size(), cv::Size(32, 8));
    for (size_t i = 0; i < expected.size(); ++i) {
      SCOPED_TRACE("block " + std::to_string(i));
      for (int x = 8 * static_cast<int>(i); x < 8 * static_cast<int>(i) + 8; x += 7) {
        EXPECT_LE(Distance(image, x, 4, expected[i]), 2);  // OpenCV's /256 costs ~1 level
      }
    }
  }
}

}  // namespace
}  // namespace lineup
