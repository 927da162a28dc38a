#include "agent/daemon/signal_control.h"

#include <time.h>

#include <csignal>

namespace keyhole::agent {
namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
volatile std::sig_atomic_t g_reload = 0;

extern "C" void OnStop(int sig) { g_stop_signal = sig; }
extern "C" void OnReload(int) { g_reload = 1; }

void Install(int sig, void (*handler)(int)) {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a signal ends the loop's sleep at once
  sigaction(sig, &sa, nullptr);
}

}  // namespace

SignalControl::SignalControl() {
  Install(SIGTERM, &OnStop);
  Install(SIGINT, &OnStop);
  Install(SIGHUP, &OnReload);
  std::signal(SIGPIPE, SIG_IGN);
}

bool SignalControl::StopRequested() { return g_stop_signal != 0; }

bool SignalControl::TakeReloadRequest() {
  if (!g_reload) return false;
  g_reload = 0;
  return true;
}

void SignalControl::Sleep(std::chrono::milliseconds d) {
  if (d <= std::chrono::milliseconds::zero() || StopRequested()) return;
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(d.count() / 1000);
  ts.tv_nsec = static_cast<long>((d.count() % 1000) * 1000000);
  nanosleep(&ts, nullptr);  // EINTR is the point
}

}  // namespace keyhole::agent
