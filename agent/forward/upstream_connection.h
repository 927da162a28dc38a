// UpstreamConnection: one TCP or TLS connection to an upstream, as one stream type for Beast's HTTP
// reads and Asio's writes (async_read_some / async_write_some dispatch to the socket or the TLS
// stream). Internal to agent/forward; includes Asio, so only its .cc files include it. One thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include "agent/forward/upstream_pool.h"
#include "shared/net/drained_read.h"
#include "shared/net/lazy_deadline.h"

namespace keyhole::agent {

class UpstreamConnection {
 public:
  using tcp = boost::asio::ip::tcp;
  // The io_context's own executor type, not any_io_executor: no type-erased executor is copied
  // and destroyed per handler.
  using Socket = boost::asio::basic_stream_socket<tcp, boost::asio::io_context::executor_type>;
  using executor_type = Socket::executor_type;

  UpstreamConnection(boost::asio::io_context& io, boost::asio::ssl::context* tls, uint64_t generation)
      : deadline(io.get_executor()), generation_(generation) {
    if (tls) tls_.emplace(io, *tls);
    else {
      plain_.emplace(io);
      reads_.emplace(*plain_);  // forwards as is until EnableDrainedReads
    }
  }
  // reads_ refers to plain_: not copied, not moved (the pool holds connections by unique_ptr).
  UpstreamConnection(const UpstreamConnection&) = delete;
  UpstreamConnection& operator=(const UpstreamConnection&) = delete;

  executor_type get_executor() { return socket().get_executor(); }
  Socket& socket() { return tls_ ? tls_->next_layer() : *plain_; }
  boost::asio::ssl::stream<Socket>* tls() { return tls_ ? &*tls_ : nullptr; }
  uint64_t generation() const { return generation_; }

  // Plain reads go through net::MessageReads once EnableDrainedReads has run (the pool does, on
  // plain connections): the first read of a response may skip the recv that would find nothing
  // on a keep-alive connection, and the rest of the response is read as Asio would
  // (shared/net/drained_read.h). The exchange calls BeginMessage before reading a response head,
  // and only once its request's head is written (REQUIRES of MessageReads::BeginMessage).
  template <class Buffers, class Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    if (tls_) tls_->async_read_some(buffers, std::forward<Handler>(handler));
    else reads_->async_read_some(buffers, std::forward<Handler>(handler));
  }
  void EnableDrainedReads() {
    if (tls_) return;
    net::EnableDrainedReads(*plain_);
    reads_->Enable();
  }
  void BeginMessage() {
    if (reads_) reads_->BeginMessage();
  }
  template <class Buffers, class Handler>
  void async_write_some(const Buffers& buffers, Handler&& handler) {
    if (tls_) tls_->async_write_some(buffers, std::forward<Handler>(handler));
    else plain_->async_write_some(buffers, std::forward<Handler>(handler));
  }
  void Close() {
    boost::system::error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }

  std::chrono::steady_clock::time_point idle_since{};
  // The deadline of the exchange holding the connection (shared/net/lazy_deadline.h): kept with
  // the connection, so that a keep-alive connection keeps one timer wait, not one per request.
  net::LazyDeadline deadline;
  // Read buffers kept with the connection between exchanges (the exchange holding the connection
  // borrows them), so a request on a keep-alive connection allocates none: the socket read buffer
  // (empty whenever the connection is idle) and the response body chunk.
  boost::beast::flat_buffer read_buffer;
  std::unique_ptr<char[]> body_chunk;

 private:
  uint64_t generation_;
  std::optional<Socket> plain_;
  std::optional<boost::asio::ssl::stream<Socket>> tls_;
  std::optional<net::MessageReads<Socket>> reads_;  // with plain_
};

// Starts one exchange (upstream_exchange.cc); UpstreamPool::Start calls it.
std::shared_ptr<UpstreamExchange> StartHttpExchange(UpstreamPool& pool, boost::asio::io_context& io,
                                                    std::shared_ptr<const UpstreamTarget> target,
                                                    const protocol::RequestHead& head,
                                                    ExchangeSink& sink, const ForwardLimits& limits);

}  // namespace keyhole::agent
