// Agents against the real coordinator binary (docs/AGENTS.md): activation with a one-time code,
// the agent's token among the API tokens, deactivation and revocation, rotation with a short
// grace period, and kill -9 right after activation and after rotation.
#include <gtest/gtest.h>

#include <map>

#include <fstream>
#include <thread>

#include "coordinator/http/url.h"
#include "shared/token/token_codec.h"
#include "tests/support/coordinator_process.h"
#include "tests/support/http_client.h"

namespace keyhole::testing {
namespace {

using keyhole::coord::PercentEncode;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Agent {
  std::string id, token, token_id, code;
};

class AgentsIntegration : public ::testing::Test {
 protected:
  void StartCoordinator(bool tls) {
    std::ofstream(config.File("coordinator.toml")) << "[agents]\nrotation_grace_seconds = 1\n";
    admin = coordinator.Init();
    ASSERT_TRUE(coordinator.Start({.tls = tls, .extra_args = {"--config", config.File("coordinator.toml")}}))
        << coordinator.Stderr();
    client = std::make_unique<TestHttpClient>(coordinator.url());
  }

  void Restart() {
    ASSERT_TRUE(coordinator.Start({.extra_args = {"--config", config.File("coordinator.toml")}})) << coordinator.Stderr();
    client = std::make_unique<TestHttpClient>(coordinator.url());
  }

  std::string NewPool(const std::string& name) {
    TestResponse r = client->Post("/api/v1/agentPools", admin, {{"name", name}, {"type", "LDAP"}});
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Json().value("id", "");
  }

  std::string NewCode(const std::string& pool) {
    TestResponse r = client->Send("POST", "/api/v1/agentPools/" + pool + "/activationCodes", admin);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Json().value("code", "");
  }

  TestResponse ActivateWith(const std::string& code) {
    return client->Post("/api/v1/agents/activate", "",
                        {{"code", code}, {"name", "dc-eu1-01"}, {"host", "dc-eu1-01.corp.example"}, {"version", "0.1.0"}});
  }

  Agent Activate(const std::string& pool) {
    Agent a;
    a.code = NewCode(pool);
    TestResponse r = ActivateWith(a.code);
    EXPECT_EQ(r.status, 200) << r.body;
    json b = r.Json();
    a.id = b["agent"].value("id", "");
    a.token = b["apiToken"].value("token", "");
    a.token_id = b["apiToken"].value("id", "");
    return a;
  }

  int Me(const std::string& token) { return client->Get("/api/v1/agents/me", token).status; }

  int Lifecycle(const std::string& agent_id, const std::string& op) {
    return client->Send("POST", "/api/v1/agents/" + agent_id + "/lifecycle/" + op, admin).status;
  }

  // The token's record as an admin sees it with includeRevoked (null if absent).
  json TokenRecord(const std::string& id) {
    TestResponse r = client->Get("/api/v1/api-tokens?includeRevoked=true&ownerType=AGENT&limit=200", admin);
    EXPECT_EQ(r.status, 200) << r.body;
    for (const json& t : r.Json()) {
      if (t["id"] == id) return t;
    }
    return nullptr;
  }

