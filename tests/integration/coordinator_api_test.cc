// The real keyhole-coordinator on an ephemeral loopback port with a fresh data directory,
// driven over HTTP the way an Okta client would drive it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <set>
#include <thread>

#include "tests/support/coordinator_process.h"
#include "tests/support/http_client.h"

namespace keyhole::testing {
namespace {

nlohmann::json NewUserBody(const std::string& login) {
  return {{"profile", {{"login", login}, {"email", login}, {"firstName", "Test"}, {"lastName", "User"}}}};
}

class CoordinatorApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    admin = coordinator.Init("admin@example.com");
    ASSERT_TRUE(coordinator.Start()) << coordinator.Stderr();
    client = std::make_unique<TestHttpClient>(coordinator.url());
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "coordinator stderr:\n" << coordinator.Stderr();
  }

  // Creates an active user and a token for it; returns {user id, token}.
  std::pair<std::string, std::string> UserWithToken(const std::string& login) {
    TestResponse u = client->Post("/api/v1/users?activate=true", admin, NewUserBody(login));
    EXPECT_EQ(u.status, 200) << u.body;
    std::string id = u.Json()["id"];
    TestResponse t = client->Post("/api/v1/api-tokens", admin, {{"name", "for " + login}, {"userId", id}});
    EXPECT_EQ(t.status, 200) << t.body;
    return {id, t.Json()["token"]};
  }

  static void ExpectError(const TestResponse& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    nlohmann::json e = r.Json();
    ASSERT_TRUE(e.is_object()) << r.body;
    EXPECT_EQ(e["errorCode"], code) << r.body;
    EXPECT_EQ(e["errorLink"], code);
    EXPECT_TRUE(e["errorId"].is_string());
    EXPECT_TRUE(e["errorSummary"].is_string());
    EXPECT_TRUE(e["errorCauses"].is_array());
    EXPECT_EQ(r.Header("Content-Type"), "application/json");
    EXPECT_FALSE(r.Header("X-Okta-Request-Id").empty());
    EXPECT_FALSE(r.Header("Date").empty());
  }

  CoordinatorProcess coordinator;
  std::string admin;
  std::unique_ptr<TestHttpClient> client;
};

TEST_F(CoordinatorApiTest, HealthIsPublicAndMeNeedsAToken) {
  EXPECT_EQ(client->Get("/healthz", "").status, 200);
  TestResponse me = client->Get("/api/v1/users/me", admin);
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(me.Json()["profile"]["login"], "admin@example.com");
  EXPECT_EQ(me.Json()["status"], "ACTIVE");
  EXPECT_FALSE(me.Header("ETag").empty());
  ExpectError(client->Get("/api/v1/users/me", ""), 401, "E0000011");
}

TEST_F(CoordinatorApiTest, PaginationFollowsLinkHeadersToTheEnd) {
  std::set<std::string> created;
  for (int i = 0; i < 7; ++i) created.insert(UserWithToken("user" + std::to_string(i) + "@example.com").first);
  std::set<std::string> seen;
  std::string next = "/api/v1/users?limit=3";
  int pages = 0;
  while (!next.empty()) {
    TestResponse page = client->Get(next, admin);
    ASSERT_EQ(page.status, 200) << page.body;
    ASSERT_EQ(page.All("Link").size(), page.NextLink().empty() ? 1u : 2u);
    EXPECT_EQ(page.All("Link")[0].find("<" + coordinator.url() + "/api/v1/users?"), 0u) << page.All("Link")[0];
    EXPECT_FALSE(page.Json().empty()) << "an empty page must not have been linked";
    for (auto& u : page.Json()) EXPECT_TRUE(seen.insert(u["id"].get<std::string>()).second);
    next = page.NextLink();
    if (!next.empty()) {
      EXPECT_NE(next.find("limit=3"), std::string::npos);
    }
    ASSERT_LT(++pages, 10);
  }
  EXPECT_EQ(pages, 3);  // 8 users: 3 + 3 + 2
  EXPECT_EQ(seen.size(), 8u);
  for (auto& id : created) EXPECT_TRUE(seen.count(id));

  // Tokens page the same way (admin's own token + 7).
  seen.clear();
  next = "/api/v1/api-tokens?limit=5";
  pages = 0;
  while (!next.empty()) {
    TestResponse page = client->Get(next, admin);
    ASSERT_EQ(page.status, 200);
    for (auto& t : page.Json()) {
      EXPECT_TRUE(seen.insert(t["id"].get<std::string>()).second);
      EXPECT_FALSE(t.contains("token"));
    }
    next = page.NextLink();
    ASSERT_LT(++pages, 10);
  }
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(seen.size(), 8u);
}

