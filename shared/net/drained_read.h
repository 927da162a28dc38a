// Socket reads that know when they drained the socket, so that the read for the next message
// waits for epoll instead of starting with a system call that finds nothing (EAGAIN).
// Header-only; for the stream code in coordinator/server, coordinator/tunnel and agent/forward.
//
// Why: Boost 1.74's epoll reactor starts every read on a socket with a "speculative" recv. On a
// keep-alive connection the previous read has usually emptied the socket, so that recv returns
// EAGAIN: one wasted system call per request and side (about 1.2 µs on the project's VM, see
// docs/BENCHMARKS.md). Asio already skips the speculative try after a short *write*
// (reactor_op::done_and_exhausted); its reads only do so at end of stream.
//
// How: the kernel says what is left. With TCP_INQ set on the socket (EnableDrainedReads), every
// recvmsg returns a TCP_CM_INQ control message: the bytes still queued, and non-zero when a FIN is
// waiting. A read through DrainedReadBuffer that leaves nothing reports done_and_exhausted, and
// the reactor, which keeps that per socket, queues the socket's next read (of any buffer type)
// for epoll without trying it. Asio registers each socket with epoll once, edge-triggered, for
// good: data, a FIN or a reset arriving later raises an edge, which turns speculation back on and
// performs the queued read (epoll_reactor::descriptor_state::perform_io). Without TCP_INQ (not
// TCP, or a kernel before 4.18) no control message comes back and the read behaves as Asio's.
//
// What the count cannot say: a reset (RST) that is already queued behind the last data. Its edge
// has been consumed, so a read that waits would wait until its timeout. So only the first read of
// a message may skip the try; MessageReads tries every later read of the message at once, as
// Asio would. After a whole message the connection's next step is our answer, whose write fails
// on a reset socket, so nothing waits there.
//
// DrainedReadBuffer is a one-buffer MutableBufferSequence of our own, and Asio picks its receive
// operation by buffer type, so specializing that operation for our type (and for Beast's prefix
// view of it, which beast::basic_stream passes down) changes how these reads finish and no other
// operation; what they record in the reactor affects the socket's next read, as said above. It
// leans on Asio's detail namespace: the static_assert below pins the Boost version it was
// written for.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/detail/reactive_socket_recv_op.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/buffers_prefix.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/version.hpp>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <optional>
#include <type_traits>
#include <utility>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

static_assert(BOOST_VERSION / 100 == 1074,
              "shared/net/drained_read.h specializes Boost.Asio 1.74's reactive_socket_recv_op_base: "
              "check it against this Boost's reactor before changing the version");

namespace keyhole::net {

// Asks the kernel to report, with every read, what is left to read (TCP_INQ). Without it reads
// through the types below never count as draining the socket. One system call per connection.
template <class Socket>
void EnableDrainedReads(Socket& socket) {
  int on = 1;
  (void)::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_INQ, &on, sizeof on);
}

// One mutable buffer, as a buffer sequence of its own type.
class DrainedReadBuffer {
 public:
  DrainedReadBuffer() = default;
  explicit DrainedReadBuffer(boost::asio::mutable_buffer b) : buffer_(b) {}
  const boost::asio::mutable_buffer* begin() const { return &buffer_; }
  const boost::asio::mutable_buffer* end() const { return &buffer_ + 1; }

 private:
  boost::asio::mutable_buffer buffer_;
};

// One receive attempt now, whatever the reactor remembers (MSG_DONTWAIT: never blocks): nullopt
// when nothing is there yet, else the error (eof for an orderly close) and the bytes read.
template <class Buffers>
std::optional<std::pair<boost::system::error_code, std::size_t>> TryReceive(int fd, const Buffers& buffers) {
  boost::asio::detail::buffer_sequence_adapter<boost::asio::mutable_buffer, Buffers> bufs(buffers);
  if (bufs.total_size() == 0) return std::pair(boost::system::error_code(), std::size_t{0});
  for (;;) {
    msghdr msg{};
    msg.msg_iov = bufs.buffers();
    msg.msg_iovlen = bufs.count();
    const ssize_t n = ::recvmsg(fd, &msg, MSG_DONTWAIT);
    if (n > 0) return std::pair(boost::system::error_code(), static_cast<std::size_t>(n));
    if (n == 0) return std::pair(boost::system::error_code(boost::asio::error::eof), std::size_t{0});
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
    return std::pair(boost::system::error_code(errno, boost::asio::error::get_system_category()), std::size_t{0});
  }
}

// The reads of one connection, message by message, for Beast's HTTP reads (an AsyncReadStream
// over `next`, a TCP socket or a beast::basic_stream over one). Once Enable()d, one-buffer reads
// go to the socket as DrainedReadBuffer; the first read after BeginMessage() is forwarded as it
// is, so it may skip a drained socket's try, and every other read first tries the socket itself
// (TryReceive) and goes to `next` only if nothing is there, so a reset queued behind a drained
// read is seen at once. Not enabled (a TLS stream, say), every read is forwarded as it is.
// The socket is looked up at each read: a closed one (-1) is never tried. The stream's thread only.
//
// REQUIRES of the caller: BeginMessage() only where a reset could not hide, that is after a
// write of ours that followed the connection's last read (a write on a reset socket fails).
template <class Next>
class MessageReads {
 public:
  using executor_type = typename Next::executor_type;

