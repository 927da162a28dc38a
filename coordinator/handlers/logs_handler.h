// LogsHandler: GET /api/v1/logs, the System Log in Okta's dialect (CONTRACT §10): since/until,
// filter, q, limit, sortOrder and after, with bounded and polling pagination. SUPER_ADMIN only.
// Stateless apart from the SystemLog it reads; safe to share between threads.
#pragma once

#include "coordinator/audit/system_log.h"
#include "coordinator/http/router.h"

namespace keyhole::coord {

class LogsHandler {
 public:
  static constexpr size_t kDefaultLimit = 100;
  static constexpr size_t kMaxLimit = 1000;
  static constexpr size_t kMaxKeywords = 10;
  static constexpr size_t kMaxKeywordLength = 40;

  LogsHandler(SystemLog& log, const Clock& clock) : log_(log), clock_(clock) {}
  void Register(Router& router);

 private:
  Response List(Request& req);

  SystemLog& log_;
  const Clock& clock_;
};

}  // namespace keyhole::coord
