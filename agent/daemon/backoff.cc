#include "agent/daemon/backoff.h"

#include <algorithm>
#include <memory>
#include <random>

namespace keyhole::agent {

std::chrono::milliseconds Backoff::Ceiling() const {
  // Doubling stops at the cap; 2^30 keeps the shift from overflowing.
  const int shift = std::min(attempts_, 30);
  const long double grown = static_cast<long double>(initial_.count()) * static_cast<long double>(1LL << shift);
  return std::chrono::milliseconds(static_cast<int64_t>(std::min<long double>(grown, cap_.count())));
}

std::chrono::milliseconds Backoff::Next() {
  const auto ceiling = Ceiling();
  ++attempts_;
  double r = random_ ? random_() : 0.5;
  r = std::clamp(r, 0.0, 1.0);
  auto delay = std::chrono::milliseconds(static_cast<int64_t>(r * static_cast<double>(ceiling.count())));
  return std::max(delay, std::min(floor_, ceiling));
}

Backoff::Random Backoff::SystemRandom() {
  auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
  return [engine] { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
}

}  // namespace keyhole::agent
