#include "coordinator/handlers/users_handler.h"

#include <algorithm>

#include "coordinator/audit/request_events.h"
#include "coordinator/handlers/access.h"
#include "coordinator/handlers/okta_views.h"
#include "coordinator/http/api_error.h"
#include "coordinator/http/paging.h"
#include "shared/json/json_fields.h"

namespace keyhole::coord {
namespace {

Status UserNotFound(const std::string& id) { return NotFoundError("Resource not found: " + id + " (User)"); }

StatusOr<bool> BoolParam(const Request& req, const char* name, bool fallback) {
  auto v = req.Query(name);
  if (!v) return fallback;
  if (*v == "true") return true;
  if (*v == "false") return false;
  return InvalidArgumentError(name).AddCause(std::string(name) + ": must be true or false");
}

// filter=status eq "ACTIVE" | profile.login eq "x": the subset of Okta's filter syntax Keyhole supports.
Status ParseFilter(const std::string& filter, UserQuery& q) {
  auto bad = [] { return InvalidArgumentError("filter").WithDetail(std::string(kDetailSearch)); };
  size_t sp1 = filter.find(' ');
  if (sp1 == std::string::npos) return bad();
  size_t sp2 = filter.find(' ', sp1 + 1);
  if (sp2 == std::string::npos) return bad();
  std::string attr = filter.substr(0, sp1), op = filter.substr(sp1 + 1, sp2 - sp1 - 1), value = filter.substr(sp2 + 1);
  if (op != "eq" || value.size() < 2 || value.front() != '"' || value.back() != '"') return bad();
  value = value.substr(1, value.size() - 2);
  if (attr == "status") {
    q.status = ParseUserStatus(value);
    if (!q.status) return bad();
  } else if (attr == "profile.login") {
    q.login = value;
  } else {
    return bad();
  }
  q.include_deprovisioned = true;
  return Status::Ok();
}

// GET of a user is the hot read (every client's /users/me). Records are immutable and replaced
// whole on change, so the rendered body can be kept per record and base URL. Per thread, bounded,
// and holding the record alive so that its address cannot be reused by a newer version.
const std::string& RenderedUser(const std::shared_ptr<const UserRecord>& user, const std::string& base_url) {
  struct Entry {
    std::shared_ptr<const UserRecord> record;
    std::string base_url;
    std::string body;
  };
  constexpr size_t kMaxEntries = 256;
  thread_local std::unordered_map<const UserRecord*, Entry> cache;
  auto it = cache.find(user.get());
  if (it != cache.end() && it->second.base_url == base_url) return it->second.body;
  if (cache.size() >= kMaxEntries) cache.clear();
  Entry& e = cache[user.get()];
  e.record = user;
  e.base_url = base_url;
  e.body = UserView(*user, base_url, false).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return e.body;
}

}  // namespace

StatusOr<nlohmann::json> ValidateProfile(const nlohmann::json& input, const nlohmann::json* base) {
  nlohmann::json merged = base ? *base : nlohmann::json::object();
  for (const auto& [k, v] : input.items()) merged[k] = v;
  JsonFields f(merged, "");
  nlohmann::json out = nlohmann::json::object();
  auto put = [&out](const char* key, std::optional<std::string> v) {
    if (v) out[key] = std::move(*v);
  };
  auto login = f.String("login", {.required = true, .min_length = 5, .max_length = 100});
  auto email = f.String("email", {.required = true, .min_length = 5, .max_length = 100});
  if (email && email->find('@') == std::string::npos) f.AddCause("email", "Does not match required pattern");
  put("login", login);
  put("email", email);
  put("firstName", f.String("firstName", {.required = true, .min_length = 1, .max_length = 50}));
  put("lastName", f.String("lastName", {.required = true, .min_length = 1, .max_length = 50}));
  put("mobilePhone", f.String("mobilePhone", {.max_length = 100}));
  put("secondEmail", f.String("secondEmail", {.max_length = 100}));
  if (!f.ok()) {
    Status s = f.ToStatus();
    // Okta names the profile's fields without a prefix in causes; keep that.
    return s;
  }
  return out;
}

void UsersHandler::Register(Router& r) {
  r.Add("GET", "/api/v1/users", [this](Request& q) { return List(q); });
  r.Add("POST", "/api/v1/users", [this](Request& q) { return Create(q); });
  // /users/me is an endpoint of its own for rate limits, as in Okta's table.
  r.Add("GET", "/api/v1/users/me", [this](Request& q) {
    q.params["userId"] = "me";
    return Get(q);
  });
  r.Add("GET", "/api/v1/users/{userId}", [this](Request& q) { return Get(q); });
  r.Add("POST", "/api/v1/users/{userId}", [this](Request& q) { return Update(q, false); });
  r.Add("PUT", "/api/v1/users/{userId}", [this](Request& q) { return Update(q, true); });
  r.Add("DELETE", "/api/v1/users/{userId}", [this](Request& q) { return Delete(q); });
  r.Add("POST", "/api/v1/users/{userId}/lifecycle/{op}", [this](Request& q) { return Lifecycle(q); });
  r.Add("GET", "/api/v1/users/{userId}/roles", [this](Request& q) { return ListRoles(q); });
  r.Add("POST", "/api/v1/users/{userId}/roles", [this](Request& q) { return AssignRole(q); });
  r.Add("DELETE", "/api/v1/users/{userId}/roles/{roleId}", [this](Request& q) { return UnassignRole(q); });
}

void UsersHandler::Audit(const Request& req, const char* type, const char* message, const UserRecord& target) const {
  if (!log_) return;
  LogEvent e = EventFor(req, users_, type, message);
  e.targets.push_back(UserTarget(target));
  log_->Record(std::move(e));
}

StatusOr<UsersHandler::UserPtr> UsersHandler::Resolve(const Request& req) const {
  const std::string& key = req.Param("userId");
  const Principal& p = *req.principal;
  if (key == "me") {
    if (p.kind != OwnerKind::kUser) return PermissionDeniedError("agent");
    UserPtr u = users_.Lookup(p.owner_id);
    if (!u) return UserNotFound(key);
    return u;
  }
  UserPtr u = users_.Lookup(key);
  if (!u) {
    if (!p.super_admin) return PermissionDeniedError("user");  // a plain user learns nothing about others
    return UserNotFound(key);
  }
  if (!p.super_admin && u->id != p.owner_id) return PermissionDeniedError("user");
  return u;
}

Response UsersHandler::List(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  UserQuery q;
  q.q = req.Query("q").value_or("");
  const bool searching = !q.q.empty();
  // With q, Okta defaults to 10 results and does not page.
  auto paging = ReadPaging(req, searching ? 10 : 200, 200);
  if (!paging.ok()) return ErrorResponse(paging.status());
  q.limit = paging->limit;
  q.after_seq = searching ? 0 : paging->after;
  if (auto filter = req.Query("filter")) {
    if (Status s = ParseFilter(*filter, q); !s.ok()) return ErrorResponse(s);
  }
  if (req.Query("search")) {
    return ErrorResponse(InvalidArgumentError("search").WithDetail(std::string(kDetailSearch)).AddCause(
        "search: not supported by Keyhole; use q or filter"));
  }
  UserPage page = users_.List(q);
  nlohmann::json body = nlohmann::json::array();
  for (const UserRecord& u : page.users) body.push_back(UserView(u, req.base_url, true));
  Response resp = Response::Json(200, body);
  AddPageLinks(req, resp, searching ? std::nullopt : page.next_after);
  return resp;
}

Response UsersHandler::Create(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  auto activate = BoolParam(req, "activate", true);
  if (!activate.ok()) return ErrorResponse(activate.status());
  auto body = ParseJsonObject(req.body);
  if (!body.ok()) return ErrorResponse(body.status());
  JsonFields f(*body);
  const nlohmann::json* profile_in = f.Object("profile", true);
  if (!f.ok()) return ErrorResponse(f.ToStatus());
  auto profile = ValidateProfile(*profile_in, nullptr);
  if (!profile.ok()) return ErrorResponse(profile.status());
  auto user = users_.Create(std::move(profile).value(), *activate, false);
  if (!user.ok()) return ErrorResponse(user.status());
  Audit(req, event_type::kUserCreate, "Create Okta user", *user);
  if (*activate) Audit(req, event_type::kUserActivate, "Activate Okta user", *user);
  return Response::Json(200, UserView(*user, req.base_url, false));
}

Response UsersHandler::Get(Request& req) {
  auto user = Resolve(req);
  if (!user.ok()) return ErrorResponse(user.status());
  const UserPtr& u = *user;
  Response resp;
  resp.body = RenderedUser(u, req.base_url);
  resp.AddHeader("Content-Type", "application/json");
  resp.AddHeader("ETag", "W/\"" + std::to_string(ToEpochMillis(u->last_updated)) + "\"");
  return resp;
}

Response UsersHandler::Update(Request& req, bool replace) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  auto resolved = Resolve(req);
  if (!resolved.ok()) return ErrorResponse(resolved.status());
  const UserRecord* user = resolved->get();
  auto body = ParseJsonObject(req.body);
  if (!body.ok()) return ErrorResponse(body.status());
  JsonFields f(*body);
  const nlohmann::json* profile_in = f.Object("profile", replace);
  if (!f.ok()) return ErrorResponse(f.ToStatus());
  if (!profile_in) return Response::Json(200, UserView(*user, req.base_url, false));
  auto profile = ValidateProfile(*profile_in, replace ? nullptr : &user->profile);
  if (!profile.ok()) return ErrorResponse(profile.status());
  auto updated = users_.ReplaceProfile(user->id, std::move(profile).value());
  if (!updated.ok()) return ErrorResponse(updated.status());
  Audit(req, event_type::kUserUpdateProfile, "Update user profile for Okta", *updated);
  return Response::Json(200, UserView(*updated, req.base_url, false));
}

