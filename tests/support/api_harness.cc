#include "tests/support/api_harness.h"

#include <gtest/gtest.h>

#include "coordinator/handlers/health_handler.h"

namespace keyhole::testing {

using coord::AgentPoolsHandler;
using coord::AgentsHandler;
using coord::ApiPipeline;
using coord::ApiTokensHandler;
using coord::ClientAddress;
using coord::HeaderList;
using coord::IpThrottle;
using coord::LogsHandler;
using coord::PipelineOptions;
using coord::RateLimitConfig;
using coord::RateLimitTable;
using coord::RateLimitViolation;
using coord::Request;
using coord::Response;
using coord::Router;
using coord::UsersHandler;

void ApiHarness::BuildApi(CoordinatorServices& services, const RateLimitConfig& rate_config,
                          std::chrono::seconds rotation_grace) {
  // What refers to the old router goes first.
  pipeline_.reset();
  limits.reset();
  violations.clear();
  router = std::make_unique<Router>();
  coord::RegisterHealth(*router);
  users_handler_ = std::make_unique<UsersHandler>(*services.users, *services.tokens, services.log.get());
  users_handler_->Register(*router);
  tokens_handler_ = std::make_unique<ApiTokensHandler>(*services.users, *services.tokens, services.log.get(),
                                                       services.registry.get());
  tokens_handler_->Register(*router);
  pools_handler_ = std::make_unique<AgentPoolsHandler>(*services.registry, *services.users, services.log.get());
  pools_handler_->Register(*router);
  agents_handler_ = std::make_unique<AgentsHandler>(*services.registry, *services.tokens, *services.users,
                                                    services.log.get(), rotation_grace);
  agents_handler_->Register(*router);
  logs_handler_ = std::make_unique<LogsHandler>(*services.log, services.clock);
  logs_handler_->Register(*router);
  limits = std::make_unique<RateLimitTable>(rate_config);
  ASSERT_TRUE(limits->Bind(*router).ok());
  throttle = std::make_unique<IpThrottle>(rate_config.unauthenticated_per_minute);
  std::string error;
  auto addresses = ClientAddress::Create(rate_config.trusted_proxies, &error);
  ASSERT_TRUE(addresses.has_value()) << error;
  PipelineOptions options{"", *addresses, limits.get(), throttle.get()};
  options.on_violation = [this](const Request&, const RateLimitViolation& v) { violations.push_back(v); };
  pipeline_ = std::make_unique<ApiPipeline>(*router, *services.tokens, services.clock, std::move(options));
}

Response ApiHarness::Send(const std::string& method, const std::string& target, const std::string& token,
                          const std::string& body, HeaderList headers, const std::string& peer) {
  Request req;
  req.peer_ip = peer;
  req.method = method;
  req.target = target;
  req.headers = std::move(headers);
  req.headers.emplace_back("Host", "kh.example.com:8443");
  if (!token.empty()) req.headers.emplace_back("Authorization", "SSWS " + token);
  if (!body.empty() && !coord::FindHeader(req.headers, "Content-Type")) {
    req.headers.emplace_back("Content-Type", "application/json");
  }
  req.body = body;
  req.tls = true;
  return pipeline_->Handle(req);
}

nlohmann::json ApiHarness::Body(const Response& r) { return nlohmann::json::parse(r.body); }

std::string ApiHarness::Code(const Response& r) { return r.body.empty() ? "" : Body(r).value("errorCode", ""); }

}  // namespace keyhole::testing
