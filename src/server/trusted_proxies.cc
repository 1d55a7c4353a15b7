#include "server/trusted_proxies.h"

#include <arpa/inet.h>

#include <algorithm>
#include <optional>

#include "common/error.h"

namespace lineup {

namespace {

using Bytes = std::array<uint8_t, 16>;
constexpr int kMappedPrefixBits = 96;  // ::ffff:0:0/96 holds the IPv4 addresses

std::string Trimmed(const std::string& text) {
  const size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t") - begin + 1);
}

// "a.b.c.d", "a.b.c.d:port", "v6", "[v6]", "[v6]:port" -> the address part.
std::string WithoutPort(const std::string& text) {
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    return close == std::string::npos ? "" : text.substr(1, close - 1);
  }
  const size_t colon = text.find(':');
  if (colon != std::string::npos && text.find(':', colon + 1) == std::string::npos) return text.substr(0, colon);
  return text;
}

std::optional<Bytes> ParseAddress(const std::string& text) {
  Bytes bytes{};
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    bytes[10] = bytes[11] = 0xff;
    std::copy_n(reinterpret_cast<const uint8_t*>(&v4), 4, bytes.begin() + 12);
    return bytes;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    std::copy_n(reinterpret_cast<const uint8_t*>(&v6), 16, bytes.begin());
    return bytes;
  }
  return std::nullopt;
}

bool IsMappedIpv4(const Bytes& b) {
  return std::all_of(b.begin(), b.begin() + 10, [](uint8_t x) { return x == 0; }) && b[10] == 0xff && b[11] == 0xff;
}

std::string TextOf(const Bytes& b) {
  char text[INET6_ADDRSTRLEN] = {};
  if (IsMappedIpv4(b)) {
    inet_ntop(AF_INET, b.data() + 12, text, sizeof text);
  } else {
    inet_ntop(AF_INET6, b.data(), text, sizeof text);
  }
  return text;
}

bool SamePrefix(const Bytes& a, const Bytes& b, int bits) {
  for (int i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((a[i] & mask) != (b[i] & mask)) return false;
  }
  return true;
}

std::vector<std::string> SplitCommas(const std::string& text) {
  std::vector<std::string> parts;
  size_t begin = 0;
  while (true) {
    const size_t comma = text.find(',', begin);
    parts.push_back(Trimmed(text.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin)));
    if (comma == std::string::npos) return parts;
    begin = comma + 1;
  }
}

}  // namespace

std::string CanonicalAddress(const std::string& text) {
  std::optional<Bytes> bytes = ParseAddress(WithoutPort(Trimmed(text)));
  return bytes ? TextOf(*bytes) : "";
}

TrustedProxies::TrustedProxies(const std::vector<std::string>& cidrs) {
  for (const std::string& cidr : cidrs) {
    const auto bad = [&](const std::string& why) {
      return InvalidArgument("trusted_proxy", "--trusted-proxy " + cidr + ": " + why);
    };
    const size_t slash = cidr.find('/');
    std::optional<Bytes> bytes = ParseAddress(Trimmed(cidr.substr(0, slash)));
    if (!bytes) throw bad("not an IPv4 or IPv6 address (give ADDRESS or ADDRESS/PREFIX, e.g. 10.0.0.0/8)");
    const bool v4 = IsMappedIpv4(*bytes) && cidr.find(':') == std::string::npos;
    const int max_bits = v4 ? 32 : 128;
    int bits = max_bits;
    if (slash != std::string::npos) {
      const std::string prefix = cidr.substr(slash + 1);
      if (prefix.empty() || prefix.size() > 3 || prefix.find_first_not_of("0123456789") != std::string::npos ||
          std::stoi(prefix) > max_bits) {
        throw bad("the prefix length is 0 to " + std::to_string(max_bits));
      }
      bits = std::stoi(prefix);
    }
    blocks_.push_back({*bytes, v4 ? kMappedPrefixBits + bits : bits});
  }
}

bool TrustedProxies::Contains(const std::string& address) const {
  std::optional<Bytes> bytes = ParseAddress(WithoutPort(Trimmed(address)));
  if (!bytes) return false;
  return std::any_of(blocks_.begin(), blocks_.end(),
                     [&](const Block& b) { return SamePrefix(b.bytes, *bytes, b.prefix_bits); });
}

std::string TrustedProxies::ClientAddress(const std::string& peer, const std::string& forwarded_for) const {
  const std::string canonical_peer = CanonicalAddress(peer);
  std::string client = canonical_peer.empty() ? peer : canonical_peer;
  if (!Contains(peer) || Trimmed(forwarded_for).empty()) return client;
  const std::vector<std::string> hops = SplitCommas(forwarded_for);
  for (auto hop = hops.rbegin(); hop != hops.rend(); ++hop) {
    const std::string address = CanonicalAddress(*hop);
    if (address.empty()) return client;  // the trusted hop that appended it is as far as we can vouch
    client = address;
    if (!Contains(address)) return client;
  }
  return client;
}

}  // namespace lineup
