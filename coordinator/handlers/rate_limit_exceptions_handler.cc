#include "coordinator/handlers/rate_limit_exceptions_handler.h"

#include "coordinator/audit/request_events.h"
#include "coordinator/handlers/access.h"
#include "coordinator/http/api_error.h"
#include "shared/clock/iso8601.h"
#include "shared/json/json_fields.h"

namespace keyhole::coord {
namespace {

nlohmann::json View(const RateLimitException& x, WallTime now, const std::string& base_url) {
  nlohmann::json endpoints = nlohmann::json::array();
  for (const auto& e : x.endpoints) endpoints.push_back({{"endpoint", e.endpoint}, {"perMinute", e.per_minute}});
  const std::string self = base_url + "/api/v1/rateLimits/exceptions/" + x.id;
  nlohmann::json links = {{"self", {{"href", self}}}};
  auto action = [&](const char* op) {
    links[op] = {{"href", self + "/lifecycle/" + op}, {"hints", {{"allow", {"POST"}}}}};
  };
  if (x.status == ExceptionStatus::kPending) {
    action("approve");
    action("deny");
  }
  if (x.status == ExceptionStatus::kPending || x.status == ExceptionStatus::kApproved) action("cancel");
  auto opt = [](const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); };
  return {
      {"id", x.id},
      {"org", x.org},
      {"endpoints", endpoints},
      {"start", FormatIso8601(x.start)},
      {"end", FormatIso8601(x.end)},
      {"justification", x.justification},
      {"status", ExceptionStatusName(x.status)},
      {"inForce", x.InForce(now)},
      {"requestedBy", x.requested_by},
      {"created", FormatIso8601(x.created)},
      {"lastUpdated", FormatIso8601(x.last_updated)},
      {"leadTimeOverride", x.lead_time_override.empty() ? nlohmann::json(nullptr) : nlohmann::json{{"reason", x.lead_time_override}}},
      {"decidedBy", opt(x.decided_by)},
      {"decidedAt", x.decided_at ? nlohmann::json(FormatIso8601(*x.decided_at)) : nlohmann::json(nullptr)},
      {"decisionReason", opt(x.decision_reason)},
      {"_links", links},
  };
}

std::optional<WallTime> ReadTime(JsonFields& f, const char* key) {
  auto text = f.String(key, {.required = true, .max_length = 64});
  if (!text) return std::nullopt;
  auto t = ParseIso8601(*text);
  if (!t) f.AddCause(key, "must be an ISO 8601 date-time, e.g. 2026-12-01T00:00:00.000Z");
  return t;
}

}  // namespace

void RateLimitExceptionsHandler::Record(const Request& req, const RateLimitException& x, const std::string& what) const {
  if (!log_) return;
  const bool filed = what == "request";
  const char* type = filed ? event_type::kRateLimitExceptionRequest
                     : what == "approve" ? event_type::kRateLimitExceptionApprove
                     : what == "deny"    ? event_type::kRateLimitExceptionDeny
                                         : event_type::kRateLimitExceptionCancel;
  std::string endpoints;
  for (const auto& e : x.endpoints) {
    endpoints += (endpoints.empty() ? "" : ", ") + e.endpoint + " at " + std::to_string(e.per_minute) + "/min";
  }
  LogEvent e = EventFor(req, users_, type, "Rate limit exception " + what + ": " + endpoints);
  e.targets.push_back({x.id, "RateLimitException", x.org, endpoints});
  e.outcome_reason = filed ? x.justification : x.decision_reason;
  if (filed && !x.lead_time_override.empty()) e.debug_data["leadTimeOverride"] = x.lead_time_override;
  log_->Record(std::move(e));
}

void RateLimitExceptionsHandler::Register(Router& r) {
  r.Add("GET", "/api/v1/rateLimits/exceptions", [this](Request& q) { return List(q); });
  r.Add("POST", "/api/v1/rateLimits/exceptions", [this](Request& q) { return Create(q); });
  r.Add("GET", "/api/v1/rateLimits/exceptions/{exceptionId}", [this](Request& q) { return Get(q); });
  r.Add("POST", "/api/v1/rateLimits/exceptions/{exceptionId}/lifecycle/{op}", [this](Request& q) { return Lifecycle(q); });
}

