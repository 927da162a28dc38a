// `keyholectl pools …`, `codes …` and `agents …` against a scripted RestClient: the requests they
// build, their tables and JSON, paging followed to the end, the activation code alone on stdout,
// argument errors, and Okta errors.
#include "coordinator/ctl/agent_commands.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "coordinator/ctl/commands.h"
#include "tests/unit/ctl/fake_rest_client.h"

namespace keyhole::ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::JsonAnswer;
using testing::OktaError;

const std::string kBase = testing::kFakeCoordinatorUrl;

nlohmann::json Agent(const std::string& id, const std::string& status = "ACTIVE") {
  return {{"id", id},
          {"name", "dc-" + id},
          {"type", "LDAP"},
          {"poolId", "0oaP1"},
          {"version", "0.1.0"},
          {"lastConnection", 1795820988000},
          {"operationalStatus", status == "ACTIVE" ? "OPERATIONAL" : "INACTIVE"},
          {"status", status},
          {"host", id + ".corp.example"},
          {"os", "Debian GNU/Linux 12"},
          {"created", "2026-11-28T04:00:00.000Z"}};
}

nlohmann::json Pool(const std::string& id, const std::string& name, const std::string& type,
                    nlohmann::json agents = nlohmann::json::array()) {
  return {{"id", id},
          {"name", name},
          {"type", type},
          {"operationalStatus", agents.empty() ? "DISRUPTED" : "OPERATIONAL"},
          {"disruptedAgents", 0},
          {"inactiveAgents", 0},
          {"agents", agents},
          {"created", "2026-11-27T23:09:48.000Z"},
          {"lastUpdated", "2026-11-27T23:09:48.000Z"}};
}

nlohmann::json Code(const std::string& id, const std::string& status) {
  return {{"id", id},
          {"poolId", "0oaP1"},
          {"status", status},
          {"created", "2026-11-28T04:00:00.000Z"},
          {"expiresAt", "2026-11-29T04:00:00.000Z"},
          {"createdBy", "00uADMIN"},
          {"used", nullptr},
          {"agentId", nullptr}};
}

class KeyholectlAgentTest : public testing::CtlFixture {
 protected:
  int Run(std::vector<std::string> args) { return RunKeyholectl(args, Context()); }
  const testing::SentRequest& Sent(size_t i) const { return fake_.sent.at(i); }
};

