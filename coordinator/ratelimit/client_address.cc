#include "coordinator/ratelimit/client_address.h"

#include <arpa/inet.h>

#include <charconv>

namespace keyhole::coord {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Parses an address; IPv4-mapped IPv6 ("::ffff:1.2.3.4", as dual-stack sockets report) counts as IPv4.
bool Parse(const std::string& text, int* family, std::array<unsigned char, 16>* bytes) {
  bytes->fill(0);
  if (inet_pton(AF_INET, text.c_str(), bytes->data()) == 1) {
    *family = AF_INET;
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), bytes->data()) == 1) {
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::equal(kMapped, kMapped + 12, bytes->begin())) {
      std::copy(bytes->begin() + 12, bytes->end(), bytes->begin());
      std::fill(bytes->begin() + 4, bytes->end(), 0);
      *family = AF_INET;
    } else {
      *family = AF_INET6;
    }
    return true;
  }
  return false;
}

bool PrefixMatches(const std::array<unsigned char, 16>& a, const std::array<unsigned char, 16>& b, int prefix) {
  int full = prefix / 8, rest = prefix % 8;
  if (!std::equal(a.begin(), a.begin() + full, b.begin())) return false;
  if (rest == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

}  // namespace

std::optional<ClientAddress> ClientAddress::Create(const std::vector<std::string>& trusted_proxies, std::string* error) {
  ClientAddress out;
  for (const std::string& entry : trusted_proxies) {
    std::string addr = entry;
    int prefix = -1;
    if (auto slash = entry.find('/'); slash != std::string::npos) {
      addr = entry.substr(0, slash);
      std::string_view p = std::string_view(entry).substr(slash + 1);
      auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
      if (ec != std::errc() || ptr != p.data() + p.size() || prefix < 0) prefix = -2;
    }
    Cidr c{};
    if (!Parse(addr, &c.family, &c.bytes) || prefix == -2) {
      if (error) *error = "trusted proxy \"" + entry + "\" is not an address or CIDR";
      return std::nullopt;
    }
    int max = c.family == AF_INET ? 32 : 128;
    c.prefix = prefix < 0 ? max : prefix;
    if (c.prefix > max) {
      if (error) *error = "trusted proxy \"" + entry + "\" has a prefix longer than the address";
      return std::nullopt;
    }
    out.trusted_.push_back(c);
  }
  return out;
}

bool ClientAddress::IsTrusted(const std::string& ip) const {
  int family;
  std::array<unsigned char, 16> bytes;
  if (!Parse(ip, &family, &bytes)) return false;
  for (const Cidr& c : trusted_) {
    if (c.family == family && PrefixMatches(c.bytes, bytes, c.prefix)) return true;
  }
  return false;
}

std::string ClientAddress::Resolve(const std::string& peer_ip, const std::string* forwarded_for) const {
  if (forwarded_for == nullptr || trusted_.empty() || !IsTrusted(peer_ip)) return peer_ip;
  // Walk right to left: each hop was appended by the proxy it reached; stop at the first
  // address that is not one of ours — anything left of it may be forged by the client.
  std::string_view list = *forwarded_for;
  while (!list.empty()) {
    size_t comma = list.rfind(',');
    std::string hop(Trim(comma == std::string_view::npos ? list : list.substr(comma + 1)));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(0, comma);
    int family;
    std::array<unsigned char, 16> bytes;
    if (!Parse(hop, &family, &bytes)) return peer_ip;  // garbage: believe nothing
    if (!IsTrusted(hop)) return hop;
  }
  return peer_ip;
}

std::string ClientAddress::ThrottleKey(const std::string& ip) {
  int family;
  std::array<unsigned char, 16> bytes;
  if (!Parse(ip, &family, &bytes)) return ip;
  char buf[INET6_ADDRSTRLEN];
  if (family == AF_INET) {
    inet_ntop(AF_INET, bytes.data(), buf, sizeof buf);
    return buf;
  }
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  return std::string(buf) + "/64";
}

}  // namespace keyhole::coord
