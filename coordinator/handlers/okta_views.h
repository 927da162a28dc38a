// How users and API tokens look on the wire: Okta's User and ApiToken shapes
// (../shared/okta-contract), plus Keyhole's additions (lastUsed, status on tokens).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "coordinator/store/records.h"
#include "shared/token/token_policy.h"

namespace keyhole::coord {

// A HAL link object: {"href": …, "hints": {"allow": [...]}} (hints only when `allow` is not empty).
nlohmann::json HalLink(const std::string& href, std::initializer_list<const char*> allow = {});
// An ISO 8601 timestamp, or null.
nlohmann::json OptIso8601(const std::optional<WallTime>& t);

// `in_list`: list responses carry only the self link.
nlohmann::json UserView(const UserRecord& u, const std::string& base_url, bool in_list);
nlohmann::json TokenView(const TokenRecord& t, const TokenPolicy& policy, const std::string& base_url);
nlohmann::json SuperAdminRoleView(const UserRecord& u, const std::string& base_url);
std::string SuperAdminRoleId(const std::string& user_id);

}  // namespace keyhole::coord
