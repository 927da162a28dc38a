// UserCommands: `keyholectl users …`, over /api/v1/users, its lifecycle and its roles. Each command
// prints its result to Output (a table for people, the API's JSON with --json) and returns a
// Status for the caller to report. Borrows the ApiSession and Output. Not thread-safe.
#pragma once

#include <optional>
#include <string>

#include "coordinator/ctl/api_session.h"
#include "coordinator/ctl/table.h"
#include "shared/errors/status.h"

namespace keyhole::ctl {

struct UserListOptions {
  std::string q;       // prefix of login, email, first or last name (Okta's q: 10 results, no paging)
  std::string filter;  // e.g. status eq "ACTIVE"
  std::optional<int> limit;
  bool all = false;    // follow every next link
};

// Profile fields to send; unset ones are left out (an update keeps them).
struct UserProfileFields {
  std::optional<std::string> login, email, first_name, last_name;
};

// The id of `user` (an id, a login or "me"), looked up on the coordinator.
StatusOr<std::string> ResolveUserId(ApiSession& api, const std::string& user);

class UserCommands {
 public:
  UserCommands(ApiSession& api, const Output& out) : api_(api), out_(out) {}

  Status List(const UserListOptions& options);
  Status Get(const std::string& user);
  Status Create(const UserProfileFields& profile, bool activate);
  Status Update(const std::string& user, const UserProfileFields& changes);
  // `op` is activate, reactivate, deactivate, suspend or unsuspend.
  Status Lifecycle(const std::string& user, const std::string& op);
  // Okta's rule: deletes a DEPROVISIONED user, deactivates any other.
  Status Delete(const std::string& user);
  Status GrantAdmin(const std::string& user);
  Status RevokeAdmin(const std::string& user);

 private:
  void PrintUser(const nlohmann::json& user) const;

  ApiSession& api_;
  const Output& out_;
};

}  // namespace keyhole::ctl
