// RestCoordinatorClient: the CoordinatorClient over a rest::RestClient (cpprestsdk in production),
// mapping HTTP answers to the interface's Status codes and Okta's JSON to AgentView. Each call
// carries the token it is given (tokens change with rotation). Owns its RestClient; one thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "agent/activation/coordinator_client.h"
#include "agent/state/agent_state.h"
#include "shared/rest/rest_client.h"

namespace keyhole::agent {

class RestCoordinatorClient final : public CoordinatorClient {
 public:
  // The HTTP timeout of every call: well under half of any sensible watchdog interval.
  static constexpr std::chrono::seconds kRequestTimeout{10};

  explicit RestCoordinatorClient(std::unique_ptr<rest::RestClient> rest) : rest_(std::move(rest)) {}

  // A cpprestsdk client for `url` trusting `trust` (or the system's CAs); `keep_waiting` as in
  // rest::ConnectionSettings. kInvalidArgument for an unusable URL or CA, and for http:// to a host
  // that is not loopback (CoordinatorUrl). Answers over rest::kDefaultMaxResponseBytes are refused.
  static StatusOr<std::unique_ptr<CoordinatorClient>> Connect(const std::string& url, const TrustAnchor& trust,
                                                              std::function<bool()> keep_waiting = {});

  StatusOr<ActivationGrant> Activate(const std::string& code, const std::string& name, const HostInfo& host) override;
  StatusOr<AgentView> Me(const std::string& token) override;
  StatusOr<AgentView> Heartbeat(const std::string& token, const HostInfo& host) override;
  StatusOr<std::string> Rotate(const std::string& token, const std::string& new_token) override;
  StatusOr<AgentView> DeactivateSelf(const std::string& token) override;

  // The JSON of a 2xx answer, or the Status for anything else (see CoordinatorClient).
  static StatusOr<nlohmann::json> Interpret(const StatusOr<rest::RestResponse>& answer);
  static AgentView ParseAgent(const nlohmann::json& agent);

 private:
  StatusOr<nlohmann::json> Call(const std::string& method, const std::string& path, const std::string& token,
                                const std::optional<nlohmann::json>& body);

  std::unique_ptr<rest::RestClient> rest_;
};

}  // namespace keyhole::agent
