#include "coordinator/handlers/agents_handler.h"

#include "coordinator/audit/request_events.h"
#include "coordinator/handlers/access.h"
#include "coordinator/handlers/agent_views.h"
#include "coordinator/handlers/okta_views.h"
#include "coordinator/http/api_error.h"
#include "shared/json/json_fields.h"

namespace keyhole::coord {
namespace {

Status AgentNotFound(const std::string& id) { return NotFoundError("Resource not found: " + id + " (Agent)"); }

// An agent's self-description ends up in logs, the system log and consoles: no control characters.
std::optional<std::string> Printable(JsonFields& f, std::string_view key, std::optional<std::string> value) {
  if (!value) return value;
  for (unsigned char c : *value) {
    if (c < 0x20 || c == 0x7f) {
      f.AddCause(key, "must not contain control characters");
      return std::nullopt;
    }
  }
  return value;
}

// host, version and os as an agent reports them (activation and heartbeat).
AgentInfo ReadInfo(JsonFields& f) {
  AgentInfo info;
  info.host = Printable(f, "host", f.String("host", {.max_length = 255})).value_or("");
  info.version = Printable(f, "version", f.String("version", {.max_length = 255})).value_or("");
  info.os = Printable(f, "os", f.String("os", {.max_length = 255})).value_or("");
  return info;
}

}  // namespace

void AgentsHandler::Register(Router& r) {
  r.Add("POST", "/api/v1/agents/activate", [this](Request& q) { return Activate(q); }, {.is_public = true});
  const RouteOptions agent_only{.agent = true};
  r.Add("GET", "/api/v1/agents/me", [this](Request& q) { return Me(q); }, agent_only);
  r.Add("POST", "/api/v1/agents/me/heartbeat", [this](Request& q) { return Heartbeat(q); }, agent_only);
  r.Add("POST", "/api/v1/agents/me/token/rotate", [this](Request& q) { return Rotate(q); }, agent_only);
  r.Add("POST", "/api/v1/agents/me/lifecycle/deactivate", [this](Request& q) { return DeactivateSelf(q); }, agent_only);
  r.Add("GET", "/api/v1/agents/{agentId}", [this](Request& q) { return Get(q); });
  r.Add("DELETE", "/api/v1/agents/{agentId}", [this](Request& q) { return Delete(q); });
  r.Add("POST", "/api/v1/agents/{agentId}/lifecycle/{op}", [this](Request& q) { return Lifecycle(q); });
}

nlohmann::json AgentsHandler::View(const AgentRecord& a, const Request& req) const {
  auto pool = registry_.GetPool(a.pool_id);
  return AgentView(a, pool ? &*pool : nullptr, registry_, req.base_url, hub_);
}

void AgentsHandler::Audit(const Request& req, const char* type, std::string message, const AgentRecord& agent,
                          const TokenRecord* token) const {
  if (!log_) return;
  LogEvent e = EventFor(req, users_, type, std::move(message));
  if (req.principal && req.principal->kind == OwnerKind::kAgent && req.principal->owner_id == agent.id) {
    e.actor = {agent.id, "Agent", agent.name, agent.name};
  }
  e.targets.push_back({agent.id, "Agent", agent.name, agent.name});
  e.targets.push_back({agent.pool_id, "AgentPool", "", ""});
  if (token) e.targets.push_back(TokenTarget(*token));
  log_->Record(std::move(e));
}

Response AgentsHandler::Activate(Request& req) {
  auto body = ParseJsonObject(req.body);
  if (!body.ok()) return ErrorResponse(body.status());
  JsonFields f(*body);
  auto code = f.String("code", {.required = true, .min_length = 1, .max_length = 256});
  auto name = Printable(f, "name", f.String("name", {.required = true, .min_length = 1, .max_length = 100}));
  AgentInfo info = ReadInfo(f);
  if (!f.ok()) return ErrorResponse(f.ToStatus());
  info.name = std::move(*name);
  auto activation = registry_.Activate(*code, info, tokens_);
  if (!activation.ok()) {
    if (activation.status().code() == StatusCode::kUnauthenticated && log_) {
      LogEvent e = EventFor(req, users_, event_type::kAgentActivate, "Activate agent: code refused");
      e.actor = {"anonymous", "PublicClientApp", info.host, info.name};
      e.severity = "WARN";
      e.outcome_result = "FAILURE";
      e.outcome_reason = "invalid, used, revoked or expired activation code";
      log_->Record(std::move(e));
    }
    return ErrorResponse(activation.status());
  }
  const AgentRecord& agent = activation->agent;
  Audit(req, event_type::kAgentActivate, "Activate agent", agent, &activation->token.record);
  nlohmann::json token = TokenView(activation->token.record, tokens_.policy(), req.base_url);
  AddAgentToTokenView(token, registry_, agent.id, req.base_url);
  token["token"] = activation->token.secret;
  return Response::Json(200, {{"agent", View(agent, req)}, {"apiToken", std::move(token)}});
}

Response AgentsHandler::Me(Request& req) {
  auto agent = registry_.GetAgent(req.principal->owner_id);
  if (!agent) return ErrorResponse(AgentNotFound(req.principal->owner_id));
  return Response::Json(200, View(*agent, req));
}

Response AgentsHandler::Heartbeat(Request& req) {
  AgentInfo info;
  if (!req.body.empty()) {
    auto body = ParseJsonObject(req.body);
    if (!body.ok()) return ErrorResponse(body.status());
    JsonFields f(*body);
    info = ReadInfo(f);
    if (!f.ok()) return ErrorResponse(f.ToStatus());
  }
  auto agent = registry_.Heartbeat(req.principal->owner_id, info);
  if (!agent.ok()) return ErrorResponse(agent.status());
  return Response::Json(200, View(*agent, req));
}

Response AgentsHandler::Rotate(Request& req) {
  auto body = ParseJsonObject(req.body);
  if (!body.ok()) return ErrorResponse(body.status());
  JsonFields f(*body);
  auto secret = f.String("token", {.required = true, .min_length = 1, .max_length = 256});
  if (!f.ok()) return ErrorResponse(f.ToStatus());
  auto agent = registry_.GetAgent(req.principal->owner_id);
  if (!agent) return ErrorResponse(AgentNotFound(req.principal->owner_id));
  auto successor = tokens_.Rotate(*req.principal, *secret, rotation_grace_);
  if (!successor.ok()) return ErrorResponse(successor.status());
  Audit(req, event_type::kTokenRotate, "Rotate agent API token (predecessor " + successor->replaces + ")", *agent,
        &*successor);
  nlohmann::json view = TokenView(*successor, tokens_.policy(), req.base_url);
  AddAgentToTokenView(view, registry_, agent->id, req.base_url);
  return Response::Json(200, view);
}

Response AgentsHandler::DeactivateSelf(Request& req) {
  // The agent wipes its state next: its tokens could never be used again, so none stays valid.
  auto agent = registry_.DeactivateSelf(req.principal->owner_id, tokens_);
  if (!agent.ok()) return ErrorResponse(agent.status());
  if (hub_) hub_->CloseAgent(agent->id, protocol::CloseCode::kAgentDeactivated, "the agent deactivated itself");
  Audit(req, event_type::kAgentDeactivate, "Deactivate agent (by itself; its tokens revoked)", *agent);
  return Response::Json(200, View(*agent, req));
}

Response AgentsHandler::Get(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  auto agent = registry_.GetAgent(req.Param("agentId"));
  if (!agent) return ErrorResponse(AgentNotFound(req.Param("agentId")));
  return Response::Json(200, View(*agent, req));
}

Response AgentsHandler::Lifecycle(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  const std::string& op = req.Param("op");
  const std::string& id = req.Param("agentId");
  if (op != "deactivate" && op != "reactivate") return NotFoundRoute();
  if (!registry_.GetAgent(id)) return ErrorResponse(AgentNotFound(id));
  const bool deactivate = op == "deactivate";
  auto agent = registry_.SetStatus(id, deactivate ? AgentStatus::kInactive : AgentStatus::kActive);
  if (!agent.ok()) return ErrorResponse(agent.status());
  // The sweep would notice within its interval; closing here makes it immediate.
  if (deactivate && hub_) hub_->CloseAgent(id, protocol::CloseCode::kAgentDeactivated, "the agent was deactivated");
  Audit(req, deactivate ? event_type::kAgentDeactivate : event_type::kAgentReactivate,
        deactivate ? "Deactivate agent" : "Reactivate agent", *agent);
  return Response::Json(200, View(*agent, req));
}

Response AgentsHandler::Delete(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  const std::string& id = req.Param("agentId");
  auto agent = registry_.GetAgent(id);
  if (!agent) return ErrorResponse(AgentNotFound(id));
  Status s = registry_.Delete(id, tokens_);
  if (s.code() == StatusCode::kFailedPrecondition) {
    return ErrorResponse(InvalidArgumentError("status").AddCause("status: " + s.message()));
  }
  if (!s.ok()) return ErrorResponse(s);
  Audit(req, event_type::kAgentDelete, "Delete agent (its tokens revoked)", *agent);
  return Response::NoContent();
}

}  // namespace keyhole::coord
