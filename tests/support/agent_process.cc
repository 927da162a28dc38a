#include "tests/support/agent_process.h"

#include <signal.h>

#include <fstream>
#include <sstream>

namespace keyhole::testing {

std::string AgentBinary() { return KEYHOLE_AGENT_BIN; }

AgentProcess::AgentProcess(Options options)
    : options_(std::move(options)), config_(dir_.File("agent.toml")), state_dir_(dir_.File("state")) {
  std::ofstream out(config_);
  out << "log_level = \"" << options_.log_level << "\"\n";
  for (const auto& [name, url] : options_.upstreams) {
    out << "\n[upstreams." << name << "]\nurl = \"" << url << "\"\n";
    if (auto ca = options_.ca_files.find(name); ca != options_.ca_files.end()) out << "ca_file = \"" << ca->second << "\"\n";
  }
  if (!options_.tunnel_toml.empty()) out << "\n[tunnel]\n" << options_.tunnel_toml << "\n";
}

AgentProcess::~AgentProcess() {
  if (running()) Kill9();
}

RunResult AgentProcess::Activate(const std::string& coordinator_url, const std::string& fingerprint,
                                 const std::string& code) {
  std::vector<std::string> argv = {AgentBinary(), "activate", "--coordinator", coordinator_url, "--code", "-",
                                   "--name", options_.name, "--state-dir", state_dir_, "--config", config_};
  if (!fingerprint.empty()) argv.insert(argv.end(), {"--pin", fingerprint});
  return RunCommand(argv, {}, code + "\n");
}

void AgentProcess::Start() {
  if (running()) return;
  if (proc_) earlier_stderr_ += proc_->Stderr() + "--- (restarted)\n";
  proc_ = std::make_unique<Subprocess>(
      std::vector<std::string>{AgentBinary(), "run", "--state-dir", state_dir_, "--config", config_});
}

int AgentProcess::Stop(std::chrono::milliseconds timeout) {
  if (!proc_) return -1;
  proc_->Signal(SIGTERM);
  auto code = proc_->Wait(timeout);
  if (!code) {
    Kill9();
    return -1;
  }
  return *code;
}

void AgentProcess::Kill9() {
  if (!proc_) return;
  proc_->Signal(SIGKILL);
  proc_->Wait(std::chrono::seconds(5));
}

nlohmann::json AgentProcess::State() const {
  std::ifstream in(state_dir_ + "/state.json");
  std::stringstream s;
  s << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(s.str(), nullptr, false);
  return j.is_object() ? j : nlohmann::json::object();
}

}  // namespace keyhole::testing
