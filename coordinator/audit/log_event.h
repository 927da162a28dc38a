// LogEvent: one System Log entry, as SystemLog records it and the Store keeps it, plus the query
// a reader asks for (LogQuery, LogFilter). Okta's LogEvent shape on the wire (CONTRACT §8) is
// LogEventToJson; the store keeps that JSON and the few columns a query filters on.
// Plain values; no threading concerns.
#pragma once

#include <nlohmann/json.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "shared/clock/clock.h"

namespace keyhole::coord {

// Event types (Okta's names where Okta has them; Keyhole's own in the same style).
namespace event_type {
inline constexpr const char* kUserCreate = "user.lifecycle.create";
inline constexpr const char* kUserActivate = "user.lifecycle.activate";
inline constexpr const char* kUserReactivate = "user.lifecycle.reactivate";
inline constexpr const char* kUserDeactivate = "user.lifecycle.deactivate";
inline constexpr const char* kUserSuspend = "user.lifecycle.suspend";
inline constexpr const char* kUserUnsuspend = "user.lifecycle.unsuspend";
inline constexpr const char* kUserDeleteInitiated = "user.lifecycle.delete.initiated";
inline constexpr const char* kUserDeleteCompleted = "user.lifecycle.delete.completed";
inline constexpr const char* kUserUpdateProfile = "user.account.update_profile";
inline constexpr const char* kUserPrivilegeGrant = "user.account.privilege.grant";
inline constexpr const char* kUserPrivilegeRevoke = "user.account.privilege.revoke";
inline constexpr const char* kTokenCreate = "system.api_token.create";
inline constexpr const char* kTokenRevoke = "system.api_token.revoke";
inline constexpr const char* kTokenRevokeInactivity = "system.api_token.revoke.inactivity";
inline constexpr const char* kTokenRotate = "system.api_token.rotate";
inline constexpr const char* kTokenRevokeRotated = "system.api_token.revoke.rotated";
inline constexpr const char* kAgentPoolCreate = "agent.pool.create";
inline constexpr const char* kAgentPoolUpdate = "agent.pool.update";
inline constexpr const char* kAgentPoolDelete = "agent.pool.delete";
inline constexpr const char* kActivationCodeCreate = "agent.activation_code.create";
inline constexpr const char* kActivationCodeRevoke = "agent.activation_code.revoke";
inline constexpr const char* kAgentActivate = "agent.lifecycle.activate";
inline constexpr const char* kAgentDeactivate = "agent.lifecycle.deactivate";
inline constexpr const char* kAgentReactivate = "agent.lifecycle.reactivate";
inline constexpr const char* kAgentDelete = "agent.lifecycle.delete";
inline constexpr const char* kAgentUpdate = "agent.update";
inline constexpr const char* kTokenRefusedOwnerInactive = "system.api_token.refused.owner_inactive";
inline constexpr const char* kRateLimitViolation = "system.rate_limit.violation";
inline constexpr const char* kRateLimitExceptionRequest = "system.rate_limit.exception.request";
inline constexpr const char* kRateLimitExceptionApprove = "system.rate_limit.exception.approve";
inline constexpr const char* kRateLimitExceptionDeny = "system.rate_limit.exception.deny";
inline constexpr const char* kRateLimitExceptionCancel = "system.rate_limit.exception.cancel";
}  // namespace event_type

struct LogActor {
  std::string id;
  std::string type = "SystemPrincipal";  // "User", "SystemPrincipal", later "Agent"
  std::string alternate_id;
  std::string display_name;
};

struct LogTarget {
  std::string id;
  std::string type;  // "User", "Token", …
  std::string alternate_id;
  std::string display_name;
};

struct LogEvent {
  int64_t seq = 0;        // assigned by the store: the cursor and the sort order
  std::string uuid;       // filled by SystemLog::Record
  WallTime published{};   // filled by SystemLog::Record
  std::string event_type;
  std::string severity = "INFO";  // DEBUG | INFO | WARN | ERROR
  std::string display_message;
  LogActor actor;
  std::string client_ip;
  std::string user_agent;
  std::string outcome_result = "SUCCESS";
  std::string outcome_reason;
  std::vector<LogTarget> targets;
  std::string transaction_id;  // the request's X-Okta-Request-Id; empty for background jobs
  std::string token_id;        // transaction.detail.requestApiTokenId; never a secret
  std::string request_uri;     // debugContext.debugData.requestUri
  std::map<std::string, std::string> debug_data;  // the rest of debugContext.debugData
};

// Okta's LogEvent JSON (CONTRACT §8).
nlohmann::json LogEventToJson(const LogEvent& e);
// Makes every text field valid UTF-8 (bad bytes become U+FFFD) and bounded in length: events
// carry what clients sent (User-Agent, path), and the store must be able to write them.
void SanitizeLogEvent(LogEvent& e);
// `text` as valid UTF-8 of at most `max_bytes`, cut on a character boundary.
std::string CleanUtf8(std::string_view text, size_t max_bytes);
// The inverse, for what the store kept; nullopt if `j` is not a LogEvent this code wrote.
std::optional<LogEvent> LogEventFromJson(const nlohmann::json& j);
// Lower-cased text that `q` keywords are matched against: eventType, displayMessage, actor,
// targets, outcome reason, client address and user agent.
std::string LogSearchText(const LogEvent& e);

// A filter expression (`filter=`): comparisons joined by and/or.
struct LogFilter {
  enum class Op { kEq, kAnd, kOr };
  enum class Field { kEventType, kOutcomeResult, kActorId, kTargetId };
  Op op = Op::kEq;
  Field field = Field::kEventType;    // kEq only
  std::string value;                  // kEq only
  std::vector<LogFilter> operands;    // kAnd / kOr only, two or more
};

struct LogQuery {
  WallTime since{};  // published >= since
  WallTime until{};  // published < until
  std::optional<LogFilter> filter;
  std::vector<std::string> keywords;  // lower-case; every one must occur in LogSearchText
  int64_t after_seq = 0;              // 0: from the start (the end when descending)
  bool descending = false;
  size_t limit = 100;
};

}  // namespace keyhole::coord
