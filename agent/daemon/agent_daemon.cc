#include "agent/daemon/agent_daemon.h"

#include "shared/clock/iso8601.h"
#include "shared/log/log.h"
#include "shared/rest/rest_client.h"

#ifndef KEYHOLE_VERSION
#define KEYHOLE_VERSION "unknown"
#endif

namespace keyhole::agent {

using std::chrono::milliseconds;

std::string FormatDelay(milliseconds d) {
  const int64_t ms = d.count();
  if (ms < 1000) return "0." + std::to_string(ms / 100) + "s";
  const int64_t s = (ms + 500) / 1000;
  if (s < 120) return std::to_string(s) + "s";
  return std::to_string(s / 60) + "m" + (s % 60 ? std::to_string(s % 60) + "s" : "");
}

AgentDaemon::AgentDaemon(Deps deps, AgentConfig config)
    : deps_(std::move(deps)),
      config_(std::move(config)),
      network_backoff_(kNetworkInitial, kNetworkCap, deps_.random),
      refused_backoff_(kRefusedInitial, kRefusedCap, deps_.random) {}

AgentDaemon::~AgentDaemon() = default;

int AgentDaemon::Start() {
  auto loaded = deps_.store.Load();
  if (!loaded.ok()) {
    LogError(loaded.status().message());
    deps_.notifier.Status(loaded.status().message());
    return kExitNotConfigured;
  }
  if (!loaded->has_value()) {
    const std::string why = "not activated: no state in " + deps_.store.path() +
                            "; activate this agent first: keyhole-agent activate --coordinator URL --code -";
    LogError(why);
    deps_.notifier.Status(why);
    return kExitNotConfigured;
  }
  state_ = std::move(**loaded);
  if (deps_.on_loaded) deps_.on_loaded(state_);
  auto client = deps_.connect(state_, [this] { return KeepWaiting(); });
  if (!client.ok()) {
    LogError("cannot use the coordinator in " + deps_.store.path() + ": " + client.status().message());
    return kExitNotConfigured;
  }
  client_ = std::move(*client);
  rotation_.emplace(*client_, deps_.store, deps_.clock, deps_.fault);
  watchdog_half_ = deps_.notifier.WatchdogInterval() / 2;
  LogInfo(std::string("keyhole-agent ") + KEYHOLE_VERSION + " starting: agent " + state_.agent_id +
          ", coordinator " + state_.coordinator);
  if (deps_.make_tunnel && !tunnel_) {
    tunnel_ = deps_.make_tunnel();
    tunnel_->Start(state_, config_);
    tunnel_token_ = state_.token;
    tunnel_summary_ = tunnel_->Summary();
  }
  SetStatus("connecting to " + state_.coordinator + " as agent " + state_.agent_id);
  return 0;
}

std::string AgentDaemon::WithTunnel(const std::string& line) const {
  if (!tunnel_ || tunnel_summary_.empty()) return line;
  return line + "; " + tunnel_summary_;
}

void AgentDaemon::SyncTunnel() {
  if (!tunnel_) return;
  if (state_.token != tunnel_token_) {
    tunnel_token_ = state_.token;
    tunnel_->SetToken(state_.token);
  }
  std::string summary = tunnel_->Summary();
  if (summary != tunnel_summary_) {
    tunnel_summary_ = std::move(summary);
    if (!status_line_.empty()) deps_.notifier.Status(WithTunnel(status_line_));
  }
}

int AgentDaemon::Run() {
  if (int code = Start(); code != 0) return code;
  last_watchdog_ = deps_.clock.Monotonic();
  if (watchdog_half_.count() > 0) deps_.notifier.Watchdog();
  next_attempt_ = deps_.clock.Monotonic();
  while (!deps_.control.StopRequested()) {
    if (deps_.control.TakeReloadRequest()) Reload();
    if (deps_.clock.Monotonic() >= next_attempt_) {
      milliseconds delay = Step();
      next_attempt_ = deps_.clock.Monotonic() + delay;
    }
    SyncTunnel();
    PingWatchdogIfDue();
    auto left = std::chrono::duration_cast<milliseconds>(next_attempt_ - deps_.clock.Monotonic());
    if (left > milliseconds::zero()) deps_.control.Sleep(std::min(left, kSlice));
  }
  deps_.notifier.Stopping();
  if (tunnel_) {
    LogInfo("stopping: finishing the tunnel's open requests (at most " +
            std::to_string(config_.tunnel.drain_timeout_seconds) + " s)");
    tunnel_->Stop(std::chrono::seconds(config_.tunnel.drain_timeout_seconds));
  }
  LogInfo("stopping");
  return 0;
}

bool AgentDaemon::KeepWaiting() {
  PingWatchdogIfDue();
  return !deps_.control.StopRequested();
}

void AgentDaemon::PingWatchdogIfDue() {
  if (watchdog_half_.count() <= 0) return;
  const MonoTime now = deps_.clock.Monotonic();
  if (now - last_watchdog_ >= watchdog_half_) {
    deps_.notifier.Watchdog();
    last_watchdog_ = now;
  }
}

milliseconds AgentDaemon::Step() {
  Status s;
  const milliseconds rotate_every = std::chrono::hours(24) * config_.rotate_every_days;
  if (state_.pending_token) {
    LogInfo("completing an interrupted token rotation");
    s = rotation_->ResolvePending(state_);
  } else if (rotation_->Due(state_, rotate_every)) {
    LogInfo("the token is " + std::to_string(config_.rotate_every_days) + " or more days old: rotating it");
    s = rotation_->Rotate(state_);
  }
  if (!s.ok()) {
    if (s.code() == StatusCode::kUnauthenticated || s.code() == StatusCode::kUnavailable ||
        s.code() == StatusCode::kRateLimited) {
      return OnFailure(s);
    }
    // Say so and keep heartbeating with the current token; the rotation is retried next time.
    LogError("token rotation failed: " + s.message());
  }
  auto hb = client_->Heartbeat(state_.token, deps_.host);
  if (!hb.ok()) return OnFailure(hb.status());
  return OnSuccess(*hb);
}

milliseconds AgentDaemon::OnSuccess(const AgentView& agent) {
  network_backoff_.Reset();
  refused_backoff_.Reset();
  std::string line = "connected to " + state_.coordinator + " as agent " + state_.agent_id + "; last heartbeat " +
                     FormatIso8601(deps_.clock.Now());
  if (!ready_) {
    ready_ = true;
    status_line_ = line;
    deps_.notifier.Ready(WithTunnel(line));
    LogInfo("connected to " + state_.coordinator + " as agent " + state_.agent_id +
            (agent.status.empty() ? "" : " (" + agent.status + ")"));
  } else {
    if (failing_) LogInfo("connected to " + state_.coordinator + " again");
    SetStatus(line);
  }
  failing_ = false;
  return milliseconds(std::chrono::seconds(config_.heartbeat_interval_seconds));
}

milliseconds AgentDaemon::OnFailure(const Status& status) {
  if (status.detail() == rest::kDetailAborted) return milliseconds::zero();  // stopping
  failing_ = true;
  milliseconds delay;
  std::string line;
  if (status.code() == StatusCode::kUnauthenticated) {
    network_backoff_.Reset();
    delay = refused_backoff_.Next();
    line = "refused by the coordinator (401): the agent is deactivated or its token revoked; retrying in " +
           FormatDelay(delay);
  } else {
    refused_backoff_.Reset();
    delay = network_backoff_.Next();
    if (status.code() == StatusCode::kUnavailable) {
      line = "cannot reach " + state_.coordinator + ": " + status.message() + "; retrying in " + FormatDelay(delay);
    } else {
      line = "the coordinator " + state_.coordinator + " answered: " + status.message() + "; retrying in " +
             FormatDelay(delay);
    }
  }
  LogWarning(line);
  SetStatus(line);
  return delay;
}

void AgentDaemon::SetStatus(std::string line) {
  status_line_ = std::move(line);
  deps_.notifier.Status(WithTunnel(status_line_));
}

void AgentDaemon::Reload() {
  if (!deps_.reload_config) return;
  auto loaded = deps_.reload_config();
  if (!loaded.ok()) {
    LogError("configuration not reloaded, keeping the current one: " + loaded.status().message());
    return;
  }
  const AgentConfig& c = *loaded;
  std::string changes;
  auto note = [&changes](const std::string& what, const std::string& from, const std::string& to) {
    if (from == to) return;
    changes += (changes.empty() ? "" : ", ") + what + " " + from + " -> " + to;
  };
  note("log_level", config_.log_level, c.log_level);
  note("heartbeat_interval_seconds", std::to_string(config_.heartbeat_interval_seconds),
       std::to_string(c.heartbeat_interval_seconds));
  note("rotate_every_days", std::to_string(config_.rotate_every_days), std::to_string(c.rotate_every_days));
  note("name", config_.name, c.name);
  note("coordinator", config_.coordinator, c.coordinator);
  if (config_.upstreams != c.upstreams) {
    changes += std::string(changes.empty() ? "" : ", ") + "upstreams (" + std::to_string(c.upstreams.size()) + ")";
  }
  if (auto level = ParseLogLevel(c.log_level)) SetLogLevel(*level);
  if (ready_ && !failing_ && c.heartbeat_interval_seconds != config_.heartbeat_interval_seconds) {
    // A shorter interval applies now rather than after the wait already under way.
    const MonoTime sooner = deps_.clock.Monotonic() + std::chrono::seconds(c.heartbeat_interval_seconds);
    if (sooner < next_attempt_) next_attempt_ = sooner;
  }
  if (!(config_.tunnel == c.tunnel)) changes += std::string(changes.empty() ? "" : ", ") + "[tunnel]";
  if (tunnel_) tunnel_->Reconfigure(c);
  config_ = c;
  LogInfo(changes.empty() ? "configuration reloaded: nothing changed" : "configuration reloaded: " + changes);
}

}  // namespace keyhole::agent
