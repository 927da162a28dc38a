// SignalControl: the DaemonControl of the real process: SIGTERM and SIGINT request a stop, SIGHUP a
// config reload. The handlers only set flags (sig_atomic_t, necessarily process-wide); construct one
// per process, before any other thread starts, and keep it for the process's life.
#pragma once

#include "agent/daemon/daemon_control.h"

namespace keyhole::agent {

class SignalControl final : public DaemonControl {
 public:
  SignalControl();  // installs the handlers
  bool StopRequested() override;
  bool TakeReloadRequest() override;
  void Sleep(std::chrono::milliseconds d) override;
};

}  // namespace keyhole::agent
