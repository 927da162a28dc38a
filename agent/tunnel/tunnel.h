// Tunnel: what the daemon asks of the agent's tunnel to its coordinator (TunnelClient is the real
// one; daemon tests use a fake). Every call is thread-safe and returns at once, except Stop.
#pragma once

#include <chrono>
#include <string>

#include "agent/config/agent_config.h"
#include "agent/state/agent_state.h"

namespace keyhole::agent {

class Tunnel {
 public:
  virtual ~Tunnel() = default;
  // Connects, and keeps reconnecting, to state.coordinator with state.token.
  virtual void Start(const AgentState& state, const AgentConfig& config) = 0;
  // The token changed (rotation): a new connection with it replaces the current one.
  virtual void SetToken(const std::string& token) = 0;
  // The config was reloaded: a changed upstream set or [tunnel] section replaces the connection.
  virtual void Reconfigure(const AgentConfig& config) = 0;
  // Refuses new streams, lets open ones finish for at most `drain`, closes; returns when done.
  virtual void Stop(std::chrono::milliseconds drain) = 0;
  // For the status line: "tunnel connected", "tunnel connecting", "tunnel down (why); retrying in 4s".
  virtual std::string Summary() const = 0;
};

}  // namespace keyhole::agent