  explicit MessageReads(Next& next) : next_(next) {}
  executor_type get_executor() { return next_.get_executor(); }
  void Enable() { enabled_ = true; }
  void BeginMessage() { first_ = enabled_; }

  template <class Buffers, class Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    const int fd = enabled_ ? Socket() : -1;
    if (fd >= 0 && !std::exchange(first_, false)) {
      if (auto done = TryReceive(fd, buffers)) {
        // Never complete inside the initiating call: post, as Asio does for a speculative read.
        boost::asio::post(next_.get_executor(),
                          boost::beast::bind_handler(std::forward<Handler>(handler), done->first, done->second));
        return;
      }
    }
    // A read that has to wait records, when it completes, whether it drained the socket.
    if constexpr (std::is_convertible_v<const Buffers&, boost::asio::mutable_buffer>) {
      if (fd >= 0) return next_.async_read_some(DrainedReadBuffer(buffers), std::forward<Handler>(handler));
    }
    next_.async_read_some(buffers, std::forward<Handler>(handler));
  }

 private:
  int Socket() {
    auto& lowest = boost::beast::get_lowest_layer(next_);
    if constexpr (requires { lowest.socket(); }) {  // a beast::basic_stream
      return lowest.socket().is_open() ? static_cast<int>(lowest.socket().native_handle()) : -1;
    } else {  // the socket itself
      return lowest.is_open() ? static_cast<int>(lowest.native_handle()) : -1;
    }
  }

  Next& next_;
  bool enabled_ = false;
  bool first_ = false;
};

namespace internal {

// Asio 1.74's reactive_socket_recv_op_base (non_blocking_recv), plus the TCP_CM_INQ control
// message: a read that left nothing to read reports done_and_exhausted.
template <class Buffers>
class DrainedRecvOpBase : public boost::asio::detail::reactor_op {
 public:
  DrainedRecvOpBase(const boost::system::error_code& success_ec, boost::asio::detail::socket_type socket,
                    boost::asio::detail::socket_ops::state_type state, const Buffers& buffers,
                    boost::asio::socket_base::message_flags flags, func_type complete_func)
      : reactor_op(success_ec, &DrainedRecvOpBase::do_perform, complete_func),
        socket_(socket),
        state_(state),
        buffers_(buffers),
        flags_(flags) {}

  static status do_perform(reactor_op* base) {
    namespace detail = boost::asio::detail;
    auto* o = static_cast<DrainedRecvOpBase*>(base);
    detail::buffer_sequence_adapter<boost::asio::mutable_buffer, Buffers> bufs(o->buffers_);
    const bool stream = (o->state_ & detail::socket_ops::stream_oriented) != 0;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    for (;;) {
      msghdr msg{};
      msg.msg_iov = bufs.buffers();
      msg.msg_iovlen = bufs.count();
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      const ssize_t n = ::recvmsg(o->socket_, &msg, o->flags_);
      if (n < 0) {
        const int err = errno;
        if (err == EINTR) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) return not_done;
        o->ec_.assign(err, boost::asio::error::get_system_category());
        o->bytes_transferred_ = 0;
        return done;
      }
      o->ec_ = boost::system::error_code();
      o->bytes_transferred_ = static_cast<size_t>(n);
      if (stream && n == 0) {
        o->ec_ = boost::asio::error::eof;
        return done_and_exhausted;
      }
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == IPPROTO_TCP && c->cmsg_type == TCP_CM_INQ && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
          int left = 0;
          std::memcpy(&left, CMSG_DATA(c), sizeof left);
          if (left == 0) return done_and_exhausted;
        }
      }
      return done;
    }
  }

 private:
  boost::asio::detail::socket_type socket_;
  boost::asio::detail::socket_ops::state_type state_;
  Buffers buffers_;
  boost::asio::socket_base::message_flags flags_;
};

}  // namespace internal
}  // namespace keyhole::net

namespace boost::asio::detail {

template <>
class reactive_socket_recv_op_base<keyhole::net::DrainedReadBuffer>
    : public keyhole::net::internal::DrainedRecvOpBase<keyhole::net::DrainedReadBuffer> {
 public:
  using DrainedRecvOpBase::DrainedRecvOpBase;
};

template <>
class reactive_socket_recv_op_base<boost::beast::buffers_prefix_view<keyhole::net::DrainedReadBuffer>>
    : public keyhole::net::internal::DrainedRecvOpBase<boost::beast::buffers_prefix_view<keyhole::net::DrainedReadBuffer>> {
 public:
  using DrainedRecvOpBase::DrainedRecvOpBase;
};

}  // namespace boost::asio::detail
