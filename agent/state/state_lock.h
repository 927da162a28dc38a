// StateLock: an exclusive flock(2) on STATE_DIR/lock, so that one process at a time uses the
// agent's state. `run` holds it for its whole life; activate, rotate and deactivate take it without
// waiting and refuse while it is held; status reads without it (the state file is replaced
// atomically). The holder writes "<pid> <command>" into the file for the refusal message. Released
// when the object is destroyed or the process ends (the descriptor is O_CLOEXEC). Move-only.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "shared/errors/status.h"

namespace keyhole::agent {

class StateLock {
 public:
  // A lock held by another process is kFailedPrecondition, "keyhole-agent run is using DIR (pid N?)",
  // with Status::detail() the holder's command as it wrote it ("run", "rotate", …; "" if unknown).

  // Takes the lock without waiting; the file is created 0600 if need be. `command` names the
  // holder for others' messages.
  static StatusOr<StateLock> TryAcquire(const std::string& dir, std::string_view command);
  // As TryAcquire, but while a one-shot command (activate, rotate, deactivate) holds it, retries
  // every `poll` until `timeout`, or until `keep_waiting` answers false (then kUnavailable with
  // detail "aborted"). A holder that is (or may be) `run` is reported at once.
  static StatusOr<StateLock> Acquire(const std::string& dir, std::string_view command,
                                     std::chrono::milliseconds timeout, const std::function<bool()>& keep_waiting,
                                     std::chrono::milliseconds poll = std::chrono::milliseconds(100));

  StateLock(StateLock&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) { other.fd_ = -1; }
  StateLock& operator=(StateLock&& other) noexcept;
  StateLock(const StateLock&) = delete;
  StateLock& operator=(const StateLock&) = delete;
  ~StateLock();

  const std::string& path() const { return path_; }

 private:
  StateLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  int fd_ = -1;
  std::string path_;
};

}  // namespace keyhole::agent
