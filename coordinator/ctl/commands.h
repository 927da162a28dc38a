// The keyholectl command line: global options and environment (where to connect, whom to trust,
// which token), the `users` and `tokens` subcommands, and the exit codes; `ratelimits`, `logs` and
// `pools`/`codes`/`agents` are wired in ratelimit_commands.h, log_commands.h and agent_commands.h.
// main.cc passes the real environment and the cpprestsdk client; tests pass fakes. Not thread-safe:
// one run at a time.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "coordinator/ctl/api_session.h"
#include "shared/rest/rest_client.h"
#include "coordinator/ctl/table.h"
#include "shared/clock/clock.h"
#include "shared/errors/status.h"

namespace keyhole::ctl {

// ConnectionSettings, RestClient and the other REST names come from api_session.h.
enum ExitCode : int {
  kExitOk = 0,
  kExitApiError = 1,  // the coordinator answered with an error
  kExitUsage = 2,     // a bad command line, environment or settings file
  kExitNoAnswer = 3,  // the coordinator was not reached, or its certificate was not trusted
};

struct CtlContext {
  // Reads an environment variable; nullopt when unset.
  std::function<std::optional<std::string>(const std::string& name)> getenv;
  // Makes the client; a kInvalidArgument failure is a usage error, any other is exit 3.
  std::function<StatusOr<std::unique_ptr<RestClient>>(const ConnectionSettings& settings)> connect;
  const Clock& clock;
  ApiSession::Sleeper sleep;
  std::ostream& out;
  std::ostream& err;
  // `logs --follow`: called once as following begins (main.cc catches SIGINT and SIGTERM from then
  // on); then between polls, waits up to the given time and returns false once asked to stop.
  // Unset: following ends at once after the first poll.
  std::function<void()> follow_begins;
  std::function<bool(std::chrono::milliseconds)> follow_wait;
};

// A command chosen on the command line, run once keyholectl has connected.
using ApiAction = std::function<Status(ApiSession& api, const Output& out, const CtlContext& context)>;

// Runs keyholectl with `args` (the program name excluded) and returns its exit code.
int RunKeyholectl(const std::vector<std::string>& args, const CtlContext& context);

// "keyholectl: <message>" and one indented line per cause.
void PrintError(std::ostream& err, const Status& status);

}  // namespace keyhole::ctl