TEST_F(KeyholectlAgentTest, PoolsListFollowsEveryNextLinkAndPrintsATable) {
  const std::string page2 = kBase + "/api/v1/agentPools?poolType=LDAP&after=2";
  fake_.answers.push_back(JsonAnswer(200, nlohmann::json::array({Pool("0oaP1", "eu", "LDAP", {Agent("ajd1")})}),
                                     {{"Link", "<" + page2 + ">; rel=\"next\""}}));
  fake_.answers.push_back(JsonAnswer(200, nlohmann::json::array({Pool("0oaP2", "us", "LDAP")})));

  ASSERT_EQ(Run({"pools", "list", "--type", "LDAP"}), kExitOk) << err_.str();
  ASSERT_EQ(fake_.sent.size(), 2u);
  EXPECT_EQ(Sent(0).method, "GET");
  EXPECT_EQ(Sent(0).target, "/api/v1/agentPools?poolType=LDAP");
  EXPECT_EQ(Sent(1).target, page2);
  EXPECT_EQ(out_.str(),
            "ID     NAME  TYPE  STATUS       AGENTS  DISRUPTED  INACTIVE  CREATED (UTC)\n"
            "0oaP1  eu    LDAP  OPERATIONAL  1       0          0         2026-11-27 23:09\n"
            "0oaP2  us    LDAP  DISRUPTED    0       0          0         2026-11-27 23:09\n");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(KeyholectlAgentTest, PoolsListJsonIsOneArrayOfEveryPage) {
  fake_.answers.push_back(JsonAnswer(200, nlohmann::json::array({Pool("0oaP1", "eu", "AD")}),
                                     {{"Link", "<" + kBase + "/api/v1/agentPools?after=1>; rel=\"next\""}}));
  fake_.answers.push_back(JsonAnswer(200, nlohmann::json::array({Pool("0oaP2", "us", "HTTP")})));
  ASSERT_EQ(Run({"pools", "list", "--json"}), kExitOk) << err_.str();
  EXPECT_EQ(Sent(0).target, "/api/v1/agentPools");
  auto printed = nlohmann::json::parse(out_.str());
  ASSERT_EQ(printed.size(), 2u);
  EXPECT_EQ(printed[1], Pool("0oaP2", "us", "HTTP"));
}

TEST_F(KeyholectlAgentTest, PoolsCreateRenameAndDeleteSendTheirRequests) {
  fake_.answers.push_back(JsonAnswer(200, Pool("0oaP1", "eu", "LDAP")));
  ASSERT_EQ(Run({"pools", "create", "--name", "eu", "--type", "LDAP"}), kExitOk) << err_.str();
  EXPECT_EQ(Sent(0).method, "POST");
  EXPECT_EQ(Sent(0).target, "/api/v1/agentPools");
  EXPECT_EQ(Sent(0).body, (nlohmann::json{{"name", "eu"}, {"type", "LDAP"}}));
  EXPECT_THAT(out_.str(), HasSubstr("id                  0oaP1\n"));
  EXPECT_THAT(out_.str(), HasSubstr("type                LDAP\n"));

  fake_.answers.push_back(JsonAnswer(200, Pool("0oaP1", "eu west", "LDAP")));
  ASSERT_EQ(Run({"pools", "rename", "0oaP1", "--name", "eu west", "--json"}), kExitOk) << err_.str();
  EXPECT_EQ(Sent(1).method, "PUT");
  EXPECT_EQ(Sent(1).target, "/api/v1/agentPools/0oaP1");
  EXPECT_EQ(Sent(1).body, (nlohmann::json{{"name", "eu west"}}));
  EXPECT_EQ(nlohmann::json::parse(out_.str()), Pool("0oaP1", "eu west", "LDAP"));

  fake_.answers.push_back(RestResponse{204, {}, ""});
  ASSERT_EQ(Run({"pools", "delete", "0oaP1"}), kExitOk) << err_.str();
  EXPECT_EQ(Sent(2).method, "DELETE");
  EXPECT_EQ(Sent(2).target, "/api/v1/agentPools/0oaP1");
  EXPECT_FALSE(Sent(2).body.has_value());
  EXPECT_EQ(out_.str(), "pool 0oaP1: deleted\n");
}

TEST_F(KeyholectlAgentTest, PoolsDeleteWithAgentsPrintsTheOktaErrorAndExitsOne) {
  fake_.answers.push_back(OktaError(400, "E0000001", "Api validation failed: agentPool",
                                    {"agentPool: the pool still has agents"}));
  EXPECT_EQ(Run({"pools", "delete", "0oaP1"}), kExitApiError);
  EXPECT_EQ(err_.str(),
            "keyholectl: E0000001 Api validation failed: agentPool (HTTP 400)\n"
            "  agentPool: the pool still has agents\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(KeyholectlAgentTest, CodesCreatePrintsTheCodeAloneOnStdout) {
  nlohmann::json code = Code("kac1", "ACTIVE");
  code["code"] = "khc_secretcode";
  fake_.answers.push_back(JsonAnswer(200, code));
  ASSERT_EQ(Run({"codes", "create", "--pool", "0oaP1", "--lifetime", "PT2H"}), kExitOk) << err_.str();
  EXPECT_EQ(Sent(0).method, "POST");
  EXPECT_EQ(Sent(0).target, "/api/v1/agentPools/0oaP1/activationCodes");
  EXPECT_EQ(Sent(0).body, (nlohmann::json{{"lifetime", "PT2H"}}));
  EXPECT_EQ(out_.str(), "khc_secretcode\n");
  EXPECT_THAT(err_.str(), HasSubstr("kac1"));
  EXPECT_THAT(err_.str(), HasSubstr("2026-11-29 04:00:00"));
  EXPECT_THAT(err_.str(), Not(HasSubstr("khc_")));
}

TEST_F(KeyholectlAgentTest, CodesCreateWithoutLifetimeSendsNoBodyAndJsonPrintsTheObject) {
  nlohmann::json code = Code("kac1", "ACTIVE");
  code["code"] = "khc_secretcode";
  fake_.answers.push_back(JsonAnswer(200, code));
  ASSERT_EQ(Run({"codes", "create", "--pool", "0oaP1", "--json"}), kExitOk) << err_.str();
  EXPECT_FALSE(Sent(0).body.has_value());
  EXPECT_EQ(nlohmann::json::parse(out_.str()), code);
  EXPECT_EQ(err_.str(), "");
}

TEST_F(KeyholectlAgentTest, CodesCreateRefusesABadLifetimeBeforeConnecting) {
  EXPECT_EQ(Run({"codes", "create", "--pool", "0oaP1", "--lifetime", "24h"}), kExitUsage);
  EXPECT_EQ(Run({"codes", "create", "--lifetime", "PT1H"}), kExitUsage);  // no --pool
  EXPECT_EQ(connects_, 0);
  EXPECT_TRUE(fake_.sent.empty());
}

TEST_F(KeyholectlAgentTest, CodesListAndRevoke) {
  nlohmann::json used = Code("kac2", "USED");
  used["used"] = "2026-11-28T05:00:00.000Z";
  used["agentId"] = "ajd1";
  fake_.answers.push_back(JsonAnswer(200, nlohmann::json::array({Code("kac1", "ACTIVE"), used})));
  ASSERT_EQ(Run({"codes", "list", "--pool", "0oaP1"}), kExitOk) << err_.str();
  EXPECT_EQ(Sent(0).method, "GET");
  EXPECT_EQ(Sent(0).target, "/api/v1/agentPools/0oaP1/activationCodes");
  EXPECT_EQ(out_.str(),
            "ID    STATUS  CREATED (UTC)     EXPIRES (UTC)     USED (UTC)        AGENT\n"
            "kac1  ACTIVE  2026-11-28 04:00  2026-11-29 04:00  -                 -\n"
            "kac2  USED    2026-11-28 04:00  2026-11-29 04:00  2026-11-28 05:00  ajd1\n");

  fake_.answers.push_back(RestResponse{204, {}, ""});
  ASSERT_EQ(Run({"codes", "revoke", "--pool", "0oaP1", "kac1"}), kExitOk) << err_.str();
  EXPECT_EQ(Sent(1).method, "DELETE");
  EXPECT_EQ(Sent(1).target, "/api/v1/agentPools/0oaP1/activationCodes/kac1");
  EXPECT_EQ(out_.str(), "activation code kac1: revoked\n");
}

TEST_F(KeyholectlAgentTest, AgentsListFollowsPagingInTableAndJson) {
  const std::string page2 = kBase + "/api/v1/agentPools/0oaP1/agents?after=1";
  nlohmann::json never = Agent("ajd2", "INACTIVE");
  never["lastConnection"] = 0;
  fake_.answers.push_back(
      JsonAnswer(200, nlohmann::json::array({Agent("ajd1")}), {{"Link", "<" + page2 + ">; rel=\"next\""}}));
  fake_.answers.push_back(JsonAnswer(200, nlohmann::json::array({never})));
  ASSERT_EQ(Run({"agents", "list", "--pool", "0oaP1"}), kExitOk) << err_.str();
  ASSERT_EQ(fake_.sent.size(), 2u);
  EXPECT_EQ(Sent(0).target, "/api/v1/agentPools/0oaP1/agents");
  EXPECT_EQ(Sent(1).target, page2);
  EXPECT_EQ(out_.str(),
            "ID    NAME     TYPE  STATUS    OPERATIONAL  HOST               VERSION  LAST CONNECTION (UTC)\n"
            "ajd1  dc-ajd1  LDAP  ACTIVE    OPERATIONAL  ajd1.corp.example  0.1.0    2026-11-27 23:09:48\n"
            "ajd2  dc-ajd2  LDAP  INACTIVE  INACTIVE     ajd2.corp.example  0.1.0    never\n");

  fake_.answers.push_back(
      JsonAnswer(200, nlohmann::json::array({Agent("ajd1")}), {{"Link", "<" + page2 + ">; rel=\"next\""}}));
  fake_.answers.push_back(JsonAnswer(200, nlohmann::json::array({never})));
  ASSERT_EQ(Run({"agents", "list", "--pool", "0oaP1", "--json"}), kExitOk) << err_.str();
  EXPECT_EQ(nlohmann::json::parse(out_.str()), nlohmann::json::array({Agent("ajd1"), never}));
}

TEST_F(KeyholectlAgentTest, AgentsShowPrintsFields) {
  fake_.answers.push_back(JsonAnswer(200, Agent("ajd1")));
  ASSERT_EQ(Run({"agents", "show", "ajd1"}), kExitOk) << err_.str();
  EXPECT_EQ(Sent(0).method, "GET");
  EXPECT_EQ(Sent(0).target, "/api/v1/agents/ajd1");
  EXPECT_THAT(out_.str(), HasSubstr("host               ajd1.corp.example\n"));
  EXPECT_THAT(out_.str(), HasSubstr("lastConnection     2026-11-27 23:09:48\n"));
  EXPECT_THAT(out_.str(), HasSubstr("activated          -\n"));
}

TEST_F(KeyholectlAgentTest, AgentsLifecycleAndDeleteSendTheirRequests) {
  fake_.answers.push_back(JsonAnswer(200, Agent("ajd1", "INACTIVE")));
  ASSERT_EQ(Run({"agents", "deactivate", "ajd1"}), kExitOk) << err_.str();
  EXPECT_EQ(Sent(0).method, "POST");
  EXPECT_EQ(Sent(0).target, "/api/v1/agents/ajd1/lifecycle/deactivate");
  EXPECT_FALSE(Sent(0).body.has_value());
  EXPECT_EQ(out_.str(), "agent ajd1: deactivated (status INACTIVE)\n");

  fake_.answers.push_back(JsonAnswer(200, Agent("ajd1")));
  ASSERT_EQ(Run({"agents", "reactivate", "ajd1", "--json"}), kExitOk) << err_.str();
  EXPECT_EQ(Sent(1).target, "/api/v1/agents/ajd1/lifecycle/reactivate");
  EXPECT_EQ(nlohmann::json::parse(out_.str()), Agent("ajd1"));

  fake_.answers.push_back(RestResponse{204, {}, ""});
  ASSERT_EQ(Run({"agents", "delete", "ajd1"}), kExitOk) << err_.str();
  EXPECT_EQ(Sent(2).method, "DELETE");
  EXPECT_EQ(Sent(2).target, "/api/v1/agents/ajd1");
  EXPECT_EQ(out_.str(), "agent ajd1: deleted\n");

  std::vector<std::string> methods;
  for (const auto& s : fake_.sent) methods.push_back(s.method);
  EXPECT_THAT(methods, ElementsAre("POST", "POST", "DELETE"));
}

TEST_F(KeyholectlAgentTest, AgentsErrorsExitOneWithTheOktaError) {
  fake_.answers.push_back(OktaError(403, "E0000038", "This operation is not allowed in the user's current status."));
  EXPECT_EQ(Run({"agents", "reactivate", "ajd1"}), kExitApiError);
  EXPECT_EQ(err_.str(),
            "keyholectl: E0000038 This operation is not allowed in the user's current status. (HTTP 403)\n");
  fake_.answers.push_back(OktaError(404, "E0000007", "Not found: Resource not found: ajd9 (Agent)"));
  EXPECT_EQ(Run({"agents", "show", "ajd9"}), kExitApiError);
  EXPECT_THAT(err_.str(), HasSubstr("E0000007"));
  fake_.answers.push_back(UnavailableError("cannot talk to https://kh.test:8443: connection refused"));
  EXPECT_EQ(Run({"agents", "list", "--pool", "0oaP1"}), kExitNoAnswer);
  EXPECT_EQ(out_.str(), "");
}

TEST_F(KeyholectlAgentTest, IdsArePercentEncodedInPaths) {
  fake_.answers.push_back(JsonAnswer(200, Agent("a/b")));
  ASSERT_EQ(Run({"agents", "show", "a/b"}), kExitOk) << err_.str();
  EXPECT_EQ(Sent(0).target, "/api/v1/agents/a%2Fb");
}

TEST_F(KeyholectlAgentTest, MissingArgumentsAreUsageErrors) {
  EXPECT_EQ(Run({"pools", "create", "--name", "eu"}), kExitUsage);
  EXPECT_EQ(Run({"pools", "rename", "0oaP1"}), kExitUsage);
  EXPECT_EQ(Run({"codes", "list"}), kExitUsage);
  EXPECT_EQ(Run({"codes", "revoke", "--pool", "0oaP1"}), kExitUsage);
  EXPECT_EQ(Run({"agents", "list"}), kExitUsage);
  EXPECT_EQ(Run({"agents", "frobnicate", "ajd1"}), kExitUsage);
  EXPECT_EQ(Run({"agents"}), kExitUsage);
  EXPECT_EQ(connects_, 0);
}

TEST(KeyholectlLastConnectionTest, EpochMillisNeverAndAbsent) {
  EXPECT_EQ(LastConnection({{"lastConnection", 1795820988000}}), "2026-11-27 23:09:48");
  EXPECT_EQ(LastConnection({{"lastConnection", 0}}), "never");
  EXPECT_EQ(LastConnection(nlohmann::json::object()), "-");
}

}  // namespace
}  // namespace keyhole::ctl
