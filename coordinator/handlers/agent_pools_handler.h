// AgentPoolsHandler: /api/v1/agentPools — Okta's listing (poolType, limitPerPoolType, after), and
// Keyhole's own pool creation, renaming, deletion, the agents of a pool and its one-time
// activation codes (docs/AGENTS.md). SUPER_ADMIN only. Stateless; thread-safe.
#pragma once

#include "coordinator/agents/agent_registry.h"
#include "coordinator/audit/system_log.h"
#include "coordinator/auth/user_directory.h"
#include "coordinator/http/router.h"

namespace keyhole::coord {

class AgentPoolsHandler {
 public:
  AgentPoolsHandler(AgentRegistry& registry, const UserDirectory& users, SystemLog* log)
      : registry_(registry), users_(users), log_(log) {}
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
};

}  // namespace keyhole::coord
