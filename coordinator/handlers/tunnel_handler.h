// TunnelHandler: the two streaming routes' checks, on the request head (the server streams the
// rest): ANY /api/v1/agentPools/{poolId}/tunnel/{upstream}/{path...} for admins, and the agent's
// WebSocket upgrade GET /api/v1/agents/me/tunnel. Each answers kStreamProceed or an error.
// Stateless; thread-safe.
#pragma once

#include "coordinator/agents/agent_registry.h"
#include "coordinator/http/router.h"
#include "coordinator/tunnel/tunnel_hub.h"

namespace keyhole::coord {

class TunnelHandler {
 public:
  // The methods a tunnel carries; each is its own route (and rate-limit entry).
  static constexpr const char* kMethods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  static constexpr const char* kCallerRoute = "/api/v1/agentPools/{poolId}/tunnel/{upstream}/{path...}";
  static constexpr const char* kAgentRoute = "/api/v1/agents/me/tunnel";

  TunnelHandler(const AgentRegistry& registry, const TunnelHub& hub) : registry_(registry), hub_(hub) {}
  void Register(Router& router);

 private:
  Response Caller(Request& req);
  Response AgentUpgrade(Request& req);

  const AgentRegistry& registry_;
  const TunnelHub& hub_;
};

}  // namespace keyhole::coord