TEST_F(CoordinatorApiTest, EveryErrorObject) {
  auto [plain_id, plain] = UserWithToken("plain@example.com");
  ExpectError(client->Get("/api/v1/users/me", "khu_not_a_real_token"), 401, "E0000011");
  ExpectError(client->Get("/api/v1/users", plain), 403, "E0000006");
  ExpectError(client->Get("/api/v1/users/00uDoesNotExist00000", admin), 404, "E0000007");
  ExpectError(client->Get("/api/v1/api-tokens/00TDoesNotExist00000", admin), 404, "E0000007");
  ExpectError(client->Get("/api/v1/no-such-thing", admin), 404, "E0000008");
  ExpectError(client->Send("PATCH", "/api/v1/users", admin), 405, "E0000022");
  ExpectError(client->Send("GET", "/api/v1/users/me", admin, "", {{"Accept", "text/html"}}), 406, "E0000122");
  ExpectError(client->Send("POST", "/api/v1/users", admin, "{not json"), 400, "E0000003");
  TestResponse v = client->Post("/api/v1/users", admin, {{"profile", {{"login", "x"}}}});
  ExpectError(v, 400, "E0000001");
  EXPECT_GE(v.Json()["errorCauses"].size(), 3u);
  ExpectError(client->Post("/api/v1/users", admin, NewUserBody("plain@example.com")), 400, "E0000001");
  ExpectError(client->Send("POST", "/api/v1/api-tokens", admin, "name=x", {{"Content-Type", "text/plain"}}), 415,
              "KH0000002");
  ExpectError(client->Send("POST", "/api/v1/api-tokens", admin, std::string(2 << 20, 'x')), 413, "KH0000001");
  ExpectError(client->Get("/api/v1/users?limit=zero", admin), 400, "E0000029");
  ExpectError(client->Post("/api/v1/users/" + plain_id + "/lifecycle/activate", admin, nlohmann::json::object()), 403,
              "E0000016");
  ExpectError(client->Post("/api/v1/users/" + plain_id + "/lifecycle/reactivate", admin, nlohmann::json::object()),
              403, "E0000038");
}

TEST_F(CoordinatorApiTest, DeactivatedOwnerIsRefusedThenAcceptedAgain) {
  auto [id, token] = UserWithToken("ada@example.com");
  EXPECT_EQ(client->Get("/api/v1/users/me", token).status, 200);
  ASSERT_EQ(client->Post("/api/v1/users/" + id + "/lifecycle/deactivate", admin, nlohmann::json::object()).status, 200);
  ExpectError(client->Get("/api/v1/users/me", token), 401, "E0000011");
  ASSERT_EQ(client->Post("/api/v1/users/" + id + "/lifecycle/activate", admin, nlohmann::json::object()).status, 200);
  EXPECT_EQ(client->Get("/api/v1/users/me", token).status, 200);

  ASSERT_EQ(client->Post("/api/v1/users/" + id + "/lifecycle/suspend", admin, nlohmann::json::object()).status, 200);
  ExpectError(client->Get("/api/v1/users/me", token), 401, "E0000011");
  ASSERT_EQ(client->Post("/api/v1/users/" + id + "/lifecycle/unsuspend", admin, nlohmann::json::object()).status, 200);
  EXPECT_EQ(client->Get("/api/v1/users/me", token).status, 200);
}