Response UsersHandler::Lifecycle(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  const std::string& op_name = req.Param("op");
  struct Op {
    const char* name;
    LifecycleOp op;
    const char* event_type;
    const char* message;
  };
  static constexpr Op kOps[] = {
      {"activate", LifecycleOp::kActivate, event_type::kUserActivate, "Activate Okta user"},
      {"reactivate", LifecycleOp::kReactivate, event_type::kUserReactivate, "Reactivate Okta user"},
      {"deactivate", LifecycleOp::kDeactivate, event_type::kUserDeactivate, "Deactivate Okta user"},
      {"suspend", LifecycleOp::kSuspend, event_type::kUserSuspend, "Suspend Okta user"},
      {"unsuspend", LifecycleOp::kUnsuspend, event_type::kUserUnsuspend, "Unsuspend Okta user"},
  };
  auto found = std::find_if(std::begin(kOps), std::end(kOps), [&](const Op& o) { return op_name == o.name; });
  if (found == std::end(kOps)) return NotFoundRoute();
  auto resolved = Resolve(req);
  if (!resolved.ok()) return ErrorResponse(resolved.status());
  const UserRecord* user = resolved->get();
  auto updated = users_.Apply(user->id, found->op);
  if (!updated.ok()) return ErrorResponse(updated.status());
  Audit(req, found->event_type, found->message, *updated);
  // Keyhole sends no e-mail and has no activation link: every lifecycle answer is an empty object.
  return Response::Json(200, nlohmann::json::object());
}

