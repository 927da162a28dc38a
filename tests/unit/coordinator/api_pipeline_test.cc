// The whole request path without sockets: pipeline, router and the real handlers over a real
// SQLite store in a temp dir, driven with Keyhole Requests.
#include "coordinator/http/api_pipeline.h"

#include <gtest/gtest.h>

#include "tests/support/api_harness.h"
#include "tests/support/coordinator_services.h"

namespace keyhole::coord {
namespace {

class ApiPipelineTest : public ::testing::Test, protected testing::CoordinatorServices, protected testing::ApiHarness {
 protected:
  void SetUp() override { Build({}); }

  // (Re)builds the whole stack with these rate limits.
  void Build(const RateLimitConfig& rate_config) {
    Reopen();
    BuildApi(*this, rate_config);
    if (admin_id.empty()) {
      admin_id = MakeAdmin();
      admin_token = MakeToken(admin_id).secret;
    }
  }

  Response Call(const std::string& method, const std::string& target, const std::string& token,
                const std::string& body = "", HeaderList headers = {}, const std::string& peer = "192.0.2.10") {
    return Send(method, target, token, body, std::move(headers), peer);
  }

  std::string admin_id, admin_token;
};

TEST_F(ApiPipelineTest, EveryResponseCarriesTheContractHeaders) {
  for (const Response& r : {Call("GET", "/api/v1/users/me", admin_token), Call("GET", "/api/v1/users/me", ""),
                            Call("GET", "/healthz", ""), Call("DELETE", "/api/v1/api-tokens/nope", admin_token)}) {
    EXPECT_NE(FindHeader(r.headers, "Date"), nullptr);
    EXPECT_NE(FindHeader(r.headers, "X-Okta-Request-Id"), nullptr);
    if (!r.body.empty()) {
      EXPECT_EQ(*FindHeader(r.headers, "Content-Type"), "application/json");
    }
  }
}

TEST_F(ApiPipelineTest, ErrorObjectsHaveAllFiveKeys) {
  Response r = Call("GET", "/api/v1/users/me", "khu_bad");
  EXPECT_EQ(r.status, 401);
  nlohmann::json e = Body(r);
  EXPECT_EQ(e["errorCode"], "E0000011");
  EXPECT_EQ(e["errorSummary"], "Invalid token provided");
  EXPECT_EQ(e["errorLink"], "E0000011");
  EXPECT_EQ(e["errorId"].get<std::string>().size(), 25u);
  EXPECT_EQ(e["errorId"].get<std::string>().substr(0, 3), "oae");
  EXPECT_TRUE(e["errorCauses"].is_array());
}

TEST_F(ApiPipelineTest, EveryKindOfBadCredentialGetsTheSame401) {
  for (const char* auth : {"", "SSWS", "SSWS ", "Bearer abc", "SSWS khu_garbage", "Basic Zm9vOmJhcg=="}) {
    HeaderList h;
    if (*auth) h.emplace_back("Authorization", auth);
    Response r = Call("GET", "/api/v1/users/me", "", "", h);
    EXPECT_EQ(r.status, 401) << auth;
    EXPECT_EQ(Code(r), "E0000011") << auth;
  }
}

TEST_F(ApiPipelineTest, AuthenticationComesBeforeRouting) {
  EXPECT_EQ(Call("GET", "/api/v1/users/00unknown", "khu_bad").status, 401);
  EXPECT_EQ(Call("GET", "/api/v1/nothing-here", "").status, 401);
  Response r = Call("GET", "/api/v1/nothing-here", admin_token);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Code(r), "E0000008");
}

TEST_F(ApiPipelineTest, MethodNotAllowedNamesTheAllowedOnes) {
  Response r = Call("PATCH", "/api/v1/users", admin_token);
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(Code(r), "E0000022");
  EXPECT_EQ(*FindHeader(r.headers, "Allow"), "GET, POST");
}

TEST_F(ApiPipelineTest, NotAcceptableAndUnsupportedMediaType) {
  Response r = Call("GET", "/api/v1/users/me", admin_token, "", {{"Accept", "text/html"}});
  EXPECT_EQ(r.status, 406);
  EXPECT_EQ(Code(r), "E0000122");
  EXPECT_EQ(Call("GET", "/api/v1/users/me", admin_token, "", {{"Accept", "application/json, */*;q=0.8"}}).status, 200);
  r = Call("POST", "/api/v1/api-tokens", admin_token, "name=x", {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(r.status, 415);
  EXPECT_EQ(Code(r), "KH0000002");
  EXPECT_EQ(Call("POST", "/api/v1/api-tokens", admin_token, R"({"name":"x"})",
                 {{"Content-Type", "application/json; charset=UTF-8"}}).status, 200);
}

TEST_F(ApiPipelineTest, MalformedJsonAndWrongTypes) {
  Response r = Call("POST", "/api/v1/users", admin_token, "{\"profile\":");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Code(r), "E0000003");
  r = Call("POST", "/api/v1/users", admin_token, R"({"profile":{"login":42,"email":"nope","firstName":""}})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Code(r), "E0000001");
  nlohmann::json e = Body(r);
  EXPECT_EQ(e["errorSummary"], "Api validation failed: login");
  std::vector<std::string> causes;
  for (auto& c : e["errorCauses"]) causes.push_back(c["errorSummary"]);
  EXPECT_EQ(causes, (std::vector<std::string>{"login: The field must be a string", "email: The field is too short (at least 5 characters)",
                                               "firstName: The field cannot be left blank",
                                               "lastName: The field cannot be left blank"}));
  r = Call("POST", "/api/v1/api-tokens", admin_token, R"({"name":["x"]})");
  EXPECT_EQ(Code(r), "E0000001");
  r = Call("POST", "/api/v1/api-tokens", admin_token, R"([1,2])");
  EXPECT_EQ(Code(r), "E0000003");
}

TEST_F(ApiPipelineTest, UnknownFieldsAreIgnored) {
  nlohmann::json body = {{"profile", Profile("new@example.com")}, {"credentials", {{"password", {{"value", "x"}}}}},
                         {"somethingElse", 1}};
  body["profile"]["customAttribute"] = "dropped";
  Response r = Call("POST", "/api/v1/users?activate=false", admin_token, body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["status"], "STAGED");
  EXPECT_FALSE(Body(r)["profile"].contains("customAttribute"));
}

TEST_F(ApiPipelineTest, PlainUserSeesOnlyItself) {
  auto user = users->Create(Profile("plain@example.com"), true, false);
  std::string token = tokens->Create(OwnerKind::kUser, user->id, "t", "c")->secret;
  EXPECT_EQ(Call("GET", "/api/v1/users/me", token).status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/users/" + user->id, token).status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/users/plain%40example.com", token).status, 200);
  for (const Response& r : {Call("GET", "/api/v1/users", token), Call("GET", "/api/v1/users/" + admin_id, token),
                            Call("POST", "/api/v1/users/" + user->id + "/lifecycle/suspend", token),
                            Call("POST", "/api/v1/users", token, nlohmann::json{{"profile", Profile("x@example.com")}}.dump()),
                            Call("POST", "/api/v1/api-tokens", token, R"({"name":"x","userId":")" + admin_id + "\"}")}) {
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_EQ(Code(r), "E0000006");
  }
  // Its own tokens: listed, created, revoked; the admin's are invisible (404).
  Response created = Call("POST", "/api/v1/api-tokens", token, R"({"name":"mine"})");
  ASSERT_EQ(created.status, 200);
  EXPECT_EQ(Body(created)["userId"], user->id);
  Response list = Call("GET", "/api/v1/api-tokens", token);
  EXPECT_EQ(Body(list).size(), 2u);
  std::string admin_token_id = tokens->List({.owner_id = admin_id}).tokens[0].id;
  EXPECT_EQ(Call("GET", "/api/v1/api-tokens/" + admin_token_id, token).status, 404);
  EXPECT_EQ(Call("DELETE", "/api/v1/api-tokens/" + admin_token_id, token).status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/api-tokens/" + admin_token_id, admin_token).status, 200);
}

TEST_F(ApiPipelineTest, CreatedTokenShowsItsSecretOnceAndWorks) {
  Response r = Call("POST", "/api/v1/api-tokens", admin_token, R"({"name":"ci"})");
  ASSERT_EQ(r.status, 200);
  nlohmann::json t = Body(r);
  std::string secret = t["token"];
  EXPECT_EQ(t["tokenWindow"], "P30D");
  EXPECT_EQ(t["status"], "ACTIVE");
  Response again = Call("GET", "/api/v1/api-tokens/" + t["id"].get<std::string>(), admin_token);
  EXPECT_FALSE(Body(again).contains("token"));
  EXPECT_EQ(Call("GET", "/api/v1/users/me", secret).status, 200);
}

TEST_F(ApiPipelineTest, RevokeCurrentRevokesThePresentedToken) {
  std::string secret = Body(Call("POST", "/api/v1/api-tokens", admin_token, R"({"name":"x"})"))["token"];
  EXPECT_EQ(Call("DELETE", "/api/v1/api-tokens/current", secret).status, 204);
  EXPECT_EQ(Call("GET", "/api/v1/users/me", secret).status, 401);
  EXPECT_EQ(Call("GET", "/api/v1/users/me", admin_token).status, 200);
}

TEST_F(ApiPipelineTest, LinkHeadersAreAbsoluteAndRepeatParameters) {
  for (int i = 0; i < 3; ++i) Call("POST", "/api/v1/users", admin_token, nlohmann::json{{"profile", Profile("u" + std::to_string(i) + "@example.com")}}.dump());
  Response r = Call("GET", "/api/v1/users?limit=2&filter=status%20eq%20%22ACTIVE%22", admin_token);
  std::vector<std::string> links;
  for (auto& [k, v] : r.headers)
    if (k == "Link") links.push_back(v);
  ASSERT_EQ(links.size(), 2u);
  EXPECT_EQ(links[0], "<https://kh.example.com:8443/api/v1/users?limit=2&filter=status%20eq%20%22ACTIVE%22>; rel=\"self\"");
  EXPECT_NE(links[1].find("rel=\"next\""), std::string::npos);
  EXPECT_NE(links[1].find("limit=2"), std::string::npos);
  EXPECT_NE(links[1].find("filter=status%20eq%20%22ACTIVE%22"), std::string::npos);
  EXPECT_NE(links[1].find("after="), std::string::npos);
}

TEST_F(ApiPipelineTest, BadPagingParameters) {
  for (const char* q : {"?limit=0", "?limit=-1", "?limit=abc", "?after=xyz", "?after=-5"}) {
    Response r = Call("GET", std::string("/api/v1/users") + q, admin_token);
    EXPECT_EQ(r.status, 400) << q;
    EXPECT_EQ(Code(r), "E0000029") << q;
  }
  EXPECT_EQ(Code(Call("GET", "/api/v1/users?filter=nonsense", admin_token)), "E0000031");
  EXPECT_EQ(Code(Call("GET", "/api/v1/users?q=%zz", admin_token)), "E0000001");
}

TEST_F(ApiPipelineTest, LifecycleErrorsUseOktaCodes) {
  auto u = users->Create(Profile("u@example.com"), true, false);
  std::string base = "/api/v1/users/" + u->id + "/lifecycle/";
  Response r = Call("POST", base + "activate", admin_token);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Code(r), "E0000016");
  r = Call("POST", base + "unsuspend", admin_token);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Code(r), "E0000001");
  r = Call("POST", base + "reactivate", admin_token);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Code(r), "E0000038");
  r = Call("POST", base + "deactivate", admin_token, "", {{"Content-Type", "application/json"}, {"Content-Length", "0"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{}");
  r = Call("POST", "/api/v1/users/00unope/lifecycle/activate", admin_token);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Body(r)["errorSummary"], "Not found: Resource not found: 00unope (User)");
}


// ---- Rate limits ----

TEST_F(ApiPipelineTest, EveryAuthenticatedResponseCarriesRateLimitHeaders) {
  for (const Response& r : {Call("GET", "/api/v1/users/me", admin_token), Call("GET", "/api/v1/nowhere", admin_token),
                            Call("POST", "/api/v1/users", admin_token, "{bad"),
                            Call("DELETE", "/api/v1/api-tokens/nope", admin_token)}) {
    ASSERT_TRUE(ResponseHeader(r, "X-Rate-Limit-Limit").has_value()) << r.body;
    EXPECT_EQ(*ResponseHeader(r, "X-Rate-Limit-Limit"), "10000");
    EXPECT_TRUE(ResponseHeader(r, "X-Rate-Limit-Remaining").has_value());
    // The next minute boundary after 2026-11-28T00:00:00Z.
    EXPECT_EQ(*ResponseHeader(r, "X-Rate-Limit-Reset"), "1795824060");
    EXPECT_EQ(FindHeader(r.headers, "X-Rate-Limit-Reset"), nullptr);  // only the server writes it, once
  }
}

TEST_F(ApiPipelineTest, OverTheLimitIs429WithNoSideEffect) {
  Build({.endpoints = {{"POST /api/v1/api-tokens", 3}}});
  for (int i = 0; i < 3; ++i) {
    Response ok = Call("POST", "/api/v1/api-tokens", admin_token, R"({"name":"t"})");
    ASSERT_EQ(ok.status, 200);
    EXPECT_EQ(*ResponseHeader(ok, "X-Rate-Limit-Remaining"), std::to_string(2 - i));
  }
  size_t before = tokens->List({.limit = 200}).tokens.size();
  const std::string admin_token_id = tokens->List({.owner_id = admin_id}).tokens[0].id;
  const auto used_before = tokens->Get(admin_token_id)->last_used;
  const auto expiry_before = tokens->Get(admin_token_id)->expires_at;
  clock.Advance(std::chrono::seconds(5));
  Response r = Call("POST", "/api/v1/api-tokens", admin_token, R"({"name":"t"})");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(Code(r), "E0000047");
  EXPECT_EQ(Body(r)["errorSummary"], "API call exceeded rate limit due to too many requests.");
  EXPECT_EQ(*ResponseHeader(r, "X-Rate-Limit-Limit"), "3");
  EXPECT_EQ(*ResponseHeader(r, "X-Rate-Limit-Remaining"), "0");
  EXPECT_EQ(*ResponseHeader(r, "X-Rate-Limit-Reset"), "1795824060");
  EXPECT_EQ(tokens->List({.limit = 200}).tokens.size(), before);  // nothing was created
  // Not even a use of the token: the refused request did not slide its window.
  EXPECT_EQ(tokens->Get(admin_token_id)->last_used, used_before);
  EXPECT_EQ(tokens->Get(admin_token_id)->expires_at, expiry_before);
  // Other endpoints are counted on their own.
  EXPECT_EQ(Call("GET", "/api/v1/users/me", admin_token).status, 200);
  // One violation event per endpoint per window, however many refusals.
  Call("POST", "/api/v1/api-tokens", admin_token, R"({"name":"t"})");
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].endpoint, "POST /api/v1/api-tokens");
  // The next window admits again.
  clock.Advance(std::chrono::seconds(60));
  EXPECT_EQ(Call("POST", "/api/v1/api-tokens", admin_token, R"({"name":"t"})").status, 200);
  Call("POST", "/api/v1/api-tokens", admin_token, R"({"name":"t"})");
  Call("POST", "/api/v1/api-tokens", admin_token, R"({"name":"t"})");
  EXPECT_EQ(Call("POST", "/api/v1/api-tokens", admin_token, R"({"name":"t"})").status, 429);
  EXPECT_EQ(violations.size(), 2u);
}

