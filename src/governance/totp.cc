#include "governance/totp.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <array>

#include "common/error.h"

namespace lineup {

namespace {

constexpr int64_t kStepSeconds = 30;
constexpr size_t kSecretBytes = 20;  // 160 bits, the HMAC-SHA1 block RFC 4226 recommends
constexpr int kMinDigits = 6;
constexpr int kMaxDigits = 8;
constexpr int kMaxWindow = 10;
constexpr char kBase32Alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

using Sha1Mac = std::array<uint8_t, 20>;

// HMAC-SHA1 through EVP (the HMAC() one-shot is deprecated in OpenSSL 3).
Sha1Mac HmacSha1(const std::vector<uint8_t>& key, const std::array<uint8_t, 8>& message) {
  Sha1Mac mac{};
  size_t size = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA1", nullptr, key.data(), key.size(), message.data(), message.size(),
                mac.data(), mac.size(), &size) == nullptr ||
      size != mac.size()) {
    throw Error("TOTP: HMAC-SHA1 failed (OpenSSL)");
  }
  return mac;
}

// RFC 4226: HMAC of the big-endian counter, dynamic truncation, decimal.
std::string HotpCode(const std::vector<uint8_t>& secret, uint64_t counter, int digits) {
  std::array<uint8_t, 8> message{};
  for (int i = 7; i >= 0; --i, counter >>= 8) message[static_cast<size_t>(i)] = static_cast<uint8_t>(counter & 0xff);
  const Sha1Mac mac = HmacSha1(secret, message);
  const size_t offset = mac[19] & 0x0f;
  const uint32_t truncated = (uint32_t{mac[offset]} & 0x7f) << 24 | uint32_t{mac[offset + 1]} << 16 |
                             uint32_t{mac[offset + 2]} << 8 | uint32_t{mac[offset + 3]};
  uint32_t modulus = 1;
  for (int i = 0; i < digits; ++i) modulus *= 10;
  std::string code = std::to_string(truncated % modulus);
  return std::string(static_cast<size_t>(digits) - code.size(), '0') + code;
}

void CheckSecret(const std::vector<uint8_t>& secret) {
  if (secret.empty()) throw Error("TOTP: the secret is empty");
}

bool IsCode(const std::string& code) {
  if (code.size() < kMinDigits || code.size() > kMaxDigits) return false;
  for (char c : code) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

int Base32Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a';
  if (c >= '2' && c <= '7') return c - '2' + 26;
  return -1;
}

// Everything but RFC 3986 unreserved characters as %XX.
std::string PercentEncode(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                            c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0x0f];
    }
  }
  return out;
}

}  // namespace

std::string Base32Encode(const std::vector<uint8_t>& bytes) {
  std::string out;
  out.reserve((bytes.size() * 8 + 4) / 5);
  uint32_t buffer = 0;  // holds fewer than 5 pending bits between bytes
  int bits = 0;
  for (uint8_t byte : bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += kBase32Alphabet[(buffer >> bits) & 0x1f];
    }
    buffer &= (1u << bits) - 1;
  }
  if (bits > 0) out += kBase32Alphabet[(buffer << (5 - bits)) & 0x1f];
  return out;
}

// Strict about everything but case and spaces: '=' only at the end and then
// to a multiple of 8 characters, no impossible lengths (1, 3 or 6 characters
// in the last group) and no stray bits after the last byte, so that each
// byte string has exactly one accepted spelling up to case, spaces and padding.
std::optional<std::vector<uint8_t>> Base32Decode(const std::string& text) {
  std::vector<uint8_t> out;
  uint32_t buffer = 0;
  int bits = 0;
  size_t symbols = 0;
  size_t padding = 0;
  for (char c : text) {
    if (c == ' ') continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    const int value = Base32Value(c);
    if (value < 0 || padding > 0) return std::nullopt;
    ++symbols;
    buffer = (buffer << 5) | static_cast<uint32_t>(value);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(buffer >> bits));
      buffer &= (1u << bits) - 1;
    }
  }
  const size_t last_group = symbols % 8;
  if (last_group == 1 || last_group == 3 || last_group == 6) return std::nullopt;
  if (padding > 0 && (last_group == 0 || (symbols + padding) % 8 != 0)) return std::nullopt;
  if (buffer != 0) return std::nullopt;
  return out;
}

std::string TotpCode(const std::vector<uint8_t>& secret, int64_t unix_time, int digits) {
  CheckSecret(secret);
  if (digits < kMinDigits || digits > kMaxDigits) {
    throw Error("TOTP: " + std::to_string(digits) + " digits asked for; codes have 6 to 8");
  }
  if (unix_time < 0) throw Error("TOTP: time " + std::to_string(unix_time) + " is before 1970");
  return HotpCode(secret, static_cast<uint64_t>(unix_time / kStepSeconds), digits);
}

// Tries every step of the window, without stopping at a match, and compares
// with sodium_memcmp: neither the time taken nor the work done tells which
// step (if any) matched or how many characters were right.
std::optional<int64_t> MatchTotp(const std::vector<uint8_t>& secret, const std::string& code, int64_t unix_time,
                                 int window) {
  CheckSecret(secret);
  if (window < 0 || window > kMaxWindow) {
    throw Error("TOTP: window " + std::to_string(window) + " out of range 0.." + std::to_string(kMaxWindow));
  }
  if (!IsCode(code) || unix_time < 0) return std::nullopt;
  const int64_t now_step = unix_time / kStepSeconds;
  std::optional<int64_t> matched;
  for (int64_t step = now_step - window; step <= now_step + window; ++step) {
    if (step < 0) continue;
    const std::string expected = HotpCode(secret, static_cast<uint64_t>(step), static_cast<int>(code.size()));
    const bool equal = sodium_memcmp(expected.data(), code.data(), code.size()) == 0;
    if (equal && !matched) matched = step;
  }
  return matched;
}

TotpSecret NewTotpSecret(const std::string& username) {
  if (sodium_init() < 0) throw Error("TOTP: libsodium failed to initialise");
  TotpSecret s;
  s.secret.resize(kSecretBytes);
  randombytes_buf(s.secret.data(), s.secret.size());
  s.base32 = Base32Encode(s.secret);
  s.uri = "otpauth://totp/Lineup:" + PercentEncode(username) + "?secret=" + s.base32 + "&issuer=Lineup";
  return s;
}

}  // namespace lineup
