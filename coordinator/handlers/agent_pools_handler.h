// AgentPoolsHandler: /api/v1/agentPools — Okta's listing (poolType, limitPerPoolType, after), and
// Keyhole's own pool creation, renaming, deletion, the agents of a pool and its one-time
// activation codes (docs/AGENTS.md). SUPER_ADMIN only. Stateless; thread-safe.
#pragma once

#include "coordinator/agents/agent_registry.h"
#include "coordinator/audit/system_log.h"
#include "coordinator/auth/user_directory.h"
#include "coordinator/http/router.h"
#include "coordinator/tunnel/tunnel_hub.h"

namespace keyhole::coord {

class AgentPoolsHandler {
 public:
  // `hub` (optional) adds the agents' tunnel state to the views.
  AgentPoolsHandler(AgentRegistry& registry, const UserDirectory& users, SystemLog* log, const TunnelHub* hub = nullptr)
      : registry_(registry), users_(users), log_(log), hub_(hub) {}
  void Register(Router& router);

 private:
  Response List(Request& req);
  Response Create(Request& req);
  Response Get(Request& req);
  Response Rename(Request& req);
  Response Delete(Request& req);
  Response ListAgents(Request& req);
  Response CreateCode(Request& req);
  Response ListCodes(Request& req);
  Response RevokeCode(Request& req);
  void Audit(const Request& req, const char* type, std::string message, const AgentPoolRecord& pool,
             const std::string& code_id = "") const;

  AgentRegistry& registry_;
  const UserDirectory& users_;
  SystemLog* log_;
  const TunnelHub* hub_;
};

}  // namespace keyhole::coord