Response RateLimitExceptionsHandler::List(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  std::optional<ExceptionStatus> status;
  if (auto q = req.Query("status")) {
    status = ParseExceptionStatus(*q);
    if (!status) return ErrorResponse(InvalidArgumentError("status").AddCause("status: PENDING, APPROVED, DENIED or CANCELED"));
  }
  nlohmann::json body = nlohmann::json::array();
  const WallTime now = clock_.Now();
  for (const auto& x : exceptions_.List(status)) body.push_back(View(x, now, req.base_url));
  return Response::Json(200, body);
}

Response RateLimitExceptionsHandler::Create(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  auto body = ParseJsonObject(req.body);
  if (!body.ok()) return ErrorResponse(body.status());
  JsonFields f(*body);
  ExceptionRequest r;
  r.org = f.String("org", {.required = true, .max_length = 255}).value_or("");
  r.justification = f.String("justification", {.required = true, .max_length = 4000}).value_or("");
  auto start = ReadTime(f, "start");
  auto end = ReadTime(f, "end");
  if (const nlohmann::json* lead = f.Object("leadTimeOverride")) {
    JsonFields lf(*lead, "leadTimeOverride.");
    r.lead_time_override = lf.String("reason", {.required = true, .min_length = 1, .max_length = 2000}).value_or("");
    if (!lf.ok()) return ErrorResponse(lf.ToStatus());
  }
  auto eps = body->find("endpoints");
  if (eps == body->end() || !eps->is_array() || eps->empty()) {
    f.AddCause("endpoints", "a non-empty list of {\"endpoint\": \"METHOD /path\", \"perMinute\": N}");
  } else {
    for (const auto& e : *eps) {
      if (!e.is_object() || !e.contains("endpoint") || !e["endpoint"].is_string() || !e.contains("perMinute") ||
          !e["perMinute"].is_number_unsigned() || e["perMinute"].get<uint64_t>() > UINT32_MAX) {
        f.AddCause("endpoints", "each entry is {\"endpoint\": \"METHOD /path\", \"perMinute\": a positive integer}");
        break;
      }
      r.endpoints.push_back({e["endpoint"].get<std::string>(), e["perMinute"].get<uint32_t>()});
    }
  }
  if (!f.ok()) return ErrorResponse(f.ToStatus());
  r.start = *start;
  r.end = *end;
  auto created = exceptions_.Request(r, req.principal->owner_id);
  if (!created.ok()) return ErrorResponse(created.status());
  Record(req, *created, "request");
  return Response::Json(200, View(*created, clock_.Now(), req.base_url));
}

Response RateLimitExceptionsHandler::Get(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  auto x = exceptions_.Get(req.Param("exceptionId"));
  if (!x.ok()) return ErrorResponse(x.status());
  return Response::Json(200, View(*x, clock_.Now(), req.base_url));
}

Response RateLimitExceptionsHandler::Lifecycle(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  const std::string& op = req.Param("op");
  ExceptionDecision decision;
  if (op == "approve") decision = ExceptionDecision::kApprove;
  else if (op == "deny") decision = ExceptionDecision::kDeny;
  else if (op == "cancel") decision = ExceptionDecision::kCancel;
  else return NotFoundRoute();
  std::string reason;
  if (!req.body.empty()) {
    auto body = ParseJsonObject(req.body);
    if (!body.ok()) return ErrorResponse(body.status());
    JsonFields f(*body);
    reason = f.String("reason", {.max_length = 2000}).value_or("");
    if (!f.ok()) return ErrorResponse(f.ToStatus());
  }
  auto x = exceptions_.Decide(req.Param("exceptionId"), decision, req.principal->owner_id, reason);
  if (!x.ok()) return ErrorResponse(x.status());
  Record(req, *x, op);
  return Response::Json(200, View(*x, clock_.Now(), req.base_url));
}

}  // namespace keyhole::coord
