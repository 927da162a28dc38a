// RateLimitExceptions: the temporary exceptions to the rate-limit table and their lifecycle.
// An admin files a request (org, endpoints with the rates wanted, start and end, business
// justification) at least `lead_business_days` before its start unless overridden with a reason;
// it stays PENDING until an admin approves or denies it; PENDING or APPROVED ones can be
// canceled. APPROVED ones raise the table's limits between start and end and lapse on their own.
// Every change is durable before it returns, then pushed into the RateLimitTable. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/ratelimit/rate_limit_exception.h"
#include "coordinator/ratelimit/rate_limit_table.h"
#include "coordinator/store/store.h"
#include "shared/clock/clock.h"

namespace keyhole::coord {

struct ExceptionOptions {
  int lead_business_days = 10;
  std::chrono::hours max_duration{24 * 90};
  uint32_t max_per_minute = 1'000'000;
};

struct ExceptionRequest {
  std::string org;
  std::vector<RateLimitException::Endpoint> endpoints;
  WallTime start{};
  WallTime end{};
  std::string justification;
  std::string lead_time_override;  // a reason: files the request inside the lead time
};

enum class ExceptionDecision { kApprove, kDeny, kCancel };

class RateLimitExceptions {
 public:
  // `on_change` is told of every new request and transition (for the system log).
  RateLimitExceptions(Store& store, const Clock& clock, RateLimitTable& table, ExceptionOptions options,
                      std::function<void(const RateLimitException&, const std::string& what)> on_change = {});

  // Loads the stored exceptions and applies the approved ones. REQUIRES: table bound.
  Status Load();

  StatusOr<RateLimitException> Request(const ExceptionRequest& request, const std::string& requested_by);
  StatusOr<RateLimitException> Decide(const std::string& id, ExceptionDecision decision, const std::string& by,
                                      const std::string& reason);
  StatusOr<RateLimitException> Get(const std::string& id) const;
  std::vector<RateLimitException> List(std::optional<ExceptionStatus> status) const;

  // The earliest start a request filed at `now` may name: `business_days` weekdays (UTC) later.
  static WallTime EarliestStart(WallTime now, int business_days);

 private:
  void ApplyToTable();  // REQUIRES: mu_ held

  Store& store_;
  const Clock& clock_;
  RateLimitTable& table_;
  const ExceptionOptions options_;
  std::function<void(const RateLimitException&, const std::string&)> on_change_;
  mutable std::mutex mu_;
  std::map<std::string, RateLimitException> by_id_;  // GUARDED_BY(mu_)
};

}  // namespace keyhole::coord
