// The System Log against the real binary: what user and token operations over HTTP record, read
// back from /api/v1/logs with filters and Link pagination; and how durable it is. Events are
// written by the background loop about once a second (usage_flush_interval), so an event recorded
// more than ~2 s before a kill -9 survives it; SIGTERM flushes everything.
#include <gtest/gtest.h>

#include <thread>

#include "coordinator/http/url.h"
#include "tests/support/coordinator_process.h"
#include "tests/support/http_client.h"

namespace keyhole::testing {
namespace {

using keyhole::coord::PercentEncode;
using nlohmann::json;

json Profile(const std::string& login) {
  return {{"profile", {{"login", login}, {"email", login}, {"firstName", "Ada"}, {"lastName", "Lovelace"}}}};
}

std::string ByTarget(const std::string& id) { return "filter=" + PercentEncode("target.id eq \"" + id + "\""); }

std::vector<std::string> Types(const TestResponse& r) {
  std::vector<std::string> out;
  json body = r.Json();
  EXPECT_TRUE(body.is_array()) << r.body;
  for (const auto& e : body) out.push_back(e["eventType"]);
  return out;
}

TEST(SystemLogIntegration, OperationsAreReadBackWithFiltersAndPaging) {
  CoordinatorProcess c;
  std::string admin = c.Init();
  ASSERT_TRUE(c.Start()) << c.Stderr();
  TestHttpClient client(c.url());
  std::vector<std::pair<std::string, std::string>> ua = {{"User-Agent", "keyhole-integration/1"}};

  TestResponse u = client.Post("/api/v1/users", admin, Profile("ada@example.com"));
  ASSERT_EQ(u.status, 200) << u.body;
  std::string ada = u.Json()["id"];
  ASSERT_EQ(client.Send("POST", "/api/v1/users/" + ada + "/lifecycle/suspend", admin, "{}", ua).status, 200);
  ASSERT_EQ(client.Send("POST", "/api/v1/users/" + ada + "/lifecycle/unsuspend", admin, "{}", ua).status, 200);
  TestResponse t = client.Post("/api/v1/api-tokens", admin, {{"name", "ci"}, {"userId", ada}});
  ASSERT_EQ(t.status, 200);
  std::string token_id = t.Json()["id"], secret = t.Json()["token"];
  ASSERT_EQ(client.Get("/api/v1/users/me", secret).status, 200);
  ASSERT_EQ(client.Post("/api/v1/users/" + ada + "/lifecycle/deactivate", admin, json::object()).status, 200);
  // Refused because the owner is inactive: aggregated into one event however many times it is tried.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(client.Get("/api/v1/users/me", secret).status, 401);
  ASSERT_EQ(client.Delete("/api/v1/api-tokens/" + token_id, admin).status, 204);

  // Every event about Ada, oldest first; the reader sees events recorded just before it asks.
  TestResponse r = client.Get("/api/v1/logs?" + ByTarget(ada), admin);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Types(r), (std::vector<std::string>{"user.lifecycle.create", "user.lifecycle.activate",
                                                 "user.lifecycle.suspend", "user.lifecycle.unsuspend",
                                                 "system.api_token.create", "user.lifecycle.deactivate",
                                                 "system.api_token.revoke"}));
  EXPECT_NE(r.NextLink(), "");  // a polling query always has next
  EXPECT_EQ(r.body.find(secret), std::string::npos);
  json suspend = r.Json()[2];
  EXPECT_EQ(suspend["actor"]["alternateId"], "admin@example.com");
  EXPECT_EQ(suspend["client"]["ipAddress"], "127.0.0.1");
  EXPECT_EQ(suspend["client"]["userAgent"]["rawUserAgent"], "keyhole-integration/1");
  EXPECT_FALSE(suspend["transaction"]["id"].get<std::string>().empty());

