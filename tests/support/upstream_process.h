// UpstreamProcess: keyhole-test-upstream (tests/support/upstream_server.cc) running on an ephemeral
// loopback port with --log-requests, so a test can see which upstream a request reached.
// One test thread uses it; the Subprocess underneath reads the server's output on its own thread.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "tests/support/subprocess.h"

namespace keyhole::testing {

// Set by CMake: the built binaries.
std::string TestUpstreamBinary();

class UpstreamProcess {
 public:
  // Starts the server; `name` comes back in every reply's X-Upstream. Throws if it does not start.
  explicit UpstreamProcess(std::string name);

  const std::string& name() const { return name_; }
  unsigned short port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return proc_->pid(); }
  bool running() { return proc_->running(); }

  // Whether a request whose "METHOD TARGET" contains `needle` arrived (waiting up to `timeout`).
  bool WaitForRequest(const std::string& needle, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  bool SawRequest(const std::string& needle) { return WaitForRequest(needle, std::chrono::milliseconds(0)); }
  // Whether the reply to such a request was written whole ("END") or broke off ("BROKEN").
  bool Answered(const std::string& needle) { return HasLine("END ", needle); }
  bool Broken(const std::string& needle) { return HasLine("BROKEN ", needle); }

 private:
  bool HasLine(const std::string& prefix, const std::string& needle);

  std::string name_;
  std::unique_ptr<Subprocess> proc_;
  unsigned short port_ = 0;
};

// A loopback port with nothing listening on it (bound, then closed): connections are refused.
unsigned short UnusedLoopbackPort();

}  // namespace keyhole::testing
