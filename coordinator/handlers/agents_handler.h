// AgentsHandler: /api/v1/agents — public activation with a one-time code; the agent's own
// endpoints (me, heartbeat, token rotation, self-deactivation; agent tokens only); and the
// admins' view and lifecycle of agents (docs/AGENTS.md). Stateless; thread-safe.
#pragma once

#include <chrono>

#include "coordinator/agents/agent_registry.h"
#include "coordinator/audit/system_log.h"
#include "coordinator/auth/token_service.h"
#include "coordinator/auth/user_directory.h"
#include "coordinator/http/router.h"
#include "coordinator/tunnel/tunnel_hub.h"

namespace keyhole::coord {

class AgentsHandler {
 public:
  // `hub` (optional): the views show the tunnel, and deactivation closes it at once.
  AgentsHandler(AgentRegistry& registry, TokenService& tokens, const UserDirectory& users, SystemLog* log,
                std::chrono::milliseconds rotation_grace, TunnelHub* hub = nullptr)
      : registry_(registry), tokens_(tokens), users_(users), log_(log), rotation_grace_(rotation_grace), hub_(hub) {}
  void Register(Router& router);

 private:
  Response Activate(Request& req);
  Response Me(Request& req);
  Response Heartbeat(Request& req);
  Response Rotate(Request& req);
  Response DeactivateSelf(Request& req);
  Response Get(Request& req);
  Response Lifecycle(Request& req);
  Response Delete(Request& req);

  nlohmann::json View(const AgentRecord& a, const Request& req) const;
  void Audit(const Request& req, const char* type, std::string message, const AgentRecord& agent,
             const TokenRecord* token = nullptr) const;

  AgentRegistry& registry_;
  TokenService& tokens_;
  const UserDirectory& users_;
  SystemLog* log_;
  const std::chrono::milliseconds rotation_grace_;
  TunnelHub* hub_;
};

}  // namespace keyhole::coord
