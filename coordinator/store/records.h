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
inline constexpr std::string_view kRevokedRotated = "ROTATED";        // its successor was used, or grace ended
inline constexpr std::string_view kRevokedSuperseded = "SUPERSEDED";  // an unused successor replaced by another
inline constexpr std::string_view kRevokedOwnerDeactivated = "OWNER_DEACTIVATED";  // an agent deactivated itself

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
  // Rotation: the token this one succeeds (retired at this one's first use), and, on the old
  // token, when it retires at the latest (the grace period).
  std::string replaces;
  std::optional<WallTime> retire_at;
};

// One flushed use of a token: its new last use and expiry.
struct TokenUse {
  std::string id;
  WallTime last_used;
  WallTime expires_at;
};

// Okta's AgentType values, and Keyhole's own in the same style (docs/AGENTS.md).
enum class AgentType { kAD, kIWA, kLDAP, kMFA, kOPP, kRUM, kRadius, kRSA, kADPasswordSync, kHTTP };
const char* AgentTypeName(AgentType t);
std::optional<AgentType> ParseAgentType(std::string_view name);

struct AgentPoolRecord {
  int64_t seq = 0;
  std::string id;
  std::string name;
  AgentType type = AgentType::kHTTP;
  WallTime created{};
  WallTime last_updated{};
  std::string created_by;
};

enum class AgentStatus { kActive, kInactive };

struct AgentRecord {
  int64_t seq = 0;
  std::string id;
  std::string pool_id;
  std::string name;
  std::string host;
  std::string version;
  std::string os;
  AgentStatus status = AgentStatus::kActive;
  WallTime created{};
  WallTime activated{};
  WallTime status_changed{};
  WallTime last_updated{};
  int64_t last_connection_ms = 0;  // epoch milliseconds of the last heartbeat; 0: never
};

// A one-time activation code. EXPIRED is not stored: it is ACTIVE past expires_at.
struct ActivationCodeRecord {
  int64_t seq = 0;
  std::string id;
  std::string pool_id;
  TokenDigest digest{};
  WallTime created{};
  std::string created_by;
  WallTime expires_at{};
  std::optional<WallTime> used_at;
  std::string agent_id;  // the agent it activated
  std::optional<WallTime> revoked_at;
};

}  // namespace keyhole::coord
