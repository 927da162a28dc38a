#include "coordinator/store/records.h"

namespace keyhole::coord {
namespace {
constexpr std::pair<UserStatus, const char*> kUserStatusNames[] = {
    {UserStatus::kStaged, "STAGED"},
    {UserStatus::kProvisioned, "PROVISIONED"},
    {UserStatus::kActive, "ACTIVE"},
    {UserStatus::kRecovery, "RECOVERY"},
    {UserStatus::kLockedOut, "LOCKED_OUT"},
    {UserStatus::kPasswordExpired, "PASSWORD_EXPIRED"},
    {UserStatus::kSuspended, "SUSPENDED"},
    {UserStatus::kDeprovisioned, "DEPROVISIONED"},
};
}  // namespace

const char* UserStatusName(UserStatus s) {
  for (const auto& [status, name] : kUserStatusNames)
    if (status == s) return name;
  return "UNKNOWN";
}

std::optional<UserStatus> ParseUserStatus(std::string_view text) {
  for (const auto& [status, name] : kUserStatusNames)
    if (text == name) return status;
  return std::nullopt;
}

namespace {
constexpr std::pair<AgentType, const char*> kAgentTypeNames[] = {
    {AgentType::kAD, "AD"},         {AgentType::kIWA, "IWA"},   {AgentType::kLDAP, "LDAP"},
    {AgentType::kMFA, "MFA"},       {AgentType::kOPP, "OPP"},   {AgentType::kRUM, "RUM"},
    {AgentType::kRadius, "Radius"}, {AgentType::kRSA, "RSA"},   {AgentType::kADPasswordSync, "ADPasswordSync"},
    {AgentType::kHTTP, "HTTP"},
};
}  // namespace

const char* AgentTypeName(AgentType t) {
  for (const auto& [type, name] : kAgentTypeNames)
    if (type == t) return name;
  return "UNKNOWN";
}

std::optional<AgentType> ParseAgentType(std::string_view text) {
  for (const auto& [type, name] : kAgentTypeNames)
    if (text == name) return type;
  return std::nullopt;
}

const char* OwnerKindName(OwnerKind k) { return k == OwnerKind::kUser ? "USER" : "AGENT"; }

}  // namespace keyhole::coord