TEST_F(ApiPipelineTest, ShippedDefaultForTheSystemLogIs60) {
  Build({});
  EXPECT_EQ(limits->Usage(clock.Now()).size(), router->routes().size() + 1);
  for (const EndpointUsage& u : limits->Usage(clock.Now())) {
    EXPECT_EQ(u.limit, u.pattern == "/api/v1/logs" ? 60u : 10000u) << u.pattern;
  }
}

TEST_F(ApiPipelineTest, ConfiguringAnUnknownEndpointFails) {
  RateLimitTable table({.endpoints = {{"GET /api/v1/userz", 5}}});
  EXPECT_FALSE(table.Bind(*router).ok());
}

TEST_F(ApiPipelineTest, BadTokensAreThrottledPerIpBeforeAnyLookup) {
  Build({.unauthenticated_per_minute = 5});
  for (int i = 0; i < 5; ++i) {
    Response r = Call("GET", "/api/v1/users/me", "khu_wrong", "", {}, "198.51.100.7");
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(*ResponseHeader(r, "X-Rate-Limit-Remaining"), std::to_string(4 - i));
  }
  Response r = Call("GET", "/api/v1/users/me", "khu_wrong", "", {}, "198.51.100.7");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(Code(r), "E0000047");
  // Even a valid token from that address waits for the window: it is refused before the lookup.
  EXPECT_EQ(Call("GET", "/api/v1/users/me", admin_token, "", {}, "198.51.100.7").status, 429);
  // Another address, and the health probe, are not affected.
  EXPECT_EQ(Call("GET", "/api/v1/users/me", admin_token, "", {}, "198.51.100.8").status, 200);
  EXPECT_EQ(Call("GET", "/healthz", "", "", {}, "198.51.100.7").status, 200);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].endpoint, "unauthenticated");
  EXPECT_EQ(violations[0].client_ip, "198.51.100.7");
  clock.Advance(std::chrono::seconds(60));
  EXPECT_EQ(Call("GET", "/api/v1/users/me", admin_token, "", {}, "198.51.100.7").status, 200);
}

