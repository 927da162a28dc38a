#include "coordinator/ctl/user_commands.h"

namespace keyhole::ctl {
namespace {

const std::string kUsers = "/api/v1/users";

std::string UserPath(const std::string& user) { return kUsers + "/" + PathSegment(user); }

nlohmann::json ProfileJson(const UserProfileFields& p) {
  nlohmann::json profile = nlohmann::json::object();
  if (p.login) profile["login"] = *p.login;
  if (p.email) profile["email"] = *p.email;
  if (p.first_name) profile["firstName"] = *p.first_name;
  if (p.last_name) profile["lastName"] = *p.last_name;
  return profile;
}

std::string PastTense(const std::string& op) { return op.back() == 'e' ? op + "d" : op + "ed"; }

}  // namespace

StatusOr<std::string> ResolveUserId(ApiSession& api, const std::string& user) {
  auto found = api.Call("GET", UserPath(user));
  if (!found.ok()) return found.status();
  std::string id = Text(*found, "/id");
  if (id == "-") return InternalError("the user " + user + " came back without an id");
  return id;
}

Status UserCommands::List(const UserListOptions& o) {
  std::vector<std::pair<std::string, std::string>> params;
  if (!o.q.empty()) params.emplace_back("q", o.q);
  if (!o.filter.empty()) params.emplace_back("filter", o.filter);
  if (o.limit) params.emplace_back("limit", std::to_string(*o.limit));
  auto listing = api_.List(WithQuery(kUsers, params), o.all);
  if (!listing.ok()) return listing.status();
  if (out_.json) {
    PrintJson(out_.out, listing->items);
  } else {
    Table table({"ID", "STATUS", "LOGIN", "NAME", "CREATED (UTC)"});
    for (const auto& u : listing->items) {
      table.AddRow({Text(u, "/id"), Text(u, "/status"), Text(u, "/profile/login"),
                    Text(u, "/profile/firstName") + " " + Text(u, "/profile/lastName"), ShortTime(Text(u, "/created"))});
    }
    table.Print(out_.out);
  }
  if (listing->more) out_.err << "keyholectl: more users exist; add --all to list every page\n";
  return Status::Ok();
}

Status UserCommands::Get(const std::string& user) {
  auto found = api_.Call("GET", UserPath(user));
  if (!found.ok()) return found.status();
  PrintUser(*found);
  return Status::Ok();
}

Status UserCommands::Create(const UserProfileFields& profile, bool activate) {
  auto created = api_.Call("POST", WithQuery(kUsers, {{"activate", activate ? "true" : "false"}}),
                           nlohmann::json{{"profile", ProfileJson(profile)}});
  if (!created.ok()) return created.status();
  PrintUser(*created);
  return Status::Ok();
}

Status UserCommands::Update(const std::string& user, const UserProfileFields& changes) {
  // POST is Okta's partial update: profile fields left out keep their values.
  auto updated = api_.Call("POST", UserPath(user), nlohmann::json{{"profile", ProfileJson(changes)}});
  if (!updated.ok()) return updated.status();
  PrintUser(*updated);
  return Status::Ok();
}

Status UserCommands::Lifecycle(const std::string& user, const std::string& op) {
  auto answer = api_.Call("POST", UserPath(user) + "/lifecycle/" + op);
  if (!answer.ok()) return answer.status();
  if (out_.json) {
    PrintJson(out_.out, *answer);
    return Status::Ok();
  }
  out_.out << "user " << Printable(user) << ": " << PastTense(op) << '\n';
  // Okta's reactivate may answer an activation URL and token; show whatever came.
  if (answer->is_object() && !answer->empty()) {
    Table fields;
    for (const auto& [k, v] : answer->items()) fields.AddRow({k, v.is_string() ? v.get<std::string>() : v.dump()});
    fields.Print(out_.out);
  }
  return Status::Ok();
}

Status UserCommands::Delete(const std::string& user) {
  // Read the status first: the same DELETE deactivates an active user and removes a deactivated one.
  auto found = api_.Call("GET", UserPath(user));
  if (!found.ok()) return found.status();
  const std::string id = Text(*found, "/id");
  if (id == "-") return InternalError("the user " + user + " came back without an id");
  const bool deprovisioned = Text(*found, "/status") == "DEPROVISIONED";
  auto answer = api_.Call("DELETE", UserPath(id));
  if (!answer.ok()) return answer.status();
  if (out_.json) return Status::Ok();
  if (deprovisioned) {
    out_.out << "user " << Printable(user) << " (" << Printable(id) << "): deleted\n";
  } else {
    out_.out << "user " << Printable(user) << " (" << Printable(id)
             << "): deactivated; run delete again to remove it for good\n";
  }
  return Status::Ok();
}

Status UserCommands::GrantAdmin(const std::string& user) {
  auto role = api_.Call("POST", UserPath(user) + "/roles", nlohmann::json{{"type", "SUPER_ADMIN"}});
  if (!role.ok()) return role.status();
  if (out_.json) {
    PrintJson(out_.out, *role);
  } else {
    out_.out << "user " << Printable(user) << ": granted SUPER_ADMIN (role " << Printable(Text(*role, "/id")) << ")\n";
  }
  return Status::Ok();
}

Status UserCommands::RevokeAdmin(const std::string& user) {
  auto roles = api_.Call("GET", UserPath(user) + "/roles");
  if (!roles.ok()) return roles.status();
  std::string role_id;
  if (roles->is_array()) {
    for (const auto& role : *roles) {
      if (Text(role, "/type") == "SUPER_ADMIN") role_id = Text(role, "/id");
    }
  }
  if (role_id.empty() || role_id == "-") {
    return FailedPreconditionError("user " + user + " does not hold the SUPER_ADMIN role");
  }
  auto answer = api_.Call("DELETE", UserPath(user) + "/roles/" + PathSegment(role_id));
  if (!answer.ok()) return answer.status();
  if (!out_.json) out_.out << "user " << Printable(user) << ": SUPER_ADMIN revoked\n";
  return Status::Ok();
}

void UserCommands::PrintUser(const nlohmann::json& u) const {
  if (out_.json) return PrintJson(out_.out, u);
  Table fields;
  fields.AddRow({"id", Text(u, "/id")});
  fields.AddRow({"status", Text(u, "/status")});
  fields.AddRow({"login", Text(u, "/profile/login")});
  fields.AddRow({"email", Text(u, "/profile/email")});
  fields.AddRow({"first name", Text(u, "/profile/firstName")});
  fields.AddRow({"last name", Text(u, "/profile/lastName")});
  fields.AddRow({"mobile phone", Text(u, "/profile/mobilePhone")});
  fields.AddRow({"second email", Text(u, "/profile/secondEmail")});
  fields.AddRow({"created", Text(u, "/created")});
  fields.AddRow({"activated", Text(u, "/activated")});
  fields.AddRow({"status changed", Text(u, "/statusChanged")});
  fields.AddRow({"last updated", Text(u, "/lastUpdated")});
  fields.Print(out_.out);
}

}  // namespace keyhole::ctl
