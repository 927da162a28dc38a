// Owners: the OwnerDirectory the token service consults, answering for users from the
// UserDirectory and for agents from the AgentRegistry. Holds references only; thread-safe as
// its two directories are.
#pragma once

#include "coordinator/auth/principal.h"

namespace keyhole::coord {

class Owners final : public OwnerDirectory {
 public:
  Owners(const OwnerDirectory& users, const OwnerDirectory& agents) : users_(users), agents_(agents) {}

  std::optional<OwnerInfo> LookupOwner(OwnerKind kind, const std::string& id) const override {
    return kind == OwnerKind::kUser ? users_.LookupOwner(kind, id) : agents_.LookupOwner(kind, id);
  }

 private:
  const OwnerDirectory& users_;
  const OwnerDirectory& agents_;
};

}  // namespace keyhole::coord
