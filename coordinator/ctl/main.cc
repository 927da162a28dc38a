// keyholectl: the admin command line over the coordinator's REST API. Glue only: the real
// environment, clock and cpprestsdk client into RunKeyholectl (commands.h).
#include <cstdlib>
#include <iostream>
#include <thread>

#include "coordinator/ctl/commands.h"
#include "coordinator/ctl/cpprest_client.h"

int main(int argc, char** argv) {
  keyhole::RealClock clock;
  keyhole::ctl::CtlContext context{
      .getenv = [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        if (v == nullptr) return std::nullopt;
        return std::string(v);
      },
      .connect = &keyhole::ctl::CpprestClient::Create,
      .clock = clock,
      .sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); },
      .out = std::cout,
      .err = std::cerr,
  };
  std::vector<std::string> args(argv + 1, argv + argc);
  return keyhole::ctl::RunKeyholectl(args, context);
}
