// Clock: the one source of time, injected wherever time matters (leveldb's Env, Envoy's
// TimeSource). Wall time for token expiry and the 30-day rules; monotonic time for windows,
// timeouts and backoff. RealClock is thread-safe and stateless; tests use FakeClock.
#pragma once

#include <chrono>
#include <cstdint>

namespace keyhole {

using WallTime = std::chrono::sys_time<std::chrono::milliseconds>;
using MonoTime = std::chrono::steady_clock::time_point;

inline int64_t ToEpochMillis(WallTime t) { return t.time_since_epoch().count(); }
inline WallTime FromEpochMillis(int64_t ms) { return WallTime(std::chrono::milliseconds(ms)); }

class Clock {
 public:
  virtual ~Clock() = default;
  virtual WallTime Now() const = 0;
  virtual MonoTime Monotonic() const = 0;
};

class RealClock final : public Clock {
 public:
  WallTime Now() const override {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  }
  MonoTime Monotonic() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace keyhole
