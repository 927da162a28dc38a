// The tunnel when an agent goes away: killed mid-stream or before its first byte, stopped with
// SIGTERM, deactivated, its token revoked (tunnel_fixture.h sets up the processes).
#include "tests/integration/tunnel_fixture.h"

namespace keyhole::testing {
namespace {

TEST_F(TunnelTest, AgentKilledMidStreamEndsTheResponseCleanlyAndTheOtherAgentServes) {
  int served = -1;
  Clock::time_point killed_at{};
  StreamingResult r = w_->streams->Exchange(
      {.target = TunnelPath("bytes?n=" + std::to_string(kGiB) + "&" + Tag("kill")), .headers = AdminAuth()},
      {.io_timeout = 15s,
       .keep_body = 0,
       .check_pattern = true,
       .on_head = [&](const StreamingResult& head) { served = Served(head.Header("X-Upstream")); },
       .on_progress =
           [&](uint64_t bytes) {
             if (bytes >= 16 * kMiB && killed_at == Clock::time_point{} && served >= 0) {
               w_->agent[served]->Kill9();
               killed_at = Clock::now();
             }
           }});
  ASSERT_NE(served, -1) << r.error;
  ASSERT_NE(killed_at, Clock::time_point{}) << "the download ended before 16 MiB: " << r.error;
  const int64_t ended_after = Ms(Clock::now() - killed_at);
  EXPECT_TRUE(r.head_received);
  EXPECT_FALSE(r.complete) << "a 1 GiB body cannot have arrived whole from a killed agent";
  EXPECT_FALSE(r.timed_out) << "the caller was left hanging: " << r.error;
  EXPECT_LT(r.body_bytes, kGiB);
  EXPECT_TRUE(r.pattern_ok) << "what did arrive is not what the upstream sent";
  EXPECT_LT(ended_after, 5000) << r.error;
  std::cout << "[   info   ] killed agent " << served << " after " << r.body_bytes / kMiB << " MiB; the caller saw \""
            << r.error << "\" " << ended_after << " ms later\n";

  // The coordinator noticed, and the other agent serves everything now.
  Clock::duration took{};
  EXPECT_TRUE(WaitTunnel(*w_, served, false, 2s, &took));
  for (int k = 0; k < 6; ++k) {
    TestResponse next = Get("hello");
    EXPECT_EQ(next.status, 200) << next.body;
    EXPECT_EQ(Served(next.Header("X-Upstream")), 1 - served);
  }
}

TEST_F(TunnelTest, GetWaitingForItsFirstByteIsRetriedOnTheOtherAgentWhenItsAgentDies) {
  const std::string tag = Tag("retry");
  const auto start = Clock::now();
  auto call = std::async(std::launch::async, [&] { return Get("slow?ms=1000&" + tag); });
  const int first = Receiver(tag, 3s);
  ASSERT_NE(first, -1) << "no upstream received the request";
  w_->agent[first]->Kill9();
  TestResponse r = call.get();
  const int64_t took = Ms(Clock::now() - start);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Served(r.Header("X-Upstream")), 1 - first) << r.body;
  EXPECT_TRUE(w_->upstream[1 - first]->SawRequest(tag)) << "not retried on the other agent";
  EXPECT_LT(took, 4000);
}

TEST_F(TunnelTest, PostWaitingForItsFirstByteIs502WhenItsAgentDies) {
  const std::string tag = Tag("post-retry");
  auto call = std::async(std::launch::async, [&] { return Call("POST", TunnelPath("slow?ms=1000&" + tag), "{}"); });
  const int first = Receiver(tag, 3s);
  ASSERT_NE(first, -1) << "no upstream received the request";
  w_->agent[first]->Kill9();
  TestResponse r = call.get();
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_EQ(r.Json().value("errorCode", "").rfind("KH", 0), 0u) << r.body;
  EXPECT_FALSE(w_->upstream[1 - first]->SawRequest(tag)) << "a POST was sent a second time";
}

TEST_F(TunnelTest, AgentStoppedWithSigtermFinishesItsOpenRequestThenExits) {
  const std::string tag = Tag("drain");
  auto call = std::async(std::launch::async, [&] { return Get("slow?ms=800&" + tag); });
  const int first = Receiver(tag, 3s);
  ASSERT_NE(first, -1) << "no upstream received the request";
  const auto stop = Clock::now();
  EXPECT_EQ(w_->agent[first]->Stop(10s), 0) << Tail(w_->agent[first]->Stderr());
  const int64_t took = Ms(Clock::now() - stop);
  TestResponse r = call.get();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Served(r.Header("X-Upstream")), first) << "the draining agent did not finish its request";
  EXPECT_LT(took, 5000) << "the agent took " << took << " ms to drain one 800 ms request";
  // Meanwhile and after, the other agent serves.
  EXPECT_TRUE(WaitTunnel(*w_, first, false, 2s));
  TestResponse next = Get("hello");
  EXPECT_EQ(next.status, 200) << next.body;
  EXPECT_EQ(Served(next.Header("X-Upstream")), 1 - first);
}

