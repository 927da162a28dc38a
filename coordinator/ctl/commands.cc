#include "coordinator/ctl/commands.h"

#include <strings.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "coordinator/ctl/agent_commands.h"
#include "coordinator/ctl/log_commands.h"
#include "coordinator/ctl/ratelimit_commands.h"
#include "coordinator/ctl/table.h"
#include "coordinator/ctl/token_commands.h"
#include "coordinator/ctl/user_commands.h"
#include "shared/tls/fingerprint.h"

#ifndef KEYHOLE_VERSION
#define KEYHOLE_VERSION "unknown"
#endif

namespace keyhole::ctl {
namespace {

using Action = std::function<Status(UserCommands&, TokenCommands&)>;

struct GlobalOptions {
  std::string url, token_file, ca_file, pin;
  bool json = false;
};

// Every value the command line can set; the chosen subcommand leaves its Action here.
struct Parsed {
  GlobalOptions global;
  std::string target;  // the ID argument
  UserListOptions user_list;
  UserProfileFields profile;
  bool no_activate = false;
  TokenListOptions token_list;
  std::string token_name, token_user;
  int limit = 0;
  Action action;
  ApiAction api_action;  // the commands wired in their own files leave theirs here
};

constexpr char kFooter[] =
    "Environment: KEYHOLE_URL, KEYHOLE_TOKEN (the API token), KEYHOLE_CA_FILE, KEYHOLE_PIN.\n"
    "The token is never accepted on the command line, where other local users could read it.\n"
    "Exit codes: 0 done, 1 the coordinator answered with an error, 2 usage, 3 coordinator unreachable or untrusted.\n";

int Usage(std::ostream& err, const std::string& message) {
  err << "keyholectl: " << message << "\nRun with --help for more information.\n";
  return kExitUsage;
}

std::string Trim(std::string s) {
  auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  s.erase(s.begin(), std::find_if_not(s.begin(), s.end(), space));
  s.erase(std::find_if_not(s.rbegin(), s.rend(), space).base(), s.end());
  return s;
}

StatusOr<std::string> ReadTokenFile(const std::string& path, std::ostream& err) {
  std::ifstream in(path);
  if (!in) return InvalidArgumentError("--token-file " + path + ": " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  struct stat st {};
  if (stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
    err << "keyholectl: warning: " << path << " is readable by other users; chmod 600 it\n";
  }
  return Trim(text.str());
}

void AddUserCommands(CLI::App& app, Parsed& p) {
  auto* users = app.add_subcommand("users", "Manage users")->require_subcommand(1);
  auto id_arg = [&p](CLI::App* sub, const char* what) { sub->add_option("user", p.target, what)->required(); };
  auto on = [&p](CLI::App* sub, Action action) { sub->callback([&p, action] { p.action = action; }); };

  auto* list = users->add_subcommand("list", "List users (DEPROVISIONED ones only with --filter)");
  list->add_option("--q", p.user_list.q, "Users whose login, e-mail, first or last name starts with this (at most 10)");
  list->add_option("--filter", p.user_list.filter,
                   "Okta filter: status eq \"ACTIVE\" or profile.login eq \"ada@example.com\"");
  list->add_option("--limit", p.limit, "Page size (1-200)")->check(CLI::Range(1, 200));
  list->add_flag("--all", p.user_list.all, "Fetch every page, following the Link rel=\"next\" headers");
  on(list, [&p](UserCommands& u, TokenCommands&) {
    if (p.limit > 0) p.user_list.limit = p.limit;
    return u.List(p.user_list);
  });

  auto* get = users->add_subcommand("get", "Show one user");
  id_arg(get, "User id, login, or me");
  on(get, [&p](UserCommands& u, TokenCommands&) { return u.Get(p.target); });

  auto* create = users->add_subcommand("create", "Create a user (ACTIVE unless --no-activate)");
  create->add_option("--login", p.profile.login, "Login, usually an e-mail address")->required();
  create->add_option("--email", p.profile.email, "E-mail address (default: the login)");
  create->add_option("--first-name", p.profile.first_name, "First name")->required();
  create->add_option("--last-name", p.profile.last_name, "Last name")->required();
  create->add_flag("--no-activate", p.no_activate, "Create the user STAGED");
  on(create, [&p](UserCommands& u, TokenCommands&) {
    if (!p.profile.email) p.profile.email = p.profile.login;
    return u.Create(p.profile, !p.no_activate);
  });

  auto* update = users->add_subcommand("update", "Change profile fields; others keep their values");
  id_arg(update, "User id or login");
  update->add_option("--email", p.profile.email, "New e-mail address");
  update->add_option("--first-name", p.profile.first_name, "New first name");
  update->add_option("--last-name", p.profile.last_name, "New last name");
  update->callback([&p] {
    if (!p.profile.email && !p.profile.first_name && !p.profile.last_name) {
      throw CLI::ValidationError("users update", "give at least one of --email, --first-name, --last-name");
    }
    p.action = [&p](UserCommands& u, TokenCommands&) { return u.Update(p.target, p.profile); };
  });

  for (const char* op : {"activate", "reactivate", "deactivate", "suspend", "unsuspend"}) {
    auto* sub = users->add_subcommand(op, std::string("Lifecycle: ") + op + " a user");
    id_arg(sub, "User id or login");
    on(sub, [&p, op = std::string(op)](UserCommands& u, TokenCommands&) { return u.Lifecycle(p.target, op); });
  }

  auto* del = users->add_subcommand("delete", "Deactivate a user; delete one already deactivated");
  id_arg(del, "User id or login");
  on(del, [&p](UserCommands& u, TokenCommands&) { return u.Delete(p.target); });

  auto* grant = users->add_subcommand("grant-admin", "Give a user the SUPER_ADMIN role");
  id_arg(grant, "User id or login");
  on(grant, [&p](UserCommands& u, TokenCommands&) { return u.GrantAdmin(p.target); });

  auto* revoke = users->add_subcommand("revoke-admin", "Take the SUPER_ADMIN role from a user");
  id_arg(revoke, "User id or login");
  on(revoke, [&p](UserCommands& u, TokenCommands&) { return u.RevokeAdmin(p.target); });
}

void AddTokenCommands(CLI::App& app, Parsed& p) {
  auto* tokens = app.add_subcommand("tokens", "Manage API tokens")->require_subcommand(1);
  auto on = [&p](CLI::App* sub, Action action) { sub->callback([&p, action] { p.action = action; }); };

  auto* list = tokens->add_subcommand("list", "List API tokens (yours; a SUPER_ADMIN sees everyone's)");
  list->add_option("--q", p.token_list.q, "Tokens whose name or client name matches this");
  list->add_option("--user", p.token_list.user, "Only this user's tokens (id or login)");
  list->add_flag("--include-revoked", p.token_list.include_revoked, "Include revoked tokens");
  list->add_option("--limit", p.limit, "Page size (1-200)")->check(CLI::Range(1, 200));
  list->add_flag("--all", p.token_list.all, "Fetch every page, following the Link rel=\"next\" headers");
  on(list, [&p](UserCommands&, TokenCommands& t) {
    if (p.limit > 0) p.token_list.limit = p.limit;
    return t.List(p.token_list);
  });

  auto* get = tokens->add_subcommand("get", "Show one API token");
  get->add_option("id", p.target, "Token id")->required();
  on(get, [&p](UserCommands&, TokenCommands& t) { return t.Get(p.target); });

  auto* create = tokens->add_subcommand("create", "Create an API token and print its secret, once");
  create->add_option("--name", p.token_name, "A name that says where the token is used")->required();
  create->add_option("--user", p.token_user, "For this user (id or login; SUPER_ADMIN only); default: yourself");
  on(create, [&p](UserCommands&, TokenCommands& t) { return t.Create(p.token_name, p.token_user); });

  auto* revoke = tokens->add_subcommand("revoke", "Revoke an API token");
  revoke->add_option("id", p.target, "Token id")->required();
  on(revoke, [&p](UserCommands&, TokenCommands& t) { return t.Revoke(p.target); });

  auto* current = tokens->add_subcommand("revoke-current", "Revoke the token keyholectl is using");
  on(current, [](UserCommands&, TokenCommands& t) { return t.RevokeCurrent(); });
}

// Where to connect and whom to trust: options first, then the environment.
int ResolveSettings(const GlobalOptions& g, const CtlContext& ctx, ConnectionSettings& s) {
  auto env = [&ctx](const char* name) { return ctx.getenv(name).value_or(""); };
  s.url = g.url.empty() ? env("KEYHOLE_URL") : g.url;
  s.user_agent = std::string("keyholectl/") + KEYHOLE_VERSION;
  if (s.url.empty()) return Usage(ctx.err, "no coordinator URL: set KEYHOLE_URL or pass --url");

  if (!g.token_file.empty()) {
    auto token = ReadTokenFile(g.token_file, ctx.err);
    if (!token.ok()) return Usage(ctx.err, token.status().message());
    s.token = *token;
  } else {
    s.token = Trim(env("KEYHOLE_TOKEN"));
  }
  if (s.token.empty()) return Usage(ctx.err, "no API token: set KEYHOLE_TOKEN or pass --token-file FILE");
  if (std::any_of(s.token.begin(), s.token.end(), [](unsigned char c) { return c <= ' ' || c == 0x7f; })) {
    return Usage(ctx.err, "the API token contains spaces or control characters");
  }

  // A trust option given on the command line overrides both variables.
  std::string ca = g.ca_file, pin = g.pin;
  if (ca.empty() && pin.empty()) {
    ca = env("KEYHOLE_CA_FILE");
    pin = env("KEYHOLE_PIN");
  }
  if (!ca.empty() && !pin.empty()) return Usage(ctx.err, "give either a CA file or a pin, not both");
  if (!pin.empty()) {
    auto normalized = NormalizeFingerprint(pin);
    if (!normalized) return Usage(ctx.err, "pin " + pin + ": expected sha256: and 64 hexadecimal digits");
    s.pin = *normalized;
  }
  s.ca_file = ca;
  if ((!s.ca_file.empty() || !s.pin.empty()) && strncasecmp(s.url.c_str(), "https://", 8) != 0) {
    return Usage(ctx.err, "--ca-file and --pin apply to https:// URLs only, not " + s.url);
  }
  return kExitOk;
}

}  // namespace

void PrintError(std::ostream& err, const Status& status) {
  err << "keyholectl: " << Printable(status.message()) << '\n';
  for (const std::string& cause : status.causes()) err << "  " << Printable(cause) << '\n';
}

int RunKeyholectl(const std::vector<std::string>& args, const CtlContext& ctx) {
  for (const std::string& a : args) {
    if (a == "--") break;
    if (a == "--token" || a.rfind("--token=", 0) == 0) {
      return Usage(ctx.err, "--token is not accepted: other local users can read command lines. "
                            "Set KEYHOLE_TOKEN or use --token-file FILE.");
    }
  }

  Parsed p;
  CLI::App app{"keyholectl: administer a Keyhole coordinator over its Okta-compatible REST API", "keyholectl"};
  app.fallthrough();  // global options may also follow the subcommand
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("keyholectl ") + KEYHOLE_VERSION);
  app.footer(kFooter);
  app.add_option("--url", p.global.url, "Coordinator base URL, https://host:port (default: $KEYHOLE_URL)")
      ->type_name("URL");
  app.add_option("--token-file", p.global.token_file, "Read the API token from FILE (default: $KEYHOLE_TOKEN)")
      ->type_name("FILE");
  auto* ca = app.add_option("--ca-file", p.global.ca_file,
                            "Trust only the CA certificates in this PEM file (default: $KEYHOLE_CA_FILE)")
                 ->type_name("FILE");
  auto* pin = app.add_option("--pin", p.global.pin,
                             "Trust exactly the server certificate with this fingerprint, sha256:HEX "
                             "(default: $KEYHOLE_PIN)")
                  ->type_name("sha256:HEX");
  ca->excludes(pin);
  app.add_flag("--json", p.global.json, "Print the API's JSON instead of tables");
  AddUserCommands(app, p);
  AddTokenCommands(app, p);
  AddRateLimitCommands(app, p.api_action);
  AddLogCommands(app, p.api_action);
  AddAgentCommands(app, p.api_action);

  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 consumes from the back
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e, ctx.out, ctx.err);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (!p.action && !p.api_action) return Usage(ctx.err, "no command given");

  ConnectionSettings settings;
  // An admin's page of 1,000 system log events can pass the agent's 1 MiB cap on answers.
  settings.max_response_bytes = size_t{64} << 20;
  if (int code = ResolveSettings(p.global, ctx, settings); code != kExitOk) return code;
  auto client = ctx.connect(settings);
  if (!client.ok()) {
    PrintError(ctx.err, client.status());
    return client.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitNoAnswer;
  }

  ApiSession api(**client, ctx.clock, ctx.sleep);
  Output out{ctx.out, ctx.err, p.global.json};
  UserCommands users(api, out);
  TokenCommands tokens(api, out);
  Status status = p.api_action ? p.api_action(api, out, ctx) : p.action(users, tokens);
  ctx.out.flush();
  if (status.ok()) return kExitOk;
  PrintError(ctx.err, status);
  return status.detail() == kDetailNoAnswer ? kExitNoAnswer : kExitApiError;
}

}  // namespace keyhole::ctl
