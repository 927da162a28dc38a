// keyhole-tunnel-load: connects N agents (default 10,000) to one coordinator over the tunnel
// protocol, to measure what an idle agent connection costs the coordinator (issue 5, "Scale").
//   1. activation: creates a pool, then one activation code and one POST /api/v1/agents/activate
//      per agent over the admin API, from a bounded pool of keep-alive HTTPS connections
//      (or reads the tokens of an earlier run from --tokens-file);
//   2. connection: opens N WebSocket/TLS connections to /api/v1/agents/me/tunnel (SSWS token,
//      subprotocol keyhole-tunnel.v1), each sending HELLO and waiting for the coordinator's HELLO,
//      with a bounded number of set-ups in flight, spread over a few io threads;
//   3. idle: every connection sends a PING every --ping-interval seconds (first one at a random
//      offset, as agents that connected at different times would) and answers the coordinator's;
// while it samples the coordinator's resident memory and CPU time from /proc/PID (same host).
// Bench-only code: exceptions from Asio are not used (error_code overloads); errors are counted.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/system/error_code.hpp>

#include "bench/tunnel_load/activation.h"
#include "bench/tunnel_load/agent_connection.h"
#include "bench/tunnel_load/measure.h"
#include "bench/tunnel_load/target.h"

namespace {

using namespace keyhole::bench;  // NOLINT: the tool's own pieces
using boost::system::error_code;

// Starts `command` (sh -c) in the background, e.g. a profiler attached for a while.
void RunHook(const std::string& command, const char* what) {
  if (command.empty()) return;
  Log(std::string(what) + ": " + command);
  std::string line = "(" + command + ") &";
  if (std::system(line.c_str()) != 0) Log(std::string(what) + ": could not start");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"keyhole-tunnel-load: N agents on one coordinator's tunnel endpoint"};
  std::string on_connect, on_idle;
  std::string url, ca_file, admin_token_file, tokens_file, pool_name = "tunnel-load";
  size_t agents = 10000;
  size_t probe = 100;
  int threads = 2, in_flight = 200, activation_workers = 16, coordinator_pid = 0;
  double quiet_seconds = 15;
  double idle_seconds = 60, baseline_seconds = 10, ping_interval = 20;
  app.add_option("--url", url, "coordinator, https://HOST:PORT")->required();
  app.add_option("--ca-file", ca_file, "PEM the coordinator's certificate is verified with")->required();
  app.add_option("--admin-token-file", admin_token_file, "file holding a SUPER_ADMIN token")->required();
  app.add_option("--agents", agents, "agents to connect")->capture_default_str();
  app.add_option("--tokens-file", tokens_file,
                 "first line the pool id, then one agent token a line: read if it holds enough tokens, "
                 "else written after activating");
  app.add_option("--pool-name", pool_name)->capture_default_str();
  app.add_option("--activation-workers", activation_workers, "parallel activation connections")->capture_default_str();
  app.add_option("--threads", threads, "io threads for the tunnel connections")->capture_default_str();
  app.add_option("--one-at-a-time", probe, "agents connected one after another first (unloaded set-up time)")
      ->capture_default_str();
  app.add_option("--in-flight", in_flight, "connection set-ups in flight at once")->capture_default_str();
  app.add_option("--baseline-seconds", baseline_seconds, "coordinator CPU sampled with no agent connected")
      ->capture_default_str();
  app.add_option("--quiet-seconds", quiet_seconds, "connected, no PINGs sent (keep it + 2 ping intervals under the coordinator's 60 s idle rule)")
      ->capture_default_str();
  app.add_option("--idle-seconds", idle_seconds, "measured idle period with all agents connected")
      ->capture_default_str();
  app.add_option("--ping-interval", ping_interval, "seconds between an agent's PINGs")->capture_default_str();
  app.add_option("--on-connect", on_connect, "shell command started (in the background) as the mass set-up begins");
  app.add_option("--on-idle", on_idle, "shell command started (in the background) as the idle period begins");
  app.add_option("--coordinator-pid", coordinator_pid, "the coordinator's process id, for /proc sampling")->required();
  CLI11_PARSE(app, argc, argv);

  Target target;
  std::string error;
  if (!ParseHttpsUrl(url, target, error)) {
    Log(error);
    return 2;
  }
  std::string admin_token;
  {
    std::ifstream in(admin_token_file);
    std::getline(in, admin_token);
    if (admin_token.empty()) {
      Log("no token in " + admin_token_file);
      return 2;
    }
  }
  ssl::context tls(ssl::context::tls_client);
  tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  tls.set_verify_mode(ssl::verify_peer);
  error_code ec;
  tls.load_verify_file(ca_file, ec);
  if (ec) {
    Log("cannot load " + ca_file + ": " + ec.message());
    return 2;
  }
  // The client side's own buffers are not what is measured; keep them small anyway.
  SSL_CTX_set_mode(tls.native_handle(), SSL_MODE_RELEASE_BUFFERS);

