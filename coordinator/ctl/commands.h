// The keyholectl command line: global options and environment (where to connect, whom to trust,
// which token), the `users` and `tokens` subcommands, and the exit codes. main.cc passes the real
// environment and the cpprestsdk client; tests pass fakes. Not thread-safe: one run at a time.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "coordinator/ctl/api_session.h"
#include "coordinator/ctl/rest_client.h"
#include "shared/clock/clock.h"
#include "shared/errors/status.h"

namespace keyhole::ctl {

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
};

// Runs keyholectl with `args` (the program name excluded) and returns its exit code.
int RunKeyholectl(const std::vector<std::string>& args, const CtlContext& context);

// "keyholectl: <message>" and one indented line per cause.
void PrintError(std::ostream& err, const Status& status);

}  // namespace keyhole::ctl
