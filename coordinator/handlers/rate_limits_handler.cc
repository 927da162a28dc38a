#include "coordinator/handlers/rate_limits_handler.h"

#include "coordinator/handlers/access.h"
#include "coordinator/http/api_error.h"
#include "shared/clock/iso8601.h"

namespace keyhole::coord {

void RateLimitsHandler::Register(Router& r) {
  r.Add("GET", "/api/v1/rateLimits", [this](Request& q) { return List(q); });
}

Response RateLimitsHandler::List(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  nlohmann::json body = nlohmann::json::array();
  for (const EndpointUsage& u : table_.Usage(clock_.Now())) {
    body.push_back({
        {"method", u.method},
        {"path", u.pattern},
        {"limit", u.limit},
        {"baseLimit", u.base_limit},
        {"used", u.used},
        {"remaining", u.limit > u.used ? u.limit - u.used : 0},
        {"reset", u.reset_epoch_seconds},
        {"resetsAt", FormatIso8601(FromEpochMillis(u.reset_epoch_seconds * 1000))},
        {"window", "PT1M"},
    });
  }
  return Response::Json(200, body);
}

}  // namespace keyhole::coord
