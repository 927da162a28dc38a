// keyholectl's command line against a scripted RestClient: settings and usage errors, pagination,
// output forms, error reporting and exit codes.
#include "coordinator/ctl/commands.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "tests/support/fake_clock.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/ctl/fake_rest_client.h"

namespace keyhole::ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::FakeRestClient;
using testing::ForwardingClient;
using testing::JsonAnswer;
using testing::OktaError;

const std::string kBase = testing::kFakeCoordinatorUrl;

nlohmann::json User(const std::string& id, const std::string& login) {
  return {{"id", id}, {"status", "ACTIVE"}, {"created", "2026-11-27T23:09:48.000Z"},
          {"profile", {{"login", login}, {"email", login}, {"firstName", "F"}, {"lastName", "L"}}}};
}

class KeyholectlCliTest : public testing::CtlFixture {
 protected:
  int Run(std::vector<std::string> args) { return RunKeyholectl(args, Context()); }
};

TEST_F(KeyholectlCliTest, UsersListAllFollowsEveryNextLinkVerbatim) {
  const std::string page2 = kBase + "/api/v1/users?limit=2&after=2";
  const std::string page3 = kBase + "/api/v1/users?limit=2&after=4";
  // Link as separate fields, then comma-joined as cpprestsdk delivers repeated fields.
  fake_.answers.push_back(JsonAnswer(200, nlohmann::json::array({User("00u1", "a@x.io"), User("00u2", "b@x.io")}),
                                     {{"Link", "<" + kBase + "/api/v1/users?limit=2>; rel=\"self\""},
                                      {"Link", "<" + page2 + ">; rel=\"next\""}}));
  fake_.answers.push_back(JsonAnswer(200, nlohmann::json::array({User("00u3", "c@x.io"), User("00u4", "d@x.io")}),
                                     {{"Link", "<" + page2 + ">; rel=\"self\", <" + page3 + ">; rel=\"next\""}}));
  fake_.answers.push_back(
      JsonAnswer(200, nlohmann::json::array({User("00u5", "e@x.io")}), {{"Link", "<" + page3 + ">; rel=\"self\""}}));

  ASSERT_EQ(Run({"users", "list", "--limit", "2", "--all"}), kExitOk) << err_.str();
  ASSERT_EQ(fake_.sent.size(), 3u);
  EXPECT_EQ(fake_.sent[0].target, "/api/v1/users?limit=2");
  EXPECT_EQ(fake_.sent[1].target, page2);
  EXPECT_EQ(fake_.sent[2].target, page3);
  for (const char* id : {"00u1", "00u2", "00u3", "00u4", "00u5"}) EXPECT_THAT(out_.str(), HasSubstr(id));
  EXPECT_THAT(out_.str(), HasSubstr("ID    STATUS  LOGIN   NAME  CREATED (UTC)\n"));
  EXPECT_THAT(out_.str(), HasSubstr("00u5  ACTIVE  e@x.io  F L   2026-11-27 23:09\n"));
  EXPECT_EQ(settings_.url, kBase);
  EXPECT_EQ(settings_.token, "secret-token");
}

TEST_F(KeyholectlCliTest, UsersListWithoutAllFetchesOnePageAndSaysMoreExist) {
  fake_.answers.push_back(
      JsonAnswer(200, nlohmann::json::array({User("00u1", "a@x.io")}), {{"Link", "<" + kBase + "/n>; rel=\"next\""}}));
  ASSERT_EQ(Run({"users", "list"}), kExitOk);
  EXPECT_EQ(fake_.sent.size(), 1u);
  EXPECT_THAT(err_.str(), HasSubstr("--all"));
}

TEST_F(KeyholectlCliTest, JsonPrintsOneArrayOfEveryPage) {
  fake_.answers.push_back(
      JsonAnswer(200, nlohmann::json::array({User("00u1", "a@x.io")}), {{"Link", "<" + kBase + "/p2>; rel=\"next\""}}));
  fake_.answers.push_back(JsonAnswer(200, nlohmann::json::array({User("00u2", "b@x.io")})));
  ASSERT_EQ(Run({"users", "list", "--all", "--json"}), kExitOk);  // --json after the subcommand too
  auto printed = nlohmann::json::parse(out_.str());
  ASSERT_EQ(printed.size(), 2u);
  EXPECT_EQ(printed[1], User("00u2", "b@x.io"));
}

