#include "agent/activation/coordinator_url.h"

#include <arpa/inet.h>
#include <strings.h>

#include <string>

namespace keyhole::agent {
namespace {

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && strncasecmp(s.data(), prefix.data(), prefix.size()) == 0;
}

}  // namespace

std::string_view CoordinatorUrl::Host(std::string_view url) {
  size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  std::string_view authority = url.substr(scheme + 3);
  authority = authority.substr(0, authority.find_first_of("/?#"));
  // user@host: cpprestsdk refuses it anyway; its host is whatever follows the last '@'.
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) authority = authority.substr(at + 1);
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    return close == std::string_view::npos ? std::string_view() : authority.substr(0, close + 1);
  }
  return authority.substr(0, authority.find(':'));
}

bool CoordinatorUrl::IsLoopbackHost(std::string_view host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    const std::string inner(host.substr(1, host.size() - 2));
    in6_addr a6{};
    return inet_pton(AF_INET6, inner.c_str(), &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
  }
  if (host.size() == 9 && strncasecmp(host.data(), "localhost", 9) == 0) return true;
  const std::string h(host);
  in_addr a4{};
  // inet_pton takes only the dotted-quad form: no "127.1", no "2130706433", no "0x7f.0.0.1".
  return inet_pton(AF_INET, h.c_str(), &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

Status CoordinatorUrl::Check(std::string_view url) {
  if (StartsWithNoCase(url, "https://")) return Status::Ok();
  if (StartsWithNoCase(url, "http://")) {
    if (IsLoopbackHost(Host(url))) return Status::Ok();
    return InvalidArgumentError("coordinator URL " + std::string(url) +
                                ": http:// would send the activation code and the agent's token in clear; use "
                                "https:// (http:// is accepted only for a loopback host: 127.0.0.1, ::1, localhost)");
  }
  return InvalidArgumentError("coordinator URL " + std::string(url) + ": expected https://host[:port]");
}

}  // namespace keyhole::agent
