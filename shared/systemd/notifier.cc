#include "shared/systemd/notifier.h"

#include <systemd/sd-daemon.h>

#include <cstdint>

namespace keyhole {

std::string StatusLine(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return out;
}

SdNotifier::SdNotifier() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0) watchdog_ = std::chrono::microseconds(usec);
}

void SdNotifier::Send(const std::string& message) {
  // Nothing to do about a failure: the service manager is gone or never listened.
  (void)sd_notify(0, message.c_str());
}

void SdNotifier::Ready(std::string_view status) { Send("READY=1\nSTATUS=" + StatusLine(status)); }
void SdNotifier::Status(std::string_view status) { Send("STATUS=" + StatusLine(status)); }
void SdNotifier::Watchdog() { Send("WATCHDOG=1"); }
void SdNotifier::Stopping() { Send("STOPPING=1"); }

}  // namespace keyhole
