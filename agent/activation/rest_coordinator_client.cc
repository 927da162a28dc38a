#include "agent/activation/rest_coordinator_client.h"

#include "agent/activation/coordinator_url.h"
#include "agent/activation/printable_text.h"
#include "shared/rest/cpprest_client.h"

#ifndef KEYHOLE_VERSION
#define KEYHOLE_VERSION "unknown"
#endif

namespace keyhole::agent {
namespace {

std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

nlohmann::json HostJson(const HostInfo& host) {
  return {{"host", host.host}, {"version", host.version}, {"os", host.os}};
}

// "E0000011 Invalid token provided" from Okta's error object, or the start of the body; either way
// cut short and with control characters replaced: it goes to logs and terminals.
std::string Summary(const rest::RestResponse& r) {
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object()) {
    std::string s = PrintableText(Str(j, "errorCode"));
    std::string summary = PrintableText(Str(j, "errorSummary"));
    if (!summary.empty()) s += (s.empty() ? "" : " ") + summary;
    if (!s.empty()) return s;
  }
  std::string body = PrintableText(r.body);
  return body.empty() ? "no body" : body;
}

}  // namespace

StatusOr<std::unique_ptr<CoordinatorClient>> RestCoordinatorClient::Connect(const std::string& url,
                                                                            const TrustAnchor& trust,
                                                                            std::function<bool()> keep_waiting) {
  if (Status s = CoordinatorUrl::Check(url); !s.ok()) return s;
  rest::ConnectionSettings settings{
      .url = url,
      .token = "",
      .ca_file = "",
      .pin = trust.pin,
      .ca_pem = trust.ca_pem,
      .timeout = kRequestTimeout,
      .user_agent = std::string("keyhole-agent/") + KEYHOLE_VERSION,
      .keep_waiting = std::move(keep_waiting),
      .max_response_bytes = rest::kDefaultMaxResponseBytes,
  };
  auto rest = rest::CpprestClient::Create(settings);
  if (!rest.ok()) return rest.status();
  return std::unique_ptr<CoordinatorClient>(new RestCoordinatorClient(std::move(*rest)));
}

StatusOr<nlohmann::json> RestCoordinatorClient::Interpret(const StatusOr<rest::RestResponse>& answer) {
  if (!answer.ok()) {
    // No HTTP answer: network, TLS, timeout or abandoned. kFailedPrecondition (a link off the
    // origin) cannot happen with the agent's fixed paths, but is no answer either.
    Status s = UnavailableError(answer.status().message());
    s.WithDetail(answer.status().detail());
    return s;
  }
  const rest::RestResponse& r = *answer;
  if (r.status >= 200 && r.status < 300) {
    if (r.body.empty()) return nlohmann::json(nullptr);
    nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
    if (j.is_discarded()) {
      return UnavailableError("the coordinator answered HTTP " + std::to_string(r.status) + " with a body that is not JSON");
    }
    return j;
  }
  const std::string what = Summary(r) + " (HTTP " + std::to_string(r.status) + ")";
  switch (r.status) {
    case 401: return UnauthenticatedError(what);
    case 403: return PermissionDeniedError(what);
    case 404: return NotFoundError(what);
    case 429: return Status(StatusCode::kRateLimited, what);
    default: break;
  }
  if (r.status >= 500) return UnavailableError(what);
  return InvalidArgumentError(what);
}

AgentView RestCoordinatorClient::ParseAgent(const nlohmann::json& j) {
  AgentView a;
  if (!j.is_object()) return a;
  a.id = Str(j, "id");
  a.name = Str(j, "name");
  a.pool_id = Str(j, "poolId");
  a.type = Str(j, "type");
  a.status = Str(j, "status");
  a.operational_status = Str(j, "operationalStatus");
  if (auto it = j.find("lastConnection"); it != j.end() && it->is_number_integer()) a.last_connection = it->get<int64_t>();
  return a;
}

StatusOr<nlohmann::json> RestCoordinatorClient::Call(const std::string& method, const std::string& path,
                                                     const std::string& token,
                                                     const std::optional<nlohmann::json>& body) {
  rest::HeaderList headers;
  if (!token.empty()) headers.emplace_back("Authorization", "SSWS " + token);
  return Interpret(rest_->Send(method, path, body, headers));
}

StatusOr<ActivationGrant> RestCoordinatorClient::Activate(const std::string& code, const std::string& name,
                                                     const HostInfo& host) {
  nlohmann::json body = HostJson(host);
  body["code"] = code;
  body["name"] = name;
  auto j = Call("POST", "/api/v1/agents/activate", "", body);
  if (!j.ok()) return j.status();
  ActivationGrant out;
  if (j->is_object() && j->contains("agent")) out.agent = ParseAgent((*j)["agent"]);
  if (j->is_object() && j->contains("apiToken") && (*j)["apiToken"].is_object()) {
    out.token = Str((*j)["apiToken"], "token");
    out.token_id = Str((*j)["apiToken"], "id");
  }
  if (out.agent.id.empty() || out.token.empty()) {
    return InternalError("the coordinator's activation answer lacks agent.id or apiToken.token");
  }
  return out;
}

StatusOr<AgentView> RestCoordinatorClient::Me(const std::string& token) {
  auto j = Call("GET", "/api/v1/agents/me", token, std::nullopt);
  if (!j.ok()) return j.status();
  return ParseAgent(*j);
}

StatusOr<AgentView> RestCoordinatorClient::Heartbeat(const std::string& token, const HostInfo& host) {
  auto j = Call("POST", "/api/v1/agents/me/heartbeat", token, HostJson(host));
  if (!j.ok()) return j.status();
  return ParseAgent(*j);
}

StatusOr<std::string> RestCoordinatorClient::Rotate(const std::string& token, const std::string& new_token) {
  auto j = Call("POST", "/api/v1/agents/me/token/rotate", token, nlohmann::json{{"token", new_token}});
  if (!j.ok()) return j.status();
  return Str(*j, "id");
}

StatusOr<AgentView> RestCoordinatorClient::DeactivateSelf(const std::string& token) {
  auto j = Call("POST", "/api/v1/agents/me/lifecycle/deactivate", token, std::nullopt);
  if (!j.ok()) return j.status();
  return ParseAgent(*j);
}

}  // namespace keyhole::agent
