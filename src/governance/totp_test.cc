#include "governance/totp.h"

#include <gtest/gtest.h>

#include <set>

#include "common/error.h"

namespace lineup {
namespace {

std::vector<uint8_t> Bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

// RFC 6238 appendix B, SHA1 column.
const std::vector<uint8_t> kRfcSecret = Bytes("12345678901234567890");
struct RfcVector {
  int64_t time;
  const char* code;
};
constexpr RfcVector kRfcVectors[] = {{59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
                                     {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"}};

TEST(Totp, MatchesTheRfc6238TestVectors) {
  for (const RfcVector& v : kRfcVectors) {
    SCOPED_TRACE(v.time);
    EXPECT_EQ(TotpCode(kRfcSecret, v.time, 8), v.code);
    EXPECT_EQ(MatchTotp(kRfcSecret, v.code, v.time), v.time / 30);
  }
}

// A 6-digit code is the last six digits of the 8-digit one (both are the
// same truncated value modulo a power of ten).
TEST(Totp, SixDigitCodesAreTheDefault) {
  for (const RfcVector& v : kRfcVectors) {
    SCOPED_TRACE(v.time);
    const std::string six = TotpCode(kRfcSecret, v.time);
    EXPECT_EQ(six.size(), 6u);
    EXPECT_EQ(six, std::string(v.code).substr(2));
    EXPECT_EQ(MatchTotp(kRfcSecret, six, v.time), v.time / 30);
  }
  EXPECT_EQ(TotpCode(kRfcSecret, 1111111109), "081804");  // zero-padded
}

TEST(Totp, CodeIsConstantWithinAStepAndChangesAcrossSteps) {
  EXPECT_EQ(TotpCode(kRfcSecret, 1234567890 / 30 * 30), TotpCode(kRfcSecret, 1234567890 / 30 * 30 + 29));
  EXPECT_NE(TotpCode(kRfcSecret, 1234567890 / 30 * 30), TotpCode(kRfcSecret, 1234567890 / 30 * 30 + 30));
}

TEST(Totp, AcceptsOneStepEitherSideByDefault) {
  const int64_t t = 1234567890;
  const int64_t step = t / 30;
  const std::string previous = TotpCode(kRfcSecret, t - 30);
  const std::string next = TotpCode(kRfcSecret, t + 30);
  const std::string two_back = TotpCode(kRfcSecret, t - 60);
  const std::string two_ahead = TotpCode(kRfcSecret, t + 60);
  EXPECT_EQ(MatchTotp(kRfcSecret, previous, t), step - 1);
  EXPECT_EQ(MatchTotp(kRfcSecret, next, t), step + 1);
  EXPECT_EQ(MatchTotp(kRfcSecret, two_back, t), std::nullopt);
  EXPECT_EQ(MatchTotp(kRfcSecret, two_ahead, t), std::nullopt);
  EXPECT_EQ(MatchTotp(kRfcSecret, two_back, t, 2), step - 2);
  EXPECT_EQ(MatchTotp(kRfcSecret, previous, t, 0), std::nullopt);
  EXPECT_EQ(MatchTotp(kRfcSecret, TotpCode(kRfcSecret, t), t, 0), step);
}

TEST(Totp, RejectsWrongAndMalformedCodes) {
  const int64_t t = 1111111111;
  const std::string right = TotpCode(kRfcSecret, t);
  std::string off_by_one = right;
  off_by_one.back() = off_by_one.back() == '9' ? '0' : static_cast<char>(off_by_one.back() + 1);
  EXPECT_EQ(MatchTotp(kRfcSecret, off_by_one, t), std::nullopt);
  EXPECT_EQ(MatchTotp(kRfcSecret, "", t), std::nullopt);
  EXPECT_EQ(MatchTotp(kRfcSecret, right.substr(0, 5), t), std::nullopt);
  EXPECT_EQ(MatchTotp(kRfcSecret, " " + right, t), std::nullopt);
  EXPECT_EQ(MatchTotp(kRfcSecret, right + "x", t), std::nullopt);
  EXPECT_EQ(MatchTotp(kRfcSecret, "123456789", t), std::nullopt);
  EXPECT_EQ(MatchTotp(kRfcSecret, "abcdef", t), std::nullopt);
  EXPECT_EQ(MatchTotp(Bytes("another secret 12345"), right, t), std::nullopt);
  EXPECT_EQ(MatchTotp(kRfcSecret, right, -1), std::nullopt);
}

TEST(Totp, NeverMatchesBeforeTheEpoch) {
  // At t = 0 the window's step -1 does not exist; step 0 still matches.
  EXPECT_EQ(MatchTotp(kRfcSecret, TotpCode(kRfcSecret, 0), 10), 0);
}

TEST(Totp, RefusesBadArguments) {
  EXPECT_THROW(TotpCode({}, 59), Error);
  EXPECT_THROW(TotpCode(kRfcSecret, 59, 5), Error);
  EXPECT_THROW(TotpCode(kRfcSecret, 59, 9), Error);
  EXPECT_THROW(TotpCode(kRfcSecret, -30), Error);
  EXPECT_THROW(MatchTotp({}, "123456", 59), Error);
  EXPECT_THROW(MatchTotp(kRfcSecret, "123456", 59, -1), Error);
  EXPECT_THROW(MatchTotp(kRfcSecret, "123456", 59, 1000), Error);
}

// --- base32

TEST(Base32, EncodesTheRfc4648Vectors) {
  EXPECT_EQ(Base32Encode(Bytes("")), "");
  EXPECT_EQ(Base32Encode(Bytes("f")), "MY");
  EXPECT_EQ(Base32Encode(Bytes("fo")), "MZXQ");
  EXPECT_EQ(Base32Encode(Bytes("foo")), "MZXW6");
  EXPECT_EQ(Base32Encode(Bytes("foob")), "MZXW6YQ");
  EXPECT_EQ(Base32Encode(Bytes("fooba")), "MZXW6YTB");
  EXPECT_EQ(Base32Encode(Bytes("foobar")), "MZXW6YTBOI");
  EXPECT_EQ(Base32Encode(kRfcSecret), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
}

TEST(Base32, DecodesTheRfc4648VectorsWithAndWithoutPadding) {
  const std::vector<std::pair<std::string, std::string>> vectors = {
      {"", ""},           {"MY======", "f"},       {"MZXQ====", "fo"},         {"MZXW6===", "foo"},
      {"MZXW6YQ=", "foob"}, {"MZXW6YTB", "fooba"}, {"MZXW6YTBOI======", "foobar"}};
  for (const auto& [padded, plain] : vectors) {
    SCOPED_TRACE(padded);
    EXPECT_EQ(Base32Decode(padded), Bytes(plain));
    std::string unpadded = padded.substr(0, padded.find('='));
    EXPECT_EQ(Base32Decode(unpadded), Bytes(plain));
  }
}

TEST(Base32, DecodeAcceptsLowerCaseAndSpaces) {
  EXPECT_EQ(Base32Decode("mzxw6ytboi"), Bytes("foobar"));
  EXPECT_EQ(Base32Decode("MZXW 6YTB OI"), Bytes("foobar"));
  EXPECT_EQ(Base32Decode("gezd gnbv gy3t qojq gezd gnbv gy3t qojq"), kRfcSecret);
}

TEST(Base32, DecodeRejectsWhatIsNotBase32) {
  EXPECT_EQ(Base32Decode("MZXW6YTB1"), std::nullopt);   // 1 is not in the alphabet
  EXPECT_EQ(Base32Decode("MZXW8"), std::nullopt);       // nor is 8
  EXPECT_EQ(Base32Decode("MZ-XW"), std::nullopt);
  EXPECT_EQ(Base32Decode("M"), std::nullopt);           // 5 bits: not a byte
  EXPECT_EQ(Base32Decode("MZX"), std::nullopt);         // impossible length
  EXPECT_EQ(Base32Decode("MZXW6Y"), std::nullopt);      // impossible length
  EXPECT_EQ(Base32Decode("MZ"), std::nullopt);          // stray bits after "f" (MY is canonical)
  EXPECT_EQ(Base32Decode("MY=Y"), std::nullopt);        // data after padding
  EXPECT_EQ(Base32Decode("MY="), std::nullopt);         // padding not to a multiple of 8
  EXPECT_EQ(Base32Decode("="), std::nullopt);
  EXPECT_EQ(Base32Decode("MZXW6YTB========"), std::nullopt);  // a full group needs no padding
  EXPECT_EQ(Base32Decode("MZXW\t6YTB"), std::nullopt);
}

TEST(Base32, RoundTripsEveryLengthAndByte) {
  std::vector<uint8_t> bytes;
  for (int n = 0; n < 300; ++n) {
    SCOPED_TRACE(n);
    const std::string text = Base32Encode(bytes);
    EXPECT_EQ(text.size(), (bytes.size() * 8 + 4) / 5);
    EXPECT_EQ(Base32Decode(text), bytes);
    bytes.push_back(static_cast<uint8_t>(n * 37 + 11));
  }
}

// --- secrets

TEST(TotpSecret, IsFreshRandomAndSpelledConsistently) {
  TotpSecret a = NewTotpSecret("alice");
  TotpSecret b = NewTotpSecret("alice");
  EXPECT_EQ(a.secret.size(), 20u);
  EXPECT_NE(a.secret, b.secret);
  EXPECT_EQ(a.base32.size(), 32u);
  EXPECT_EQ(Base32Decode(a.base32), a.secret);
  EXPECT_EQ(a.uri, "otpauth://totp/Lineup:alice?secret=" + a.base32 + "&issuer=Lineup");
  // The new secret works with the code functions.
  EXPECT_EQ(MatchTotp(a.secret, TotpCode(a.secret, 1'700'000'000), 1'700'000'000), 1'700'000'000 / 30);
}

TEST(TotpSecret, UriEscapesTheUsername) {
  TotpSecret s = NewTotpSecret("j.doe@unit one?&x=1");
  const std::string prefix = "otpauth://totp/Lineup:j.doe%40unit%20one%3F%26x%3D1?secret=";
  EXPECT_EQ(s.uri.substr(0, prefix.size()), prefix);
}

TEST(TotpSecret, ManySecretsAreAllDifferent) {
  std::set<std::vector<uint8_t>> seen;
  for (int i = 0; i < 100; ++i) seen.insert(NewTotpSecret("u").secret);
  EXPECT_EQ(seen.size(), 100u);
}

}  // namespace
}  // namespace lineup
