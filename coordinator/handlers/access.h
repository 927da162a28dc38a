// Access rules shared by handlers. Keyhole's roles are simple: a SUPER_ADMIN may do everything;
// any other user manages only itself and its own tokens.
#pragma once

#include "coordinator/http/request.h"
#include "shared/errors/status.h"

namespace keyhole::coord {

inline Status RequireSuperAdmin(const Request& req) {
  if (req.principal && req.principal->super_admin) return Status::Ok();
  return PermissionDeniedError("not a super admin");
}

inline Status RequireUser(const Request& req) {
  if (req.principal && req.principal->kind == OwnerKind::kUser) return Status::Ok();
  return PermissionDeniedError("not a user");
}

}  // namespace keyhole::coord
