#include "coordinator/ratelimit/rate_limit_exception.h"

namespace keyhole::coord {
namespace {
constexpr std::pair<ExceptionStatus, const char*> kNames[] = {
    {ExceptionStatus::kPending, "PENDING"},
    {ExceptionStatus::kApproved, "APPROVED"},
    {ExceptionStatus::kDenied, "DENIED"},
    {ExceptionStatus::kCanceled, "CANCELED"},
};
}  // namespace

const char* ExceptionStatusName(ExceptionStatus s) {
  for (const auto& [status, name] : kNames)
    if (status == s) return name;
  return "UNKNOWN";
}

std::optional<ExceptionStatus> ParseExceptionStatus(std::string_view text) {
  for (const auto& [status, name] : kNames)
    if (text == name) return status;
  return std::nullopt;
}

nlohmann::json RateLimitException::ToStored() const {
  nlohmann::json eps = nlohmann::json::array();
  for (const auto& e : endpoints) eps.push_back({{"endpoint", e.endpoint}, {"perMinute", e.per_minute}});
  return {{"id", id},
          {"org", org},
          {"endpoints", eps},
          {"start", ToEpochMillis(start)},
          {"end", ToEpochMillis(end)},
          {"justification", justification},
          {"status", ExceptionStatusName(status)},
          {"requestedBy", requested_by},
          {"created", ToEpochMillis(created)},
          {"lastUpdated", ToEpochMillis(last_updated)},
          {"leadTimeOverride", lead_time_override},
          {"decidedBy", decided_by},
          {"decidedAt", decided_at ? nlohmann::json(ToEpochMillis(*decided_at)) : nlohmann::json(nullptr)},
          {"decisionReason", decision_reason}};
}

std::optional<RateLimitException> RateLimitException::FromStored(const nlohmann::json& j) {
  if (!j.is_object()) return std::nullopt;
  RateLimitException x;
  x.id = j.value("id", "");
  x.org = j.value("org", "");
  for (const auto& e : j.value("endpoints", nlohmann::json::array())) {
    x.endpoints.push_back({e.value("endpoint", ""), e.value("perMinute", 0u)});
  }
  x.start = FromEpochMillis(j.value("start", int64_t{0}));
  x.end = FromEpochMillis(j.value("end", int64_t{0}));
  x.justification = j.value("justification", "");
  auto status = ParseExceptionStatus(j.value("status", ""));
  if (!status || x.id.empty()) return std::nullopt;
  x.status = *status;
  x.requested_by = j.value("requestedBy", "");
  x.created = FromEpochMillis(j.value("created", int64_t{0}));
  x.last_updated = FromEpochMillis(j.value("lastUpdated", int64_t{0}));
  x.lead_time_override = j.value("leadTimeOverride", "");
  x.decided_by = j.value("decidedBy", "");
  if (j.contains("decidedAt") && j["decidedAt"].is_number_integer()) x.decided_at = FromEpochMillis(j["decidedAt"].get<int64_t>());
  x.decision_reason = j.value("decisionReason", "");
  return x;
}

}  // namespace keyhole::coord
