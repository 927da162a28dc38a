// Subprocess: runs a real binary for integration tests. Standard output is read line by line on
// a background thread (WaitForLine finds, say, "listening on"); standard error goes to a file
// the test can print on failure. The child is killed (SIGKILL) if still running on destruction,
// and when the test binary dies (PR_SET_PDEATHSIG; start it from a thread that outlives it).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace keyhole::testing {

class Subprocess {
 public:
  // `env` entries "NAME=value" are added to the parent's environment. `stdin_data`, if given, is
  // written to the child's standard input, which is then closed.
  Subprocess(std::vector<std::string> argv, std::vector<std::string> env = {},
             std::optional<std::string> stdin_data = std::nullopt);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  // The first stdout line containing `needle`, or nullopt after `timeout` or at EOF.
  std::optional<std::string> WaitForLine(const std::string& needle,
                                         std::chrono::milliseconds timeout = std::chrono::seconds(20));
  std::vector<std::string> Lines();
  std::string Stderr() const;

  void Signal(int sig);
  // Waits for exit; returns the exit code, 128+signal if killed, or nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  bool running();

 private:
  void ReadLoop(int fd);

  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string stderr_path_;
  std::thread reader_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  bool eof_ = false;
};

// Runs to completion; returns {exit code, stdout}.
struct RunResult {
  int exit_code;
  std::string out;
  std::string err;
};
RunResult RunCommand(std::vector<std::string> argv, std::vector<std::string> env = {},
              std::optional<std::string> stdin_data = std::nullopt);

}  // namespace keyhole::testing
