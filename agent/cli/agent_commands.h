// AgentCommands: keyhole-agent's one-shot commands (activate, status, rotate, deactivate) with
// their output and exit codes, over injected seams (file system, clock, coordinator client, input)
// so tests run them against fakes. main.cc parses the command line and calls these. One per run.
#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>

#include "agent/activation/coordinator_client.h"
#include "agent/activation/token_rotation.h"
#include "agent/config/agent_config.h"
#include "agent/state/agent_state.h"
#include "shared/clock/clock.h"
#include "shared/fs/file_system.h"

namespace keyhole::agent {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;        // refused, unreachable, or only partly done
inline constexpr int kExitUsage = 2;          // bad options or config
inline constexpr int kExitNotActivated = 3;   // status, rotate, deactivate without a state

struct CommandContext {
  FileSystem& fs;
  const Clock& clock;
  std::ostream& out;
  std::ostream& err;
  std::function<std::optional<std::string>(const std::string&)> getenv;
  std::function<std::string()> read_stdin;  // all of standard input
  std::function<StatusOr<std::unique_ptr<CoordinatorClient>>(const std::string& url, const TrustAnchor& trust)> connect;
  HostInfo host;
  FaultHook fault;
};

struct CommonOptions {
  std::string state_dir;
  std::string config_path;
  bool config_given = false;  // a missing file is an error only when given explicitly
};

struct ActivateOptions {
  std::string coordinator;
  std::string code;  // "-": standard input; "": $KEYHOLE_ACTIVATION_CODE
  std::string name;
  std::string ca_file;
  std::string pin;
};

class AgentCommands {
 public:
  AgentCommands(const CommandContext& ctx, CommonOptions common) : ctx_(ctx), common_(std::move(common)) {}

  int Activate(const ActivateOptions& options);
  int Status(bool json);
  int Rotate();
  int Deactivate();

 private:
  // The config, or an error printed and nullopt.
  std::optional<AgentConfig> LoadConfig();
  // The state: kExitOk with it, or the exit code after printing why.
  int LoadState(std::optional<AgentState>& state);
  int Fail(int code, const std::string& message);

  const CommandContext& ctx_;
  const CommonOptions common_;
};

}  // namespace keyhole::agent
