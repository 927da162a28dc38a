// The simulated agents of keyhole-tunnel-load (phases 2 and 3): each an AgentConnection speaking
// keyhole-tunnel.v1 over WebSocket/TLS (HELLO, then PINGs every Settings::ping_interval, PONGs to
// the coordinator's PINGs). A Worker is one io thread's share of them; only that thread touches
// its connections, the main thread reads the atomic counters and, under `mutex`, the rest.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "bench/tunnel_load/net.h"
#include "bench/tunnel_load/target.h"

namespace keyhole::bench {

// One io thread's share of the agents: its own io_context, so the connections of a thread need
// no locks; the counters are atomics read by the main thread.
struct Worker {
  asio::io_context ioc{1};
  std::vector<size_t> todo;  // indices into the token list
  size_t next = 0;
  int in_flight = 0;
  int max_in_flight = 1;
  std::mt19937 rng{std::random_device{}()};
  std::mutex mutex;
  std::vector<double> setup_ms;          // GUARDED_BY(mutex)
  std::vector<std::string> errors;       // GUARDED_BY(mutex): the first few
  std::atomic<long> up{0}, failed{0}, dropped{0}, pings{0}, pongs{0}, peer_pings{0};
};

struct Settings {
  const Target* target = nullptr;
  ssl::context* tls = nullptr;
  const std::vector<std::string>* tokens = nullptr;
  std::chrono::milliseconds ping_interval{20000};
  std::atomic<bool> pinging{true};  // off during the quiet window: timers run, no PING is sent
};

// Starts set-ups of `w.todo` until `w.max_in_flight` are in flight. REQUIRES: on w's io thread.
void StartNext(Worker& w, Settings& s);

struct Totals {
  long up = 0, failed = 0, dropped = 0, pings = 0, pongs = 0, peer_pings = 0;
};
// The counters of all workers, summed.
Totals Sum(const std::vector<std::unique_ptr<Worker>>& workers);

}  // namespace keyhole::bench
