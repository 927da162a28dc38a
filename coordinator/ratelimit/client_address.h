// ClientAddress: who a request comes from, for per-IP throttling and the system log.
// X-Forwarded-For is believed only when the peer is a configured trusted proxy; then the client
// is the rightmost address in it that is not itself a trusted proxy. IPv6 clients are keyed by
// their /64, since one host commonly owns a whole /64. Immutable after construction.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keyhole::coord {

class ClientAddress {
 public:
  // `trusted_proxies`: addresses ("10.0.0.5") or CIDRs ("10.0.0.0/8", "fd00::/8"). Bad entries
  // are reported in `*error` and make construction fail (see Create).
  static std::optional<ClientAddress> Create(const std::vector<std::string>& trusted_proxies, std::string* error);
  ClientAddress() = default;

  bool trusts_proxies() const { return !trusted_.empty(); }
  // The client's address given the TCP peer and the X-Forwarded-For header (or nullptr).
  std::string Resolve(const std::string& peer_ip, const std::string* forwarded_for) const;
  // The throttling key of an address: itself for IPv4, its /64 for IPv6.
  static std::string ThrottleKey(const std::string& ip);

 private:
  struct Cidr {
    int family;  // AF_INET or AF_INET6
    std::array<unsigned char, 16> bytes;
    int prefix;
  };
  bool IsTrusted(const std::string& ip) const;
  std::vector<Cidr> trusted_;
};

}  // namespace keyhole::coord
