// AgentProcess: a real keyhole-agent with its own state directory and agent.toml, activated against
// a coordinator with a code made over the API, then `run` as a daemon whose tunnel serves the
// upstreams its config names. For the tunnel's integration tests; one test thread uses it.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace keyhole::testing {

// Set by CMake: the built binary.
std::string AgentBinary();

class AgentProcess {
 public:
  struct Options {
    std::string name = "agent";                     // --name at activation
    std::map<std::string, std::string> upstreams;   // [upstreams.NAME] url = …
    std::map<std::string, std::string> ca_files;    // [upstreams.NAME] ca_file = … (https upstreams)
    std::string tunnel_toml;                        // lines for the [tunnel] table ("ping_interval_seconds = 5")
    std::string log_level = "debug";
  };

  explicit AgentProcess(Options options);
  ~AgentProcess();
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  // `keyhole-agent activate` with the code on standard input; https coordinators pinned to
  // `fingerprint`. Returns the command's result (exit code 0 on success).
  RunResult Activate(const std::string& coordinator_url, const std::string& fingerprint, const std::string& code);
  // `keyhole-agent run` in the background (nothing waited for: watch the coordinator's view).
  void Start();
  // SIGTERM, then waits; the exit code, or -1.
  int Stop(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  void Kill9();
  bool running() { return proc_ && proc_->running(); }
  pid_t pid() const { return proc_ ? proc_->pid() : -1; }

  // From the agent's state.json.
  nlohmann::json State() const;
  std::string agent_id() const { return State().value("agent_id", ""); }
  std::string token_id() const { return State().value("token_id", ""); }
  std::string token() const { return State().value("token", ""); }

  // Everything the agent wrote on standard error, over its restarts.
  std::string Stderr() const { return earlier_stderr_ + (proc_ ? proc_->Stderr() : ""); }
  const std::string& config_path() const { return config_; }
  const std::string& state_dir() const { return state_dir_; }
  const Options& options() const { return options_; }

 private:
  Options options_;
  TempDir dir_;
  std::string config_;
  std::string state_dir_;
  std::unique_ptr<Subprocess> proc_;
  std::string earlier_stderr_;
};

}  // namespace keyhole::testing
