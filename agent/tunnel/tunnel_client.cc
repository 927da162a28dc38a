#include "agent/tunnel/tunnel_client.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <optional>
#include <random>
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

// Names the connections that belong together (Keyhole-Tunnel-Session). Not a secret: it only
// tells the coordinator which of the agent's connections replace which.
std::string NewSessionId() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device random;
  std::string id(32, '0');
  for (char& c : id) c = kHex[random() % 16];
  return id;
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
  asio::steady_timer lane_timer{io};
  std::thread thread;
  Backoff network, refused;
  AgentState state;
  AgentConfig config;
  std::shared_ptr<TunnelConnection> current;  // up, dialling, or null while waiting to redial
  std::shared_ptr<TunnelConnection> next;     // replacing `current` (new token or upstreams)
  // Lanes: `current` and these share its session, one per coordinator worker (the upgrade's
  // answer says which worker took it): a caller's request then stays on one coordinator thread.
  // A connection landing on a worker already served is closed; attempts are bounded (lane_budget),
  // and topped up once per ping interval for the lanes still missing.
  std::vector<std::shared_ptr<TunnelConnection>> lanes;
  std::string current_session, next_session;
  int lane_budget = 0;
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

  std::shared_ptr<TunnelConnection> Dial(const std::string& session) {
    TunnelSessionOptions session_options{.software = std::string("keyhole-agent/") + KEYHOLE_VERSION,
                                         .max_streams = static_cast<uint32_t>(config.tunnel.max_streams)};
    TunnelTimeouts timeouts{.connect = std::chrono::seconds(config.tunnel.connect_timeout_seconds),
                            .ping_interval = std::chrono::seconds(config.tunnel.ping_interval_seconds),
                            .ping_timeout = std::chrono::seconds(config.tunnel.ping_timeout_seconds)};
    TunnelConnection::Events events{
        .up = [this](TunnelConnection* c) { OnUp(c); },
        .down = [this](TunnelConnection* c, TunnelOutcome o) { OnDown(c, std::move(o)); },
    };
    auto c = TunnelConnection::Create(io, pool, TunnelEndpoint{state.coordinator, state.trust, state.token, session},
                                      session_options, timeouts, std::move(events));
    {
      std::lock_guard lock(mu);
      ++live;
    }
    c->Start();
    return c;
  }

  void DialCurrent() {
    if (stopping || !config.tunnel.enabled) return;
    current_session = NewSessionId();
    current = Dial(current_session);
  }

  // --- lanes ---

  // How many connections `current` wants beside it: one per coordinator worker, within config.
  size_t LanesWanted() const {
    if (!current || !current->up() || !current->lane()) return 0;
    const size_t workers = current->lane()->count;
    return std::min<size_t>(workers, static_cast<size_t>(config.tunnel.max_connections)) - 1;
  }

  void FillLanes() {
    if (stopping || !config.tunnel.enabled) return;
    while (lanes.size() < LanesWanted() && lane_budget > 0) {
      --lane_budget;
      lanes.push_back(Dial(current_session));
    }
  }

  void StartLanes() {
    lane_budget = static_cast<int>(8 * LanesWanted());
    FillLanes();
    ScheduleLaneTopUp();
  }

  void ScheduleLaneTopUp() {
    lane_timer.expires_after(std::chrono::seconds(config.tunnel.ping_interval_seconds));
    lane_timer.async_wait([this](boost::system::error_code ec) {
      if (ec || stopping || !current || !current->up()) return;
      if (lanes.size() < LanesWanted()) lane_budget = std::max(lane_budget, static_cast<int>(LanesWanted() - lanes.size()));
      FillLanes();
      ScheduleLaneTopUp();
    });
  }

  // The lanes go with the connection they were opened beside (drained, or cut when `abort`).
  void RetireLanes(const std::string& why, bool abort) {
    lane_timer.cancel();
    lane_budget = 0;
    for (auto& lane : lanes) {
      if (abort) {
        lane->Abort(why);
      } else {
        lane->Drain(protocol::CloseCode::kNormal, why);
      }
      retiring.push_back(std::move(lane));
    }
    lanes.clear();
  }

  bool IsLane(TunnelConnection* c) const {
    return std::any_of(lanes.begin(), lanes.end(), [c](const auto& l) { return l.get() == c; });
  }

  void OnLaneUp(TunnelConnection* c) {
    const auto lane = c->lane();
    bool taken = !lane || !current || !current->lane() || current->lane()->index == lane->index;
    for (const auto& other : lanes) {
      if (other.get() != c && other->up() && other->lane() && lane && other->lane()->index == lane->index) taken = true;
    }
    if (!taken) {
      LogDebug("tunnel: connection on coordinator worker " + std::to_string(lane->index) + " of " +
               std::to_string(lane->count) + " up");
      return;
    }
    // Landed on a worker another connection serves: it goes, and another try may land elsewhere.
    auto it = std::find_if(lanes.begin(), lanes.end(), [c](const auto& l) { return l.get() == c; });
    (*it)->Drain(protocol::CloseCode::kNormal, "another connection serves that coordinator worker");
    retiring.push_back(std::move(*it));
    lanes.erase(it);
    FillLanes();
  }

  void OnLaneDown(TunnelConnection* c, const TunnelOutcome& o) {
    std::erase_if(lanes, [c](const auto& l) { return l.get() == c; });
    LogDebug("tunnel: a side connection ended: " + o.reason);
    FillLanes();
  }

  void OnUp(TunnelConnection* c) {
    if (IsLane(c)) return OnLaneUp(c);
    if (next && c == next.get()) {
      RetireLanes("replaced by a new connection", false);
      if (current) {
        current->Drain(protocol::CloseCode::kNormal, "replaced by a new connection");
        retiring.push_back(std::move(current));
      }
      current = std::move(next);
      current_session = std::move(next_session);
      LogInfo("tunnel: a new connection replaced the previous one");
    } else if (!current || c != current.get()) {
      return;
    }
    StartLanes();
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
    if (IsLane(c)) return OnLaneDown(c, o);
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
    RetireLanes("the main connection ended", false);
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
      current_session = std::move(next_session);
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
      next_session = NewSessionId();
      next = Dial(next_session);
      return;
    }
    RetireLanes("superseded", true);
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
      i.RetireLanes("tunnel disabled by the agent's config", false);
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
    i.lane_timer.cancel();
    if (i.next) i.next->Abort("the agent is stopping");
    if (i.current) i.current->Drain(protocol::CloseCode::kShuttingDown, "the agent is shutting down");
    for (auto& l : i.lanes) l->Drain(protocol::CloseCode::kShuttingDown, "the agent is shutting down");
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
    for (auto& l : i.lanes) l->Abort("the agent is stopping");
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
