// FakeClock: a Clock that moves only when a test says so. Thread-safe.
#pragma once

#include <atomic>

#include "shared/clock/clock.h"

namespace keyhole::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(WallTime start = FromEpochMillis(1795824000000))  // 2026-11-28T00:00:00Z
      : wall_ms_(ToEpochMillis(start)) {}

  WallTime Now() const override { return FromEpochMillis(wall_ms_.load()); }
  MonoTime Monotonic() const override { return MonoTime(std::chrono::milliseconds(mono_ms_.load())); }

  void Advance(std::chrono::milliseconds d) {
    wall_ms_ += d.count();
    mono_ms_ += d.count();
  }

 private:
  std::atomic<int64_t> wall_ms_;
  std::atomic<int64_t> mono_ms_{1000000};
};

}  // namespace keyhole::testing
