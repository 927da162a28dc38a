// Backoff: exponential backoff with full jitter (AWS's "full jitter"): the n-th delay is drawn
// uniformly from [0, min(cap, initial * 2^n)], never below `floor`; Reset() after a success starts
// over. The random source is injected (a uniform double in [0, 1)) so tests are exact. One thread.
#pragma once

#include <chrono>
#include <functional>

namespace keyhole::agent {

class Backoff {
 public:
  using Random = std::function<double()>;  // uniform in [0, 1)

  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds cap, Random random,
          std::chrono::milliseconds floor = std::chrono::milliseconds(100))
      : initial_(initial), cap_(cap), floor_(floor), random_(std::move(random)) {}

  // The delay before the next attempt; grows the ceiling for the one after.
  std::chrono::milliseconds Next();
  // The ceiling Next() draws under now.
  std::chrono::milliseconds Ceiling() const;
  void Reset() { attempts_ = 0; }
  int attempts() const { return attempts_; }

  // A Random over a std::mt19937_64 seeded from std::random_device.
  static Random SystemRandom();

 private:
  const std::chrono::milliseconds initial_, cap_, floor_;
  Random random_;
  int attempts_ = 0;
};

}  // namespace keyhole::agent
