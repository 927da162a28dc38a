// Principal: who an authenticated request acts for, as the auth layer established it.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "coordinator/store/records.h"

namespace keyhole::coord {

struct Principal {
  OwnerKind kind = OwnerKind::kUser;
  std::string owner_id;
  std::string token_id;
  bool super_admin = false;
  // TokenService's handle on the token, for RecordUse() once the request is admitted. Opaque.
  std::shared_ptr<void> token_handle;
};

// What the token service needs to know about a token's owner, at every use.
struct OwnerInfo {
  bool active = false;
  bool super_admin = false;
};

// Answers for users (UserDirectory) and, later, agents. Implementations are thread-safe and
// cheap: this is on every authenticated request.
class OwnerDirectory {
 public:
  virtual ~OwnerDirectory() = default;
  // nullopt when the owner does not exist (deleted).
  virtual std::optional<OwnerInfo> LookupOwner(OwnerKind kind, const std::string& id) const = 0;
};

}  // namespace keyhole::coord
