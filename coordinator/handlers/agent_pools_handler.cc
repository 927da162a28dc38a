#include "coordinator/handlers/agent_pools_handler.h"

#include <charconv>

#include "coordinator/audit/request_events.h"
#include "coordinator/handlers/access.h"
#include "coordinator/handlers/agent_views.h"
#include "coordinator/http/api_error.h"
#include "coordinator/http/paging.h"
#include "shared/clock/iso8601.h"
#include "shared/json/json_fields.h"

namespace keyhole::coord {
namespace {

constexpr std::chrono::minutes kMinCodeLifetime{1};
constexpr std::chrono::hours kMaxCodeLifetime{24 * 30};

Status PoolNotFound(const std::string& id) { return NotFoundError("Resource not found: " + id + " (AgentPool)"); }

std::string TypeList() {
  std::string out;
  for (AgentType t : {AgentType::kAD, AgentType::kLDAP, AgentType::kRadius, AgentType::kRSA,
                      AgentType::kADPasswordSync, AgentType::kIWA, AgentType::kHTTP, AgentType::kMFA,
                      AgentType::kOPP, AgentType::kRUM}) {
    out += (out.empty() ? "" : ", ") + std::string(AgentTypeName(t));
  }
  return out;
}

}  // namespace

void AgentPoolsHandler::Register(Router& r) {
  r.Add("GET", "/api/v1/agentPools", [this](Request& q) { return List(q); });
  r.Add("POST", "/api/v1/agentPools", [this](Request& q) { return Create(q); });
  r.Add("GET", "/api/v1/agentPools/{poolId}", [this](Request& q) { return Get(q); });
  r.Add("PUT", "/api/v1/agentPools/{poolId}", [this](Request& q) { return Rename(q); });
  r.Add("POST", "/api/v1/agentPools/{poolId}", [this](Request& q) { return Rename(q); });
  r.Add("DELETE", "/api/v1/agentPools/{poolId}", [this](Request& q) { return Delete(q); });
  r.Add("GET", "/api/v1/agentPools/{poolId}/agents", [this](Request& q) { return ListAgents(q); });
  r.Add("GET", "/api/v1/agentPools/{poolId}/activationCodes", [this](Request& q) { return ListCodes(q); });
  r.Add("POST", "/api/v1/agentPools/{poolId}/activationCodes", [this](Request& q) { return CreateCode(q); });
  r.Add("DELETE", "/api/v1/agentPools/{poolId}/activationCodes/{codeId}", [this](Request& q) { return RevokeCode(q); });
}

void AgentPoolsHandler::Audit(const Request& req, const char* type, std::string message, const AgentPoolRecord& pool,
                              const std::string& code_id) const {
  if (!log_) return;
  LogEvent e = EventFor(req, users_, type, std::move(message));
  e.targets.push_back({pool.id, "AgentPool", pool.name, pool.name});
  if (!code_id.empty()) e.targets.push_back({code_id, "ActivationCode", code_id, ""});
  log_->Record(std::move(e));
}

Response AgentPoolsHandler::List(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  std::optional<AgentType> type;
  if (auto t = req.Query("poolType")) {
    type = ParseAgentType(*t);
    if (!type) return ErrorResponse(InvalidArgumentError("poolType").AddCause("poolType: one of " + TypeList()));
  }
  size_t per_type = 5;
  if (auto l = req.Query("limitPerPoolType")) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), v);
    if (ec != std::errc() || p != l->data() + l->size() || v < 1) {
      return ErrorResponse(InvalidArgumentError("limitPerPoolType")
                               .WithDetail(std::string(kDetailPaging))
                               .AddCause("limitPerPoolType: must be a positive integer"));
    }
    per_type = static_cast<size_t>(std::min<int64_t>(v, 200));
  }
  auto paging = ReadPaging(req, 200, 200);
  if (!paging.ok()) return ErrorResponse(paging.status());

  // In creation order, at most `per_type` pools of each type per page. The page ends at the first
  // pool that would exceed its type's share, and the next page starts with it: no pool is skipped.
  std::map<AgentType, size_t> taken;
  const auto agents = registry_.AgentsByPool();
  const std::vector<AgentRecord> none;
  nlohmann::json body = nlohmann::json::array();
  std::optional<int64_t> next;
  int64_t last_seq = 0;
  for (const AgentPoolRecord& p : registry_.Pools()) {
    if (p.seq <= paging->after || (type && p.type != *type)) continue;
    if (taken[p.type] == per_type) {
      next = last_seq;
      break;
    }
    ++taken[p.type];
    last_seq = p.seq;
    auto in_pool = agents.find(p.id);
    body.push_back(PoolView(p, in_pool == agents.end() ? none : in_pool->second, registry_, req.base_url, hub_));
  }
  Response resp = Response::Json(200, body);
  AddPageLinks(req, resp, next);
  return resp;
}

Response AgentPoolsHandler::Create(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  auto body = ParseJsonObject(req.body);
  if (!body.ok()) return ErrorResponse(body.status());
  JsonFields f(*body);
  auto name = f.String("name", {.required = true, .min_length = 1, .max_length = 255});
  auto type_name = f.String("type", {.required = true, .min_length = 1, .max_length = 64});
  std::optional<AgentType> type;
  if (type_name) {
    type = ParseAgentType(*type_name);
    if (!type) f.AddCause("type", "one of " + TypeList());
  }
  if (!f.ok()) return ErrorResponse(f.ToStatus());
  auto pool = registry_.CreatePool(std::move(*name), *type, req.principal->owner_id);
  if (!pool.ok()) return ErrorResponse(pool.status());
  Audit(req, event_type::kAgentPoolCreate, "Create agent pool", *pool);
  return Response::Json(200, PoolView(*pool, {}, registry_, req.base_url, hub_));
}

