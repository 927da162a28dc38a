#include "coordinator/ratelimit/ip_throttle.h"

#include <functional>

namespace keyhole::coord {

// REQUIRES: shard.mu held, for as long as the returned counter is used (a later sweep may free it).
WindowCounter& IpThrottle::CounterFor(Shard& shard, const std::string& key, int64_t now_ms) {
  auto it = shard.counters.find(key);
  if (it != shard.counters.end()) return *it->second;
  if (shard.counters.size() >= kMaxPerShard) {
    // Forget addresses that have not been seen this window: their counts no longer matter.
    for (auto i = shard.counters.begin(); i != shard.counters.end();) {
      i = i->second->Used(now_ms) == 0 ? shard.counters.erase(i) : std::next(i);
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
  WindowDecision d = CounterFor(shard, key, now_ms).Acquire(per_minute_, now_ms);
  if (d.remaining == 0) exhausted_window_.store(d.window, std::memory_order_release);
  return d;
}

bool IpThrottle::Exhausted(const std::string& key, WallTime now) {
  const int64_t now_ms = ToEpochMillis(now);
  Shard& shard = ShardOf(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.counters.find(key);
  const WindowCounter& c = it != shard.counters.end() ? *it->second : shard.overflow;
  if (it == shard.counters.end() && shard.counters.size() < kMaxPerShard) return false;  // never seen
  return c.Used(now_ms) >= per_minute_;
}

bool IpThrottle::FirstViolationIn(const std::string& key, uint32_t window) {
  Shard& shard = ShardOf(key);
  std::lock_guard lock(shard.mu);
  return CounterFor(shard, key, static_cast<int64_t>(window) * WindowCounter::kWindowMillis).FirstViolationIn(window);
}

}  // namespace keyhole::coord
