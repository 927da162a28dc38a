// keyholectl: the admin command line over the coordinator's REST API. Glue only: the real
// environment, clock, signals and cpprestsdk client into RunKeyholectl (commands.h).
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "coordinator/ctl/commands.h"
#include "shared/rest/cpprest_client.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;

extern "C" void OnStopSignal(int) { g_stop = 1; }

// From `logs --follow` on, SIGINT and SIGTERM end the run cleanly instead of killing it.
void CatchStopSignals() {
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// Sleeps in short steps so that a signal ends the wait promptly.
bool WaitUnlessStopped(std::chrono::milliseconds d) {
  const auto deadline = std::chrono::steady_clock::now() + d;
  while (!g_stop) {
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) break;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(50)));
  }
  return !g_stop;
}

}  // namespace

int main(int argc, char** argv) {
  keyhole::RealClock clock;
  keyhole::ctl::CtlContext context{
      .getenv = [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        if (v == nullptr) return std::nullopt;
        return std::string(v);
      },
      .connect = &keyhole::rest::CpprestClient::Create,
      .clock = clock,
      .sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); },
      .out = std::cout,
      .err = std::cerr,
      .follow_begins = &CatchStopSignals,
      .follow_wait = &WaitUnlessStopped,
  };
  std::vector<std::string> args(argv + 1, argv + argc);
  return keyhole::ctl::RunKeyholectl(args, context);
}