  TestResponse refused = client.Get(
      "/api/v1/logs?filter=" + PercentEncode(R"(eventType eq "system.api_token.refused.owner_inactive")"), admin);
  ASSERT_EQ(Types(refused).size(), 1u) << refused.body;
  EXPECT_EQ(refused.Json()[0]["target"][0]["id"], token_id);

  // A bounded query pages with Link headers and ends without an empty page.
  std::vector<std::string> all;
  // (since defaults to seven days before until, so both are given.)
  std::string next =
      "/api/v1/logs?limit=2&since=2000-01-01T00:00:00.000Z&until=2999-01-01T00:00:00.000Z&" + ByTarget(ada);
  int pages = 0;
  while (!next.empty() && pages < 10) {
    TestResponse p = client.Get(next, admin);
    ASSERT_EQ(p.status, 200) << p.body;
    auto types = Types(p);
    ASSERT_FALSE(types.empty());
    all.insert(all.end(), types.begin(), types.end());
    next = p.NextLink();
    ++pages;
  }
  EXPECT_EQ(all, Types(r));
  EXPECT_EQ(pages, 4);

  // Polling: follow next past the end, then see only what happens afterwards.
  TestResponse poll = client.Get("/api/v1/logs?limit=1000", admin);
  ASSERT_NE(poll.NextLink(), "");
  TestResponse caught_up = client.Get(poll.NextLink(), admin);
  EXPECT_EQ(Types(caught_up).size(), 0u);
  ASSERT_NE(caught_up.NextLink(), "");
  ASSERT_EQ(client.Post("/api/v1/users", admin, Profile("bob@example.com")).status, 200);
  TestResponse fresh = client.Get(caught_up.NextLink(), admin);
  EXPECT_EQ(Types(fresh), (std::vector<std::string>{"user.lifecycle.create", "user.lifecycle.activate"}));

  TestResponse bad = client.Get("/api/v1/logs?since=last-week", admin);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.Json()["errorCode"], "E0000030");
  bad = client.Get("/api/v1/logs?filter=" + PercentEncode(R"(eventType co "user")"), admin);
  EXPECT_EQ(bad.Json()["errorCode"], "E0000031");
}

TEST(SystemLogIntegration, EventsSurviveKill9AfterTheFlushWindowAndSigtermFlushesAll) {
  CoordinatorProcess c;
  std::string admin = c.Init();
  ASSERT_TRUE(c.Start()) << c.Stderr();
  std::vector<std::string> ids;
  {
    TestHttpClient client(c.url());
    for (int i = 0; i < 5; ++i) {
      TestResponse u = client.Post("/api/v1/users", admin, Profile("k" + std::to_string(i) + "@example.com"));
      ASSERT_EQ(u.status, 200);
      ids.push_back(u.Json()["id"]);
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // past the ~1 s flush window
  c.Kill9();
  ASSERT_TRUE(c.Start()) << c.Stderr();
  {
    TestHttpClient client(c.url());
    for (const std::string& id : ids) {
      TestResponse r = client.Get("/api/v1/logs?" + ByTarget(id), admin);
      EXPECT_EQ(Types(r), (std::vector<std::string>{"user.lifecycle.create", "user.lifecycle.activate"})) << id;
    }
    // The init command's token is on record too.
    TestResponse init = client.Get(
        "/api/v1/logs?filter=" + PercentEncode(R"(eventType eq "system.api_token.create")"), admin);
    EXPECT_EQ(Types(init).size(), 1u);
    ASSERT_EQ(client.Post("/api/v1/users/" + ids[0] + "/lifecycle/suspend", admin, json::object()).status, 200);
  }
  EXPECT_EQ(c.Stop(), 0);  // at once: SIGTERM writes what is still queued
  ASSERT_TRUE(c.Start()) << c.Stderr();
  TestHttpClient client(c.url());
  TestResponse r = client.Get("/api/v1/logs?" + ByTarget(ids[0]), admin);
  EXPECT_EQ(Types(r).back(), "user.lifecycle.suspend");
}

}  // namespace
}  // namespace keyhole::testing
