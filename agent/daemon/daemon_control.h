// DaemonControl: what the run loop asks of its surroundings between steps: whether to stop (SIGTERM,
// SIGINT), whether to reload the config (SIGHUP), and a short interruptible sleep. SignalControl is
// the real one; tests script one over a fake clock. Used from the run loop's thread.
#pragma once

#include <chrono>

namespace keyhole::agent {

class DaemonControl {
 public:
  virtual ~DaemonControl() = default;
  virtual bool StopRequested() = 0;
  // True once per reload request.
  virtual bool TakeReloadRequest() = 0;
  // Sleeps at most `d` (a signal may end it early).
  virtual void Sleep(std::chrono::milliseconds d) = 0;
};

}  // namespace keyhole::agent