TEST_F(TunnelTest, DeactivationClosesTheTunnelWithinASecondAndReactivationReconnects) {
  // One slow request in flight on each agent while agent 0 is deactivated.
  std::vector<std::future<TestResponse>> calls;
  std::vector<std::string> tags;
  for (int k = 0; k < 2; ++k) {
    tags.push_back(Tag("deactivate"));
    calls.push_back(std::async(std::launch::async, [tag = tags.back()] { return Get("slow?ms=1500&" + tag); }));
  }
  for (const auto& tag : tags) ASSERT_NE(Receiver(tag, 3s), -1);

  const std::string id = w_->agent[0]->agent_id();
  ASSERT_EQ(w_->api->Send("POST", "/api/v1/agents/" + id + "/lifecycle/deactivate", w_->admin).status, 200);
  const auto deactivated = Clock::now();
  Clock::duration took{};
  ASSERT_TRUE(WaitTunnel(*w_, 0, false, 5s, &took)) << "the tunnel stayed up";
  EXPECT_LT(Ms(took), 1000) << "closed " << Ms(took) << " ms after the deactivation";
  std::cout << "[   info   ] deactivation closed the tunnel in " << Ms(took) << " ms\n";

  // The requests in flight end, cleanly and soon: done, retried elsewhere, or a 502.
  for (auto& c : calls) {
    ASSERT_EQ(c.wait_until(deactivated + 4s), std::future_status::ready) << "a request in flight hangs";
    TestResponse r = c.get();
    EXPECT_TRUE(r.status == 200 || r.status == 502) << r.status << " " << r.body;
  }
  for (int k = 0; k < 4; ++k) {
    TestResponse r = Get("hello");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Header("X-Upstream"), "B");
  }
  // The agent keeps its state and dials again once reactivated (its refusal backoff starts at 5 s).
  EXPECT_TRUE(w_->agent[0]->running());
  ASSERT_EQ(w_->api->Send("POST", "/api/v1/agents/" + id + "/lifecycle/reactivate", w_->admin).status, 200);
  // Its backoff after a refusal is 5 s, doubling with full jitter: a retry may fall before the reactivation.
  EXPECT_TRUE(WaitTunnel(*w_, 0, true, 30s, &took)) << "no reconnection after reactivation";
  std::cout << "[   info   ] reconnected " << Ms(took) << " ms after the reactivation\n";
}

TEST_F(TunnelTest, RevokingTheAgentsTokenClosesItsTunnelWithinASecond) {
  ASSERT_EQ(w_->api->Delete("/api/v1/api-tokens/" + w_->agent[1]->token_id(), w_->admin).status, 204);
  Clock::duration took{};
  ASSERT_TRUE(WaitTunnel(*w_, 1, false, 5s, &took)) << "the tunnel stayed up";
  EXPECT_LT(Ms(took), 1000) << "closed " << Ms(took) << " ms after the revocation";
  for (int k = 0; k < 4; ++k) {
    TestResponse r = Get("hello");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.Header("X-Upstream"), "A");
  }
  // A revoked token is final: the agent does not get back in with it.
  std::this_thread::sleep_for(1500ms);
  EXPECT_FALSE(Connected(*w_, 1));
}

