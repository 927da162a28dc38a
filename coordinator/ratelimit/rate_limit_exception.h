// RateLimitException: a temporary raise of some endpoints' limits, requested by an admin with a
// business justification, decided by an admin, in force only between its start and end.
// Plain value; RateLimitExceptions owns the set and its rules.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "shared/clock/clock.h"

namespace keyhole::coord {

enum class ExceptionStatus { kPending, kApproved, kDenied, kCanceled };
const char* ExceptionStatusName(ExceptionStatus s);
std::optional<ExceptionStatus> ParseExceptionStatus(std::string_view s);

struct RateLimitException {
  struct Endpoint {
    std::string endpoint;  // "METHOD /api/v1/path/{template}"
    uint32_t per_minute = 0;
  };

  std::string id;
  std::string org;
  std::vector<Endpoint> endpoints;
  WallTime start{};
  WallTime end{};
  std::string justification;
  ExceptionStatus status = ExceptionStatus::kPending;
  std::string requested_by;             // user id
  WallTime created{};
  WallTime last_updated{};
  std::string lead_time_override;       // the reason, when filed inside the lead time
  std::string decided_by;               // user id of the approval, denial or cancellation
  std::optional<WallTime> decided_at;
  std::string decision_reason;

  // In force at `now`: approved, and now within [start, end).
  bool InForce(WallTime now) const { return status == ExceptionStatus::kApproved && now >= start && now < end; }

  nlohmann::json ToStored() const;
  static std::optional<RateLimitException> FromStored(const nlohmann::json& j);
};

}  // namespace keyhole::coord
