// A write attempted at once, before falling back to Asio's asynchronous write: on a socket with
// room, the usual case for a response, the write is done here and its completion needs no pass
// through the scheduler (Asio posts even a write that completed at once: a handler run and, with
// other handlers queued, an epoll_wait that finds nothing). Header-only; plain TCP sockets only
// (a TLS stream's write is not a socket write). One thread: the socket's.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>
#include <cerrno>
#include <cstddef>
#include <sys/socket.h>
#include <sys/uio.h>

namespace keyhole::net {

// Sends what the socket takes now from `buffers` (at most 16 of them), never blocking: the bytes
// sent, with `ec` clear (maybe fewer than all), would_block (none taken), or the error.
template <class ConstBuffers>
std::size_t SendNow(int fd, const ConstBuffers& buffers, boost::system::error_code& ec) {
  iovec iov[16];
  std::size_t count = 0;
  for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers) && count < 16;
       ++it) {
    boost::asio::const_buffer b(*it);
    if (b.size() == 0) continue;
    iov[count++] = iovec{const_cast<void*>(b.data()), b.size()};
  }
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = count;
  for (;;) {
    const ssize_t n = ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) {
      ec = {};
      return static_cast<std::size_t>(n);
    }
    if (errno == EINTR) continue;
    ec = errno == EAGAIN || errno == EWOULDBLOCK ? boost::asio::error::would_block
                                                  : boost::system::error_code(errno, boost::system::system_category());
    return 0;
  }
}

// Drops the first `n` bytes of a vector-like sequence of const_buffer (what SendNow sent).
template <class BufferVector>
void ConsumeFront(BufferVector& buffers, std::size_t n) {
  auto it = buffers.begin();
  while (it != buffers.end() && n >= it->size()) {
    n -= it->size();
    ++it;
  }
  buffers.erase(buffers.begin(), it);
  if (n > 0 && !buffers.empty()) buffers.front() += n;
}

}  // namespace keyhole::net
