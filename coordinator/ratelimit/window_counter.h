// WindowCounter: an exact fixed-window request counter in one atomic word (window number in the
// high 32 bits, count in the low 32), updated by compare-and-swap: O(1), lock-free, and never
// admits one request more than the limit, however many threads race. Windows are whole UTC
// minutes, as Okta's are, so X-Rate-Limit-Reset is the next minute boundary.
#pragma once

#include <atomic>
#include <cstdint>

namespace keyhole::coord {

struct WindowDecision {
  bool allowed = false;
  uint32_t limit = 0;
  uint32_t remaining = 0;
  int64_t reset_epoch_seconds = 0;  // when the window resets
  uint32_t window = 0;              // the window the request counted in
};

class WindowCounter {
 public:
  static constexpr int64_t kWindowMillis = 60'000;

  static uint32_t WindowOf(int64_t epoch_ms) { return static_cast<uint32_t>(epoch_ms / kWindowMillis); }
  static int64_t ResetOf(uint32_t window) { return (static_cast<int64_t>(window) + 1) * (kWindowMillis / 1000); }

  // Counts one request against `limit` in the window of `epoch_ms` if it fits.
  WindowDecision Acquire(uint32_t limit, int64_t epoch_ms) {
    const uint32_t now = WindowOf(epoch_ms);
    uint64_t cur = state_.load(std::memory_order_relaxed);
    for (;;) {
      uint32_t window = static_cast<uint32_t>(cur >> 32);
      uint32_t count = static_cast<uint32_t>(cur);
      // A wall clock stepping back does not reopen a window that was already counted.
      if (window < now) {
        window = now;
        count = 0;
      }
      if (count >= limit) return {false, limit, 0, ResetOf(window), window};
      uint64_t next = (static_cast<uint64_t>(window) << 32) | (count + 1);
      if (state_.compare_exchange_weak(cur, next, std::memory_order_acq_rel, std::memory_order_relaxed)) {
        return {true, limit, limit - count - 1, ResetOf(window), window};
      }
    }
  }

  // How many requests the window of `epoch_ms` has admitted so far, without counting one.
  uint32_t Used(int64_t epoch_ms) const {
    uint64_t cur = state_.load(std::memory_order_relaxed);
    return static_cast<uint32_t>(cur >> 32) >= WindowOf(epoch_ms) ? static_cast<uint32_t>(cur) : 0;
  }

  // Records that a rejection happened in `window`; true only for the first one of that window
  // (one log event per endpoint per window, not one per request).
  bool FirstViolationIn(uint32_t window) {
    return last_violation_.exchange(window, std::memory_order_relaxed) != window;
  }

 private:
  std::atomic<uint64_t> state_{0};
  std::atomic<uint32_t> last_violation_{0};
};

}  // namespace keyhole::coord
