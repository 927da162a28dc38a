// IpThrottle: the per-client-IP limit on unauthenticated traffic (failed authentication and
// public endpoints), checked before any token lookup so that guessing tokens or activation codes
// is slow. Sharded maps of WindowCounters under small mutexes; memory is bounded: a shard that
// fills up first forgets counters of past windows, then sends newcomers to one shared overflow
// counter (so an attacker spraying addresses shares a single budget; that shared budget limits
// failures but never refuses a request before its token is looked up). Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "coordinator/ratelimit/window_counter.h"
#include "shared/clock/clock.h"

namespace keyhole::coord {

class IpThrottle {
 public:
  static constexpr size_t kShards = 16;
  static constexpr size_t kMaxPerShard = 4096;

  explicit IpThrottle(uint32_t per_minute) : per_minute_(per_minute) {}

  // Counts one unauthenticated request from `key` (ClientAddress::ThrottleKey).
  WindowDecision Acquire(const std::string& key, WallTime now);
  // Whether `key` has used up this window, without counting a request.
  bool Exhausted(const std::string& key, WallTime now);
  // False when no address at all has used up its budget this window: the common case, answered
  // with one atomic load, so authenticated traffic pays nothing for the throttle.
  bool AnyExhausted(WallTime now) const {
    return exhausted_window_.load(std::memory_order_acquire) == WindowCounter::WindowOf(ToEpochMillis(now));
  }
  // True only for the first refusal in `window`, whoever it was: one system log event per window
  // for the whole unauthenticated limit, so a spray of addresses cannot flood the log.
  bool FirstViolationIn(uint32_t window);

  uint32_t per_minute() const { return per_minute_; }

 private:
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::unique_ptr<WindowCounter>> counters;  // GUARDED_BY(mu)
    WindowCounter overflow;
    uint32_t swept_window = 0;  // GUARDED_BY(mu)
  };
  Shard& ShardOf(const std::string& key);
  WindowCounter& CounterFor(Shard& shard, const std::string& key, int64_t now_ms);

  const uint32_t per_minute_;
  std::atomic<uint32_t> exhausted_window_{0};  // the last window in which some address ran out
  std::atomic<uint32_t> last_violation_{0};
  std::array<Shard, kShards> shards_;
};

}  // namespace keyhole::coord
