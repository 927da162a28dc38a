// ApiHarness: the coordinator's request path without sockets, for a handler or pipeline test
// fixture to derive from beside CoordinatorServices: BuildApi() registers the real handlers
// (health, users, API tokens, agent pools, agents, logs) on a Router over the services, binds the
// rate limits and per-IP throttle, and builds the ApiPipeline that Send() drives. It holds
// references into the services: call BuildApi() again after each Reopen(). Not thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "coordinator/handlers/agent_pools_handler.h"
#include "coordinator/handlers/agents_handler.h"
#include "coordinator/handlers/api_tokens_handler.h"
#include "coordinator/handlers/logs_handler.h"
#include "coordinator/handlers/users_handler.h"
#include "coordinator/http/api_pipeline.h"
#include "coordinator/http/router.h"
#include "coordinator/ratelimit/ip_throttle.h"
#include "coordinator/ratelimit/rate_limit_table.h"
#include "tests/support/coordinator_services.h"

namespace keyhole::testing {

class ApiHarness {
 public:
  // (Re)builds everything over `services`, forgetting the violations seen so far.
  // REQUIRES: services.Reopen() has run.
  void BuildApi(CoordinatorServices& services, const coord::RateLimitConfig& rate_config = {},
                std::chrono::seconds rotation_grace = std::chrono::seconds(600));

  // A request over TLS to kh.example.com:8443 from `peer`, with `token` as SSWS credentials (none
  // if empty) and a JSON Content-Type for a body unless `headers` names one, through the pipeline.
  coord::Response Send(const std::string& method, const std::string& target, const std::string& token,
                       const std::string& body = "", coord::HeaderList headers = {},
                       const std::string& peer = "192.0.2.10");

  // A response's body as JSON, and the Okta errorCode in it ("" for an empty body or none).
  static nlohmann::json Body(const coord::Response& r);
  static std::string Code(const coord::Response& r);

  std::unique_ptr<coord::Router> router;
  std::unique_ptr<coord::RateLimitTable> limits;
  std::unique_ptr<coord::IpThrottle> throttle;
  std::vector<coord::RateLimitViolation> violations;  // what the pipeline reported, in order

 private:
  std::unique_ptr<coord::UsersHandler> users_handler_;
  std::unique_ptr<coord::ApiTokensHandler> tokens_handler_;
  std::unique_ptr<coord::AgentPoolsHandler> pools_handler_;
  std::unique_ptr<coord::AgentsHandler> agents_handler_;
  std::unique_ptr<coord::LogsHandler> logs_handler_;
  std::unique_ptr<coord::ApiPipeline> pipeline_;
};

}  // namespace keyhole::testing