TEST_F(KeyholectlCliTest, ARepeatedNextLinkStopsInsteadOfLooping) {
  for (int i = 0; i < 3; ++i) {
    fake_.answers.push_back(JsonAnswer(200, nlohmann::json::array(), {{"Link", "<" + kBase + "/same>; rel=\"next\""}}));
  }
  EXPECT_EQ(Run({"users", "list", "--all"}), kExitApiError);
  EXPECT_THAT(err_.str(), HasSubstr("repeats"));
}

TEST_F(KeyholectlCliTest, OktaErrorIsPrintedWithCausesAndExitsOne) {
  fake_.answers.push_back(OktaError(400, "E0000001", "Api validation failed: login",
                                    {"login: An object with this field already exists in the current organization"}));
  EXPECT_EQ(Run({"users", "create", "--login", "a@x.io", "--first-name", "A", "--last-name", "B"}), kExitApiError);
  EXPECT_EQ(err_.str(),
            "keyholectl: E0000001 Api validation failed: login (HTTP 400)\n"
            "  login: An object with this field already exists in the current organization\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(KeyholectlCliTest, InvalidTokenExitsOne) {
  fake_.answers.push_back(OktaError(401, "E0000011", "Invalid token provided"));
  EXPECT_EQ(Run({"tokens", "list"}), kExitApiError);
  EXPECT_THAT(err_.str(), HasSubstr("E0000011 Invalid token provided"));
}

TEST_F(KeyholectlCliTest, AnswerWithoutAnOktaErrorObjectStillReports) {
  fake_.answers.push_back(RestResponse{502, {}, "<html>bad gateway</html>"});
  EXPECT_EQ(Run({"users", "get", "me"}), kExitApiError);
  EXPECT_THAT(err_.str(), HasSubstr("HTTP 502"));
}

TEST_F(KeyholectlCliTest, NoAnswerExitsThree) {
  fake_.answers.push_back(UnavailableError("cannot talk to https://kh.test:8443: TLS handshake refused"));
  EXPECT_EQ(Run({"users", "get", "me"}), kExitNoAnswer);
  EXPECT_THAT(err_.str(), HasSubstr("TLS handshake refused"));
}

TEST_F(KeyholectlCliTest, TokenIsNeverTakenFromTheCommandLine) {
  EXPECT_EQ(Run({"--token", "abc", "users", "list"}), kExitUsage);
  EXPECT_EQ(Run({"users", "list", "--token=abc"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("KEYHOLE_TOKEN"));
  EXPECT_EQ(connects_, 0);
}

TEST_F(KeyholectlCliTest, MissingSettingsAreUsageErrors) {
  env_.erase("KEYHOLE_TOKEN");
  EXPECT_EQ(Run({"users", "list"}), kExitUsage);
  env_ = {{"KEYHOLE_TOKEN", "t"}};
  EXPECT_EQ(Run({"users", "list"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("KEYHOLE_URL"));
  EXPECT_EQ(Run({"--url", kBase, "users", "frobnicate"}), kExitUsage);
  EXPECT_EQ(Run({"--url", kBase, "users", "update", "00u1"}), kExitUsage);  // nothing to change
  EXPECT_EQ(Run({"--url", kBase, "users", "list", "--limit", "0"}), kExitUsage);
  EXPECT_EQ(connects_, 0);
}

TEST_F(KeyholectlCliTest, TrustOptionsAreCheckedAndNormalized) {
  EXPECT_EQ(Run({"--pin", "sha256:00", "users", "list"}), kExitUsage);
  EXPECT_EQ(Run({"--pin", std::string(64, 'a'), "--ca-file", "/x.pem", "users", "list"}), kExitUsage);
  env_["KEYHOLE_PIN"] = "sha256:" + std::string(64, 'b');
  env_["KEYHOLE_CA_FILE"] = "/ca.pem";
  EXPECT_EQ(Run({"users", "list"}), kExitUsage);  // both variables set
  EXPECT_EQ(connects_, 0);

  // An option on the command line overrides both variables.
  fake_.answers.push_back(JsonAnswer(200, nlohmann::json::array()));
  std::string colons;
  for (int i = 0; i < 32; ++i) colons += std::string(i ? ":" : "") + "AB";
  ASSERT_EQ(Run({"users", "list", "--pin", "SHA256:" + colons}), kExitOk) << err_.str();
  EXPECT_EQ(settings_.pin, "sha256:" + [] {
    std::string s;
    for (int i = 0; i < 32; ++i) s += "ab";
    return s;
  }());
  EXPECT_EQ(settings_.ca_file, "");

  env_.erase("KEYHOLE_PIN");
  env_["KEYHOLE_URL"] = "http://127.0.0.1:8080";
  EXPECT_EQ(Run({"users", "list"}), kExitUsage);  // a CA file means nothing without TLS
}

TEST_F(KeyholectlCliTest, TokenFileIsReadAndTrimmed) {
  keyhole::testing::TempDir dir;
  std::ofstream(dir.File("token")) << "  from-file\n";
  fake_.answers.push_back(JsonAnswer(200, User("00u1", "a@x.io")));
  ASSERT_EQ(Run({"--token-file", dir.File("token"), "users", "get", "me"}), kExitOk) << err_.str();
  EXPECT_EQ(settings_.token, "from-file");
  EXPECT_EQ(Run({"--token-file", dir.File("missing"), "users", "get", "me"}), kExitUsage);
}

TEST_F(KeyholectlCliTest, RateLimitedCallWaitsForTheResetAndRetriesWithOktaHeaders) {
  // Date is the server's clock: the wait is Reset - Date + 1 s whatever the local clock says.
  RestResponse limited = OktaError(429, "E0000047", "API call exceeded rate limit due to too many requests.");
  limited.headers.push_back({"Date", "Sat, 28 Nov 2026 10:00:00 GMT"});
  limited.headers.push_back({"X-Rate-Limit-Reset", std::to_string(1795860000 + 4)});
  limited.headers.push_back({"X-Okta-Request-Id", "req-1"});
  fake_.answers.push_back(limited);
  fake_.answers.push_back(limited);
  fake_.answers.push_back(JsonAnswer(200, User("00u1", "a@x.io")));

  ASSERT_EQ(Run({"users", "get", "me"}), kExitOk) << err_.str();
  EXPECT_THAT(sleeps_, ElementsAre(std::chrono::milliseconds(5000), std::chrono::milliseconds(5000)));
  ASSERT_EQ(fake_.sent.size(), 3u);
  EXPECT_EQ(fake_.sent[0].headers.size(), 0u);
  EXPECT_EQ(fake_.sent[1].Header("X-Okta-Retry-For"), "req-1");
  EXPECT_EQ(fake_.sent[1].Header("X-Okta-Retry-Count"), "1");
  EXPECT_EQ(fake_.sent[2].Header("X-Okta-Retry-Count"), "2");
}

TEST_F(KeyholectlCliTest, RateLimitGivesUpAfterTwoRetriesOrWithoutAReset) {
  RestResponse limited = OktaError(429, "E0000047", "API call exceeded rate limit due to too many requests.");
  RestResponse with_reset = limited;
  with_reset.headers.push_back({"X-Rate-Limit-Reset", std::to_string(ToEpochMillis(clock_.Now()) / 1000 + 1)});
  for (int i = 0; i < 3; ++i) fake_.answers.push_back(with_reset);
  EXPECT_EQ(Run({"users", "get", "me"}), kExitApiError);
  EXPECT_EQ(fake_.sent.size(), 3u);
  EXPECT_EQ(sleeps_.size(), 2u);
  EXPECT_THAT(err_.str(), HasSubstr("E0000047"));

  fake_.sent.clear();
  fake_.answers.push_back(limited);  // no X-Rate-Limit-Reset: nothing to wait for
  EXPECT_EQ(Run({"users", "get", "me"}), kExitApiError);
  EXPECT_EQ(fake_.sent.size(), 1u);

  fake_.sent.clear();
  RestResponse far = limited;  // resets in ten minutes: not worth blocking for
  far.headers.push_back({"X-Rate-Limit-Reset", std::to_string(ToEpochMillis(clock_.Now()) / 1000 + 600)});
  fake_.answers.push_back(far);
  EXPECT_EQ(Run({"users", "get", "me"}), kExitApiError);
  EXPECT_EQ(fake_.sent.size(), 1u);
}

TEST_F(KeyholectlCliTest, TokensCreatePrintsTheSecretAloneOrTheWholeObject) {
  nlohmann::json created = {{"id", "00T1"}, {"name", "ci"}, {"userId", "00u1"}, {"tokenWindow", "P30D"},
                            {"token", "00abcSECRET"}};
  fake_.answers.push_back(JsonAnswer(200, created));
  ASSERT_EQ(Run({"tokens", "create", "--name", "ci"}), kExitOk);
  EXPECT_EQ(out_.str(), "00abcSECRET\n");
  EXPECT_THAT(err_.str(), HasSubstr("00T1"));
  EXPECT_THAT(err_.str(), Not(HasSubstr("00abcSECRET")));
  EXPECT_EQ(fake_.sent[0].method, "POST");
  EXPECT_EQ(fake_.sent[0].target, "/api/v1/api-tokens");
  EXPECT_EQ((*fake_.sent[0].body)["name"], "ci");
  EXPECT_FALSE(fake_.sent[0].body->contains("userId"));

  fake_.answers.push_back(JsonAnswer(200, User("00u9", "ada@x.io")));
  fake_.answers.push_back(JsonAnswer(200, created));
  ASSERT_EQ(Run({"--json", "tokens", "create", "--name", "ci", "--user", "ada@x.io"}), kExitOk);
  EXPECT_EQ(nlohmann::json::parse(out_.str()), created);
  EXPECT_EQ(fake_.sent[1].target, "/api/v1/users/ada@x.io");
  EXPECT_EQ((*fake_.sent[2].body)["userId"], "00u9");  // the API takes an id, not a login
}

TEST_F(KeyholectlCliTest, TokensListRevokeAndRevokeCurrentUseTheirEndpoints) {
  fake_.answers.push_back(JsonAnswer(200, nlohmann::json::array()));
  fake_.answers.push_back(RestResponse{204, {}, ""});
  fake_.answers.push_back(RestResponse{204, {}, ""});
  ASSERT_EQ(Run({"tokens", "list", "--q", "ci", "--include-revoked"}), kExitOk);
  ASSERT_EQ(Run({"tokens", "revoke", "00T1"}), kExitOk);
  ASSERT_EQ(Run({"tokens", "revoke-current"}), kExitOk);
  EXPECT_EQ(fake_.sent[0].target, "/api/v1/api-tokens?q=ci&includeRevoked=true");
  EXPECT_EQ(fake_.sent[1].method + " " + fake_.sent[1].target, "DELETE /api/v1/api-tokens/00T1");
  EXPECT_EQ(fake_.sent[2].method + " " + fake_.sent[2].target, "DELETE /api/v1/api-tokens/current");
}

TEST_F(KeyholectlCliTest, UserArgumentsAndFiltersArePercentEncoded) {
  fake_.answers.push_back(JsonAnswer(200, nlohmann::json::array()));
  fake_.answers.push_back(JsonAnswer(200, User("00u1", "a@x.io")));
  ASSERT_EQ(Run({"users", "list", "--filter", "status eq \"ACTIVE\""}), kExitOk);
  ASSERT_EQ(Run({"users", "get", "a b/c?d"}), kExitOk);
  EXPECT_EQ(fake_.sent[0].target, "/api/v1/users?filter=status%20eq%20%22ACTIVE%22");
  EXPECT_EQ(fake_.sent[1].target, "/api/v1/users/a%20b%2Fc%3Fd");
}

TEST_F(KeyholectlCliTest, CreateUpdateAndLifecycleSendOktaRequests) {
  fake_.answers.push_back(JsonAnswer(200, User("00u1", "a@x.io")));
  fake_.answers.push_back(JsonAnswer(200, User("00u1", "a@x.io")));
  fake_.answers.push_back(JsonAnswer(200, nlohmann::json::object()));
  ASSERT_EQ(Run({"users", "create", "--login", "a@x.io", "--first-name", "A", "--last-name", "B", "--no-activate"}),
            kExitOk);
  ASSERT_EQ(Run({"users", "update", "00u1", "--last-name", "C"}), kExitOk);
  ASSERT_EQ(Run({"users", "suspend", "00u1"}), kExitOk);
  EXPECT_EQ(fake_.sent[0].target, "/api/v1/users?activate=false");
  EXPECT_EQ(*fake_.sent[0].body, (nlohmann::json{{"profile",
                                                  {{"login", "a@x.io"}, {"email", "a@x.io"}, {"firstName", "A"},
                                                   {"lastName", "B"}}}}));
  EXPECT_EQ(fake_.sent[1].method + " " + fake_.sent[1].target, "POST /api/v1/users/00u1");
  EXPECT_EQ(*fake_.sent[1].body, (nlohmann::json{{"profile", {{"lastName", "C"}}}}));
  EXPECT_EQ(fake_.sent[2].method + " " + fake_.sent[2].target, "POST /api/v1/users/00u1/lifecycle/suspend");
  EXPECT_EQ(out_.str(), "user 00u1: suspended\n");
}

TEST_F(KeyholectlCliTest, DeleteSaysWhetherItDeactivatedOrDeleted) {
  nlohmann::json active = User("00u1", "a@x.io"), gone = active;
  gone["status"] = "DEPROVISIONED";
  fake_.answers.push_back(JsonAnswer(200, active));
  fake_.answers.push_back(RestResponse{204, {}, ""});
  ASSERT_EQ(Run({"users", "delete", "a@x.io"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("deactivated"));
  EXPECT_EQ(fake_.sent[1].method + " " + fake_.sent[1].target, "DELETE /api/v1/users/00u1");
  fake_.answers.push_back(JsonAnswer(200, gone));
  fake_.answers.push_back(RestResponse{204, {}, ""});
  ASSERT_EQ(Run({"users", "delete", "a@x.io"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("deleted"));
}

TEST_F(KeyholectlCliTest, GrantAndRevokeAdminUseTheRolesResource) {
  nlohmann::json role = {{"id", "ra00u1"}, {"type", "SUPER_ADMIN"}};
  fake_.answers.push_back(JsonAnswer(200, role));
  fake_.answers.push_back(JsonAnswer(200, nlohmann::json::array({role})));
  fake_.answers.push_back(RestResponse{204, {}, ""});
  fake_.answers.push_back(JsonAnswer(200, nlohmann::json::array()));
  ASSERT_EQ(Run({"users", "grant-admin", "00u1"}), kExitOk);
  ASSERT_EQ(Run({"users", "revoke-admin", "00u1"}), kExitOk);
  EXPECT_EQ(Run({"users", "revoke-admin", "00u1"}), kExitApiError);  // holds no such role now
  EXPECT_EQ(fake_.sent[0].method + " " + fake_.sent[0].target, "POST /api/v1/users/00u1/roles");
  EXPECT_EQ(*fake_.sent[0].body, (nlohmann::json{{"type", "SUPER_ADMIN"}}));
  EXPECT_EQ(fake_.sent[1].method + " " + fake_.sent[1].target, "GET /api/v1/users/00u1/roles");
  EXPECT_EQ(fake_.sent[2].method + " " + fake_.sent[2].target, "DELETE /api/v1/users/00u1/roles/ra00u1");
  EXPECT_EQ(fake_.sent.size(), 4u);
}

TEST_F(KeyholectlCliTest, ServerTextCannotDriveTheTerminal) {
  nlohmann::json evil = User("00u1", "a@x.io");
  evil["profile"]["firstName"] = "\x1b[2J\x1b]0;pwned\x07";
  fake_.answers.push_back(JsonAnswer(200, nlohmann::json::array({evil})));
  ASSERT_EQ(Run({"users", "list"}), kExitOk);
  EXPECT_EQ(out_.str().find('\x1b'), std::string::npos);
  EXPECT_EQ(out_.str().find('\x07'), std::string::npos);
}

}  // namespace
}  // namespace keyhole::ctl