Response UsersHandler::Delete(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  auto resolved = Resolve(req);
  if (!resolved.ok()) return ErrorResponse(resolved.status());
  const UserRecord* user = resolved->get();
  auto deleted = users_.Delete(user->id);
  if (!deleted.ok()) return ErrorResponse(deleted.status());
  if (*deleted) {
    tokens_.ForgetOwner(user->id);
    // Keyhole deletes at once: Okta's initiated/completed pair comes together.
    Audit(req, event_type::kUserDeleteInitiated, "Delete Okta user initiated", *user);
    Audit(req, event_type::kUserDeleteCompleted, "Delete Okta user completed", *user);
  } else {
    Audit(req, event_type::kUserDeactivate, "Deactivate Okta user", *user);
  }
  return Response::NoContent();
}

Response UsersHandler::ListRoles(Request& req) {
  auto resolved = Resolve(req);
  if (!resolved.ok()) return ErrorResponse(resolved.status());
  const UserRecord* user = resolved->get();
  nlohmann::json body = nlohmann::json::array();
  if (user->super_admin) body.push_back(SuperAdminRoleView(*user, req.base_url));
  return Response::Json(200, body);
}

Response UsersHandler::AssignRole(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  auto resolved = Resolve(req);
  if (!resolved.ok()) return ErrorResponse(resolved.status());
  const UserRecord* user = resolved->get();
  auto body = ParseJsonObject(req.body);
  if (!body.ok()) return ErrorResponse(body.status());
  JsonFields f(*body);
  auto type = f.String("type", {.required = true});
  if (type && *type != "SUPER_ADMIN") f.AddCause("type", "Keyhole knows only the SUPER_ADMIN role");
  if (!f.ok()) return ErrorResponse(f.ToStatus());
  auto updated = users_.SetSuperAdmin(user->id, true);
  if (!updated.ok()) return ErrorResponse(updated.status());
  if (!user->super_admin) Audit(req, event_type::kUserPrivilegeGrant, "Grant user privilege: SUPER_ADMIN", *updated);
  return Response::Json(200, SuperAdminRoleView(*updated, req.base_url));
}

Response UsersHandler::UnassignRole(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  auto resolved = Resolve(req);
  if (!resolved.ok()) return ErrorResponse(resolved.status());
  const UserRecord* user = resolved->get();
  if (!user->super_admin || req.Param("roleId") != SuperAdminRoleId(user->id)) {
    return ErrorResponse(NotFoundError("Resource not found: " + req.Param("roleId") + " (Role)"));
  }
  auto updated = users_.SetSuperAdmin(user->id, false);
  if (!updated.ok()) return ErrorResponse(updated.status());
  Audit(req, event_type::kUserPrivilegeRevoke, "Revoke user privilege: SUPER_ADMIN", *updated);
  return Response::NoContent();
}

}  // namespace keyhole::coord