TEST_F(ApiPipelineTest, ForwardedForIsBelievedOnlyFromTrustedProxies) {
  Build({.unauthenticated_per_minute = 2, .trusted_proxies = {"10.0.0.0/8"}});
  HeaderList xff = {{"X-Forwarded-For", "203.0.113.1, 10.1.1.1"}};
  // Through the trusted proxy, clients are told apart by the forwarded address.
  for (int i = 0; i < 2; ++i) Call("GET", "/api/v1/users/me", "", "", xff, "10.0.0.2");
  EXPECT_EQ(Call("GET", "/api/v1/users/me", "", "", xff, "10.0.0.2").status, 429);
  EXPECT_EQ(Call("GET", "/api/v1/users/me", "", "", {{"X-Forwarded-For", "203.0.113.2"}}, "10.0.0.2").status, 401);
  // From an untrusted peer the header is ignored: forging it does not buy a fresh budget.
  for (int i = 0; i < 2; ++i) Call("GET", "/api/v1/users/me", "", "", {{"X-Forwarded-For", std::to_string(i) + ".1.1.1"}}, "192.0.2.99");
  EXPECT_EQ(Call("GET", "/api/v1/users/me", "", "", {{"X-Forwarded-For", "9.9.9.9"}}, "192.0.2.99").status, 429);
}

}  // namespace
}  // namespace keyhole::coord