Response AgentPoolsHandler::Get(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  auto pool = registry_.GetPool(req.Param("poolId"));
  if (!pool) return ErrorResponse(PoolNotFound(req.Param("poolId")));
  return Response::Json(200, PoolView(*pool, registry_.AgentsOf(pool->id), registry_, req.base_url, hub_));
}

Response AgentPoolsHandler::Rename(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  const std::string& id = req.Param("poolId");
  auto current = registry_.GetPool(id);
  if (!current) return ErrorResponse(PoolNotFound(id));
  auto body = ParseJsonObject(req.body);
  if (!body.ok()) return ErrorResponse(body.status());
  JsonFields f(*body);
  auto name = f.String("name", {.required = true, .min_length = 1, .max_length = 255});
  // A client may send back the whole pool it read: the type may come along, unchanged.
  if (auto type = f.String("type", {.max_length = 64}); type && ParseAgentType(*type) != current->type) {
    f.AddCause("type", "the type of a pool cannot change");
  }
  if (!f.ok()) return ErrorResponse(f.ToStatus());
  auto pool = registry_.RenamePool(id, std::move(*name));
  if (!pool.ok()) return ErrorResponse(pool.status());
  Audit(req, event_type::kAgentPoolUpdate, "Rename agent pool (was " + current->name + ")", *pool);
  return Response::Json(200, PoolView(*pool, registry_.AgentsOf(id), registry_, req.base_url, hub_));
}

Response AgentPoolsHandler::Delete(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  const std::string& id = req.Param("poolId");
  auto pool = registry_.GetPool(id);
  if (!pool) return ErrorResponse(PoolNotFound(id));
  Status s = registry_.DeletePool(id);
  if (s.code() == StatusCode::kFailedPrecondition) {
    return ErrorResponse(InvalidArgumentError("agents").AddCause("agents: " + s.message()));
  }
  if (!s.ok()) return ErrorResponse(s);
  Audit(req, event_type::kAgentPoolDelete, "Delete agent pool", *pool);
  return Response::NoContent();
}

Response AgentPoolsHandler::ListAgents(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  auto pool = registry_.GetPool(req.Param("poolId"));
  if (!pool) return ErrorResponse(PoolNotFound(req.Param("poolId")));
  auto paging = ReadPaging(req, 200, 200);
  if (!paging.ok()) return ErrorResponse(paging.status());
  nlohmann::json body = nlohmann::json::array();
  std::optional<int64_t> next;
  int64_t last_seq = 0;
  for (const AgentRecord& a : registry_.AgentsOf(pool->id)) {
    if (a.seq <= paging->after) continue;
    if (body.size() == paging->limit) {
      next = last_seq;
      break;
    }
    last_seq = a.seq;
    body.push_back(AgentView(a, &*pool, registry_, req.base_url, hub_));
  }
  Response resp = Response::Json(200, body);
  AddPageLinks(req, resp, next);
  return resp;
}

Response AgentPoolsHandler::CreateCode(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  const std::string& id = req.Param("poolId");
  auto pool = registry_.GetPool(id);
  if (!pool) return ErrorResponse(PoolNotFound(id));
  std::optional<std::chrono::milliseconds> lifetime;
  if (!req.body.empty()) {
    auto body = ParseJsonObject(req.body);
    if (!body.ok()) return ErrorResponse(body.status());
    JsonFields f(*body);
    if (auto text = f.String("lifetime", {.max_length = 40})) {
      lifetime = ParseIsoDuration(*text);
      if (!lifetime || *lifetime < kMinCodeLifetime || *lifetime > kMaxCodeLifetime) {
        f.AddCause("lifetime", "an ISO 8601 duration between PT1M and P30D, e.g. PT24H");
      }
    }
    if (!f.ok()) return ErrorResponse(f.ToStatus());
  }
  auto code = registry_.CreateCode(id, lifetime, req.principal->owner_id);
  if (!code.ok()) return ErrorResponse(code.status());
  Audit(req, event_type::kActivationCodeCreate, "Create agent activation code", *pool, code->record.id);
  nlohmann::json view = ActivationCodeView(code->record, registry_, req.base_url);
  view["code"] = code->code;
  return Response::Json(200, view);
}

Response AgentPoolsHandler::ListCodes(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  const std::string& id = req.Param("poolId");
  if (!registry_.GetPool(id)) return ErrorResponse(PoolNotFound(id));
  nlohmann::json body = nlohmann::json::array();
  for (const ActivationCodeRecord& c : registry_.CodesOf(id)) body.push_back(ActivationCodeView(c, registry_, req.base_url));
  return Response::Json(200, body);
}

Response AgentPoolsHandler::RevokeCode(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  const std::string& id = req.Param("poolId");
  auto pool = registry_.GetPool(id);
  if (!pool) return ErrorResponse(PoolNotFound(id));
  auto code = registry_.RevokeCode(id, req.Param("codeId"));
  if (!code.ok()) return ErrorResponse(code.status());
  Audit(req, event_type::kActivationCodeRevoke, "Revoke agent activation code", *pool, code->id);
  return Response::NoContent();
}

}  // namespace keyhole::coord
