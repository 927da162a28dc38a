// Credit-based flow control for the tunnel protocol (docs/PROTOCOL.md), pure code shared by the
// coordinator and the agent. A SendWindow counts what this side may still send (to a stream or on
// the connection); a ReceiveWindow counts what the peer may still send us and decides when
// consumed bytes are worth a WINDOW_UPDATE (half a window, as HTTP/2 implementations do).
// Not thread-safe: each lives inside one connection's strand.
#pragma once

#include <cstddef>
#include <cstdint>

#include "shared/errors/status.h"

namespace keyhole::protocol {

class SendWindow {
 public:
  explicit SendWindow(uint32_t initial) : available_(initial) {}
  size_t available() const { return available_ > 0 ? static_cast<size_t>(available_) : 0; }
  // REQUIRES: n <= available().
  void Consume(size_t n);
  // A WINDOW_UPDATE from the peer: FlowControlError-style InvalidArgument if it overflows kMaxWindow.
  Status Grow(uint32_t increment);

 private:
  int64_t available_;
};

class ReceiveWindow {
 public:
  explicit ReceiveWindow(uint32_t window) : window_(window), available_(window) {}
  // The peer sent n bytes: InvalidArgument if that is more than it was allowed.
  Status Receive(size_t n);
  // n received bytes have left our buffers (written to the client or upstream). Returns the
  // increment to announce now, or 0 while fewer than half a window are waiting to be announced.
  uint32_t Consumed(size_t n);
  size_t buffered() const { return buffered_; }  // received, not yet consumed

 private:
  uint32_t window_;
  int64_t available_;
  size_t buffered_ = 0;
  uint64_t pending_ = 0;  // consumed, not yet announced
};

}  // namespace keyhole::protocol
