// UpstreamPool: the upstreams of the agent's config and keep-alive HTTP/1.1 connections to each,
// owned by the tunnel thread. Start() begins forwarding one request (an UpstreamExchange) to a
// configured name; names not configured are refused by the caller (Has()), never dialled. Idle
// connections are kept per upstream (at most kMaxIdle, each at most kIdleTime), checked for a
// server-side close before reuse (unless idle only briefly and the request can be retried). Not thread-safe: every call on the io_context's thread.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/config/agent_config.h"
#include "agent/forward/upstream_exchange.h"
#include "agent/forward/upstream_target.h"
#include "shared/errors/status.h"

namespace boost::asio {
class io_context;
}

namespace keyhole::agent {

class UpstreamConnection;

struct ForwardLimits {
  std::chrono::milliseconds connect_timeout{5000};   // TCP and TLS to the upstream
  std::chrono::milliseconds response_timeout{30000}; // request sent → response head
};

class UpstreamPool {
 public:
  // As many as the default [tunnel] max_streams: at full concurrency no connection is closed only
  // to be dialled again (measured: 32 left ~1 new connection per 6 requests at 64 in flight).
  static constexpr size_t kMaxIdle = 64;
  static constexpr std::chrono::seconds kIdleTime{30};
  static constexpr std::chrono::seconds kTrustedIdle{1};

  UpstreamPool(boost::asio::io_context& io, ForwardLimits limits);
  ~UpstreamPool();
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // Replaces the upstream set and limits; idle connections to removed or changed upstreams are
  // closed. An upstream whose TLS set-up fails (unreadable ca_file) is kept and its requests fail
  // as unreachable, with the reason logged here.
  void Configure(const std::map<std::string, Upstream>& upstreams, ForwardLimits limits);
  bool Has(const std::string& name) const;
  std::vector<std::string> Names() const;

  // Forwards `head` to its upstream. REQUIRES: Has(head.upstream).
  std::shared_ptr<UpstreamExchange> Start(const protocol::RequestHead& head, ExchangeSink& sink);

  // For exchanges: a connection to `name` (an idle one when there is one, `reused` then true),
  // or the reason none could be made. An idle connection is checked for a server-side close (a
  // system call) before reuse, unless `retries_closed` (the caller sends the request once more on
  // a new connection when a reused one turns out closed) and it has been idle under kTrustedIdle.
  using AcquireHandler = std::function<void(StatusOr<std::unique_ptr<UpstreamConnection>>, bool reused)>;
  // An idle connection to `name` fit for reuse (checked as for Acquire), now, or null: no handler,
  // no posted call. Acquire(name, true, ...) is this, else a dial.
  std::unique_ptr<UpstreamConnection> TakeIdle(const std::string& name, bool retries_closed);
  void Acquire(const std::string& name, bool allow_reuse, bool retries_closed, AcquireHandler handler);
  // A connection whose last exchange ended cleanly, for reuse.
  void Release(const std::string& name, std::unique_ptr<UpstreamConnection> connection);
  void CloseIdle();
  size_t idle_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keyhole::agent
