// The client address of a request that may have passed through reverse
// proxies (`lineup serve --trusted-proxy CIDR`).
//
// Invariants:
//  - X-Forwarded-For counts only when the peer itself (the TCP connection's
//    address) is a trusted proxy; with no trusted proxies it never counts.
//  - The header is walked from the right: each trusted proxy appends the
//    address it received the request from, so the right-most entry that is
//    not a trusted proxy is the client. Entries further left are whatever the
//    client sent and are never read, so a forged header cannot choose the
//    address that rate limits, lockout, the audit trail and /metrics see.
//  - Addresses come back in canonical text form (inet_ntop; IPv4-mapped IPv6
//    as plain IPv4), never as the raw header bytes.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace lineup {

class TrustedProxies {
 public:
  TrustedProxies() = default;
  // "10.0.0.0/8", "127.0.0.1" (a /32), "::1", "fd00::/8". Throws Error
  // (kInvalidArgument) naming the entry that is not an address or CIDR block.
  explicit TrustedProxies(const std::vector<std::string>& cidrs);

  bool empty() const { return blocks_.empty(); }
  bool Contains(const std::string& address) const;

  // The client's address: `peer` unless it is a trusted proxy, else the
  // right-most X-Forwarded-For entry that is not one (the values of every
  // X-Forwarded-For header, in order, joined by commas). When every entry is
  // trusted, the left-most; when an entry is not an address, the trusted hop
  // to its right that appended it.
  std::string ClientAddress(const std::string& peer, const std::string& forwarded_for) const;

 private:
  struct Block {
    std::array<uint8_t, 16> bytes{};  // IPv4 as IPv4-mapped IPv6
    int prefix_bits = 0;              // of the 128
  };
  std::vector<Block> blocks_;
};

// The canonical text of an IPv4 or IPv6 address (surrounding spaces and
// brackets allowed), "" when `text` is not one.
std::string CanonicalAddress(const std::string& text);

}  // namespace lineup
