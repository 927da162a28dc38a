#include "agent/tunnel/tunnel_client.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <pthread.h>

#include <condition_variable>
#include <csignal>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "agent/daemon/agent_daemon.h"
#include "agent/forward/upstream_pool.h"
#include "agent/tunnel/tunnel_connection.h"
#include "shared/log/log.h"

#ifndef KEYHOLE_VERSION
#define KEYHOLE_VERSION "unknown"
#endif

namespace keyhole::agent {

namespace asio = boost::asio;
using std::chrono::milliseconds;
using Kind = TunnelOutcome::Kind;

namespace {

ForwardLimits LimitsOf(const TunnelConfig& t) {
  return ForwardLimits{.connect_timeout = std::chrono::seconds(t.upstream_connect_timeout_seconds),
                       .response_timeout = std::chrono::seconds(t.upstream_timeout_seconds)};
}

std::string JoinNames(const std::map<std::string, Upstream>& upstreams) {
  std::string s;
  for (const auto& [name, u] : upstreams) s += (s.empty() ? "" : ", ") + name;
  return s;
}

}  // namespace

struct TunnelClient::Impl {
  explicit Impl(Backoff::Random random)
      : network(AgentDaemon::kNetworkInitial, AgentDaemon::kNetworkCap, random),
        refused(AgentDaemon::kRefusedInitial, AgentDaemon::kRefusedCap, random) {}

  // Everything below `mu` runs on the tunnel thread only.
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  UpstreamPool pool{io, ForwardLimits{}};
  asio::steady_timer retry_timer{io};
  asio::steady_timer replace_timer{io};
  std::thread thread;
  Backoff network, refused;
  AgentState state;
  AgentConfig config;
  std::shared_ptr<TunnelConnection> current;  // up, dialling, or null while waiting to redial
  std::shared_ptr<TunnelConnection> next;     // replacing `current` (new token or upstreams)
  std::vector<std::shared_ptr<TunnelConnection>> retiring;
  bool stopping = false;

  mutable std::mutex mu;
  std::condition_variable cv;
  std::string summary = "tunnel connecting";  // GUARDED_BY(mu)
  bool connected = false;                      // GUARDED_BY(mu)
  int live = 0;                                // connections not yet ended, GUARDED_BY(mu)

  void SetSummary(std::string s, bool up) {
    std::lock_guard lock(mu);
    summary = std::move(s);
    connected = up;
  }

  std::shared_ptr<TunnelConnection> Dial() {
    TunnelSessionOptions session{.software = std::string("keyhole-agent/") + KEYHOLE_VERSION,
                                 .max_streams = static_cast<uint32_t>(config.tunnel.max_streams)};
    TunnelTimeouts timeouts{.connect = std::chrono::seconds(config.tunnel.connect_timeout_seconds),
                            .ping_interval = std::chrono::seconds(config.tunnel.ping_interval_seconds),
                            .ping_timeout = std::chrono::seconds(config.tunnel.ping_timeout_seconds)};
    TunnelConnection::Events events{
        .up = [this](TunnelConnection* c) { OnUp(c); },
        .down = [this](TunnelConnection* c, TunnelOutcome o) { OnDown(c, std::move(o)); },
    };
    auto c = TunnelConnection::Create(io, pool, TunnelEndpoint{state.coordinator, state.trust, state.token}, session,
                                      timeouts, std::move(events));
    {
      std::lock_guard lock(mu);
      ++live;
    }
    c->Start();
    return c;
  }

  void DialCurrent() {
    if (stopping || !config.tunnel.enabled) return;
    current = Dial();
  }

  void OnUp(TunnelConnection* c) {
    if (next && c == next.get()) {
      if (current) {
        current->Drain(protocol::CloseCode::kNormal, "replaced by a new connection");
        retiring.push_back(std::move(current));
      }
      current = std::move(next);
      LogInfo("tunnel: a new connection replaced the previous one");
    } else if (!current || c != current.get()) {
      return;
    }
    const std::string upstreams = JoinNames(config.upstreams);
    LogInfo("tunnel connected to " + state.coordinator +
            (upstreams.empty() ? " (no [upstreams] configured: nothing to forward)" : " (upstreams: " + upstreams + ")"));
    SetSummary("tunnel connected", true);
  }

  void OnDown(TunnelConnection* c, TunnelOutcome o) {
    {
      std::lock_guard lock(mu);
      --live;
    }
    cv.notify_all();
    for (auto it = retiring.begin(); it != retiring.end(); ++it) {
      if (it->get() == c) {
        LogDebug("tunnel: the previous connection ended: " + o.reason);
        retiring.erase(it);
        return;
      }
    }
    if (next && c == next.get()) {
      next.reset();
      if (stopping || o.kind == Kind::kLocal) return;
      const milliseconds delay = network.Next();
      LogWarning("tunnel: the new connection failed: " + o.reason + "; trying again in " + FormatDelay(delay));
      replace_timer.expires_after(delay);
      replace_timer.async_wait([this](boost::system::error_code ec) {
        if (!ec) Replace();
      });
      return;
    }
    if (!current || c != current.get()) return;
    current.reset();
    if (o.was_up && (o.up_for >= kHealthyAfter || o.streams_served > 0)) {
      network.Reset();
      refused.Reset();
    }
    if (stopping || o.kind == Kind::kLocal) {
      SetSummary(config.tunnel.enabled ? "tunnel closed" : "tunnel disabled", false);
      return;
    }
    if (next) {  // a replacement is on its way: it becomes the connection
      current = std::move(next);
      SetSummary("tunnel connecting", false);
      return;
    }
    milliseconds delay;
    std::string advice;
    const auto code = o.close_code;
    if (o.kind == Kind::kUnauthorized || (o.kind == Kind::kClosed && code == protocol::CloseCode::kAgentDeactivated)) {
      network.Reset();
      delay = refused.Next();
      advice = o.kind == Kind::kUnauthorized ? " (deactivated, or the token is revoked)" : "";
    } else if (o.kind == Kind::kClosed && code == protocol::CloseCode::kTokenRevoked) {
      network.Reset();
      delay = refused.Next();
      advice = " (reconnecting at once when the token is rotated)";
    } else {
      refused.Reset();
      delay = network.Next();
      if (o.kind == Kind::kRateLimited) delay = std::max(delay, o.retry_after);
    }
    const std::string line = (o.was_up ? "tunnel to " + state.coordinator + " lost: " : "no tunnel to " + state.coordinator + ": ") +
                              o.reason + advice + "; retrying in " + FormatDelay(delay);
    LogWarning(line);
    SetSummary("tunnel down (" + o.reason + "); retrying in " + FormatDelay(delay), false);
    retry_timer.expires_after(delay);
    retry_timer.async_wait([this](boost::system::error_code ec) {
      if (!ec && !current) DialCurrent();
    });
  }

