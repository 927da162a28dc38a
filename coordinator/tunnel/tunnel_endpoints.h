// The server's hand-offs to the tunnel, for the two streaming routes (router.h StreamKind):
// the agent's WebSocket upgrade becomes an AgentLink, and a caller's request on
// /api/v1/agentPools/{poolId}/tunnel/{upstream}/{path...} becomes a TunnelExchange. Beast types
// cross here, so only coordinator/server and coordinator/tunnel include this. Instantiated for
// TcpStream and TlsStream.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "coordinator/http/request.h"
#include "coordinator/tunnel/tunnel_hub.h"
#include "shared/net/lazy_deadline.h"

namespace keyhole::coord {

// The server's connections, on their worker's io_context. The executor type is the io_context's
// own rather than Beast's default any_io_executor: every handler of every operation would
// otherwise copy, query and destroy a type-erased executor (callgrind: 9-10% of the coordinator's
// instructions per tunneled request, 90.4k -> 81.6k).
using Executor = boost::asio::io_context::executor_type;
using TcpStream = boost::beast::basic_stream<boost::asio::ip::tcp, Executor>;
using TlsStream = boost::beast::ssl_stream<TcpStream>;

// Where a new agent connection landed: worker `index` of `count` (the upgrade's answer tells the
// agent, in Keyhole-Tunnel-Lane, so that it can open one connection per worker).
struct LinkLane {
  unsigned index = 0;
  unsigned count = 1;
};

// Takes over `stream` (its request head read, nothing more) and answers the WebSocket upgrade
// of an authenticated agent `req` (principal set by the pipeline). Lives on stream's executor.
template <class Stream>
void StartAgentLink(Stream stream, boost::beast::http::request<boost::beast::http::string_body> upgrade,
                    const Request& req, TunnelHub& hub, LinkLane lane = {});

// The session's deadlines, lent to each exchange in turn (shared/net/lazy_deadline.h): they
// outlive it, and keep one timer wait each per connection instead of several per request.
struct ExchangeDeadlines {
  net::LazyDeadline* caller_io = nullptr;          // for the exchange's reads and writes of the caller
  net::LazyDeadline::Target* on_caller_io = nullptr;  // what caller_io calls: the session, which closes
  net::LazyDeadline* watch = nullptr;              // the exchange's own: its response timeouts
};

struct ExchangeSettings {
  std::chrono::seconds io_timeout{30};  // per read of request body and per write of the response
  bool keep_alive = true;               // what the caller asked for and the server allows
  ExchangeDeadlines deadlines;
};

// Called once, on the stream's executor, when the exchange is over and no longer touches the
// stream: `error` is an answer for the server to send (nothing was written yet); `keep_alive`
// says whether the connection can serve another request; `wrote_last` whether the exchange's
// last write to the caller started after its last read of the caller (what lets the next
// request's first read skip a drained socket, shared/net/drained_read.h).
using ExchangeDone = std::function<void(std::optional<Response> error, bool keep_alive, bool wrote_last)>;

// Streams the admitted request `req` (head read by `parser`; its body, if any, still on the
// wire) through an agent of the pool and the response back. `stream`, `buffer` and `parser`
// belong to the server's session, which `owner` keeps alive until `done` is called.
template <class Stream>
void StartTunnelExchange(Stream& stream, boost::beast::flat_buffer& buffer,
                         boost::beast::http::request_parser<boost::beast::http::string_body>& parser, Request req,
                         TunnelHub& hub, ExchangeSettings settings, std::shared_ptr<void> owner, ExchangeDone done);

}  // namespace keyhole::coord
