// CoordinatorProcess: the real keyhole-coordinator binary on an ephemeral loopback port with a
// fresh data directory, for integration tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace keyhole::testing {

// Set by CMake: the built binaries.
std::string CoordinatorBinary();
std::string KeyholectlBinary();

class CoordinatorProcess {
 public:
  struct Options {
    bool tls = false;
    std::vector<std::string> extra_args;
  };

  CoordinatorProcess();  // a fresh data directory, not yet initialized
  ~CoordinatorProcess();

  // `keyhole-coordinator init`; returns the admin token it printed.
  std::string Init(const std::string& admin_login = "admin@example.com");
  // `serve` on 127.0.0.1:0; waits until it prints its URL. Returns false if it did not.
  bool Start(Options options);
  bool Start() { return Start(Options{}); }
  // SIGTERM and wait; returns the exit code.
  int Stop();
  void Kill9();

  const std::string& url() const { return url_; }
  const std::string& fingerprint() const { return fingerprint_; }
  const std::string& data_dir() const { return dir_.path(); }
  Subprocess* process() { return proc_.get(); }
  std::string Stderr() const { return proc_ ? proc_->Stderr() : ""; }

 private:
  TempDir dir_;
  std::unique_ptr<Subprocess> proc_;
  std::string url_;
  std::string fingerprint_;
};

}  // namespace keyhole::testing
