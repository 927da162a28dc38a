#include "coordinator/handlers/okta_views.h"

#include "shared/clock/iso8601.h"

namespace keyhole::coord {

nlohmann::json HalLink(const std::string& href, std::initializer_list<const char*> allow) {
  nlohmann::json link = {{"href", href}};
  if (allow.size() > 0) link["hints"] = {{"allow", allow}};
  return link;
}

nlohmann::json OptIso8601(const std::optional<WallTime>& t) {
  return t ? nlohmann::json(FormatIso8601(*t)) : nlohmann::json(nullptr);
}

nlohmann::json UserView(const UserRecord& u, const std::string& base_url, bool in_list) {
  const std::string self = base_url + "/api/v1/users/" + u.id;
  nlohmann::json profile = u.profile;
  for (const char* key : {"mobilePhone", "secondEmail"}) {
    if (!profile.contains(key)) profile[key] = nullptr;
  }
  nlohmann::json links = {{"self", HalLink(self)}};
  if (!in_list) {
    auto lifecycle = [&](const char* op) { links[op] = HalLink(self + "/lifecycle/" + op, {"POST"}); };
    switch (u.status) {
      case UserStatus::kActive:
        lifecycle("suspend");
        lifecycle("deactivate");
        break;
      case UserStatus::kSuspended:
        lifecycle("unsuspend");
        lifecycle("deactivate");
        break;
      case UserStatus::kStaged:
      case UserStatus::kDeprovisioned:
        lifecycle("activate");
        if (u.status == UserStatus::kStaged) lifecycle("deactivate");
        break;
      case UserStatus::kProvisioned:
      case UserStatus::kRecovery:
        lifecycle("reactivate");
        lifecycle("deactivate");
        break;
      default:
        lifecycle("deactivate");
    }
  }
  return {
      {"id", u.id},
      {"status", UserStatusName(u.status)},
      {"created", FormatIso8601(u.created)},
      {"activated", OptIso8601(u.activated)},
      {"statusChanged", FormatIso8601(u.status_changed)},
      {"lastLogin", nullptr},
      {"lastUpdated", FormatIso8601(u.last_updated)},
      {"passwordChanged", nullptr},
      {"type", {{"id", "otyKeyholeDefault000"}}},
      {"profile", std::move(profile)},
      {"credentials", {{"provider", {{"type", "OKTA"}, {"name", "OKTA"}}}}},
      {"_links", std::move(links)},
  };
}

nlohmann::json TokenView(const TokenRecord& t, const TokenPolicy& policy, const std::string& base_url) {
  const bool revoked = t.revoked_at.has_value();
  WallTime last_updated = t.last_used ? std::max(*t.last_used, t.created) : t.created;
  nlohmann::json links = {{"self", HalLink(base_url + "/api/v1/api-tokens/" + t.id, {"GET", "DELETE"})}};
  if (t.owner_kind == OwnerKind::kUser) links["user"] = HalLink(base_url + "/api/v1/users/" + t.owner_id, {"GET"});
  nlohmann::json v = {
      {"id", t.id},
      {"name", t.name},
      {"clientName", t.client_name},
      {"tokenWindow", policy.WindowIso8601()},
      {"network", {{"connection", "ANYWHERE"}}},
      {"created", FormatIso8601(t.created)},
      {"lastUpdated", FormatIso8601(revoked ? *t.revoked_at : last_updated)},
      {"expiresAt", FormatIso8601(t.expires_at)},
      {"lastUsed", OptIso8601(t.last_used)},
      {"status", revoked ? "REVOKED" : "ACTIVE"},
      {"ownerType", OwnerKindName(t.owner_kind)},
      {"_links", std::move(links)},
  };
  if (t.owner_kind == OwnerKind::kUser) v["userId"] = t.owner_id;
  if (revoked) {
    v["revokedAt"] = FormatIso8601(*t.revoked_at);
    v["revocationReason"] = t.revoked_reason;
  }
  return v;
}

std::string SuperAdminRoleId(const std::string& user_id) { return "ra" + user_id; }

nlohmann::json SuperAdminRoleView(const UserRecord& u, const std::string& base_url) {
  return {
      {"id", SuperAdminRoleId(u.id)},
      {"label", "Super Administrator"},
      {"type", "SUPER_ADMIN"},
      {"status", "ACTIVE"},
      {"created", FormatIso8601(u.created)},
      {"lastUpdated", FormatIso8601(u.last_updated)},
      {"assignmentType", "USER"},
      {"_links", {{"assignee", HalLink(base_url + "/api/v1/users/" + u.id)}}},
  };
}

}  // namespace keyhole::coord
