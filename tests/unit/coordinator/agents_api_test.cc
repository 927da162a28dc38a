// Agents through the whole request path without sockets (docs/AGENTS.md): the pipeline's
// agent-route rule, public activation and its per-IP throttle, pools and their paging, activation
// codes, the agents' lifecycle, rotation, and agent tokens in /api/v1/api-tokens.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "shared/clock/iso8601.h"
#include "tests/support/api_harness.h"
#include "tests/support/coordinator_services.h"

namespace keyhole::coord {
namespace {

constexpr char kBase[] = "https://kh.example.com:8443";

class AgentsApiTest : public ::testing::Test, protected testing::CoordinatorServices, protected testing::ApiHarness {
 protected:
  void SetUp() override {
    Reopen();
    BuildApi(*this);
    admin_token = MakeToken(MakeAdmin(), "admin").secret;
    user_id = MakeUser("user@example.com");
    user_token = MakeToken(user_id, "user").secret;
  }

  void TearDown() override {
    if (log) (void)log->Flush(/*final=*/true);
  }

  Response Call(const std::string& method, const std::string& target, const std::string& token,
                const std::string& body = "", const std::string& peer = "192.0.2.10") {
    return Send(method, target, token, body, {}, peer);
  }

  static std::string NextTarget(const Response& r) {
    for (const auto& [k, v] : r.headers) {
      if (k != "Link" || v.find("rel=\"next\"") == std::string::npos) continue;
      std::string url = v.substr(1, v.find('>') - 1);
      EXPECT_EQ(url.rfind(kBase, 0), 0u) << url;
      return url.substr(std::string(kBase).size());
    }
    return "";
  }

