// TunnelClient: the real Tunnel. Owns the tunnel thread and its io_context, the UpstreamPool and
// the TunnelConnection to the coordinator; reconnects with full-jitter backoff (1 s → 60 s; after a
// 401 or kAgentDeactivated 5 s → 5 min; after kTokenRevoked it waits for a new token, retrying at
// the slow pace), reset once a connection stayed up 30 s or served a stream. A new token or upstream
// set dials a new connection first and drains the old one once the new one is up. Public calls are
// thread-safe: they post to the tunnel thread; Summary() reads a copy under a mutex.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "agent/daemon/backoff.h"
#include "agent/tunnel/tunnel.h"

namespace keyhole::agent {

class TunnelClient final : public Tunnel {
 public:
  static constexpr std::chrono::seconds kHealthyAfter{30};

  explicit TunnelClient(Backoff::Random random = Backoff::SystemRandom());
  ~TunnelClient() override;  // Stop(0) if still running

  void Start(const AgentState& state, const AgentConfig& config) override;
  void SetToken(const std::string& token) override;
  void Reconfigure(const AgentConfig& config) override;
  void Stop(std::chrono::milliseconds drain) override;
  std::string Summary() const override;

  // For tests: whether a connection is up now.
  bool connected() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace keyhole::agent
