// Lanes: an agent's connections side by side, one per coordinator worker thread, so that a
// caller's request never crosses threads inside the coordinator (docs/PROTOCOL.md, "Lanes").
// Two HTTP headers of the WebSocket upgrade carry it, outside the frames:
//   request   Keyhole-Tunnel-Session: <id>   the agent's connections that belong together
//   response  Keyhole-Tunnel-Lane: <i>/<n>   this connection landed on worker i of n
// Pure functions, thread-safe.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace keyhole::protocol {

inline constexpr char kSessionHeader[] = "Keyhole-Tunnel-Session";
inline constexpr char kLaneHeader[] = "Keyhole-Tunnel-Lane";
inline constexpr size_t kMaxSessionId = 64;
// More workers than this are not worth a connection each.
inline constexpr unsigned kMaxLanes = 64;

// 1..64 of [A-Za-z0-9_-].
inline bool IsSessionId(std::string_view s) {
  if (s.empty() || s.size() > kMaxSessionId) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

struct Lane {
  unsigned index = 0;
  unsigned count = 1;
  bool operator==(const Lane&) const = default;
};

// "i/n" with 0 <= i < n <= kMaxLanes; anything else is nullopt.
inline std::optional<Lane> ParseLane(std::string_view s) {
  auto number = [](std::string_view digits, unsigned& out) {
    if (digits.empty() || digits.size() > 5) return false;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
    return ec == std::errc() && end == digits.data() + digits.size();
  };
  const size_t slash = s.find('/');
  if (slash == s.npos) return std::nullopt;
  Lane lane;
  if (!number(s.substr(0, slash), lane.index) || !number(s.substr(slash + 1), lane.count)) return std::nullopt;
  if (lane.count == 0 || lane.count > kMaxLanes || lane.index >= lane.count) return std::nullopt;
  return lane;
}

}  // namespace keyhole::protocol