  // A new token or upstream set: a new connection first when one is up, else redial now.
  void Replace() {
    if (stopping || !config.tunnel.enabled) return;
    replace_timer.cancel();
    if (current && current->up()) {
      if (next) next->Abort("superseded");
      next = Dial();
      return;
    }
    if (current) {
      auto old = std::move(current);
      old->Abort("superseded");
    }
    retry_timer.cancel();
    DialCurrent();
  }
};

TunnelClient::TunnelClient(Backoff::Random random) : impl_(std::make_shared<Impl>(std::move(random))) {}

TunnelClient::~TunnelClient() { Stop(milliseconds::zero()); }

void TunnelClient::Start(const AgentState& state, const AgentConfig& config) {
  Impl& i = *impl_;
  if (i.thread.joinable()) return;
  i.state = state;
  i.config = config;
  i.pool.Configure(config.upstreams, LimitsOf(config.tunnel));
  i.work.emplace(i.io.get_executor());
  if (!config.tunnel.enabled) {
    i.SetSummary("tunnel disabled", false);
  } else {
    if (config.upstreams.empty()) LogWarning("tunnel: no [upstreams.NAME] in the config: the agent forwards nothing");
    asio::post(i.io, [&i] { i.DialCurrent(); });
  }
  // Signals are the run loop's (SignalControl): the tunnel thread never takes them.
  sigset_t block, previous;
  sigemptyset(&block);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&block, sig);
  pthread_sigmask(SIG_BLOCK, &block, &previous);
  i.thread = std::thread([&i] { i.io.run(); });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

void TunnelClient::SetToken(const std::string& token) {
  Impl& i = *impl_;
  if (!i.thread.joinable()) return;
  asio::post(i.io, [&i, token] {
    if (token == i.state.token) return;
    i.state.token = token;
    i.refused.Reset();
    LogInfo("tunnel: reconnecting with the rotated token");
    i.Replace();
  });
}

void TunnelClient::Reconfigure(const AgentConfig& config) {
  Impl& i = *impl_;
  if (!i.thread.joinable()) return;
  asio::post(i.io, [&i, config] {
    const bool changed = config.upstreams != i.config.upstreams || !(config.tunnel == i.config.tunnel);
    const bool was_enabled = i.config.tunnel.enabled;
    i.config = config;
    i.pool.Configure(config.upstreams, LimitsOf(config.tunnel));
    if (!changed) return;
    if (!config.tunnel.enabled) {
      LogInfo("tunnel: disabled by the config; closing it");
      i.retry_timer.cancel();
      i.replace_timer.cancel();
      if (i.next) i.next->Abort("tunnel disabled");
      if (i.current) i.current->Drain(protocol::CloseCode::kNormal, "tunnel disabled by the agent's config");
      i.SetSummary("tunnel disabled", false);
      return;
    }
    if (!was_enabled) {
      i.DialCurrent();
      return;
    }
    LogInfo("tunnel: the upstreams or [tunnel] settings changed; reconnecting to announce them");
    i.Replace();
  });
}

void TunnelClient::Stop(milliseconds drain) {
  Impl& i = *impl_;
  if (!i.thread.joinable()) return;
  asio::post(i.io, [&i] {
    i.stopping = true;
    i.retry_timer.cancel();
    i.replace_timer.cancel();
    if (i.next) i.next->Abort("the agent is stopping");
    if (i.current) i.current->Drain(protocol::CloseCode::kShuttingDown, "the agent is shutting down");
    for (auto& r : i.retiring) r->Drain(protocol::CloseCode::kShuttingDown, "the agent is shutting down");
  });
  {
    std::unique_lock lock(i.mu);
    if (!i.cv.wait_for(lock, drain + std::chrono::seconds(2), [&i] { return i.live == 0; })) {
      LogWarning("tunnel: requests still open after the drain timeout; closing anyway");
    }
  }
  asio::post(i.io, [&i] {
    if (i.current) i.current->Abort("the agent is stopping");
    for (auto& r : i.retiring) r->Abort("the agent is stopping");
    i.pool.CloseIdle();
  });
  {
    std::unique_lock lock(i.mu);
    i.cv.wait_for(lock, std::chrono::seconds(1), [&i] { return i.live == 0; });
  }
  i.work.reset();
  i.io.stop();
  i.thread.join();
  i.SetSummary("tunnel closed", false);
}

std::string TunnelClient::Summary() const {
  std::lock_guard lock(impl_->mu);
  return impl_->summary;
}

bool TunnelClient::connected() const {
  std::lock_guard lock(impl_->mu);
  return impl_->connected;
}

}  // namespace keyhole::agent
