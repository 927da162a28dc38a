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

const char* OwnerKindName(OwnerKind k) { return k == OwnerKind::kUser ? "USER" : "AGENT"; }

}  // namespace keyhole::coord
