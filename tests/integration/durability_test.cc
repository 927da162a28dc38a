// Durability: every creation and revocation that was acknowledged survives kill -9; token use is
// flushed within about a second and at shutdown.
#include <gtest/gtest.h>

#include <thread>

#include "tests/support/coordinator_process.h"
#include "tests/support/http_client.h"

namespace keyhole::testing {
namespace {

TEST(Durability, AcknowledgedChangesSurviveKill9) {
  CoordinatorProcess c;
  std::string admin = c.Init();
  ASSERT_TRUE(c.Start());
  std::vector<std::string> user_ids, live_tokens, revoked_tokens, revoked_ids;
  {
    TestHttpClient client(c.url());
    for (int i = 0; i < 20; ++i) {
      std::string login = "u" + std::to_string(i) + "@example.com";
      TestResponse u = client.Post("/api/v1/users", admin,
                                   {{"profile", {{"login", login}, {"email", login}, {"firstName", "A"}, {"lastName", "B"}}}});
      ASSERT_EQ(u.status, 200);
      user_ids.push_back(u.Json()["id"]);
      TestResponse t = client.Post("/api/v1/api-tokens", admin, {{"name", "t"}, {"userId", user_ids.back()}});
      ASSERT_EQ(t.status, 200);
      if (i % 2) {
        ASSERT_EQ(client.Delete("/api/v1/api-tokens/" + t.Json()["id"].get<std::string>(), admin).status, 204);
        revoked_tokens.push_back(t.Json()["token"]);
        revoked_ids.push_back(t.Json()["id"]);
      } else {
        live_tokens.push_back(t.Json()["token"]);
      }
    }
    ASSERT_EQ(client.Post("/api/v1/users/" + user_ids[0] + "/lifecycle/suspend", admin, nlohmann::json::object()).status, 200);
  }
  c.Kill9();
  ASSERT_TRUE(c.Start()) << c.Stderr();
  TestHttpClient client(c.url());
  for (auto& id : user_ids) EXPECT_EQ(client.Get("/api/v1/users/" + id, admin).status, 200) << id;
  EXPECT_EQ(client.Get("/api/v1/users/" + user_ids[0], admin).Json()["status"], "SUSPENDED");
  EXPECT_EQ(client.Get("/api/v1/users/me", live_tokens[0]).status, 401);  // its owner is suspended
  for (size_t i = 1; i < live_tokens.size(); ++i) EXPECT_EQ(client.Get("/api/v1/users/me", live_tokens[i]).status, 200);
  for (auto& t : revoked_tokens) EXPECT_EQ(client.Get("/api/v1/users/me", t).status, 401);
  for (auto& id : revoked_ids) EXPECT_EQ(client.Get("/api/v1/api-tokens/" + id, admin).status, 404);
}

// A new token of the admin's, used once: {secret, id, lastUsed as the server holds it in memory}.
struct UsedToken {
  std::string secret, id, last_used;
};

std::string LastUsed(TestHttpClient& client, const std::string& admin, const std::string& token_id);

UsedToken UseNewToken(TestHttpClient& client, const std::string& admin) {
  TestResponse t = client.Post("/api/v1/api-tokens", admin, {{"name", "probe"}});
  UsedToken u{t.Json()["token"], t.Json()["id"], ""};
  EXPECT_EQ(LastUsed(client, admin, u.id), "");
  EXPECT_EQ(client.Get("/api/v1/users/me", u.secret).status, 200);
  u.last_used = LastUsed(client, admin, u.id);
  EXPECT_FALSE(u.last_used.empty());
  return u;
}

std::string LastUsed(TestHttpClient& client, const std::string& admin, const std::string& token_id) {
  TestResponse t = client.Get("/api/v1/api-tokens/" + token_id, admin);
  return t.Json()["lastUsed"].is_string() ? t.Json()["lastUsed"].get<std::string>() : "";
}

TEST(Durability, TokenUseIsFlushedWithinAboutASecond) {
  CoordinatorProcess c;
  std::string admin = c.Init();
  ASSERT_TRUE(c.Start());
  TestHttpClient client(c.url());
  UsedToken used = UseNewToken(client, admin);
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  c.Kill9();
  ASSERT_TRUE(c.Start());
  TestHttpClient after(c.url());
  EXPECT_EQ(LastUsed(after, admin, used.id), used.last_used);
}

TEST(Durability, SigtermFlushesTokenUse) {
  CoordinatorProcess c;
  std::string admin = c.Init();
  ASSERT_TRUE(c.Start());
  TestHttpClient client(c.url());
  UsedToken used = UseNewToken(client, admin);
  EXPECT_EQ(c.Stop(), 0);  // at once: no time for the periodic flush
  ASSERT_TRUE(c.Start());
  TestHttpClient after(c.url());
  EXPECT_EQ(LastUsed(after, admin, used.id), used.last_used);
}

}  // namespace
}  // namespace keyhole::testing
