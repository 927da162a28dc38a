#include "tests/support/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace keyhole::testing {

Subprocess::Subprocess(std::vector<std::string> argv, std::vector<std::string> env,
                       std::optional<std::string> stdin_data) {
  char tmpl[] = "/tmp/keyhole-stderr-XXXXXX";
  int err_fd = mkstemp(tmpl);
  if (err_fd < 0) throw std::runtime_error("mkstemp");
  stderr_path_ = tmpl;
  int out_pipe[2], in_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(in_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe");

  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) envs.emplace_back(*e);
  for (auto& e : env) envs.push_back(e);
  std::vector<char*> cargv, cenv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  for (auto& e : envs) cenv.push_back(e.data());
  cenv.push_back(nullptr);

  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork");
  if (pid_ == 0) {
    // The child dies with the test binary: one that crashes or aborts leaves no coordinator,
    // agent or upstream behind holding ports (or an inherited lock descriptor). The signal follows
    // the forking thread, so a Subprocess is started from a thread that outlives it (the test's).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_fd, 2);
    // Tests run with signals possibly blocked by gtest threads; give the child a clean mask.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  close(err_fd);
  close(out_pipe[1]);
  close(in_pipe[0]);
  if (stdin_data) {
    size_t off = 0;
    while (off < stdin_data->size()) {
      ssize_t n = write(in_pipe[1], stdin_data->data() + off, stdin_data->size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
  }
  close(in_pipe[1]);
  reader_ = std::thread([this, fd = out_pipe[0]] { ReadLoop(fd); });
}

Subprocess::~Subprocess() {
  if (running()) {
    Signal(SIGKILL);
    Wait(std::chrono::seconds(5));
  }
  if (reader_.joinable()) reader_.join();
  unlink(stderr_path_.c_str());
}

void Subprocess::ReadLoop(int fd) {
  std::string partial;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    partial.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = partial.find('\n')) != std::string::npos) {
      std::lock_guard lock(mu_);
      lines_.push_back(partial.substr(0, nl));
      partial.erase(0, nl + 1);
      cv_.notify_all();
    }
  }
  close(fd);
  std::lock_guard lock(mu_);
  if (!partial.empty()) lines_.push_back(partial);
  eof_ = true;
  cv_.notify_all();
}

std::optional<std::string> Subprocess::WaitForLine(const std::string& needle, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  size_t seen = 0;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (; seen < lines_.size(); ++seen) {
      if (lines_[seen].find(needle) != std::string::npos) return lines_[seen];
    }
    if (eof_) return std::nullopt;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) return std::nullopt;
  }
}

std::vector<std::string> Subprocess::Lines() {
  std::lock_guard lock(mu_);
  return lines_;
}

std::string Subprocess::Stderr() const {
  std::ifstream in(stderr_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Subprocess::Signal(int sig) {
  if (pid_ > 0 && !exit_code_) kill(pid_, sig);
}

bool Subprocess::running() {
  if (exit_code_) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return r == 0;
}

std::optional<int> Subprocess::Wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return exit_code_;
}

RunResult RunCommand(std::vector<std::string> argv, std::vector<std::string> env, std::optional<std::string> stdin_data) {
  Subprocess p(std::move(argv), std::move(env), std::move(stdin_data));
  auto code = p.Wait(std::chrono::seconds(60));
  std::string out;
  // The reader thread sees EOF once the child is gone; WaitForLine with an impossible needle drains it.
  p.WaitForLine("\x01\x02never", std::chrono::seconds(5));
  for (auto& l : p.Lines()) out += l + "\n";
  return {code.value_or(-1), out, p.Stderr()};
}

}  // namespace keyhole::testing
