#include "coordinator/ratelimit/rate_limit_table.h"

namespace keyhole::coord {

std::unordered_map<std::string, uint32_t> DefaultEndpointLimits() {
  // Okta's published defaults are per org and per endpoint; Keyhole keeps their spirit: reads of
  // the system log are expensive and rare, everything else is generous.
  return {
      {"GET /api/v1/logs", 60},
  };
}

RateLimitTable::RateLimitTable(const RateLimitConfig& config)
    : enabled_(config.enabled), default_limit_(config.default_per_minute), limits_(DefaultEndpointLimits()) {
  for (const auto& [endpoint, per_minute] : config.endpoints) {
    limits_[endpoint] = per_minute;
    configured_.push_back(endpoint);
  }
  unmatched_ = std::make_unique<Entry>();
  unmatched_->method = "*";
  unmatched_->pattern = "(no such path)";
  unmatched_->base_limit = default_limit_;
}

Status RateLimitTable::Bind(const Router& router) {
  for (const Route& r : router.routes()) {
    auto e = std::make_unique<Entry>();
    e->method = r.method;
    e->pattern = r.pattern;
    std::string key = r.method + " " + r.pattern;
    auto it = limits_.find(key);
    e->base_limit = it != limits_.end() ? it->second : default_limit_;
    by_endpoint_[key] = entries_.size();
    entries_.push_back(std::move(e));
  }
  // A configured endpoint no route has is a typo; a shipped default may name a route this build
  // does not register (tests build partial routers).
  for (const std::string& endpoint : configured_) {
    if (!by_endpoint_.count(endpoint)) {
      return InvalidArgumentError("rate limit for unknown endpoint \"" + endpoint + "\" (want \"METHOD /api/v1/path/{template}\")");
    }
  }
  return Status::Ok();
}

std::optional<size_t> RateLimitTable::Find(const std::string& endpoint) const {
  auto it = by_endpoint_.find(endpoint);
  if (it == by_endpoint_.end()) return std::nullopt;
  return it->second;
}

uint32_t RateLimitTable::LimitNow(const Entry& e, int64_t now_ms) const {
  uint32_t limit = e.base_limit;
  const std::vector<Override>* overrides = e.overrides.load(std::memory_order_acquire);
  if (!overrides) return limit;
  for (const Override& o : *overrides) {
    if (now_ms >= o.start_ms && now_ms < o.end_ms) limit = std::max(limit, o.per_minute);
  }
  return limit;
}

WindowDecision RateLimitTable::Acquire(std::optional<size_t> route_id, WallTime now) {
  Entry& e = EntryFor(route_id);
  const int64_t now_ms = ToEpochMillis(now);
  return e.counter.Acquire(LimitNow(e, now_ms), now_ms);
}

bool RateLimitTable::FirstViolationIn(std::optional<size_t> route_id, uint32_t window) {
  return EntryFor(route_id).counter.FirstViolationIn(window);
}

void RateLimitTable::SetOverrides(const std::vector<LimitOverride>& overrides) {
  std::unordered_map<size_t, std::vector<Override>> by_route;
  for (const LimitOverride& o : overrides) {
    if (auto id = Find(o.endpoint)) by_route[*id].push_back({o.per_minute, ToEpochMillis(o.start), ToEpochMillis(o.end)});
  }
  std::lock_guard lock(retired_mu_);
  for (size_t id = 0; id < entries_.size(); ++id) {
    Entry& e = *entries_[id];
    auto it = by_route.find(id);
    const std::vector<Override>* next = nullptr;
    if (it != by_route.end()) {
      retired_.push_back(std::make_unique<const std::vector<Override>>(std::move(it->second)));
      next = retired_.back().get();
    }
    e.overrides.store(next, std::memory_order_release);
  }
}

std::vector<EndpointUsage> RateLimitTable::Usage(WallTime now) const {
  const int64_t now_ms = ToEpochMillis(now);
  const int64_t reset = WindowCounter::ResetOf(WindowCounter::WindowOf(now_ms));
  std::vector<EndpointUsage> out;
  auto add = [&](const Entry& e) {
    out.push_back({e.method, e.pattern, LimitNow(e, now_ms), e.base_limit, e.counter.Used(now_ms), reset});
  };
  for (const auto& e : entries_) add(*e);
  add(*unmatched_);
  return out;
}

}  // namespace keyhole::coord
