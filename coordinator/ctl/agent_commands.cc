#include "coordinator/ctl/agent_commands.h"

#include <CLI/CLI.hpp>
#include <memory>

#include "shared/clock/iso8601.h"

namespace keyhole::ctl {
namespace {

const std::string kPools = "/api/v1/agentPools";
const std::string kAgents = "/api/v1/agents";

std::string PoolPath(const std::string& id) { return kPools + "/" + PathSegment(id); }
std::string CodesPath(const std::string& pool_id) { return PoolPath(pool_id) + "/activationCodes"; }
std::string AgentPath(const std::string& id) { return kAgents + "/" + PathSegment(id); }

std::string AgentCount(const nlohmann::json& pool) {
  const auto it = pool.find("agents");
  return it != pool.end() && it->is_array() ? std::to_string(it->size()) : "-";
}

std::string DurationCheck(const std::string& value) {
  return ParseIsoDuration(value) ? "" : "not an ISO 8601 duration such as PT24H or P7D: " + value;
}

}  // namespace

std::string LastConnection(const nlohmann::json& agent) {
  const auto it = agent.find("lastConnection");
  if (it == agent.end() || !it->is_number_integer()) return "-";
  const int64_t ms = it->get<int64_t>();
  if (ms <= 0) return "never";
  return SecondTime(FormatIso8601(FromEpochMillis(ms)));
}

Status AgentCommands::ListPools(const std::string& type) {
  std::vector<std::pair<std::string, std::string>> params;
  if (!type.empty()) params.emplace_back("poolType", type);
  auto listing = api_.List(WithQuery(kPools, params), true);
  if (!listing.ok()) return listing.status();
  if (out_.json) {
    PrintJson(out_.out, listing->items);
    return Status::Ok();
  }
  Table table({"ID", "NAME", "TYPE", "STATUS", "AGENTS", "DISRUPTED", "INACTIVE", "CREATED (UTC)"});
  for (const auto& p : listing->items) {
    table.AddRow({Text(p, "/id"), Text(p, "/name"), Text(p, "/type"), Text(p, "/operationalStatus"), AgentCount(p),
                  Text(p, "/disruptedAgents"), Text(p, "/inactiveAgents"), ShortTime(Text(p, "/created"))});
  }
  table.Print(out_.out);
  return Status::Ok();
}

Status AgentCommands::CreatePool(const std::string& name, const std::string& type) {
  auto pool = api_.Call("POST", kPools, nlohmann::json{{"name", name}, {"type", type}});
  if (!pool.ok()) return pool.status();
  PrintPool(*pool);
  return Status::Ok();
}

Status AgentCommands::RenamePool(const std::string& pool_id, const std::string& name) {
  auto pool = api_.Call("PUT", PoolPath(pool_id), nlohmann::json{{"name", name}});
  if (!pool.ok()) return pool.status();
  PrintPool(*pool);
  return Status::Ok();
}

Status AgentCommands::DeletePool(const std::string& pool_id) {
  auto answer = api_.Call("DELETE", PoolPath(pool_id));
  if (!answer.ok()) return answer.status();
  if (!out_.json) out_.out << "pool " << Printable(pool_id) << ": deleted\n";
  return Status::Ok();
}

Status AgentCommands::CreateCode(const std::string& pool_id, const std::string& lifetime) {
  std::optional<nlohmann::json> body;
  if (!lifetime.empty()) body = nlohmann::json{{"lifetime", lifetime}};
  auto created = api_.Call("POST", CodesPath(pool_id), body);
  if (!created.ok()) return created.status();
  if (out_.json) {
    PrintJson(out_.out, *created);
    return Status::Ok();
  }
  const std::string code = Text(*created, "/code");
  if (code == "-") {
    return InternalError("the coordinator created activation code " + Text(*created, "/id") + " but sent no code");
  }
  // The code alone on stdout, so that CODE=$(keyholectl codes create …) works; the rest for people.
  out_.out << Printable(code) << '\n';
  out_.err << "keyholectl: created activation code " << Printable(Text(*created, "/id")) << " for pool "
           << Printable(Text(*created, "/poolId")) << "; it expires at "
           << Printable(SecondTime(Text(*created, "/expiresAt")))
           << " UTC and works once. The code is shown only this once.\n";
  return Status::Ok();
}

Status AgentCommands::ListCodes(const std::string& pool_id) {
  auto listing = api_.List(CodesPath(pool_id), true);
  if (!listing.ok()) return listing.status();
  if (out_.json) {
    PrintJson(out_.out, listing->items);
    return Status::Ok();
  }
  Table table({"ID", "STATUS", "CREATED (UTC)", "EXPIRES (UTC)", "USED (UTC)", "AGENT"});
  for (const auto& c : listing->items) {
    table.AddRow({Text(c, "/id"), Text(c, "/status"), ShortTime(Text(c, "/created")),
                  ShortTime(Text(c, "/expiresAt")), ShortTime(Text(c, "/used")), Text(c, "/agentId")});
  }
  table.Print(out_.out);
  return Status::Ok();
}

Status AgentCommands::RevokeCode(const std::string& pool_id, const std::string& code_id) {
  auto answer = api_.Call("DELETE", CodesPath(pool_id) + "/" + PathSegment(code_id));
  if (!answer.ok()) return answer.status();
  if (!out_.json) out_.out << "activation code " << Printable(code_id) << ": revoked\n";
  return Status::Ok();
}

Status AgentCommands::ListAgents(const std::string& pool_id) {
  auto listing = api_.List(PoolPath(pool_id) + "/agents", true);
  if (!listing.ok()) return listing.status();
  if (out_.json) {
    PrintJson(out_.out, listing->items);
    return Status::Ok();
  }
  Table table({"ID", "NAME", "TYPE", "STATUS", "OPERATIONAL", "HOST", "VERSION", "LAST CONNECTION (UTC)"});
  for (const auto& a : listing->items) {
    table.AddRow({Text(a, "/id"), Text(a, "/name"), Text(a, "/type"), Text(a, "/status"),
                  Text(a, "/operationalStatus"), Text(a, "/host"), Text(a, "/version"), LastConnection(a)});
  }
  table.Print(out_.out);
  return Status::Ok();
}

Status AgentCommands::ShowAgent(const std::string& agent_id) {
  auto agent = api_.Call("GET", AgentPath(agent_id));
  if (!agent.ok()) return agent.status();
  PrintAgent(*agent);
  return Status::Ok();
}

Status AgentCommands::Lifecycle(const std::string& agent_id, const std::string& op) {
  auto agent = api_.Call("POST", AgentPath(agent_id) + "/lifecycle/" + op);
  if (!agent.ok()) return agent.status();
  if (out_.json) {
    PrintJson(out_.out, *agent);
    return Status::Ok();
  }
  out_.out << "agent " << Printable(agent_id) << ": " << op << "d (status " << Printable(Text(*agent, "/status"))
           << ")\n";
  return Status::Ok();
}

Status AgentCommands::DeleteAgent(const std::string& agent_id) {
  auto answer = api_.Call("DELETE", AgentPath(agent_id));
  if (!answer.ok()) return answer.status();
  if (!out_.json) out_.out << "agent " << Printable(agent_id) << ": deleted\n";
  return Status::Ok();
}

void AgentCommands::PrintPool(const nlohmann::json& p) const {
  if (out_.json) return PrintJson(out_.out, p);
  Table fields;
  fields.AddRow({"id", Text(p, "/id")});
  fields.AddRow({"name", Text(p, "/name")});
  fields.AddRow({"type", Text(p, "/type")});
  fields.AddRow({"operational status", Text(p, "/operationalStatus")});
  fields.AddRow({"agents", AgentCount(p)});
  fields.AddRow({"created", Text(p, "/created")});
  fields.AddRow({"last updated", Text(p, "/lastUpdated")});
  fields.Print(out_.out);
}

void AgentCommands::PrintAgent(const nlohmann::json& a) const {
  if (out_.json) return PrintJson(out_.out, a);
  Table fields;
  for (const char* key : {"id", "name", "type", "poolId", "status", "operationalStatus", "host", "os", "version"}) {
    fields.AddRow({key, Text(a, std::string("/") + key)});
  }
  fields.AddRow({"lastConnection", LastConnection(a)});
  for (const char* key : {"created", "activated", "statusChanged", "lastUpdated"}) {
    fields.AddRow({key, Text(a, std::string("/") + key)});
  }
  fields.Print(out_.out);
}

void AddAgentCommands(CLI::App& app, ApiAction& action) {
  struct Args {
    std::string id, pool, name, type, lifetime;
  };
  auto a = std::make_shared<Args>();  // the action, which runs after parsing, keeps the values alive
  auto on = [&action](CLI::App* sub, std::function<Status(AgentCommands&)> run) {
    sub->callback([&action, run] {
      action = [run](ApiSession& api, const Output& out, const CtlContext&) {
        AgentCommands commands(api, out);
        return run(commands);
      };
    });
  };
  const std::string types = "AD, LDAP, Radius, IWA, RSA, ADPasswordSync or HTTP";

  auto* pools = app.add_subcommand("pools", "Agent pools (SUPER_ADMIN)")->require_subcommand(1);
  auto* plist = pools->add_subcommand("list", "List agent pools, every page");
  plist->add_option("--type", a->type, "Only pools of this type: " + types);
  on(plist, [a](AgentCommands& c) { return c.ListPools(a->type); });

  auto* pcreate = pools->add_subcommand("create", "Create an agent pool");
  pcreate->add_option("--name", a->name, "The pool's name")->required();
  pcreate->add_option("--type", a->type, "Its agents' type: " + types)->required();
  on(pcreate, [a](AgentCommands& c) { return c.CreatePool(a->name, a->type); });

  auto* prename = pools->add_subcommand("rename", "Rename an agent pool (its type cannot change)");
  prename->add_option("pool", a->id, "Pool id")->required();
  prename->add_option("--name", a->name, "The new name")->required();
  on(prename, [a](AgentCommands& c) { return c.RenamePool(a->id, a->name); });

  auto* pdelete = pools->add_subcommand("delete", "Delete an agent pool that has no agents, and its codes");
  pdelete->add_option("pool", a->id, "Pool id")->required();
  on(pdelete, [a](AgentCommands& c) { return c.DeletePool(a->id); });

  auto* codes =
      app.add_subcommand("codes", "One-time activation codes for agents (SUPER_ADMIN)")->require_subcommand(1);
  auto* ccreate = codes->add_subcommand("create", "Create an activation code and print it, once");
  ccreate->add_option("--pool", a->pool, "Pool id")->required();
  ccreate->add_option("--lifetime", a->lifetime, "ISO 8601 duration, 1 minute to 30 days (default: PT24H)")
      ->check(DurationCheck);
  on(ccreate, [a](AgentCommands& c) { return c.CreateCode(a->pool, a->lifetime); });

  auto* clist = codes->add_subcommand("list", "List a pool's activation codes (without the codes)");
  clist->add_option("--pool", a->pool, "Pool id")->required();
  on(clist, [a](AgentCommands& c) { return c.ListCodes(a->pool); });

  auto* crevoke = codes->add_subcommand("revoke", "Revoke an unused activation code");
  crevoke->add_option("--pool", a->pool, "Pool id")->required();
  crevoke->add_option("code", a->id, "Activation code id (kac…)")->required();
  on(crevoke, [a](AgentCommands& c) { return c.RevokeCode(a->pool, a->id); });

  auto* agents = app.add_subcommand("agents", "Activated agents (SUPER_ADMIN)")->require_subcommand(1);
  auto* alist = agents->add_subcommand("list", "List a pool's agents, every page");
  alist->add_option("--pool", a->pool, "Pool id")->required();
  on(alist, [a](AgentCommands& c) { return c.ListAgents(a->pool); });

  auto* show = agents->add_subcommand("show", "Show one agent");
  show->add_option("agent", a->id, "Agent id")->required();
  on(show, [a](AgentCommands& c) { return c.ShowAgent(a->id); });

  for (const char* op : {"deactivate", "reactivate"}) {
    auto* sub = agents->add_subcommand(op, std::string("Lifecycle: ") + op + " an agent (its token is " +
                                               (std::string(op) == "deactivate" ? "refused until reactivated)"
                                                                                : "accepted again)"));
    sub->add_option("agent", a->id, "Agent id")->required();
    on(sub, [a, op = std::string(op)](AgentCommands& c) { return c.Lifecycle(a->id, op); });
  }

  auto* adelete = agents->add_subcommand("delete", "Delete an INACTIVE agent and revoke its tokens");
  adelete->add_option("agent", a->id, "Agent id")->required();
  on(adelete, [a](AgentCommands& c) { return c.DeleteAgent(a->id); });
}

}  // namespace keyhole::ctl
