// TokenCommands: `keyholectl tokens …`, over /api/v1/api-tokens. Each command prints its result to
// Output (a table for people, the API's JSON with --json) and returns a Status for the caller to
// report. A new token's secret is printed once and kept nowhere. Borrows its arguments. Not thread-safe.
#pragma once

#include <optional>
#include <string>

#include "coordinator/ctl/api_session.h"
#include "coordinator/ctl/table.h"
#include "shared/errors/status.h"

namespace keyhole::ctl {

struct TokenListOptions {
  std::string q;     // matches the token's name or client name
  std::string user;  // an id or login: that user's tokens (SUPER_ADMIN only)
  bool include_revoked = false;
  std::optional<int> limit;
  bool all = false;  // follow every next link
};

class TokenCommands {
 public:
  TokenCommands(ApiSession& api, const Output& out) : api_(api), out_(out) {}

  Status List(const TokenListOptions& options);
  Status Get(const std::string& id);
  // For `user` (an id or login), or for the caller when empty.
  Status Create(const std::string& name, const std::string& user);
  Status Revoke(const std::string& id);
  // Revokes the token keyholectl is using.
  Status RevokeCurrent();

 private:
  ApiSession& api_;
  const Output& out_;
};

}  // namespace keyhole::ctl