  const long hz = sysconf(_SC_CLK_TCK);
  const double tick_ms = 1000.0 / static_cast<double>(hz);
  if (ReadRssKib(coordinator_pid) < 0) {
    Log("no process " + std::to_string(coordinator_pid));
    return 2;
  }

  // ---- phase 1 ----
  Activated activated;
  bool have_tokens = false;
  if (!tokens_file.empty()) {
    std::ifstream in(tokens_file);
    std::string line;
    if (std::getline(in, line) && !line.empty()) {
      activated.pool_id = line;
      while (std::getline(in, line)) {
        if (!line.empty()) activated.tokens.push_back(line);
      }
      if (activated.tokens.size() >= agents) {
        activated.tokens.resize(agents);
        have_tokens = true;
        Log("read " + std::to_string(agents) + " agent tokens of pool " + activated.pool_id + " from " + tokens_file);
      }
    }
  }
  if (!have_tokens) {
    activated = {};
    Log("activating " + std::to_string(agents) + " agents with " + std::to_string(activation_workers) +
        " connections");
    if (!ActivateAgents(tls, target, admin_token, agents, activation_workers, pool_name, activated)) return 1;
    if (!tokens_file.empty()) {
      std::ofstream out(tokens_file);
      out << activated.pool_id << "\n";
      for (auto& t : activated.tokens) out << t << "\n";
    }
  }

