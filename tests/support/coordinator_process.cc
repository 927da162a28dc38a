#include "tests/support/coordinator_process.h"

#include <signal.h>

#include <stdexcept>

namespace keyhole::testing {

std::string CoordinatorBinary() { return KEYHOLE_COORDINATOR_BIN; }
std::string KeyholectlBinary() { return KEYHOLECTL_BIN; }

CoordinatorProcess::CoordinatorProcess() = default;

CoordinatorProcess::~CoordinatorProcess() {
  if (proc_ && proc_->running()) Stop();
}

std::string CoordinatorProcess::Init(const std::string& admin_login) {
  RunResult r = RunCommand({CoordinatorBinary(), "init", "--data-dir", dir_.path(), "--admin-login", admin_login});
  if (r.exit_code != 0) throw std::runtime_error("init failed: " + r.err);
  std::string token = r.out;
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  return token;
}

bool CoordinatorProcess::Start(Options options) {
  std::vector<std::string> argv = {CoordinatorBinary(), "serve", "--data-dir", dir_.path(), "--listen", "127.0.0.1:0",
                                   "--threads", "2"};
  if (!options.tls) argv.push_back("--plain-http");
  for (auto& a : options.extra_args) argv.push_back(a);
  proc_ = std::make_unique<Subprocess>(argv);
  auto line = proc_->WaitForLine("listening on ");
  if (!line) return false;
  url_ = line->substr(line->find("listening on ") + 13);
  if (options.tls) {
    auto fp = proc_->WaitForLine("fingerprint ");
    if (fp) fingerprint_ = fp->substr(fp->find("fingerprint ") + 12);
  }
  return true;
}

int CoordinatorProcess::Stop() {
  if (!proc_) return -1;
  proc_->Signal(SIGTERM);
  auto code = proc_->Wait(std::chrono::seconds(20));
  return code.value_or(-1);
}

void CoordinatorProcess::Kill9() {
  if (!proc_) return;
  proc_->Signal(SIGKILL);
  proc_->Wait(std::chrono::seconds(10));
}

}  // namespace keyhole::testing
