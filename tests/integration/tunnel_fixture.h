// TunnelTest: the tunnel end to end with real processes (issue 5): one coordinator (TLS, self-signed), two
// agents activated into one pool, each forwarding the upstream name "svc" to its own
// keyhole-test-upstream ("A" behind agent 0, "B" behind agent 1: X-Upstream says who answered) and
// "down" to a port where nothing listens. Bodies both ways with either framing, the headers that
// must not cross, load spread by requests in flight, 1 GiB each way and a stalled reader with the
// resident memory of the coordinator and the agents bounded, an agent killed mid-stream and before
// its first byte, an agent draining on SIGTERM, deactivation and revocation closing a tunnel within
// a second, the agent's upstream timeout (and a long upload not mistaken for it), and every refusal.
// The processes are shared by the suite (this fixture; the tests are in tunnel_*test.cc); each
// test's SetUp restores two connected agents.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <future>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "tests/support/agent_process.h"
#include "tests/support/byte_pattern.h"
#include "tests/support/coordinator_process.h"
#include "tests/support/http_client.h"
#include "tests/support/rss_sampler.h"
#include "tests/support/streaming_client.h"
#include "tests/support/temp_dir.h"
#include "tests/support/upstream_process.h"

namespace keyhole::testing {

using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;
constexpr int64_t kRssGrowthBound = 64ll << 20;  // the bound for a 1 GiB transfer
constexpr int kResponseTimeoutSeconds = 2;       // the coordinator's [tunnel] response_timeout_seconds
const char* const kUpstreamNames[2] = {"A", "B"};

inline int64_t Ms(Clock::duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d).count(); }

inline std::string Tail(const std::string& s, size_t n = 6000) {
  return s.size() <= n ? s : "…" + s.substr(s.size() - n);
}

inline double MiBs(int64_t bytes) { return static_cast<double>(bytes) / static_cast<double>(kMiB); }

// Everything the suite shares, started once.
struct World {
  TempDir dir;
  CoordinatorProcess coordinator;
  std::string admin;
  std::unique_ptr<TestHttpClient> api;
  std::unique_ptr<TestHttpClient> plain_api;  // the coordinator's loopback plain listener (--plain-listen)
  std::unique_ptr<StreamingHttpClient> streams;
  std::string pool;        // the two agents' pool
  std::string empty_pool;  // a pool with no agent
  std::unique_ptr<UpstreamProcess> upstream[2];
  std::unique_ptr<AgentProcess> agent[2];
  unsigned short dead_port = 0;
  int generation = 0;  // agents made so far (names stay unique)
};

class TunnelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (const char* name : {"KEYHOLE_ACTIVATION_CODE", "KEYHOLE_AGENT_TEST_KILL_AT", "NOTIFY_SOCKET", "WATCHDOG_USEC",
                             "WATCHDOG_PID", "JOURNAL_STREAM"}) {
      unsetenv(name);
    }
    suite_start_ = Clock::now();
    w_ = new World;
    try {
      setup_error_ = StartWorld(*w_);
    } catch (const std::exception& e) {
      setup_error_ = std::string("setting up: ") + e.what();
    }
    if (!setup_error_.empty()) setup_error_ += "\ncoordinator stderr:\n" + Tail(w_->coordinator.Stderr());
  }

  static void TearDownTestSuite() {
    delete w_;
    w_ = nullptr;
    std::cout << "[   info   ] tunnel suite wall time " << Ms(Clock::now() - suite_start_) << " ms\n";
  }

  void SetUp() override {
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    RestoreAgents();
  }

  void TearDown() override {
    if (!HasFailure() || w_ == nullptr) return;
    std::cerr << "coordinator stderr:\n" << Tail(w_->coordinator.Stderr()) << "\n";
    for (int i = 0; i < 2; ++i) {
      if (w_->agent[i]) std::cerr << "agent " << i << " stderr:\n" << Tail(w_->agent[i]->Stderr()) << "\n";
    }
  }

  // ---- the world ----

  static std::string StartWorld(World& w) {
    const std::string config = w.dir.File("coordinator.toml");
    std::ofstream(config) << "[tunnel]\nresponse_timeout_seconds = " << kResponseTimeoutSeconds << "\n";
    w.admin = w.coordinator.Init("admin@example.com");
    if (!w.coordinator.Start({.tls = true, .extra_args = {"--config", config, "--plain-listen", "127.0.0.1:0"}})) {
      return "the coordinator did not start";
    }
    auto plain = w.coordinator.process()->WaitForLine("also listening on ");
    if (!plain || plain->find("http://") == std::string::npos) return "the coordinator did not say where it listens in plain HTTP";
    const size_t at = plain->find("http://");
    w.plain_api = std::make_unique<TestHttpClient>(plain->substr(at, plain->find(' ', at) - at));
    w.api = std::make_unique<TestHttpClient>(w.coordinator.url());
    w.streams = std::make_unique<StreamingHttpClient>(w.coordinator.url());
    std::string error;
    w.pool = NewPool(w, "tunnel-pool", &error);
    if (!w.pool.empty()) w.empty_pool = NewPool(w, "pool-without-agents", &error);
    if (w.pool.empty() || w.empty_pool.empty()) return "could not create the pools: " + error;
    for (int i = 0; i < 2; ++i) w.upstream[i] = std::make_unique<UpstreamProcess>(kUpstreamNames[i]);
    w.dead_port = UnusedLoopbackPort();
    for (int i = 0; i < 2; ++i) {
      w.agent[i] = NewAgent(w, i, &error);
      if (!w.agent[i]) return error;
    }
    for (int i = 0; i < 2; ++i) {
      if (!WaitTunnel(w, i, true, 20s)) {
        return "agent " + std::to_string(i) + " did not connect its tunnel; its stderr:\n" + Tail(w.agent[i]->Stderr());
      }
    }
    return "";
  }

  static std::string NewPool(World& w, const std::string& name, std::string* error) {
    TestResponse r = w.api->Post("/api/v1/agentPools", w.admin, {{"name", name}, {"type", "HTTP"}});
    if (r.status != 200) *error = std::to_string(r.status) + " " + r.body;
    return r.status == 200 ? r.Json().value("id", "") : "";
  }

  // Activates and starts a new agent in slot `i` (serving upstream i); nullptr and `error` if it fails.
  static std::unique_ptr<AgentProcess> NewAgent(World& w, int i, std::string* error) {
    return StartAgent(w, w.pool, std::string("agent-") + kUpstreamNames[i], w.upstream[i]->url(), "", error);
  }

  // An agent of `pool` serving "svc" = `svc_url` and "down", with `tunnel_toml` added to its [tunnel].
  static std::unique_ptr<AgentProcess> StartAgent(World& w, const std::string& pool, const std::string& name,
                                                  const std::string& svc_url, const std::string& tunnel_toml,
                                                  std::string* error) {
    TestResponse c = w.api->Send("POST", "/api/v1/agentPools/" + pool + "/activationCodes", w.admin);
    if (c.status != 200) {
      *error = "activation code: " + std::to_string(c.status) + " " + c.body;
      return nullptr;
    }
    AgentProcess::Options o;
    o.name = name + "-" + std::to_string(++w.generation);
    o.upstreams = {{"svc", svc_url}, {"down", "http://127.0.0.1:" + std::to_string(w.dead_port)}};
    o.tunnel_toml = "ping_interval_seconds = 5\nping_timeout_seconds = 5\nupstream_connect_timeout_seconds = 2\n" +
                    tunnel_toml;
    o.log_level = "info";
    auto agent = std::make_unique<AgentProcess>(o);
    RunResult a = agent->Activate(w.coordinator.url(), w.coordinator.fingerprint(), c.Json().value("code", ""));
    if (a.exit_code != 0) {
      *error = "keyhole-agent activate → " + std::to_string(a.exit_code) + ": " + a.err;
      return nullptr;
    }
    agent->Start();
    return agent;
  }

  static json AgentJson(World& w, const std::string& agent_id) {
    TestResponse r = w.api->Get("/api/v1/agents/" + agent_id, w.admin);
    return r.status == 200 ? r.Json() : json::object();
  }
  static json AgentJson(World& w, int i) { return AgentJson(w, w.agent[i]->agent_id()); }
  static bool Connected(World& w, const std::string& agent_id) {
    json a = AgentJson(w, agent_id);
    return a.contains("tunnel") && a["tunnel"].value("connected", false);
  }
  static bool Connected(World& w, int i) { return Connected(w, w.agent[i]->agent_id()); }
  // Polls the coordinator's view of an agent's tunnel until it is `connected`; false after `timeout`.
  static bool WaitTunnel(World& w, const std::string& agent_id, bool connected, std::chrono::milliseconds timeout,
                         Clock::duration* took = nullptr) {
    const auto start = Clock::now();
    for (;;) {
      if (Connected(w, agent_id) == connected) {
        if (took) *took = Clock::now() - start;
        return true;
      }
      if (Clock::now() - start > timeout) return false;
      std::this_thread::sleep_for(20ms);
    }
  }
  static bool WaitTunnel(World& w, int i, bool connected, std::chrono::milliseconds timeout,
                         Clock::duration* took = nullptr) {
    return WaitTunnel(w, w.agent[i]->agent_id(), connected, timeout, took);
  }

  // Whatever earlier tests did (killed, deactivated, revoked an agent), two connected agents again.
  void RestoreAgents() {
    World& w = *w_;
    for (int i = 0; i < 2; ++i) {
      AgentProcess& a = *w.agent[i];
      if (a.running() && Connected(w, i)) continue;
      // Revoked for good: a new agent takes the slot.
      if (w.api->Get("/api/v1/api-tokens/" + a.token_id(), w.admin).status == 404) {
        a.Kill9();
        std::string error;
        w.agent[i] = NewAgent(w, i, &error);
        ASSERT_TRUE(w.agent[i]) << error;
        ASSERT_TRUE(WaitTunnel(w, i, true, 15s)) << "replacement agent " << i << ":\n" << Tail(w.agent[i]->Stderr());
        continue;
      }
      if (AgentJson(w, i).value("status", "") == "INACTIVE") {
        ASSERT_EQ(w.api->Send("POST", "/api/v1/agents/" + a.agent_id() + "/lifecycle/reactivate", w.admin).status, 200);
      }
      if (!a.running()) a.Start();
      if (WaitTunnel(w, i, true, 3s)) continue;
      // Still backing off (after a refusal, say): a restart dials at once.
      a.Stop(5s);
      a.Start();
      ASSERT_TRUE(WaitTunnel(w, i, true, 15s)) << "agent " << i << " did not reconnect:\n" << Tail(a.Stderr());
    }
  }

  // ---- requests ----

  static std::string TunnelPath(const std::string& rest, const std::string& upstream = "svc",
                                const std::string& pool = "") {
    return "/api/v1/agentPools/" + (pool.empty() ? w_->pool : pool) + "/tunnel/" + upstream + "/" + rest;
  }

  // One request through the tunnel; a broken connection is status -1 with the reason as body.
  static TestResponse Call(const std::string& method, const std::string& target, const std::string& body = "",
                           std::vector<std::pair<std::string, std::string>> headers = {},
                           const std::string& token = "<admin>") {
    try {
      return w_->api->Send(method, target, token == "<admin>" ? w_->admin : token, body, std::move(headers));
    } catch (const std::exception& e) {
      TestResponse r;
      r.status = -1;
      r.body = e.what();
      return r;
    }
  }
  static TestResponse Get(const std::string& rest) { return Call("GET", TunnelPath(rest)); }

  static std::vector<std::pair<std::string, std::string>> AdminAuth() {
    return {{"Authorization", "SSWS " + w_->admin}};
  }

  // The slot whose upstream answered (from X-Upstream), or -1.
  static int Served(const std::string& x_upstream) {
    for (int i = 0; i < 2; ++i) {
      if (x_upstream == kUpstreamNames[i]) return i;
    }
    return -1;
  }

  // The slot whose upstream received a request containing `tag`, waiting up to `timeout`; -1 if none.
  static int Receiver(const std::string& tag, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    do {
      for (int i = 0; i < 2; ++i) {
        if (w_->upstream[i]->SawRequest(tag)) return i;
      }
      std::this_thread::sleep_for(5ms);
    } while (Clock::now() < deadline);
    return -1;
  }

  static std::string Tag(const std::string& what) {
    static std::atomic<int> n{0};
    return "tag=" + what + "-" + std::to_string(++n) + "-";  // the dash: "…-1-" is no prefix of "…-12-"
  }

  static void ExpectOktaError(const TestResponse& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    json b = r.Json();
    ASSERT_TRUE(b.is_object()) << r.body;
    EXPECT_EQ(b.value("errorCode", ""), code) << r.body;
    EXPECT_TRUE(b.contains("errorSummary")) << r.body;
    EXPECT_TRUE(b.contains("errorId")) << r.body;
  }

  inline static World* w_ = nullptr;
  inline static std::string setup_error_;
  inline static Clock::time_point suite_start_;
};

}  // namespace keyhole::testing
