// How users and API tokens look on the wire: Okta's User and ApiToken shapes
// (../shared/okta-contract), plus Keyhole's additions (lastUsed, status on tokens).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "coordinator/store/records.h"
#include "shared/token/token_policy.h"

namespace keyhole::coord {

// `in_list`: list responses carry only the self link.
nlohmann::json UserView(const UserRecord& u, const std::string& base_url, bool in_list);
nlohmann::json TokenView(const TokenRecord& t, const TokenPolicy& policy, const std::string& base_url);
nlohmann::json SuperAdminRoleView(const UserRecord& u, const std::string& base_url);
std::string SuperAdminRoleId(const std::string& user_id);

}  // namespace keyhole::coord
