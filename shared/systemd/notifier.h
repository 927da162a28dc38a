// Notifier: what a daemon tells its service manager (sd_notify): READY=1 with a STATUS= line, a
// current STATUS= line, WATCHDOG=1 pings and STOPPING=1. SdNotifier is the libsystemd one; it does
// nothing when NOTIFY_SOCKET is unset. Tests use a recording fake. SdNotifier is thread-safe.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace keyhole {

class Notifier {
 public:
  virtual ~Notifier() = default;
  virtual void Ready(std::string_view status) = 0;
  virtual void Status(std::string_view status) = 0;
  virtual void Watchdog() = 0;
  virtual void Stopping() = 0;
  // The service's watchdog timeout (WATCHDOG_USEC), or zero when no watchdog is enabled for this
  // process. Ping at half of it.
  virtual std::chrono::microseconds WatchdogInterval() const = 0;
};

class SdNotifier final : public Notifier {
 public:
  // Reads WATCHDOG_USEC/WATCHDOG_PID once (sd_watchdog_enabled).
  SdNotifier();
  void Ready(std::string_view status) override;
  void Status(std::string_view status) override;
  void Watchdog() override;
  void Stopping() override;
  std::chrono::microseconds WatchdogInterval() const override { return watchdog_; }

 private:
  static void Send(const std::string& message);
  std::chrono::microseconds watchdog_{0};
};

// One line for STATUS=: control characters become spaces.
std::string StatusLine(std::string_view text);

}  // namespace keyhole
