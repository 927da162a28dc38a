// AtomicRaiseTo: moves an atomic integer up to `value` if it is lower, never down; for values
// that concurrent writers may publish out of order (last use, the latest window). Lock-free.
#pragma once

#include <atomic>

namespace keyhole {

template <class T>
void AtomicRaiseTo(std::atomic<T>& slot, T value) {
  T cur = slot.load(std::memory_order_relaxed);
  while (cur < value && !slot.compare_exchange_weak(cur, value, std::memory_order_acq_rel, std::memory_order_relaxed)) {
  }
}

}  // namespace keyhole