  std::string NewPool(const std::string& name, const std::string& type = "AD") {
    Response r = Call("POST", "/api/v1/agentPools", admin_token, nlohmann::json{{"name", name}, {"type", type}}.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    return Body(r).value("id", "");
  }

  std::string NewCode(const std::string& pool_id, const std::string& body = "") {
    Response r = Call("POST", "/api/v1/agentPools/" + pool_id + "/activationCodes", admin_token, body);
    EXPECT_EQ(r.status, 200) << r.body;
    return Body(r).value("code", "");
  }

  Response ActivateWith(const std::string& code, const std::string& name = "dc-eu1-01",
                        const std::string& peer = "192.0.2.10") {
    return Call("POST", "/api/v1/agents/activate", "",
                nlohmann::json{{"code", code}, {"name", name}, {"host", name + ".corp.example"}, {"version", "0.1.0"},
                               {"os", "Debian GNU/Linux 12"}}
                    .dump(),
                peer);
  }

  struct NewAgent {
    std::string id, token, token_id;
  };
  NewAgent Activate(const std::string& pool_id, const std::string& name = "dc-eu1-01") {
    Response r = ActivateWith(NewCode(pool_id), name);
    EXPECT_EQ(r.status, 200) << r.body;
    nlohmann::json b = Body(r);
    return {b["agent"].value("id", ""), b["apiToken"].value("token", ""), b["apiToken"].value("id", "")};
  }

  void ExpectForbidden(const Response& r, const std::string& what) {
    EXPECT_EQ(r.status, 403) << what << ": " << r.body;
    EXPECT_EQ(Code(r), "E0000006") << what;
  }

  std::string admin_token, user_id, user_token;
};

// ---- who may call what ----

TEST_F(AgentsApiTest, AgentTokensReachOnlyTheAgentsOwnRoutes) {
  NewAgent a = Activate(NewPool("p"));
  ExpectForbidden(Call("GET", "/api/v1/users", a.token), "users");
  ExpectForbidden(Call("GET", "/api/v1/users/me", a.token), "users/me");
  ExpectForbidden(Call("GET", "/api/v1/api-tokens", a.token), "api-tokens");
  ExpectForbidden(Call("GET", "/api/v1/agentPools", a.token), "agentPools");
  ExpectForbidden(Call("GET", "/api/v1/agents/" + a.id, a.token), "its own admin view");
  ExpectForbidden(Call("POST", "/api/v1/agents/" + a.id + "/lifecycle/deactivate", a.token), "admin lifecycle");
  ExpectForbidden(Call("GET", "/api/v1/no-such-path", a.token), "unknown path");
  Response me = Call("GET", "/api/v1/agents/me", a.token);
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(Body(me)["id"], a.id);
  EXPECT_EQ(Body(me)["status"], "ACTIVE");
}

TEST_F(AgentsApiTest, UserTokensCannotUseTheAgentsRoutes) {
  for (const std::string& token : {admin_token, user_token}) {
    ExpectForbidden(Call("GET", "/api/v1/agents/me", token), "me");
    ExpectForbidden(Call("POST", "/api/v1/agents/me/heartbeat", token), "heartbeat");
    ExpectForbidden(Call("POST", "/api/v1/agents/me/token/rotate", token,
                         nlohmann::json{{"token", TokenCodec::Generate(TokenKind::kAgent)}}.dump()),
                    "rotate");
    ExpectForbidden(Call("POST", "/api/v1/agents/me/lifecycle/deactivate", token), "deactivate");
  }
  // A plain user is no admin either.
  ExpectForbidden(Call("GET", "/api/v1/agentPools", user_token), "pools as a plain user");
  ExpectForbidden(Call("POST", "/api/v1/agentPools", user_token, R"({"name":"x","type":"AD"})"), "create pool");
}

// ---- activation ----

TEST_F(AgentsApiTest, ActivationIsPublicAndAnswersTheAgentAndItsToken) {
  std::string pool = NewPool("p", "LDAP");
  Response r = ActivateWith(NewCode(pool));
  ASSERT_EQ(r.status, 200) << r.body;
  nlohmann::json b = Body(r);
  EXPECT_EQ(b["agent"]["status"], "ACTIVE");
  EXPECT_EQ(b["agent"]["poolId"], pool);
  EXPECT_EQ(b["agent"]["type"], "LDAP");
  EXPECT_EQ(b["agent"]["operationalStatus"], "OPERATIONAL");
  EXPECT_EQ(b["apiToken"]["ownerType"], "AGENT");
  EXPECT_FALSE(b["apiToken"].contains("userId"));
  EXPECT_EQ(b["apiToken"]["agent"]["id"], b["agent"]["id"]);
  const std::string token = b["apiToken"]["token"];
  EXPECT_EQ(TokenCodec::Parse(token), TokenKind::kAgent);
  EXPECT_EQ(Call("GET", "/api/v1/agents/me", token).status, 200);
}

TEST_F(AgentsApiTest, EveryBadCodeGetsTheSameAnswer) {
  std::string pool = NewPool("p");
  std::string used = NewCode(pool);
  ASSERT_EQ(ActivateWith(used).status, 200);
  std::string expired = NewCode(pool, R"({"lifetime":"PT1M"})");
  Response revoke_me = Call("POST", "/api/v1/agentPools/" + pool + "/activationCodes", admin_token);
  std::string revoked = Body(revoke_me)["code"];
  ASSERT_EQ(Call("DELETE", "/api/v1/agentPools/" + pool + "/activationCodes/" + Body(revoke_me)["id"].get<std::string>(),
                 admin_token)
                .status,
            204);
  clock.Advance(std::chrono::minutes(2));
  std::optional<nlohmann::json> first;
  for (const std::string& code : {used, expired, revoked, TokenCodec::Generate(TokenKind::kActivationCode),
                                  TokenCodec::Generate(TokenKind::kUser), std::string("garbage")}) {
    Response r = ActivateWith(code);
    EXPECT_EQ(r.status, 401) << code;
    EXPECT_EQ(Code(r), "E0000011") << code;
    nlohmann::json b = Body(r);
    b.erase("errorId");
    if (!first) first = b;
    EXPECT_EQ(b, *first) << code;
  }
  EXPECT_EQ(registry->AgentsOf(pool).size(), 1u);
}

TEST_F(AgentsApiTest, ActivationValidatesItsBody) {
  std::string pool = NewPool("p");
  std::string code = NewCode(pool);
  Response r = Call("POST", "/api/v1/agents/activate", "", nlohmann::json{{"code", code}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Code(r), "E0000001");
  r = ActivateWith(code, std::string(101, 'n'));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Code(r), "E0000001");
  // Control characters would reach logs, the system log and terminals.
  for (const char* field : {"name", "host", "version", "os"}) {
    nlohmann::json body = {{"code", code}, {"name", "n"}};
    body[field] = std::string("evil\x1b[2Jname\n");
    r = Call("POST", "/api/v1/agents/activate", "", body.dump());
    EXPECT_EQ(r.status, 400) << field;
    EXPECT_EQ(Code(r), "E0000001") << field;
  }
  // A refused body did not spend the code.
  EXPECT_EQ(ActivateWith(code, std::string(100, 'n')).status, 200);
}

TEST_F(AgentsApiTest, ActivationIsCountedByThePerIpThrottle) {
  std::string pool = NewPool("p");
  std::string later = NewCode(pool);
  ASSERT_EQ(ActivateWith(NewCode(pool), "a", "198.51.100.7").status, 200);  // a success counts too
  for (int i = 0; i < 29; ++i) {
    Response r = ActivateWith("khc_wrong", "a", "198.51.100.7");
    ASSERT_EQ(r.status, 401) << i;
  }
  Response r = ActivateWith(later, "a", "198.51.100.7");  // the 31st in the minute, with a good code
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(Code(r), "E0000047");
  EXPECT_EQ(ActivateWith(later, "b", "198.51.100.8").status, 200);  // another address
  clock.Advance(std::chrono::seconds(60));
  EXPECT_EQ(ActivateWith("khc_wrong", "a", "198.51.100.7").status, 401);
}

// ---- pools ----

TEST_F(AgentsApiTest, PoolPagesHoldAtMostLimitPerPoolTypeOfEachType) {
  std::map<std::string, std::string> type_of;
  for (const auto& [name, type] : std::vector<std::pair<std::string, std::string>>{
           {"ad1", "AD"}, {"ldap1", "LDAP"}, {"ad2", "AD"}, {"ad3", "AD"}, {"ldap2", "LDAP"}}) {
    type_of[NewPool(name, type)] = type;
  }
  std::multiset<std::string> seen;
  std::string target = "/api/v1/agentPools?limitPerPoolType=2";
  int pages = 0;
  while (!target.empty()) {
    ASSERT_LT(++pages, 10) << "paging does not end";
    Response r = Call("GET", target, admin_token);
    ASSERT_EQ(r.status, 200) << r.body;
    std::map<std::string, int> per_type;
    for (const nlohmann::json& p : Body(r)) {
      seen.insert(p["id"].get<std::string>());
      EXPECT_EQ(p["type"], type_of[p["id"]]);
      EXPECT_LE(++per_type[p["type"].get<std::string>()], 2) << target;
      EXPECT_TRUE(p["agents"].is_array());
    }
    EXPECT_FALSE(per_type.empty()) << "an empty page at " << target;
    target = NextTarget(r);
    if (!target.empty()) {
      EXPECT_NE(target.find("limitPerPoolType=2"), std::string::npos) << target;
    }
  }
  EXPECT_GE(pages, 2);
  EXPECT_EQ(seen.size(), type_of.size());
  for (const auto& [id, type] : type_of) EXPECT_EQ(seen.count(id), 1u) << id;

  Response ldap = Call("GET", "/api/v1/agentPools?poolType=LDAP", admin_token);
  ASSERT_EQ(ldap.status, 200);
  ASSERT_EQ(Body(ldap).size(), 2u);
  for (const nlohmann::json& p : Body(ldap)) EXPECT_EQ(p["type"], "LDAP");
  Response one_ad = Call("GET", "/api/v1/agentPools?poolType=AD&limitPerPoolType=1", admin_token);
  ASSERT_EQ(Body(one_ad).size(), 1u);
  EXPECT_NE(NextTarget(one_ad).find("poolType=AD"), std::string::npos);
}

TEST_F(AgentsApiTest, BadPoolListParameters) {
  Response r = Call("GET", "/api/v1/agentPools?poolType=NOPE", admin_token);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Code(r), "E0000001");
  for (const char* l : {"0", "-1", "abc", "2x", ""}) {
    r = Call("GET", std::string("/api/v1/agentPools?limitPerPoolType=") + l, admin_token);
    EXPECT_EQ(r.status, 400) << l;
    EXPECT_EQ(Code(r), "E0000029") << l;
  }
  r = Call("POST", "/api/v1/agentPools", admin_token, R"({"name":"x","type":"NOPE"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Code(r), "E0000001");
}

TEST_F(AgentsApiTest, PoolRenameKeepsTheType) {
  std::string pool = NewPool("p", "AD");
  Response r = Call("PUT", "/api/v1/agentPools/" + pool, admin_token, R"({"name":"q","type":"AD"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["name"], "q");
  r = Call("POST", "/api/v1/agentPools/" + pool, admin_token, R"({"name":"r","type":"LDAP"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Body(Call("GET", "/api/v1/agentPools/" + pool, admin_token))["name"], "q");
  EXPECT_EQ(Call("GET", "/api/v1/agentPools/0oanope", admin_token).status, 404);
}

TEST_F(AgentsApiTest, PoolWithAgentsCannotBeDeleted) {
  std::string pool = NewPool("p");
  NewAgent a = Activate(pool);
  Response r = Call("DELETE", "/api/v1/agentPools/" + pool, admin_token);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Code(r), "E0000001");
  ASSERT_EQ(Call("POST", "/api/v1/agents/" + a.id + "/lifecycle/deactivate", admin_token).status, 200);
  ASSERT_EQ(Call("DELETE", "/api/v1/agents/" + a.id, admin_token).status, 204);
  EXPECT_EQ(Call("DELETE", "/api/v1/agentPools/" + pool, admin_token).status, 204);
  EXPECT_EQ(Call("GET", "/api/v1/agentPools/" + pool, admin_token).status, 404);
}

// ---- activation codes ----

TEST_F(AgentsApiTest, TheCodeIsShownOnceAndNeverListed) {
  std::string pool = NewPool("p");
  Response created = Call("POST", "/api/v1/agentPools/" + pool + "/activationCodes", admin_token, R"({"lifetime":"PT2H"})");
  ASSERT_EQ(created.status, 200) << created.body;
  nlohmann::json c = Body(created);
  EXPECT_EQ(TokenCodec::Parse(c["code"].get<std::string>()), TokenKind::kActivationCode);
  EXPECT_EQ(c["status"], "ACTIVE");
  EXPECT_EQ(c["expiresAt"], FormatIso8601(clock.Now() + std::chrono::hours(2)));
  Activate(pool);  // a used one too
  Response list = Call("GET", "/api/v1/agentPools/" + pool + "/activationCodes", admin_token);
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(Body(list).size(), 2u);
  for (const nlohmann::json& code : Body(list)) EXPECT_FALSE(code.contains("code")) << code.dump();
  EXPECT_EQ(list.body.find(c["code"].get<std::string>()), std::string::npos);
  EXPECT_EQ(Body(list)[1]["status"], "USED");
}

TEST_F(AgentsApiTest, CodeLifetimeIsBounded) {
  std::string pool = NewPool("p");
  for (const char* lifetime : {"PT30S", "P31D", "P1M", "PT1.5H", "1 day", ""}) {
    Response r = Call("POST", "/api/v1/agentPools/" + pool + "/activationCodes", admin_token,
                      nlohmann::json{{"lifetime", lifetime}}.dump());
    EXPECT_EQ(r.status, 400) << lifetime;
    EXPECT_EQ(Code(r), "E0000001") << lifetime;
  }
  for (const char* lifetime : {"PT1M", "P30D"}) {
    Response r = Call("POST", "/api/v1/agentPools/" + pool + "/activationCodes", admin_token,
                      nlohmann::json{{"lifetime", lifetime}}.dump());
    EXPECT_EQ(r.status, 200) << lifetime;
  }
  Response def = Call("POST", "/api/v1/agentPools/" + pool + "/activationCodes", admin_token);
  EXPECT_EQ(Body(def)["expiresAt"], FormatIso8601(clock.Now() + std::chrono::hours(24)));
}

TEST_F(AgentsApiTest, UsedCodeCannotBeRevoked) {
  std::string pool = NewPool("p");
  Activate(pool);
  std::string code_id = Body(Call("GET", "/api/v1/agentPools/" + pool + "/activationCodes", admin_token))[0]["id"];
  Response r = Call("DELETE", "/api/v1/agentPools/" + pool + "/activationCodes/" + code_id, admin_token);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(Code(r), "E0000007");
}

// ---- the agents' lifecycle ----

TEST_F(AgentsApiTest, DeactivationRefusesTheTokenUntilReactivation) {
  NewAgent a = Activate(NewPool("p"));
  Response off = Call("POST", "/api/v1/agents/" + a.id + "/lifecycle/deactivate", admin_token);
  ASSERT_EQ(off.status, 200) << off.body;
  EXPECT_EQ(Body(off)["status"], "INACTIVE");
  EXPECT_EQ(Body(off)["operationalStatus"], "INACTIVE");
  Response me = Call("GET", "/api/v1/agents/me", a.token);
  EXPECT_EQ(me.status, 401);
  EXPECT_EQ(Code(me), "E0000011");
  ASSERT_EQ(Call("POST", "/api/v1/agents/" + a.id + "/lifecycle/reactivate", admin_token).status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/agents/me", a.token).status, 200);
}

TEST_F(AgentsApiTest, LifecycleInTheWrongStatusIs403E0000038) {
  NewAgent a = Activate(NewPool("p"));
  Response r = Call("POST", "/api/v1/agents/" + a.id + "/lifecycle/reactivate", admin_token);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Code(r), "E0000038");
  ASSERT_EQ(Call("POST", "/api/v1/agents/" + a.id + "/lifecycle/deactivate", admin_token).status, 200);
  r = Call("POST", "/api/v1/agents/" + a.id + "/lifecycle/deactivate", admin_token);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Code(r), "E0000038");
  EXPECT_EQ(Call("POST", "/api/v1/agents/" + a.id + "/lifecycle/explode", admin_token).status, 404);
  EXPECT_EQ(Call("POST", "/api/v1/agents/ajdnope/lifecycle/deactivate", admin_token).status, 404);
}

TEST_F(AgentsApiTest, DeletingAnActiveAgentIsRefused) {
  NewAgent a = Activate(NewPool("p"));
  Response r = Call("DELETE", "/api/v1/agents/" + a.id, admin_token);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Code(r), "E0000001");
  EXPECT_EQ(Call("GET", "/api/v1/agents/" + a.id, admin_token).status, 200);
  ASSERT_EQ(Call("POST", "/api/v1/agents/" + a.id + "/lifecycle/deactivate", admin_token).status, 200);
  EXPECT_EQ(Call("DELETE", "/api/v1/agents/" + a.id, admin_token).status, 204);
  EXPECT_EQ(Call("GET", "/api/v1/agents/" + a.id, admin_token).status, 404);
  ASSERT_EQ(Call("GET", "/api/v1/api-tokens/" + a.token_id, admin_token).status, 404);  // revoked
}

TEST_F(AgentsApiTest, AnAgentDeactivatingItselfLosesItsTokens) {
  NewAgent a = Activate(NewPool("p"));
  Response r = Call("POST", "/api/v1/agents/me/lifecycle/deactivate", a.token);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["status"], "INACTIVE");
  ASSERT_EQ(Call("POST", "/api/v1/agents/" + a.id + "/lifecycle/reactivate", admin_token).status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/agents/me", a.token).status, 401);  // for good
}

TEST_F(AgentsApiTest, HeartbeatRecordsTheConnectionAndWhatTheAgentReports) {
  NewAgent a = Activate(NewPool("p"));
  clock.Advance(std::chrono::seconds(100));
  EXPECT_EQ(Body(Call("GET", "/api/v1/agents/me", a.token))["operationalStatus"], "DISRUPTED");
  Response r = Call("POST", "/api/v1/agents/me/heartbeat", a.token, R"({"version":"0.2.0"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["version"], "0.2.0");
  EXPECT_EQ(Body(r)["lastConnection"], ToEpochMillis(clock.Now()));
  EXPECT_EQ(Body(r)["operationalStatus"], "OPERATIONAL");
  EXPECT_EQ(Call("POST", "/api/v1/agents/me/heartbeat", a.token).status, 200);  // no body
}

TEST_F(AgentsApiTest, RotationOverTheApi) {
  NewAgent a = Activate(NewPool("p"));
  const std::string next = TokenCodec::Generate(TokenKind::kAgent);
  const std::string body = nlohmann::json{{"token", next}}.dump();
  Response r = Call("POST", "/api/v1/agents/me/token/rotate", a.token, body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(Body(r).contains("token"));
  EXPECT_EQ(Body(r)["ownerType"], "AGENT");
  EXPECT_EQ(Body(r)["agent"]["id"], a.id);
  const std::string next_id = Body(r)["id"];
  EXPECT_NE(next_id, a.token_id);
  // Again, as after a lost answer: the same token.
  Response again = Call("POST", "/api/v1/agents/me/token/rotate", a.token, body);
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(Body(again)["id"], next_id);
  EXPECT_EQ(Call("GET", "/api/v1/agents/me", a.token).status, 200);  // grace
  EXPECT_EQ(Call("GET", "/api/v1/agents/me", next).status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/agents/me", a.token).status, 401);  // retired at the successor's first use
  Response bad = Call("POST", "/api/v1/agents/me/token/rotate", next,
                      nlohmann::json{{"token", TokenCodec::Generate(TokenKind::kUser)}}.dump());
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(Code(bad), "E0000001");
}

// ---- agent tokens among the API tokens ----

TEST_F(AgentsApiTest, ApiTokensListMarksAgentTokens) {
  std::string pool = NewPool("dc-pool", "Radius");
  NewAgent a = Activate(pool, "agent-1");
  Response all = Call("GET", "/api/v1/api-tokens?limit=200", admin_token);
  ASSERT_EQ(all.status, 200);
  int agents = 0, user_tokens = 0;
  for (const nlohmann::json& t : Body(all)) {
    if (t["ownerType"] == "AGENT") {
      ++agents;
      EXPECT_EQ(t["id"], a.token_id);
      EXPECT_FALSE(t.contains("userId")) << t.dump();
      EXPECT_EQ(t["agent"]["id"], a.id);
      EXPECT_EQ(t["agent"]["name"], "agent-1");
      EXPECT_EQ(t["agent"]["poolId"], pool);
      EXPECT_EQ(t["agent"]["poolName"], "dc-pool");
      EXPECT_EQ(t["agent"]["type"], "Radius");
    } else {
      ++user_tokens;
      EXPECT_EQ(t["ownerType"], "USER");
      EXPECT_TRUE(t["userId"].is_string());
      EXPECT_FALSE(t.contains("agent"));
    }
  }
  EXPECT_EQ(agents, 1);
  EXPECT_EQ(user_tokens, 2);
  Response only = Call("GET", "/api/v1/api-tokens?ownerType=AGENT", admin_token);
  ASSERT_EQ(Body(only).size(), 1u);
  EXPECT_EQ(Body(only)[0]["id"], a.token_id);
  Response users_only = Call("GET", "/api/v1/api-tokens?ownerType=USER", admin_token);
  EXPECT_EQ(Body(users_only).size(), 2u);
  EXPECT_EQ(Call("GET", "/api/v1/api-tokens?ownerType=ROBOT", admin_token).status, 400);
  Response one = Call("GET", "/api/v1/api-tokens/" + a.token_id, admin_token);
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(Body(one)["agent"]["poolName"], "dc-pool");
  // A plain user sees none of them.
  Response mine = Call("GET", "/api/v1/api-tokens?ownerType=AGENT", user_token);
  ASSERT_EQ(mine.status, 200);
  EXPECT_TRUE(Body(mine).empty());
  EXPECT_EQ(Call("GET", "/api/v1/api-tokens/" + a.token_id, user_token).status, 404);
}

TEST_F(AgentsApiTest, AnAdminRevokesAnAgentTokenForGood) {
  NewAgent a = Activate(NewPool("p"));
  ASSERT_EQ(Call("DELETE", "/api/v1/api-tokens/" + a.token_id, admin_token).status, 204);
  EXPECT_EQ(Call("GET", "/api/v1/agents/me", a.token).status, 401);
  ASSERT_EQ(Call("POST", "/api/v1/agents/" + a.id + "/lifecycle/deactivate", admin_token).status, 200);
  ASSERT_EQ(Call("POST", "/api/v1/agents/" + a.id + "/lifecycle/reactivate", admin_token).status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/agents/me", a.token).status, 401);
}

}  // namespace
}  // namespace keyhole::coord
