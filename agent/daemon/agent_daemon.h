// AgentDaemon: `keyhole-agent run`. Loads the state, completes an interrupted rotation, heartbeats
// every heartbeat_interval_seconds, rotates the token every rotate_every_days, retries failures
// forever with full-jitter backoff (network: 1 s to 60 s; a 401: 5 s to 5 min), keeps systemd
// informed (READY after the first heartbeat, STATUS, WATCHDOG from this loop, STOPPING), reloads
// the config on request. Beside this loop the tunnel runs on its own thread: started with the
// state, told of each rotated token and reloaded config, drained on stop, and its summary appended
// to the status line. Borrows everything it is given; runs on the calling thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "agent/activation/coordinator_client.h"
#include "agent/activation/token_rotation.h"
#include "agent/config/agent_config.h"
#include "agent/daemon/backoff.h"
#include "agent/daemon/daemon_control.h"
#include "agent/state/state_store.h"
#include "agent/tunnel/tunnel.h"
#include "shared/clock/clock.h"
#include "shared/systemd/notifier.h"

namespace keyhole::agent {

// `run` exits with EX_CONFIG when the agent is not activated or its state or config is unusable.
inline constexpr int kExitNotConfigured = 78;

class AgentDaemon {
 public:
  // Builds the client for the state's coordinator and trust; `keep_waiting` as in
  // rest::ConnectionSettings (the daemon stops waiting for an answer when asked to stop).
  using Connect = std::function<StatusOr<std::unique_ptr<CoordinatorClient>>(
      const AgentState& state, std::function<bool()> keep_waiting)>;

  struct Deps {
    const Clock& clock;
    StateStore& store;
    Notifier& notifier;
    DaemonControl& control;
    Connect connect;
    HostInfo host;
    std::function<StatusOr<AgentConfig>()> reload_config;  // for SIGHUP
    Backoff::Random random;                                // jitter
    FaultHook fault;                                       // test hook, see TokenRotation
    std::function<void(const AgentState&)> on_loaded;      // e.g. tag the journal with the agent id
    std::function<std::unique_ptr<Tunnel>()> make_tunnel;   // null: no tunnel (tests of the loop alone)
  };

  static constexpr std::chrono::milliseconds kNetworkInitial{1000}, kNetworkCap{60000};
  static constexpr std::chrono::milliseconds kRefusedInitial{5000}, kRefusedCap{300000};
  static constexpr std::chrono::milliseconds kSlice{100};  // longest sleep between checks

  AgentDaemon(Deps deps, AgentConfig config);
  ~AgentDaemon();

  // Runs until a stop is requested: 0, or kExitNotConfigured when it cannot start.
  int Run();

  // One attempt (rotation if due or pending, then a heartbeat); the delay until the next one.
  // REQUIRES: Start() succeeded. Public for tests.
  std::chrono::milliseconds Step();
  // Loads the state and builds the client: kExitNotConfigured on failure, else 0.
  int Start();
  // Applies a reloaded config; logs what changed.
  void Reload();

  const AgentState& state() const { return state_; }
  const AgentConfig& config() const { return config_; }

 private:
  std::chrono::milliseconds OnSuccess(const AgentView& agent);
  std::chrono::milliseconds OnFailure(const Status& status);
  void SetStatus(std::string line);
  // The status line with the tunnel's summary appended.
  std::string WithTunnel(const std::string& line) const;
  // Passes a rotated token on, and a changed tunnel summary to systemd.
  void SyncTunnel();
  void PingWatchdogIfDue();
  bool KeepWaiting();

  Deps deps_;
  AgentConfig config_;
  AgentState state_;
  std::unique_ptr<CoordinatorClient> client_;
  std::optional<TokenRotation> rotation_;
  std::unique_ptr<Tunnel> tunnel_;
  std::string tunnel_token_;    // the token the tunnel was last given
  std::string tunnel_summary_;  // as last shown
  std::string status_line_;     // the loop's own part of the status
  Backoff network_backoff_;
  Backoff refused_backoff_;
  bool ready_ = false;
  bool failing_ = false;
  std::chrono::microseconds watchdog_half_{0};
  MonoTime last_watchdog_{};
  MonoTime next_attempt_{};
};

// "4s", "0.3s", "2m30s": for status lines.
std::string FormatDelay(std::chrono::milliseconds d);

}  // namespace keyhole::agent
