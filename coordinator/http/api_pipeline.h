// ApiPipeline: what every request goes through, in order, before and after its handler:
// request id → target parsing → client address → routing → per-IP throttle of unauthenticated
// traffic (before any token lookup) → authentication (before 404/405, so a bad token on an
// unknown id is 401) → the endpoint's org-wide rate limit (429 with no side effect) → agent
// tokens only on agent routes and agent routes only for agent tokens (403) → Accept
// (406), route (404/405) and media type (415) checks → handler → the headers every response
// carries (Date, X-Okta-Request-Id, Cache-Control, X-Rate-Limit-*).
// Built once, then shared read-only by all server threads.
#pragma once

#include <string>
#include <unordered_set>

#include <functional>

#include "coordinator/auth/token_service.h"
#include "coordinator/http/router.h"
#include "coordinator/ratelimit/client_address.h"
#include "coordinator/ratelimit/ip_throttle.h"
#include "coordinator/ratelimit/rate_limit_table.h"

namespace keyhole::coord {

// A request refused for its rate, reported once per endpoint (or client) per window.
struct RateLimitViolation {
  std::string endpoint;  // "GET /api/v1/logs", or "unauthenticated" for the per-IP limit
  std::string client_ip;
  uint32_t limit = 0;
  int64_t reset_epoch_seconds = 0;
};

struct PipelineOptions {
  std::string public_url;  // overrides the Host-derived base URL in links, e.g. "https://kh.example.com"
  ClientAddress addresses;  // who the client is (trusted proxies)
  RateLimitTable* limits = nullptr;     // null: no org-wide limits (benchmarks only)
  IpThrottle* ip_throttle = nullptr;    // null: no per-IP limit on unauthenticated traffic
  // Per agent (keyed by agent id) on the tunnel's upgrade route, beside its org-wide limit: one
  // agent reconnecting in a loop cannot use up the budget every other agent's reconnects need.
  IpThrottle* agent_connects = nullptr;
  std::function<void(const Request&, const RateLimitViolation&)> on_violation;
};

class ApiPipeline {
 public:
  ApiPipeline(Router& router, TokenService& tokens, const Clock& clock, PipelineOptions options);

  Response Handle(Request& req) const;

  // For the server, once a request's head is read: the streaming route it addresses, if any.
  // For such a route the server calls Handle() with the head only (no body read yet); the Accept
  // and media-type checks do not apply; a Response with status kStreamProceed means: stream it.
  StreamKind StreamKindOf(std::string_view method, std::string_view target) const;

  // For the server: a response for a request that never reached Handle() (too large, bad head).
  Response Finish(Response resp, const std::string& request_id) const;
  std::string NewRequestId() const;

 private:
  Response Dispatch(Request& req, std::optional<WindowDecision>* rate) const;
  Response TooManyRequests(const Request& req, const WindowDecision& d, std::string endpoint, bool first) const;

  Router& router_;
  TokenService& tokens_;
  const Clock& clock_;
  PipelineOptions options_;
};

}  // namespace keyhole::coord