  // ---- baseline: the coordinator with no tunnel connection, once the activations' work settled ----
  std::this_thread::sleep_for(std::chrono::seconds(2));
  long rss_before = ReadRssKib(coordinator_pid);
  long cpu_base0 = ReadCpuTicks(coordinator_pid);
  auto tb = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(baseline_seconds));
  double base_s = SecondsSince(tb);
  long cpu_base1 = ReadCpuTicks(coordinator_pid);
  rss_before = std::max(rss_before, ReadRssKib(coordinator_pid));
  double base_cpu_ms = static_cast<double>(cpu_base1 - cpu_base0) * tick_ms;
  {
    char line[200];
    std::snprintf(line, sizeof line, "baseline: coordinator RSS %ld KiB, CPU %.0f ms in %.1f s", rss_before,
                  base_cpu_ms, base_s);
    Log(line);
  }

  // ---- phase 2: first a few agents one at a time (the set-up an idle coordinator gives), then
  // the rest with --in-flight set-ups at once ----
  Settings settings;
  settings.target = &target;
  settings.tls = &tls;
  settings.tokens = &activated.tokens;
  settings.ping_interval = std::chrono::milliseconds(static_cast<long>(ping_interval * 1000));
  threads = std::max(1, threads);
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> io_threads;
  struct Batch {
    double seconds = 0;
    double cpu_ms = 0;
    long up = 0, failed = 0;
    std::vector<double> setup_ms;
  };
  auto run_batch = [&](size_t first, size_t last, int nthreads, int limit, const char* label) {
    Batch b;
    if (first >= last) return b;
    size_t begin = workers.size();
    for (int t = 0; t < nthreads; ++t) {
      workers.push_back(std::make_unique<Worker>());
      workers.back()->max_in_flight = std::max(1, (limit + nthreads - 1) / nthreads);
    }
    for (size_t i = first; i < last; ++i) workers[begin + (i - first) % nthreads]->todo.push_back(i);
    long cpu0 = ReadCpuTicks(coordinator_pid);
    Totals before = Sum(workers);
    auto t0 = Clock::now();
    for (size_t k = begin; k < workers.size(); ++k) {
      Worker* wp = workers[k].get();
      asio::post(wp->ioc, [wp, &settings] { StartNext(*wp, settings); });
      io_threads.emplace_back([wp] {
        auto guard = asio::make_work_guard(wp->ioc);
        wp->ioc.run();
      });
    }
    const long want = static_cast<long>(last - first);
    long last_report = 0;
    auto last_time = Clock::now();
    while (true) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      Totals t = Sum(workers);
      long settled = (t.up + t.failed + t.dropped) - (before.up + before.failed + before.dropped);
      if (settled / 1000 != last_report / 1000 || SecondsSince(last_time) > 5) {
        last_report = settled;
        last_time = Clock::now();
        char line[200];
        std::snprintf(line, sizeof line, "%s: %ld/%ld settled (%ld failed) after %.1f s; coordinator RSS %ld KiB",
                      label, settled, want, t.failed - before.failed, SecondsSince(t0), ReadRssKib(coordinator_pid));
        Log(line);
      }
      if (settled >= want) break;
    }
    b.seconds = SecondsSince(t0);
    b.cpu_ms = static_cast<double>(ReadCpuTicks(coordinator_pid) - cpu0) * tick_ms;
    Totals after = Sum(workers);
    b.up = after.up - before.up;
    b.failed = after.failed - before.failed;
    for (size_t k = begin; k < workers.size(); ++k) {
      std::lock_guard<std::mutex> lock(workers[k]->mutex);
      b.setup_ms.insert(b.setup_ms.end(), workers[k]->setup_ms.begin(), workers[k]->setup_ms.end());
      for (auto& e : workers[k]->errors) Log(std::string(label) + ": error: " + e);
    }
    char line[300];
    std::snprintf(line, sizeof line,
                  "%s: %ld connected, %ld failed in %.2f s (%.0f/s); per connection p50 %.1f ms, p99 %.1f ms, "
                  "max %.1f ms; coordinator CPU %.0f ms",
                  label, b.up, b.failed, b.seconds, b.up / b.seconds, Percentile(b.setup_ms, 0.5),
                  Percentile(b.setup_ms, 0.99), Percentile(b.setup_ms, 1.0), b.cpu_ms);
    Log(line);
    return b;
  };
  const size_t probe_n = std::min(probe, agents);
  Batch one = run_batch(0, probe_n, 1, 1, "one at a time");
  RunHook(on_connect, "--on-connect");
  Batch bulk = run_batch(probe_n, agents, threads, in_flight, "all at once");
  Totals after_connect = Sum(workers);
  const double connect_s = bulk.seconds;
  const std::vector<double>& setup_ms = bulk.setup_ms;
  const double connect_cpu_ms = one.cpu_ms + bulk.cpu_ms;

  // ---- phase 3: idle with heartbeats ----
  // Let the set-up's garbage settle before the memory is read.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  long rss_connected = ReadRssKib(coordinator_pid);
  CheckListing(tls, target, admin_token, activated.pool_id, static_cast<size_t>(after_connect.up));
  RunHook(on_idle, "--on-idle");
  // Quiet window: connected, no PINGs from the agents, so what the coordinator spends is what it
  // spends on idle connections by itself (its sweeps, its own timers). Shorter than the
  // coordinator's 60 s idle rule minus one ping interval, so nobody is closed for silence.
  settings.pinging = false;
  long cpu_quiet0 = ReadCpuTicks(coordinator_pid);
  auto tq = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(quiet_seconds));
  double quiet_s = SecondsSince(tq);
  double quiet_cpu_ms = static_cast<double>(ReadCpuTicks(coordinator_pid) - cpu_quiet0) * tick_ms;
  settings.pinging = true;
  Totals idle0 = Sum(workers);
  long cpu_idle0 = ReadCpuTicks(coordinator_pid);
  auto ti = Clock::now();
  long rss_max = rss_connected;
  while (SecondsSince(ti) < idle_seconds) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    rss_max = std::max(rss_max, ReadRssKib(coordinator_pid));
  }
  double idle_s = SecondsSince(ti);
  long cpu_idle1 = ReadCpuTicks(coordinator_pid);
  Totals idle1 = Sum(workers);
  long rss_idle_end = ReadRssKib(coordinator_pid);

  // ---- disconnect all, then the memory again ----
  for (auto& w : workers) w->ioc.stop();
  for (auto& t : io_threads) t.join();
  workers.clear();  // destroys the connections: their sockets close
  std::this_thread::sleep_for(std::chrono::seconds(3));
  long rss_after_close = ReadRssKib(coordinator_pid);
  // jemalloc hands freed pages back to the kernel after its decay time (10 s by default).
  std::this_thread::sleep_for(std::chrono::seconds(12));
  long rss_after_close_late = ReadRssKib(coordinator_pid);
  CheckListing(tls, target, admin_token, activated.pool_id, 0, "LISTING_AFTER");

  struct rusage self {};
  getrusage(RUSAGE_SELF, &self);

  const long n = after_connect.up;
  const double per_conn_kib = n > 0 ? static_cast<double>(rss_connected - rss_before) / n : 0;
  const double per_conn_end_kib = n > 0 ? static_cast<double>(rss_idle_end - rss_before) / n : 0;
  const double idle_cpu_ms = static_cast<double>(cpu_idle1 - cpu_idle0) * tick_ms;
  const double base_rate = base_s > 0 ? base_cpu_ms / base_s : 0;  // ms per s with no agent
  const double quiet_rate = quiet_s > 0 ? quiet_cpu_ms / quiet_s : 0;  // ms per s, connected, no PINGs
  const double net_idle_cpu_ms = std::max(0.0, idle_cpu_ms - quiet_rate * idle_s);
  const long pings = idle1.pings - idle0.pings;
  const long pongs = idle1.pongs - idle0.pongs;

  std::printf("\n");
  std::printf("| figure | value |\n|---|---:|\n");
  std::printf("| agents connected (of %zu) | %ld (%ld failed, %ld dropped during the idle period) |\n", agents,
              n, after_connect.failed, idle1.dropped - after_connect.dropped);
  std::printf("| set-up of one connection alone (TCP + TLS + upgrade + HELLO; %ld agents one at a time), p50 / p99 "
              "| %.2f / %.2f ms |\n",
              one.up, Percentile(one.setup_ms, 0.5), Percentile(one.setup_ms, 0.99));
  std::printf("| set-up of the other %ld, %d in flight at once (%d io threads): all | %.2f s (%.0f connections/s) |\n",
              bulk.up, in_flight, threads, connect_s, bulk.up / connect_s);
  std::printf("| … per connection under that load, p50 / p99 / max | %.1f / %.1f / %.1f ms |\n",
              Percentile(setup_ms, 0.5), Percentile(setup_ms, 0.99), Percentile(setup_ms, 1.0));
  std::printf("| coordinator CPU for the set-ups | %.0f ms (%.0f µs per connection) |\n", connect_cpu_ms,
              n > 0 ? connect_cpu_ms * 1000 / n : 0);
  std::printf("| coordinator RSS: before → all connected → end of idle → 3 s / 15 s after all disconnected | %.1f → "
              "%.1f → %.1f → %.1f / %.1f MiB |\n",
              rss_before / 1024.0, rss_connected / 1024.0, rss_idle_end / 1024.0, rss_after_close / 1024.0,
              rss_after_close_late / 1024.0);
  std::printf("| **memory per idle agent connection** (RSS growth / connections) | **%.1f KiB** (%.1f KiB at the "
              "end of the idle period) |\n",
              per_conn_kib, per_conn_end_kib);
  std::printf("| coordinator RSS, highest sample during the idle period | %.1f MiB |\n", rss_max / 1024.0);
  std::printf("| idle period | %.0f s, PING every %.0f s per agent: %ld PINGs, %ld PONGs (%.0f PINGs/s) |\n", idle_s,
              ping_interval, pings, pongs, pings / idle_s);
  std::printf("| coordinator CPU, no agent connected (%.0f s) | %.2f %% of one core |\n", base_s, base_rate / 10.0);
  std::printf("| coordinator CPU, all connected, no PINGs (%.0f s) | %.2f %% of one core = %.1f µs per connection per "
              "second |\n",
              quiet_s, quiet_rate / 10.0, n > 0 ? (quiet_rate - base_rate) * 1000 / n : 0);
  std::printf("| coordinator CPU, all connected, PINGs (%.0f s) | %.2f %% of one core |\n", idle_s,
              idle_cpu_ms / 10.0 / idle_s);
  std::printf("| **CPU per heartbeat** (PING → PONG; PING period minus no-PING period) | **%.1f µs** |\n",
              pings > 0 ? net_idle_cpu_ms * 1000 / static_cast<double>(pings) : 0);
  std::printf("| load tool itself | %.1f s CPU, max RSS %.0f MiB |\n",
              self.ru_utime.tv_sec + self.ru_stime.tv_sec + (self.ru_utime.tv_usec + self.ru_stime.tv_usec) / 1e6,
              self.ru_maxrss / 1024.0);
  std::printf("RESULT agents=%ld failed=%ld one_p50_ms=%.2f connect_s=%.3f p50_ms=%.2f p99_ms=%.2f rss_before_kib=%ld "
              "rss_connected_kib=%ld rss_idle_end_kib=%ld rss_after_close_kib=%ld rss_after_close_late_kib=%ld per_conn_kib=%.1f "
              "quiet_cpu_ms=%.0f quiet_s=%.1f idle_cpu_ms=%.0f idle_s=%.1f pings=%ld pongs=%ld us_per_ping=%.1f\n",
              n, after_connect.failed, Percentile(one.setup_ms, 0.5), connect_s, Percentile(setup_ms, 0.5), Percentile(setup_ms, 0.99), rss_before,
              rss_connected, rss_idle_end, rss_after_close, rss_after_close_late, per_conn_kib, quiet_cpu_ms, quiet_s, idle_cpu_ms, idle_s, pings, pongs,
              pings > 0 ? net_idle_cpu_ms * 1000 / static_cast<double>(pings) : 0);
  std::fflush(stdout);
  bool ok = n == static_cast<long>(agents) && idle1.dropped == after_connect.dropped && pongs >= pings * 9 / 10;
  return ok ? 0 : 1;
}
