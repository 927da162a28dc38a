#include "coordinator/ctl/token_commands.h"

#include "coordinator/ctl/user_commands.h"

namespace keyhole::ctl {
namespace {

const std::string kTokens = "/api/v1/api-tokens";

std::string TokenPath(const std::string& id) { return kTokens + "/" + PathSegment(id); }

}  // namespace

Status TokenCommands::List(const TokenListOptions& o) {
  std::vector<std::pair<std::string, std::string>> params;
  if (!o.q.empty()) params.emplace_back("q", o.q);
  if (!o.user.empty()) {
    auto id = ResolveUserId(api_, o.user);
    if (!id.ok()) return id.status();
    params.emplace_back("userId", *id);
  }
  if (o.include_revoked) params.emplace_back("includeRevoked", "true");
  if (o.limit) params.emplace_back("limit", std::to_string(*o.limit));
  auto listing = api_.List(WithQuery(kTokens, params), o.all);
  if (!listing.ok()) return listing.status();
  if (out_.json) {
    PrintJson(out_.out, listing->items);
  } else {
    Table table({"ID", "NAME", "USER", "STATUS", "CREATED (UTC)", "LAST USED", "EXPIRES"});
    for (const auto& t : listing->items) {
      table.AddRow({Text(t, "/id"), Text(t, "/name"), Text(t, "/userId"), Text(t, "/status"),
                    ShortTime(Text(t, "/created")), ShortTime(Text(t, "/lastUsed")), ShortTime(Text(t, "/expiresAt"))});
    }
    table.Print(out_.out);
  }
  if (listing->more) out_.err << "keyholectl: more tokens exist; add --all to list every page\n";
  return Status::Ok();
}

Status TokenCommands::Get(const std::string& id) {
  auto t = api_.Call("GET", TokenPath(id));
  if (!t.ok()) return t.status();
  if (out_.json) {
    PrintJson(out_.out, *t);
    return Status::Ok();
  }
  Table fields;
  for (const char* key : {"id", "name", "userId", "clientName", "status", "created", "lastUsed", "lastUpdated",
                          "expiresAt", "tokenWindow"}) {
    fields.AddRow({key, Text(*t, std::string("/") + key)});
  }
  // Only revoked tokens carry these.
  for (const char* key : {"revokedAt", "revocationReason"}) {
    if (t->contains(key)) fields.AddRow({key, Text(*t, std::string("/") + key)});
  }
  fields.Print(out_.out);
  return Status::Ok();
}

Status TokenCommands::Create(const std::string& name, const std::string& user) {
  nlohmann::json body = {{"name", name}, {"clientName", "keyholectl"}};
  if (!user.empty()) {
    // The API takes an id; accept a login too.
    auto id = ResolveUserId(api_, user);
    if (!id.ok()) return id.status();
    body["userId"] = *id;
  }
  auto created = api_.Call("POST", kTokens, body);
  if (!created.ok()) return created.status();
  if (out_.json) {
    PrintJson(out_.out, *created);
    return Status::Ok();
  }
  const std::string secret = Text(*created, "/token");
  if (secret == "-") return InternalError("the coordinator created token " + Text(*created, "/id") + " but sent no secret");
  // The secret alone on stdout, so that TOKEN=$(keyholectl tokens create …) works; the rest for people.
  out_.out << Printable(secret) << '\n';
  out_.err << "keyholectl: created token " << Printable(Text(*created, "/id")) << " (" << Printable(name)
           << ") for user " << Printable(Text(*created, "/userId")) << "; it expires after "
           << Printable(Text(*created, "/tokenWindow")) << " unused. The secret is shown only this once.\n";
  return Status::Ok();
}

Status TokenCommands::Revoke(const std::string& id) {
  auto answer = api_.Call("DELETE", TokenPath(id));
  if (!answer.ok()) return answer.status();
  if (!out_.json) out_.out << "token " << Printable(id) << ": revoked\n";
  return Status::Ok();
}

Status TokenCommands::RevokeCurrent() {
  auto answer = api_.Call("DELETE", kTokens + "/current");
  if (!answer.ok()) return answer.status();
  if (!out_.json) out_.out << "the token keyholectl was using is revoked\n";
  return Status::Ok();
}

}  // namespace keyhole::ctl
