// RateLimitTable: the org-wide per-endpoint limits, in requests per minute, one WindowCounter per
// route (by Router route id) plus one for paths no route matches. Limits come from the shipped
// defaults, overridden by the config file, and raised by approved temporary exceptions while
// they are in force. Built once at start-up; Acquire() is lock-free and safe from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "coordinator/http/router.h"
#include "coordinator/ratelimit/window_counter.h"
#include "shared/clock/clock.h"
#include "shared/errors/status.h"

namespace keyhole::coord {

struct RateLimitConfig {
  bool enabled = true;
  uint32_t default_per_minute = 10'000;
  // "METHOD /path/{template}" → per minute; overrides the shipped defaults.
  std::unordered_map<std::string, uint32_t> endpoints;
  uint32_t unauthenticated_per_minute = 30;  // per client IP
  uint32_t agent_tunnel_connects_per_minute = 120;  // per agent, on its tunnel upgrade route
  std::vector<std::string> trusted_proxies;  // addresses or CIDRs whose X-Forwarded-For is believed
};

// Keyhole's shipped per-endpoint defaults (docs/RATE_LIMITS.md).
std::unordered_map<std::string, uint32_t> DefaultEndpointLimits();

// A temporary raise of one endpoint's limit between two instants.
struct LimitOverride {
  std::string endpoint;  // "METHOD /path/{template}"
  uint32_t per_minute = 0;
  WallTime start{};
  WallTime end{};
};

struct EndpointUsage {
  std::string method;
  std::string pattern;
  uint32_t limit = 0;       // in force now, exceptions included
  uint32_t base_limit = 0;  // without exceptions
  uint32_t used = 0;
  int64_t reset_epoch_seconds = 0;
};

class RateLimitTable {
 public:
  explicit RateLimitTable(const RateLimitConfig& config);
  // Creates a counter per route. REQUIRES: called once, after every route is registered and
  // before the first Acquire. Fails if the config names an endpoint no route has (a typo).
  Status Bind(const Router& router);

  // Counts one request to `route_id` (or, with nullopt, to a path no route matches).
  WindowDecision Acquire(std::optional<size_t> route_id, WallTime now);
  bool FirstViolationIn(std::optional<size_t> route_id, uint32_t window);

  // Replaces the set of overrides (the exception service calls this on every change).
  void SetOverrides(const std::vector<LimitOverride>& overrides);
  std::vector<EndpointUsage> Usage(WallTime now) const;
  // The route id of "METHOD pattern", if such a route exists.
  std::optional<size_t> Find(const std::string& endpoint) const;
  // Its limit without exceptions.
  uint32_t BaseLimit(size_t route_id) const { return entries_[route_id]->base_limit; }

  bool enabled() const { return enabled_; }

 private:
  struct Override {
    uint32_t per_minute;
    int64_t start_ms, end_ms;
  };
  struct Entry {
    std::string method, pattern;
    uint32_t base_limit = 0;
    WindowCounter counter;
    // Published whole and never freed while the table lives (SetOverrides retires the old list):
    // readers take no lock, not even the one libstdc++ hides in atomic shared_ptr loads.
    std::atomic<const std::vector<Override>*> overrides{nullptr};
  };

  Entry& EntryFor(std::optional<size_t> route_id) { return route_id ? *entries_[*route_id] : *unmatched_; }
  uint32_t LimitNow(const Entry& e, int64_t now_ms) const;

  bool enabled_;
  uint32_t default_limit_;
  std::unordered_map<std::string, uint32_t> limits_;  // defaults and configured, by "METHOD pattern"
  std::vector<std::string> configured_;               // named by the config file
  std::vector<std::unique_ptr<Entry>> entries_;  // by route id
  std::unique_ptr<Entry> unmatched_;
  std::unordered_map<std::string, size_t> by_endpoint_;
  std::mutex retired_mu_;
  std::vector<std::unique_ptr<const std::vector<Override>>> retired_;  // GUARDED_BY(retired_mu_)
};

}  // namespace keyhole::coord
