// UsersHandler: /api/v1/users and its lifecycle and role sub-resources, in Okta's dialect.
// A SUPER_ADMIN may do everything; any other user may read only itself. Every change is recorded
// in the System Log when one is given.
#pragma once

#include "coordinator/audit/system_log.h"
#include "coordinator/auth/token_service.h"
#include "coordinator/auth/user_directory.h"
#include "coordinator/http/router.h"

namespace keyhole::coord {

class UsersHandler {
 public:
  UsersHandler(UserDirectory& users, TokenService& tokens, SystemLog* log = nullptr)
      : users_(users), tokens_(tokens), log_(log) {}
  void Register(Router& router);

 private:
  Response List(Request& req);
  Response Create(Request& req);
  Response Get(Request& req);
  Response Update(Request& req, bool replace);
  Response Lifecycle(Request& req);
  Response Delete(Request& req);
  Response ListRoles(Request& req);
  Response AssignRole(Request& req);
  Response UnassignRole(Request& req);

  using UserPtr = std::shared_ptr<const UserRecord>;
  // Resolves {userId} ("me", an id or a login) to a record the caller may read.
  StatusOr<UserPtr> Resolve(const Request& req) const;
  void Audit(const Request& req, const char* type, const char* message, const UserRecord& target) const;

  UserDirectory& users_;
  TokenService& tokens_;
  SystemLog* const log_;
};

// Validates a user profile as Okta's default schema does; with `base`, `input` is a partial update
// merged over it. Returns the profile to store, or InvalidArgument with one cause per problem.
StatusOr<nlohmann::json> ValidateProfile(const nlohmann::json& input, const nlohmann::json* base);

}  // namespace keyhole::coord
