#include "shared/protocol/flow_window.h"

#include <cassert>
#include <string>

#include "shared/protocol/frame.h"

namespace keyhole::protocol {

void SendWindow::Consume(size_t n) {
  assert(n <= available());
  available_ -= static_cast<int64_t>(n);
}

Status SendWindow::Grow(uint32_t increment) {
  if (available_ + int64_t{increment} > int64_t{kMaxWindow}) {
    return InvalidArgumentError("flow control: a WINDOW_UPDATE of " + std::to_string(increment) +
                                " would raise the send window from " + std::to_string(available_) +
                                " past kMaxWindow (" + std::to_string(kMaxWindow) + ")");
  }
  available_ += increment;
  return Status::Ok();
}

Status ReceiveWindow::Receive(size_t n) {
  if (static_cast<int64_t>(n) > available_) {
    return InvalidArgumentError("flow control: the peer sent " + std::to_string(n) + " bytes with only " +
                                std::to_string(available_ > 0 ? available_ : 0) + " allowed");
  }
  available_ -= static_cast<int64_t>(n);
  buffered_ += n;
  return Status::Ok();
}

uint32_t ReceiveWindow::Consumed(size_t n) {
  assert(n <= buffered_);
  buffered_ -= n;
  pending_ += n;
  // Announcing every few bytes would cost a frame per chunk; waiting for the whole window would
  // stall the sender. Half a window keeps the pipe full with one update per half window.
  if (pending_ == 0 || pending_ < window_ / 2) return 0;
  const auto increment = static_cast<uint32_t>(pending_);
  pending_ = 0;
  available_ += increment;
  return increment;
}

}  // namespace keyhole::protocol
