// RateLimitExceptionsHandler: /api/v1/rateLimits/exceptions (Keyhole's extension, admins only):
// file a temporary exception, list, get, and approve / deny / cancel it.
#pragma once

#include "coordinator/http/router.h"
#include "coordinator/ratelimit/rate_limit_exceptions.h"

namespace keyhole::coord {

class RateLimitExceptionsHandler {
 public:
  RateLimitExceptionsHandler(RateLimitExceptions& exceptions, const Clock& clock) : exceptions_(exceptions), clock_(clock) {}
  void Register(Router& router);

 private:
  Response List(Request& req);
  Response Create(Request& req);
  Response Get(Request& req);
  Response Lifecycle(Request& req);

  RateLimitExceptions& exceptions_;
  const Clock& clock_;
};

}  // namespace keyhole::coord