  // Polls the System Log for events of `type` until `want` are there or 10 s pass.
  json Events(const std::string& type, size_t want) {
    const std::string target = "/api/v1/logs?filter=" + PercentEncode("eventType eq \"" + type + "\"");
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    json body;
    do {
      TestResponse r = client->Get(target, admin);
      EXPECT_EQ(r.status, 200) << r.body;
      body = r.Json();
      if (body.is_array() && body.size() >= want) return body;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (Clock::now() < deadline);
    return body;
  }

  TempDir config;
  CoordinatorProcess coordinator;
  std::unique_ptr<TestHttpClient> client;
  std::string admin;
};

TEST_F(AgentsIntegration, ActivationLifecycleAndRevocationOverHttps) {
  StartCoordinator(/*tls=*/true);
  ASSERT_EQ(coordinator.url().rfind("https://", 0), 0u);
  std::string pool = NewPool("dc-eu");
  Agent a = Activate(pool);
  ASSERT_FALSE(a.token.empty());
  EXPECT_EQ(Me(a.token), 200);

  // The code is spent: refused exactly like garbage.
  TestResponse again = ActivateWith(a.code);
  TestResponse garbage = ActivateWith("khc_garbage");
  EXPECT_EQ(again.status, 401);
  EXPECT_EQ(garbage.status, 401);
  EXPECT_EQ(again.Json()["errorCode"], "E0000011");
  EXPECT_EQ(again.Json()["errorSummary"], garbage.Json()["errorSummary"]);
  EXPECT_EQ(again.Json()["errorCauses"], garbage.Json()["errorCauses"]);

  // Listed as an agent's token.
  TestResponse listed = client->Get("/api/v1/api-tokens?ownerType=AGENT", admin);
  ASSERT_EQ(listed.status, 200);
  ASSERT_EQ(listed.Json().size(), 1u) << listed.body;
  EXPECT_EQ(listed.Json()[0]["id"], a.token_id);
  EXPECT_EQ(listed.Json()[0]["ownerType"], "AGENT");
  EXPECT_EQ(listed.Json()[0]["agent"]["id"], a.id);
  EXPECT_EQ(listed.Json()[0]["agent"]["poolName"], "dc-eu");
  EXPECT_FALSE(listed.Json()[0].contains("userId"));
  // And refused everywhere but its own routes.
  EXPECT_EQ(client->Get("/api/v1/users", a.token).status, 403);

  // Deactivated: refused; reactivated: the same token works again.
  ASSERT_EQ(Lifecycle(a.id, "deactivate"), 200);
  EXPECT_EQ(Me(a.token), 401);
  ASSERT_EQ(Lifecycle(a.id, "reactivate"), 200);
  EXPECT_EQ(Me(a.token), 200);

  // Revoked by an admin: refused for good, even after another deactivation and reactivation.
  ASSERT_EQ(client->Delete("/api/v1/api-tokens/" + a.token_id, admin).status, 204);
  EXPECT_EQ(Me(a.token), 401);
  ASSERT_EQ(Lifecycle(a.id, "deactivate"), 200);
  ASSERT_EQ(Lifecycle(a.id, "reactivate"), 200);
  EXPECT_EQ(Me(a.token), 401);

  // The System Log has the activation and the refused attempts.
  json events = Events("agent.lifecycle.activate", 3);
  ASSERT_TRUE(events.is_array());
  int success = 0, failure = 0;
  for (const json& e : events) {
    if (e["outcome"]["result"] == "SUCCESS") {
      ++success;
      bool names_agent = false;
      for (const json& t : e["target"]) names_agent |= t["id"] == a.id;
      EXPECT_TRUE(names_agent) << e.dump();
    } else if (e["outcome"]["result"] == "FAILURE") {
      ++failure;
    }
  }
  EXPECT_EQ(success, 1) << events.dump();
  EXPECT_EQ(failure, 2) << events.dump();
  EXPECT_EQ(Events("agent.lifecycle.deactivate", 2).size(), 2u);
  EXPECT_EQ(Events("agent.lifecycle.reactivate", 2).size(), 2u);
  EXPECT_EQ(Events("agent.pool.create", 1).size(), 1u);
}

TEST_F(AgentsIntegration, Kill9AfterActivationLosesNothing) {
  StartCoordinator(/*tls=*/false);
  std::string pool = NewPool("p");
  Agent a = Activate(pool);
  coordinator.Kill9();
  Restart();
  EXPECT_EQ(Me(a.token), 200);
  TestResponse agent = client->Get("/api/v1/agents/" + a.id, admin);
  ASSERT_EQ(agent.status, 200) << agent.body;
  EXPECT_EQ(agent.Json()["status"], "ACTIVE");
  EXPECT_EQ(agent.Json()["poolId"], pool);
  EXPECT_EQ(ActivateWith(a.code).status, 401);  // still spent
  TestResponse codes = client->Get("/api/v1/agentPools/" + pool + "/activationCodes", admin);
  ASSERT_EQ(codes.Json().size(), 1u);
  EXPECT_EQ(codes.Json()[0]["status"], "USED");
  EXPECT_EQ(codes.Json()[0]["agentId"], a.id);
  EXPECT_EQ(TokenRecord(a.token_id)["status"], "ACTIVE");
}

TEST_F(AgentsIntegration, HeartbeatsAreWrittenAtShutdown) {
  StartCoordinator(/*tls=*/false);
  Agent a = Activate(NewPool("p"));
  TestResponse hb = client->Post("/api/v1/agents/me/heartbeat", a.token, {{"version", "0.2.0"}});
  ASSERT_EQ(hb.status, 200) << hb.body;
  // A heartbeat that changes nothing but the time is written only by the flush.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a later millisecond
  hb = client->Send("POST", "/api/v1/agents/me/heartbeat", a.token);
  ASSERT_EQ(hb.status, 200) << hb.body;
  const int64_t last = hb.Json()["lastConnection"];
  ASSERT_EQ(coordinator.Stop(), 0) << coordinator.Stderr();
  Restart();
  TestResponse agent = client->Get("/api/v1/agents/" + a.id, admin);
  ASSERT_EQ(agent.status, 200);
  EXPECT_EQ(agent.Json()["lastConnection"], last);
  EXPECT_EQ(agent.Json()["version"], "0.2.0");
}

TEST_F(AgentsIntegration, RotationWithAShortGraceAndKill9) {
  StartCoordinator(/*tls=*/false);
  Agent a = Activate(NewPool("p"));

  // Rotate, then kill -9 at once: the successor is stored, the old token marked to retire.
  const std::string next = TokenCodec::Generate(TokenKind::kAgent);
  TestResponse r = client->Post("/api/v1/agents/me/token/rotate", a.token, {{"token", next}});
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string next_id = r.Json()["id"];
  EXPECT_FALSE(r.Json().contains("token"));
  coordinator.Kill9();
  Restart();
  EXPECT_EQ(Me(next), 200);     // the successor survived
  EXPECT_EQ(Me(a.token), 401);  // retired: by the successor's use, or by the end of its 1 s grace
  json old_record = TokenRecord(a.token_id);
  ASSERT_TRUE(old_record.is_object());
  EXPECT_EQ(old_record["status"], "REVOKED");
  EXPECT_EQ(old_record["revocationReason"], "ROTATED");

  // A second rotation, the successor never used: the old token works until the grace ends.
  const std::string third = TokenCodec::Generate(TokenKind::kAgent);
  r = client->Post("/api/v1/agents/me/token/rotate", next, {{"token", third}});
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string third_id = r.Json()["id"];
  EXPECT_EQ(Me(next), 200);
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (Me(next) == 200 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(Me(next), 401) << "still valid 5 s after a rotation with a 1 s grace";
  EXPECT_EQ(TokenRecord(third_id)["status"], "ACTIVE");  // its successor was never used

  coordinator.Kill9();
  Restart();
  EXPECT_EQ(Me(next), 401);
  EXPECT_EQ(TokenRecord(next_id)["revocationReason"], "ROTATED");
  EXPECT_EQ(Me(third), 200);
  EXPECT_EQ(TokenRecord(third_id)["status"], "ACTIVE");
  TestResponse agent = client->Get("/api/v1/agents/" + a.id, admin);
  EXPECT_EQ(agent.Json()["status"], "ACTIVE");
}

// M5: the tunnel's upgrade route counts per agent too (ratelimits.agent_tunnel_connects_per_minute),
// so one agent reconnecting in a loop cannot spend the budget all the others need.
TEST_F(AgentsIntegration, EachAgentHasItsOwnBudgetOfTunnelConnects) {
  std::ofstream(config.File("coordinator.toml")) << "[ratelimits]\nagent_tunnel_connects_per_minute = 3\n";
  admin = coordinator.Init();
  ASSERT_TRUE(coordinator.Start({.extra_args = {"--config", config.File("coordinator.toml")}})) << coordinator.Stderr();
  client = std::make_unique<TestHttpClient>(coordinator.url());
  const std::string pool = NewPool("p");
  Agent a = Activate(pool);
  Agent b = Activate(pool);
  // Not a WebSocket upgrade: what passes the limits fails after them (never a 429).
  auto connect = [&](const std::string& token) -> TestResponse {
    try {
      return client->Get("/api/v1/agents/me/tunnel", token);
    } catch (const std::exception& e) {
      TestResponse r;
      r.status = -1;
      r.body = e.what();
      return r;
    }
  };
  // Grouped by window (the minute may turn during the test): 8 tries fill at least one window.
  std::map<std::string, int> passed, refused;
  std::string reset;
  auto minute = [] {
    return std::chrono::duration_cast<std::chrono::minutes>(std::chrono::system_clock::now().time_since_epoch()).count();
  };
  for (int i = 0; i < 8; ++i) {
    const auto before = minute();
    TestResponse r = connect(a.token);
    if (r.status == 429) {
      reset = r.Header("X-Rate-Limit-Reset");
      ++refused[reset];
      EXPECT_EQ(r.Header("X-Rate-Limit-Limit"), "3");
      EXPECT_EQ(r.Json().value("errorCode", ""), "E0000047") << r.body;
    } else if (minute() == before) {  // a request straddling the minute's turn is not counted
      ++passed[std::to_string(before)];
    }
  }
  ASSERT_FALSE(refused.empty()) << "8 connects at 3 per minute: some refused";
  int most = 0;
  for (const auto& [window, n] : passed) most = std::max(most, n);
  EXPECT_LE(most, 3) << "no window let more than 3 through";
  EXPECT_GE(most, 2);
  // Another agent's budget is its own, and the agent's other routes are not touched.
  EXPECT_NE(connect(b.token).status, 429);
  EXPECT_EQ(Me(a.token), 200);
}

}  // namespace
}  // namespace keyhole::testing
