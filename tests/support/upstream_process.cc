#include "tests/support/upstream_process.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace keyhole::testing {

std::string TestUpstreamBinary() { return KEYHOLE_TEST_UPSTREAM_BIN; }

UpstreamProcess::UpstreamProcess(std::string name) : name_(std::move(name)) {
  proc_ = std::make_unique<Subprocess>(
      std::vector<std::string>{TestUpstreamBinary(), "--name", name_, "--log-requests"});
  auto line = proc_->WaitForLine("PORT ", std::chrono::seconds(10));
  if (!line) throw std::runtime_error("keyhole-test-upstream did not start: " + proc_->Stderr());
  port_ = static_cast<unsigned short>(std::stoi(line->substr(line->find("PORT ") + 5)));
}

bool UpstreamProcess::WaitForRequest(const std::string& needle, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (const auto& line : proc_->Lines()) {
      if (line.rfind("REQ ", 0) == 0 && line.find(needle) != std::string::npos) return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

bool UpstreamProcess::HasLine(const std::string& prefix, const std::string& needle) {
  for (const auto& line : proc_->Lines()) {
    if (line.rfind(prefix, 0) == 0 && line.find(needle) != std::string::npos) return true;
  }
  return false;
}

unsigned short UnusedLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("no loopback port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace keyhole::testing
