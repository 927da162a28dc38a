// HTTP field-name rules both ends of the tunnel apply (the coordinator to the caller's request,
// the agent to the upstream's response): case-insensitive names and RFC 9110 §7.6.1's
// hop-by-hop fields. Pure functions, thread-safe.
#pragma once

#include <strings.h>

#include <string_view>

namespace keyhole::protocol {

// ASCII case-insensitive equality, as field names compare.
inline bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

inline bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && strncasecmp(s.data(), prefix.data(), prefix.size()) == 0;
}

// Fields for one connection only, never forwarded: the fixed list and Proxy-*. (Those a
// Connection header names are hop-by-hop too; the caller checks them.)
inline bool IsFixedHopByHop(std::string_view name) {
  for (std::string_view h : {"Connection", "Keep-Alive", "TE", "Trailer", "Transfer-Encoding", "Upgrade"}) {
    if (EqualsNoCase(name, h)) return true;
  }
  return StartsWithNoCase(name, "Proxy-");
}

}  // namespace keyhole::protocol
