// The coordinator's persistent records, as the store reads and writes them. Plain values.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "shared/clock/clock.h"
#include "shared/token/token_codec.h"

namespace keyhole::coord {

// Okta's user statuses. Keyhole users have no passwords, so activation ends in ACTIVE directly.
enum class UserStatus { kStaged, kProvisioned, kActive, kRecovery, kLockedOut, kPasswordExpired, kSuspended, kDeprovisioned };

const char* UserStatusName(UserStatus s);
std::optional<UserStatus> ParseUserStatus(std::string_view name);

struct UserRecord {
  int64_t seq = 0;  // insertion order: the listing order and the pagination cursor
  std::string id;
  UserStatus status = UserStatus::kStaged;
  WallTime created{};
  std::optional<WallTime> activated;
  WallTime status_changed{};
  WallTime last_updated{};
  nlohmann::json profile = nlohmann::json::object();  // login, email, firstName, lastName, …
  bool super_admin = false;

  std::string login() const { return profile.value("login", ""); }
};

enum class OwnerKind { kUser, kAgent };
const char* OwnerKindName(OwnerKind k);

// Why a token stopped working for good.
inline constexpr std::string_view kRevokedExplicitly = "REVOKED";
inline constexpr std::string_view kRevokedInactivity = "INACTIVITY";
inline constexpr std::string_view kRevokedOwnerDeleted = "OWNER_DELETED";

struct TokenRecord {
  int64_t seq = 0;
  std::string id;
  std::string name;
  OwnerKind owner_kind = OwnerKind::kUser;
  std::string owner_id;
  std::string client_name;
  TokenDigest digest{};
  WallTime created{};
  WallTime expires_at{};
  std::optional<WallTime> last_used;
  std::optional<WallTime> revoked_at;
  std::string revoked_reason;  // empty while active
};

// One flushed use of a token: its new last use and expiry.
struct TokenUse {
  std::string id;
  WallTime last_used;
  WallTime expires_at;
};

}  // namespace keyhole::coord
