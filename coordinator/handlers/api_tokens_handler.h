// ApiTokensHandler: /api/v1/api-tokens. Listing, reading and revoking follow Okta; creating a
// token by API (POST) is Keyhole's extension and answers with the secret, once.
// Admins see and manage every token, agents' included (marked ownerType AGENT, with the agent,
// its pool and type); a plain user only its own. Creations and revocations are
// recorded in the System Log when one is given (never the secret).
#pragma once

#include "coordinator/agents/agent_registry.h"
#include "coordinator/audit/system_log.h"
#include "coordinator/auth/token_service.h"
#include "coordinator/auth/user_directory.h"
#include "coordinator/http/router.h"

namespace keyhole::coord {

class ApiTokensHandler {
 public:
  static constexpr size_t kMaxActiveTokensPerUser = 100;

  // `agents` (optional) names the agent, pool and type of agents' tokens in the views.
  ApiTokensHandler(UserDirectory& users, TokenService& tokens, SystemLog* log = nullptr,
                   const AgentRegistry* agents = nullptr)
      : users_(users), tokens_(tokens), log_(log), agents_(agents) {}
  void Register(Router& router);

 private:
  Response List(Request& req);
  Response Create(Request& req);
  Response Get(Request& req);
  Response Revoke(Request& req);
  Response RevokeCurrent(Request& req);

  // The token {apiTokenId} if the caller may see it; NotFound otherwise (no hint that it exists).
  StatusOr<TokenRecord> Visible(const Request& req) const;
  void Audit(const Request& req, const char* type, const char* message, const TokenRecord& token) const;

  nlohmann::json View(const TokenRecord& t, const Request& req) const;

  UserDirectory& users_;
  TokenService& tokens_;
  SystemLog* const log_;
  const AgentRegistry* const agents_;
};

}  // namespace keyhole::coord
