// AgentCommands: keyhole-agent's one-shot commands (activate, status, rotate, deactivate) with
// their output and exit codes, over injected seams (file system, clock, coordinator client, input)
// so tests run them against fakes. main.cc parses the command line and calls these. One per run.
// activate, rotate and deactivate hold STATE_DIR/lock (StateLock) while they work and refuse while
// `keyhole-agent run` holds it; status takes no lock.
#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "agent/activation/coordinator_client.h"
#include "agent/activation/token_rotation.h"
#include "agent/config/agent_config.h"
#include "agent/state/agent_state.h"
#include "agent/state/state_lock.h"
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
  // Takes STATE_DIR/lock without waiting, for `command` (StateLock::TryAcquire in production;
  // tests point it at a real directory of their own).
  std::function<StatusOr<StateLock>(const std::string& state_dir, std::string_view command)> lock_state;
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
  // Takes the state directory's lock for `command` into `lock`: kExitOk, or the exit code after
  // printing why not (above all: `keyhole-agent run` holds it).
  int LockState(std::string_view command, std::optional<StateLock>& lock);
  int Fail(int code, const std::string& message);

  const CommandContext& ctx_;
  const CommonOptions common_;
};

}  // namespace keyhole::agent
