// ApiPipeline: what every request goes through, in order, before and after its handler:
// request id → target parsing → Accept check → authentication (before routing, so a bad token on
// an unknown id is 401, not 404) → routing (404/405) → media type (415) → handler → the headers
// every response carries (Date, X-Okta-Request-Id, Content-Type, Cache-Control).
// Built once, then shared read-only by all server threads.
#pragma once

#include <string>
#include <unordered_set>

#include "coordinator/auth/token_service.h"
#include "coordinator/http/router.h"

namespace keyhole::coord {

struct PipelineOptions {
  std::string public_url;  // overrides the Host-derived base URL in links, e.g. "https://kh.example.com"
};

class ApiPipeline {
 public:
  ApiPipeline(Router& router, TokenService& tokens, const Clock& clock, PipelineOptions options);

  // Routes that need no token (health, and later agent activation): exact method + template.
  void AddPublicRoute(std::string method, std::string pattern);

  Response Handle(Request& req) const;

  // For the server: a response for a request that never reached Handle() (too large, bad head).
  Response Finish(Response resp, const std::string& request_id) const;
  std::string NewRequestId() const;

 private:
  Response Dispatch(Request& req) const;

  Router& router_;
  TokenService& tokens_;
  const Clock& clock_;
  PipelineOptions options_;
  std::unordered_set<std::string> public_routes_;  // "METHOD pattern"
};

}  // namespace keyhole::coord