TEST_F(CoordinatorApiTest, RevokedStaysRevokedAndDropsOutOfTheList) {
  auto [id, token] = UserWithToken("ada@example.com");
  TestResponse list = client->Get("/api/v1/api-tokens?userId=" + id, admin);
  ASSERT_EQ(list.Json().size(), 1u);
  std::string token_id = list.Json()[0]["id"];
  EXPECT_EQ(client->Delete("/api/v1/api-tokens/" + token_id, admin).status, 204);
  ExpectError(client->Get("/api/v1/users/me", token), 401, "E0000011");
  ExpectError(client->Get("/api/v1/api-tokens/" + token_id, admin), 404, "E0000007");
  EXPECT_TRUE(client->Get("/api/v1/api-tokens?userId=" + id, admin).Json().empty());
  TestResponse audit = client->Get("/api/v1/api-tokens?userId=" + id + "&includeRevoked=true", admin);
  ASSERT_EQ(audit.Json().size(), 1u);
  EXPECT_EQ(audit.Json()[0]["status"], "REVOKED");
  EXPECT_EQ(audit.Json()[0]["revocationReason"], "REVOKED");
  // Reactivating the owner does not bring a revoked token back.
  client->Post("/api/v1/users/" + id + "/lifecycle/deactivate", admin, nlohmann::json::object());
  client->Post("/api/v1/users/" + id + "/lifecycle/activate", admin, nlohmann::json::object());
  ExpectError(client->Get("/api/v1/users/me", token), 401, "E0000011");
}

TEST_F(CoordinatorApiTest, DeleteDeactivatesThenDeletes) {
  auto [id, token] = UserWithToken("gone@example.com");
  EXPECT_EQ(client->Delete("/api/v1/users/" + id, admin).status, 204);
  EXPECT_EQ(client->Get("/api/v1/users/" + id, admin).Json()["status"], "DEPROVISIONED");
  EXPECT_EQ(client->Delete("/api/v1/users/" + id, admin).status, 204);
  ExpectError(client->Get("/api/v1/users/" + id, admin), 404, "E0000007");
  ExpectError(client->Get("/api/v1/users/me", token), 401, "E0000011");
}

TEST_F(CoordinatorApiTest, UsersSearchFilterAndUpdate) {
  auto [id, token] = UserWithToken("grace@example.com");
  UserWithToken("alan@example.com");
  TestResponse q = client->Get("/api/v1/users?q=gra", admin);
  ASSERT_EQ(q.Json().size(), 1u);
  EXPECT_TRUE(q.NextLink().empty());
  TestResponse upd = client->Post("/api/v1/users/" + id, admin, {{"profile", {{"firstName", "Grace"}}}});
  ASSERT_EQ(upd.status, 200) << upd.body;
  EXPECT_EQ(upd.Json()["profile"]["firstName"], "Grace");
  EXPECT_EQ(upd.Json()["profile"]["lastName"], "User");
  TestResponse put = client->Send("PUT", "/api/v1/users/" + id, admin, nlohmann::json{{"profile", {{"login", "grace@example.com"}}}}.dump());
  ExpectError(put, 400, "E0000001");  // a full replace must carry the required fields
  client->Post("/api/v1/users/" + id + "/lifecycle/deactivate", admin, nlohmann::json::object());
  EXPECT_EQ(client->Get("/api/v1/users", admin).Json().size(), 2u);  // admin + alan
  EXPECT_EQ(client->Get("/api/v1/users?filter=status%20eq%20%22DEPROVISIONED%22", admin).Json().size(), 1u);
}

