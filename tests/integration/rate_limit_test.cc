// Rate limits on the real coordinator: exactness under 16 concurrent clients, the headers, the
// per-IP throttle of bad tokens, and a temporary exception raising a limit over HTTP.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "shared/clock/iso8601.h"
#include "tests/support/coordinator_process.h"
#include "tests/support/http_client.h"

namespace keyhole::testing {
namespace {

constexpr int kLimit = 150;

class RateLimitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(config.File("coordinator.toml")) << "[ratelimits]\n"
                                                      "unauthenticated_per_minute = 10\n"
                                                      "trusted_proxies = [\"127.0.0.1\"]\n"
                                                      "[ratelimits.endpoints]\n"
                                                      "\"GET /api/v1/users/me\" = " << kLimit << "\n";
    admin = coordinator.Init();
    ASSERT_TRUE(coordinator.Start({.extra_args = {"--config", config.File("coordinator.toml")}})) << coordinator.Stderr();
    client = std::make_unique<TestHttpClient>(coordinator.url());
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << coordinator.Stderr();
  }

  TempDir config;
  CoordinatorProcess coordinator;
  std::string admin;
  std::unique_ptr<TestHttpClient> client;
};

TEST_F(RateLimitTest, SixteenConcurrentClientsGetExactlyTheLimit) {
  // Successes are grouped by the window they fell in (X-Rate-Limit-Reset): in every window that
  // refused anything, exactly kLimit requests got through, not one more.
  std::mutex mu;
  std::map<std::string, int> ok_by_window, refused_by_window;
  std::atomic<int> malformed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      TestHttpClient c(coordinator.url());
      for (int i = 0; i < 15; ++i) {
        TestResponse r = c.Get("/api/v1/users/me", admin);
        std::string reset = r.Header("X-Rate-Limit-Reset");
        if (reset.empty() || (r.status != 200 && r.status != 429)) ++malformed;
        if (r.status == 429 && r.Json().value("errorCode", "") != "E0000047") ++malformed;
        std::lock_guard lock(mu);
        (r.status == 200 ? ok_by_window : refused_by_window)[reset]++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(malformed.load(), 0);
  ASSERT_FALSE(refused_by_window.empty());  // 240 requests against 150: some must be refused
  for (const auto& [window, refused] : refused_by_window) {
    EXPECT_EQ(ok_by_window[window], kLimit) << "window ending " << window << " refused " << refused;
  }
}

TEST_F(RateLimitTest, HeadersAndTheLimitsListing) {
  TestResponse me = client->Get("/api/v1/users/me", admin);
  EXPECT_EQ(me.Header("X-Rate-Limit-Limit"), std::to_string(kLimit));
  EXPECT_EQ(me.All("X-Rate-Limit-Reset").size(), 1u);
  int64_t reset = std::stoll(me.Header("X-Rate-Limit-Reset"));
  int64_t date = ToEpochMillis(*ParseIso8601(FormatIso8601(RealClock().Now()))) / 1000;
  EXPECT_GT(reset, date - 1);
  EXPECT_LE(reset, date + 61);
  TestResponse list = client->Get("/api/v1/rateLimits", admin);
  ASSERT_EQ(list.status, 200) << list.body;
  bool saw_logs = false, saw_me = false;
  for (const auto& e : list.Json()) {
    if (e["method"] == "GET" && e["path"] == "/api/v1/logs") saw_logs = e["limit"] == 60;
    if (e["method"] == "GET" && e["path"] == "/api/v1/users/me") saw_me = e["limit"] == kLimit && e["used"] >= 1;
  }
  EXPECT_TRUE(saw_logs);
  EXPECT_TRUE(saw_me);
}

TEST_F(RateLimitTest, BadTokensAreThrottledPerClientAddress) {
  // The coordinator trusts 127.0.0.1 as a proxy: X-Forwarded-For names the client here.
  std::vector<std::pair<std::string, std::string>> attacker = {{"X-Forwarded-For", "203.0.113.66"}};
  for (int i = 0; i < 10; ++i) {
    TestResponse r = client->Send("GET", "/api/v1/users/me", "khu_guess" + std::to_string(i), "", attacker);
    ASSERT_EQ(r.status, 401) << i;
  }
  TestResponse blocked = client->Send("GET", "/api/v1/users/me", "khu_guess", "", attacker);
  EXPECT_EQ(blocked.status, 429);
  EXPECT_EQ(blocked.Json()["errorCode"], "E0000047");
  EXPECT_EQ(blocked.Header("X-Rate-Limit-Remaining"), "0");
  // Refused before any lookup, even with a valid token, until the window turns.
  EXPECT_EQ(client->Send("GET", "/api/v1/users/me", admin, "", attacker).status, 429);
  // Everyone else is unaffected; and the violation is in the system log, once.
  EXPECT_EQ(client->Get("/api/v1/users/me", admin).status, 200);
  client->Send("GET", "/api/v1/users/me", "khu_guess", "", attacker);
  TestResponse logs = client->Get("/api/v1/logs?filter=eventType%20eq%20%22system.rate_limit.violation%22", admin);
  ASSERT_EQ(logs.status, 200) << logs.body;
  ASSERT_EQ(logs.Json().size(), 1u) << logs.body;
  EXPECT_EQ(logs.Json()[0]["client"]["ipAddress"], "203.0.113.66");
  EXPECT_EQ(logs.Json()[0]["outcome"]["result"], "RATE_LIMIT");
}

TEST_F(RateLimitTest, AnApprovedExceptionRaisesTheLimitUntilCanceled) {
  WallTime now = RealClock().Now();
  nlohmann::json request = {
      {"org", "acme"},
      {"endpoints", {{{"endpoint", "GET /api/v1/users/me"}, {"perMinute", 900}}}},
      {"start", FormatIso8601(now - std::chrono::seconds(1))},
      {"end", FormatIso8601(now + std::chrono::hours(1))},
      {"justification", "Load test of the partner integration"},
  };
  TestResponse late = client->Post("/api/v1/rateLimits/exceptions", admin, request);
  EXPECT_EQ(late.status, 400);  // inside the 10-business-day lead time
  EXPECT_NE(late.body.find("business days"), std::string::npos) << late.body;
  request["leadTimeOverride"] = {{"reason", "Approved by the CTO in incident 12"}};
  TestResponse filed = client->Post("/api/v1/rateLimits/exceptions", admin, request);
  ASSERT_EQ(filed.status, 200) << filed.body;
  EXPECT_EQ(filed.Json()["status"], "PENDING");
  std::string id = filed.Json()["id"];
  EXPECT_EQ(client->Get("/api/v1/users/me", admin).Header("X-Rate-Limit-Limit"), std::to_string(kLimit));
  TestResponse approved = client->Post("/api/v1/rateLimits/exceptions/" + id + "/lifecycle/approve", admin, {{"reason", "ok"}});
  ASSERT_EQ(approved.status, 200) << approved.body;
  EXPECT_EQ(approved.Json()["inForce"], true);
  EXPECT_EQ(client->Get("/api/v1/users/me", admin).Header("X-Rate-Limit-Limit"), "900");
  EXPECT_EQ(client->Post("/api/v1/rateLimits/exceptions/" + id + "/lifecycle/approve", admin, nlohmann::json::object()).status, 400);
  EXPECT_EQ(client->Post("/api/v1/rateLimits/exceptions/" + id + "/lifecycle/cancel", admin, nlohmann::json::object()).status, 200);
  EXPECT_EQ(client->Get("/api/v1/users/me", admin).Header("X-Rate-Limit-Limit"), std::to_string(kLimit));
  TestResponse events = client->Get("/api/v1/logs?q=exception&filter=target.id%20eq%20%22" + id + "%22", admin);
  ASSERT_EQ(events.status, 200);
  std::vector<std::string> types;
  for (const auto& e : events.Json()) types.push_back(e["eventType"]);
  EXPECT_EQ(types, (std::vector<std::string>{"system.rate_limit.exception.request", "system.rate_limit.exception.approve",
                                              "system.rate_limit.exception.cancel"}));
  EXPECT_EQ(client->Get("/api/v1/rateLimits/exceptions?status=CANCELED", admin).Json().size(), 1u);
}

}  // namespace
}  // namespace keyhole::testing