// The coordinator's graceful shutdown with real processes, on a world of its own (the suite's
// coordinator must outlive the other tests): SIGTERM lets a tunneled request in flight finish,
// takes no new one, tells the agent why it goes (CLOSE SHUTTING_DOWN), and exits 0.
TEST(TunnelShutdown, CoordinatorSigtermFinishesTheRequestInFlightThenClosesTheTunnels) {
  CoordinatorProcess coordinator;
  const std::string admin = coordinator.Init("admin@example.com");
  ASSERT_TRUE(coordinator.Start({.tls = true})) << coordinator.Stderr();
  TestHttpClient api(coordinator.url());
  TestResponse pool = api.Post("/api/v1/agentPools", admin, {{"name", "drain"}, {"type", "HTTP"}});
  ASSERT_EQ(pool.status, 200) << pool.body;
  const std::string pool_id = pool.Json().value("id", "");
  TestResponse code = api.Send("POST", "/api/v1/agentPools/" + pool_id + "/activationCodes", admin);
  ASSERT_EQ(code.status, 200) << code.body;
  UpstreamProcess upstream("drain-upstream");
  AgentProcess::Options o;
  o.name = "drain-agent";
  o.upstreams = {{"svc", upstream.url()}};
  o.tunnel_toml = "ping_interval_seconds = 5\n";
  o.log_level = "info";
  AgentProcess agent(o);
  ASSERT_EQ(agent.Activate(coordinator.url(), coordinator.fingerprint(), code.Json().value("code", "")).exit_code, 0);
  agent.Start();
  const std::string tunnel = "/api/v1/agentPools/" + pool_id + "/tunnel/svc/";
  const auto up_deadline = Clock::now() + 20s;
  while (api.Get(tunnel + "hello", admin).status != 200) {
    ASSERT_LT(Clock::now(), up_deadline) << "no tunnel: " << agent.Stderr();
    std::this_thread::sleep_for(100ms);
  }

  auto slow = std::async(std::launch::async, [&] {
    TestHttpClient caller(coordinator.url());
    return caller.Get(tunnel + "slow?ms=1500&drain-in-flight", admin);
  });
  ASSERT_TRUE(upstream.WaitForRequest("drain-in-flight", 5s));
  const auto sigterm = Clock::now();
  coordinator.process()->Signal(SIGTERM);
  std::this_thread::sleep_for(200ms);
  // No new request gets through: the listener is closed (or a 503 KH0000008 on a live connection).
  int late = -1;
  try {
    late = api.Get(tunnel + "hello?drain-late", admin).status;
  } catch (const std::exception&) {
  }
  EXPECT_NE(late, 200);
  EXPECT_FALSE(upstream.SawRequest("drain-late"));

  TestResponse r = slow.get();
  EXPECT_EQ(r.status, 200) << "the request in flight was cut: " << r.body;
  std::optional<int> exit_code = coordinator.process()->Wait(15s);
  ASSERT_TRUE(exit_code.has_value()) << "the coordinator did not exit";
  EXPECT_EQ(*exit_code, 0) << coordinator.Stderr();
  EXPECT_LT(Ms(Clock::now() - sigterm), 10000) << "longer than the drain should take";
  // The agent heard why (CLOSE SHUTTING_DOWN), not just a dropped connection.
  const auto heard_deadline = Clock::now() + 5s;
  while (agent.Stderr().find("closed by the coordinator: SHUTTING_DOWN") == std::string::npos && Clock::now() < heard_deadline) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_NE(agent.Stderr().find("closed by the coordinator: SHUTTING_DOWN"), std::string::npos) << agent.Stderr();
  agent.Stop(5s);
}

}  // namespace
}  // namespace keyhole::testing
