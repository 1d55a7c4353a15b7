// Time-based one-time passwords (RFC 6238 over HMAC-SHA1, RFC 4226), as used
// by authenticator apps, and the base32 (RFC 4648) that carries their secrets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lineup {

std::string Base32Encode(const std::vector<uint8_t>& bytes);  // upper case, no padding
// Accepts upper or lower case, spaces and '=' padding; nullopt if not base32.
std::optional<std::vector<uint8_t>> Base32Decode(const std::string& text);

// The `digits`-digit code for `unix_time` (step of 30 s), zero-padded.
std::string TotpCode(const std::vector<uint8_t>& secret, int64_t unix_time, int digits = 6);
// The time step (unix_time / 30) that `code` matches within +-window steps,
// or nullopt. Compares in constant time. Callers reject a step at or below
// the last one accepted for the account (no replay).
std::optional<int64_t> MatchTotp(const std::vector<uint8_t>& secret, const std::string& code, int64_t unix_time,
                                 int window = 1);

// A fresh 20-byte secret and its otpauth:// URI for QR codes / manual entry.
struct TotpSecret {
  std::vector<uint8_t> secret;
  std::string base32;
  std::string uri;  // otpauth://totp/Lineup:<user>?secret=...&issuer=Lineup
};
TotpSecret NewTotpSecret(const std::string& username);

}  // namespace lineup