TEST_F(CoordinatorApiTest, HostileBytesGetAnErrorOrACleanClose) {
  std::string garbage = client->SendRaw("\x16\x03\x01 not http at all\r\n\r\n");
  EXPECT_NE(garbage.find("400"), std::string::npos) << garbage;
  std::string huge_header = client->SendRaw("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(64 << 10, 'a') + "\r\n\r\n");
  EXPECT_NE(huge_header.find("431"), std::string::npos) << huge_header.substr(0, 200);
  std::string lying_length = client->SendRaw("POST /api/v1/api-tokens HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n");
  EXPECT_NE(lying_length.find("413"), std::string::npos) << lying_length.substr(0, 200);
  std::string smuggle = client->SendRaw(
      "POST /api/v1/api-tokens HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_NE(smuggle.find("400"), std::string::npos) << smuggle.substr(0, 200);
  // The server is still healthy.
  EXPECT_EQ(client->Get("/healthz", "").status, 200);
}

TEST_F(CoordinatorApiTest, RawBytesInHeadersAreLoggedSafely) {
  // Regression: an event carrying a User-Agent that is not UTF-8 once crashed the log writer.
  TestResponse t = client->Send("POST", "/api/v1/api-tokens", admin, R"({"name":"bytes"})",
                                {{"User-Agent", "agent\xff\xfe/1.0"}});
  ASSERT_EQ(t.status, 200) << t.body;
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // past the log's flush
  ASSERT_TRUE(coordinator.process()->running()) << coordinator.Stderr();
  TestResponse logs = client->Get("/api/v1/logs?filter=target.id%20eq%20%22" + t.Json()["id"].get<std::string>() + "%22", admin);
  ASSERT_EQ(logs.status, 200) << logs.body;
  ASSERT_EQ(logs.Json().size(), 1u);
  EXPECT_EQ(logs.Json()[0]["client"]["userAgent"]["rawUserAgent"], "agent\xEF\xBF\xBD\xEF\xBF\xBD/1.0");
}

TEST(CoordinatorRobustness, SlowClientIsCutOffAtTheRequestTimeout) {
  CoordinatorProcess c;
  c.Init();
  ASSERT_TRUE(c.Start({.extra_args = {"--request-timeout", "1"}}));
  TestHttpClient client(c.url());
  auto start = std::chrono::steady_clock::now();
  // Half a request head, then silence: the server must close, not wait forever.
  std::string reply = client.SendRaw("GET /healthz HTTP/1.1\r\nHost: x\r\n");
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(reply.empty()) << reply;
  EXPECT_GE(waited, std::chrono::milliseconds(900));
  EXPECT_LT(waited, std::chrono::seconds(5));
  EXPECT_EQ(client.Get("/healthz", "").status, 200);
}

TEST_F(CoordinatorApiTest, SigtermStopsCleanly) { EXPECT_EQ(coordinator.Stop(), 0); }

TEST(CoordinatorCli, InitRefusesAnInitializedDirectoryAndAdminTokenRecovers) {
  CoordinatorProcess c;
  std::string first = c.Init("root@example.com");
  EXPECT_EQ(first.substr(0, 4), "khu_");
  RunResult again = RunCommand({CoordinatorBinary(), "init", "--data-dir", c.data_dir()});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_TRUE(again.out.empty());
  RunResult recovered = RunCommand({CoordinatorBinary(), "admin-token", "--data-dir", c.data_dir(), "--login", "root@example.com"});
  ASSERT_EQ(recovered.exit_code, 0) << recovered.err;
  std::string second = recovered.out.substr(0, recovered.out.find('\n'));
  EXPECT_EQ(second.size(), first.size());
  EXPECT_NE(second, first);
  RunResult nobody = RunCommand({CoordinatorBinary(), "admin-token", "--data-dir", c.data_dir(), "--login", "nobody@example.com"});
  EXPECT_NE(nobody.exit_code, 0);

  ASSERT_TRUE(c.Start());
  TestHttpClient client(c.url());
  EXPECT_EQ(client.Get("/api/v1/users/me", first).status, 200);
  EXPECT_EQ(client.Get("/api/v1/users/me", second).status, 200);
  // The secrets are nowhere in the data directory or the log.
  RunResult grep = RunCommand({"/bin/grep", "-r", "-l", "-F", first.substr(4), c.data_dir()});
  EXPECT_NE(grep.exit_code, 0) << grep.out;
  EXPECT_EQ(c.Stderr().find(first.substr(4)), std::string::npos);
}

TEST(CoordinatorCli, OneProcessPerDataDirectory) {
  CoordinatorProcess c;
  c.Init();
  ASSERT_TRUE(c.Start());
  RunResult second = RunCommand({CoordinatorBinary(), "serve", "--data-dir", c.data_dir(), "--listen", "127.0.0.1:0",
                                 "--plain-http"});
  EXPECT_NE(second.exit_code, 0);
  EXPECT_NE(second.err.find("in use"), std::string::npos) << second.err;
  RunResult offline = RunCommand({CoordinatorBinary(), "admin-token", "--data-dir", c.data_dir(), "--login", "admin@example.com"});
  EXPECT_NE(offline.exit_code, 0);
  EXPECT_EQ(c.Stop(), 0);
  offline = RunCommand({CoordinatorBinary(), "admin-token", "--data-dir", c.data_dir(), "--login", "admin@example.com"});
  EXPECT_EQ(offline.exit_code, 0) << offline.err;
}

TEST(CoordinatorCli, ServeInitializesAnEmptyDirectoryAndServesTls) {
  CoordinatorProcess c;
  ASSERT_TRUE(c.Start({.tls = true}));
  EXPECT_EQ(c.url().substr(0, 8), "https://");
  EXPECT_EQ(c.fingerprint().substr(0, 7), "sha256:");
  EXPECT_NE(c.Stderr().find("API token: khu_"), std::string::npos);  // shown once, in the log
  struct stat st;
  ASSERT_EQ(stat((c.data_dir() + "/tls/coordinator.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  TestHttpClient client(c.url());
  EXPECT_EQ(client.Get("/healthz", "").status, 200);
  EXPECT_EQ(c.Stop(), 0);
  // The same identity on the next start.
  std::string fp = c.fingerprint();
  ASSERT_TRUE(c.Start({.tls = true}));
  EXPECT_EQ(c.fingerprint(), fp);
}

TEST(CoordinatorCli, APlainLoopbackListenerServesBesideTls) {
  CoordinatorProcess c;
  const std::string admin = c.Init();
  ASSERT_TRUE(c.Start({.tls = true, .extra_args = {"--plain-listen", "127.0.0.1:0"}})) << c.Stderr();
  auto line = c.process()->WaitForLine("also listening on ");
  ASSERT_TRUE(line) << c.Stderr();
  const size_t at = line->find("http://");
  ASSERT_NE(at, std::string::npos) << *line;
  const std::string plain_url = line->substr(at, line->find(' ', at) - at);
  TestHttpClient plain(plain_url);
  EXPECT_EQ(plain.Get("/healthz", "").status, 200);
  EXPECT_EQ(plain.Get("/api/v1/users/me", admin).status, 200);
  EXPECT_EQ(plain.Get("/api/v1/users/me", "").status, 401) << "the same API, the same rules";
  TestHttpClient tls(c.url());
  EXPECT_EQ(tls.Get("/api/v1/users/me", admin).status, 200);
  EXPECT_EQ(c.Stop(), 0);
}

TEST(CoordinatorCli, ThePlainListenerIsLoopbackOnly) {
  for (const char* where : {"0.0.0.0:0", "192.0.2.1:0", "[::]:0", "localhost:0"}) {
    CoordinatorProcess c;
    EXPECT_FALSE(c.Start({.tls = true, .extra_args = {"--plain-listen", where}})) << where;
    EXPECT_NE(c.Stderr().find("plain_listen must be a loopback address"), std::string::npos) << where << ": " << c.Stderr();
  }
  CoordinatorProcess plain;
  EXPECT_FALSE(plain.Start({.tls = false, .extra_args = {"--plain-listen", "127.0.0.1:0"}})) << "beside TLS only";
}

}  // namespace
}  // namespace keyhole::testing
