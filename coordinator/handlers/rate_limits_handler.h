// RateLimitsHandler: GET /api/v1/rateLimits (Keyhole's extension, admins only): every
// endpoint's limit in force, its base limit, its use in the current window and when it resets.
#pragma once

#include "coordinator/http/router.h"
#include "coordinator/ratelimit/rate_limit_table.h"

namespace keyhole::coord {

class RateLimitsHandler {
 public:
  RateLimitsHandler(const RateLimitTable& table, const Clock& clock) : table_(table), clock_(clock) {}
  void Register(Router& router);

 private:
  Response List(Request& req);

  const RateLimitTable& table_;
  const Clock& clock_;
};

}  // namespace keyhole::coord
