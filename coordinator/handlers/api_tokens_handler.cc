#include "coordinator/handlers/api_tokens_handler.h"

#include "coordinator/audit/request_events.h"
#include "coordinator/handlers/access.h"
#include "coordinator/handlers/agent_views.h"
#include "coordinator/handlers/okta_views.h"
#include "coordinator/http/api_error.h"
#include "coordinator/http/paging.h"
#include "shared/json/json_fields.h"

namespace keyhole::coord {

void ApiTokensHandler::Register(Router& r) {
  r.Add("GET", "/api/v1/api-tokens", [this](Request& q) { return List(q); });
  r.Add("POST", "/api/v1/api-tokens", [this](Request& q) { return Create(q); });
  r.Add("DELETE", "/api/v1/api-tokens/current", [this](Request& q) { return RevokeCurrent(q); });
  r.Add("GET", "/api/v1/api-tokens/{apiTokenId}", [this](Request& q) { return Get(q); });
  r.Add("DELETE", "/api/v1/api-tokens/{apiTokenId}", [this](Request& q) { return Revoke(q); });
}

void ApiTokensHandler::Audit(const Request& req, const char* type, const char* message,
                             const TokenRecord& token) const {
  if (!log_) return;
  LogEvent e = EventFor(req, users_, type, message);
  e.targets.push_back(TokenTarget(token));
  if (auto owner = users_.Lookup(token.owner_id)) e.targets.push_back(UserTarget(*owner));
  else if (token.owner_kind == OwnerKind::kAgent) e.targets.push_back({token.owner_id, "Agent", "", ""});
  log_->Record(std::move(e));
}

nlohmann::json ApiTokensHandler::View(const TokenRecord& t, const Request& req) const {
  nlohmann::json v = TokenView(t, tokens_.policy(), req.base_url);
  if (t.owner_kind == OwnerKind::kAgent && agents_) AddAgentToTokenView(v, *agents_, t.owner_id, req.base_url);
  return v;
}

StatusOr<TokenRecord> ApiTokensHandler::Visible(const Request& req) const {
  const std::string& id = req.Param("apiTokenId");
  auto t = tokens_.Get(id);
  if (!t.ok() || (!req.principal->super_admin && t->owner_id != req.principal->owner_id)) {
    return NotFoundError("Resource not found: " + id + " (ApiToken)");
  }
  return t;
}

Response ApiTokensHandler::List(Request& req) {
  if (Status s = RequireUser(req); !s.ok()) return ErrorResponse(s);
  auto paging = ReadPaging(req, 20, 200);
  if (!paging.ok()) return ErrorResponse(paging.status());
  TokenQuery q;
  q.limit = paging->limit;
  q.after_seq = paging->after;
  q.q = req.Query("q").value_or("");
  if (!req.principal->super_admin) q.owner_id = req.principal->owner_id;
  if (auto user = req.Query("userId"); user && req.principal->super_admin) q.owner_id = *user;
  if (auto kind = req.Query("ownerType")) {
    if (*kind == "USER") q.owner_kind = OwnerKind::kUser;
    else if (*kind == "AGENT") q.owner_kind = OwnerKind::kAgent;
    else return ErrorResponse(InvalidArgumentError("ownerType").AddCause("ownerType: USER or AGENT"));
  }
  // Keyhole's extension: revoked tokens, with their revocation reason, for audits.
  q.include_revoked = req.Query("includeRevoked").value_or("false") == "true";
  TokenPage page = tokens_.List(q);
  nlohmann::json body = nlohmann::json::array();
  for (const TokenRecord& t : page.tokens) body.push_back(View(t, req));
  Response resp = Response::Json(200, body);
  AddPageLinks(req, resp, page.next_after);
  return resp;
}

Response ApiTokensHandler::Create(Request& req) {
  if (Status s = RequireUser(req); !s.ok()) return ErrorResponse(s);
  auto body = ParseJsonObject(req.body);
  if (!body.ok()) return ErrorResponse(body.status());
  JsonFields f(*body);
  auto name = f.String("name", {.required = true, .min_length = 1, .max_length = 255});
  auto client_name = f.String("clientName", {.max_length = 255});
  auto user_id = f.String("userId", {.max_length = 100});
  if (!f.ok()) return ErrorResponse(f.ToStatus());

  std::string owner = req.principal->owner_id;
  if (user_id && *user_id != owner) {
    if (!req.principal->super_admin) return ErrorResponse(PermissionDeniedError("userId"));
    auto target = users_.Get(*user_id);
    if (!target.ok() || target->id != *user_id) {
      return ErrorResponse(InvalidArgumentError("userId").AddCause("userId: no such user"));
    }
    owner = target->id;
  }
  if (tokens_.CountActive(owner) >= kMaxActiveTokensPerUser) {
    return ErrorResponse(InvalidArgumentError("name").AddCause(
        "name: a user may hold at most " + std::to_string(kMaxActiveTokensPerUser) + " active tokens; revoke one first"));
  }
  auto created = tokens_.Create(OwnerKind::kUser, owner, std::move(*name), client_name.value_or("Keyhole API"));
  if (!created.ok()) return ErrorResponse(created.status());
  Audit(req, event_type::kTokenCreate, "Create API token", created->record);
  nlohmann::json view = TokenView(created->record, tokens_.policy(), req.base_url);
  view["token"] = created->secret;
  return Response::Json(200, view);
}

Response ApiTokensHandler::Get(Request& req) {
  auto t = Visible(req);
  if (!t.ok()) return ErrorResponse(t.status());
  return Response::Json(200, View(*t, req));
}

Response ApiTokensHandler::Revoke(Request& req) {
  auto t = Visible(req);
  if (!t.ok()) return ErrorResponse(t.status());
  if (Status s = tokens_.Revoke(t->id); !s.ok()) return ErrorResponse(s);
  Audit(req, event_type::kTokenRevoke, "Revoke API token", *t);
  return Response::NoContent();
}

Response ApiTokensHandler::RevokeCurrent(Request& req) {
  auto current = tokens_.Get(req.principal->token_id);
  if (Status s = tokens_.Revoke(req.principal->token_id); !s.ok()) return ErrorResponse(s);
  if (current.ok()) Audit(req, event_type::kTokenRevoke, "Revoke API token", *current);
  return Response::NoContent();
}

}  // namespace keyhole::coord
