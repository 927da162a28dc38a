// RateLimitExceptionsHandler: /api/v1/rateLimits/exceptions (Keyhole's extension, admins only):
// file a temporary exception, list, get, and approve / deny / cancel it.
#pragma once

#include "coordinator/audit/system_log.h"
#include "coordinator/auth/user_directory.h"
#include "coordinator/http/router.h"
#include "coordinator/ratelimit/rate_limit_exceptions.h"

namespace keyhole::coord {

class RateLimitExceptionsHandler {
 public:
  // Every filing and decision is recorded in `log` (if given), with who, from where.
  RateLimitExceptionsHandler(RateLimitExceptions& exceptions, const Clock& clock, const UserDirectory& users,
                             SystemLog* log = nullptr)
      : exceptions_(exceptions), clock_(clock), users_(users), log_(log) {}
  void Register(Router& router);

 private:
  Response List(Request& req);
  Response Create(Request& req);
  Response Get(Request& req);
  Response Lifecycle(Request& req);
  void Record(const Request& req, const RateLimitException& x, const std::string& what) const;

  RateLimitExceptions& exceptions_;
  const Clock& clock_;
  const UserDirectory& users_;
  SystemLog* log_;
};

}  // namespace keyhole::coord
