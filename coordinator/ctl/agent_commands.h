// AgentCommands: `keyholectl pools …`, `codes …` and `agents …`, over /api/v1/agentPools (pools and
// their activation codes) and /api/v1/agents (admin lifecycle). Each command prints to Output (a
// table, or the API's JSON with --json) and returns a Status for the caller to report; a new
// activation code is printed once and kept nowhere. AddAgentCommands wires them into the command
// line. Borrows its arguments. Not thread-safe.
#pragma once

#include <string>

#include "coordinator/ctl/api_session.h"
#include "coordinator/ctl/commands.h"
#include "coordinator/ctl/table.h"
#include "shared/errors/status.h"

namespace CLI {
class App;
}

namespace keyhole::ctl {

class AgentCommands {
 public:
  AgentCommands(ApiSession& api, const Output& out) : api_(api), out_(out) {}

  // Every page; `type` empty for pools of all types.
  Status ListPools(const std::string& type);
  Status CreatePool(const std::string& name, const std::string& type);
  Status RenamePool(const std::string& pool_id, const std::string& name);
  // The coordinator refuses while the pool still has agents.
  Status DeletePool(const std::string& pool_id);

  // `lifetime` is an ISO 8601 duration ("PT24H"); empty: the coordinator's default.
  Status CreateCode(const std::string& pool_id, const std::string& lifetime);
  Status ListCodes(const std::string& pool_id);
  Status RevokeCode(const std::string& pool_id, const std::string& code_id);

  Status ListAgents(const std::string& pool_id);
  Status ShowAgent(const std::string& agent_id);
  // `op` is deactivate or reactivate.
  Status Lifecycle(const std::string& agent_id, const std::string& op);
  // The coordinator deletes only INACTIVE agents.
  Status DeleteAgent(const std::string& agent_id);

 private:
  void PrintPool(const nlohmann::json& pool) const;
  void PrintAgent(const nlohmann::json& agent) const;

  ApiSession& api_;
  const Output& out_;
};

// "2026-11-28 04:09" from an Agent's lastConnection (epoch milliseconds); "never" for 0, "-" if absent.
std::string LastConnection(const nlohmann::json& agent);

// Adds `pools`, `codes` and `agents` and their subcommands to `app`; the one chosen leaves its
// action in `action`, which must outlive the parse.
void AddAgentCommands(CLI::App& app, ApiAction& action);

}  // namespace keyhole::ctl
