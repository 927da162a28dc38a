#include "coordinator/ratelimit/ip_throttle.h"

#include <functional>

#include "shared/sync/atomic_max.h"

namespace keyhole::coord {

// REQUIRES: shard.mu held, for as long as the returned counter is used (a later sweep may free it).
WindowCounter& IpThrottle::CounterFor(Shard& shard, const std::string& key, int64_t now_ms) {
  auto it = shard.counters.find(key);
  if (it != shard.counters.end()) return *it->second;
  if (shard.counters.size() >= kMaxPerShard) {
    // Forget addresses not seen this window (their counts no longer matter): at most once per
    // window, so a shard kept full by a spray of addresses costs O(1) per request, not a sweep.
    const uint32_t window = WindowCounter::WindowOf(now_ms);
    if (shard.swept_window != window) {
      shard.swept_window = window;
      for (auto i = shard.counters.begin(); i != shard.counters.end();) {
        i = i->second->Used(now_ms) == 0 ? shard.counters.erase(i) : std::next(i);
      }
    }
    if (shard.counters.size() >= kMaxPerShard) return shard.overflow;
  }
  return *shard.counters.emplace(key, std::make_unique<WindowCounter>()).first->second;
}

IpThrottle::Shard& IpThrottle::ShardOf(const std::string& key) {
  return shards_[std::hash<std::string>{}(key) % kShards];
}

WindowDecision IpThrottle::Acquire(const std::string& key, WallTime now) {
  const int64_t now_ms = ToEpochMillis(now);
  Shard& shard = ShardOf(key);
  std::lock_guard lock(shard.mu);
  WindowCounter& counter = CounterFor(shard, key, now_ms);
  WindowDecision d = counter.Acquire(per_minute_, now_ms);
  // Only an address of its own can be refused before its token is looked up (Exhausted); the
  // shared overflow budget never marks the fast path, so sprayed addresses cannot lock others out.
  if (d.remaining == 0 && &counter != &shard.overflow) AtomicRaiseTo(exhausted_window_, d.window);
  return d;
}

bool IpThrottle::Exhausted(const std::string& key, WallTime now) {
  const int64_t now_ms = ToEpochMillis(now);
  Shard& shard = ShardOf(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.counters.find(key);
  return it != shard.counters.end() && it->second->Used(now_ms) >= per_minute_;
}

bool IpThrottle::FirstViolationIn(uint32_t window) {
  return last_violation_.exchange(window, std::memory_order_relaxed) != window;
}

}  // namespace keyhole::coord
