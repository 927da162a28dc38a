// `keyholectl ratelimits …` and `keyholectl logs` against a scripted RestClient: the requests they
// build, their tables, argument errors, and --follow polling through empty pages until told to stop.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "coordinator/ctl/commands.h"
#include "coordinator/ctl/log_commands.h"
#include "coordinator/ctl/ratelimit_commands.h"
#include "tests/support/fake_clock.h"
#include "tests/unit/ctl/fake_rest_client.h"

namespace keyhole::ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::FakeRestClient;
using testing::ForwardingClient;
using testing::JsonAnswer;
using testing::OktaError;

const std::string kBase = testing::kFakeCoordinatorUrl;

nlohmann::json Event(const std::string& type, const std::string& when, const std::string& message) {
  return {{"uuid", "ev-" + when},
          {"published", "2026-11-28T" + when + ".123Z"},
          {"eventType", type},
          {"displayMessage", message},
          {"outcome", {{"result", "SUCCESS"}, {"reason", nullptr}}},
          {"actor", {{"id", "00uADMIN"}, {"type", "User"}, {"alternateId", "admin@x.io"}}},
          {"target", nlohmann::json::array({{{"id", "00uBOB"}, {"type", "User"}, {"alternateId", "bob@x.io"}},
                                            {{"id", "00T1"}, {"type", "Token"}, {"alternateId", nullptr}}})}};
}

RestResponse EventPage(nlohmann::json events, const std::optional<std::string>& next) {
  HeaderList headers = {{"Link", "<" + kBase + "/api/v1/logs?self>; rel=\"self\""}};
  if (next) headers.emplace_back("Link", "<" + *next + ">; rel=\"next\"");
  return JsonAnswer(200, events, headers);
}

class KeyholectlRateLimitLogTest : public testing::CtlFixture {
 protected:
  int Run(std::vector<std::string> args) {
    CtlContext ctx = Context();
    ctx.follow_begins = [this] { ++follow_begun_; };
    // Keeps following for `polls_allowed_` waits, then asks to stop.
    ctx.follow_wait = [this](std::chrono::milliseconds d) {
      waits_.push_back(d);
      return static_cast<int>(waits_.size()) < polls_allowed_;
    };
    return RunKeyholectl(args, ctx);
  }
  std::vector<std::string> Targets() const {
    std::vector<std::string> out;
    for (const auto& s : fake_.sent) out.push_back(s.target);
    return out;
  }

  int follow_begun_ = 0;
  int polls_allowed_ = 1;
  std::vector<std::chrono::milliseconds> waits_;
};

TEST(KeyholectlLogFilterTest, FlagsJoinWithAndAfterAParenthesizedFilterAndQuotesAreEscaped) {
  LogQueryOptions o;
  EXPECT_EQ(LogFilter(o), "");
  o.filter = "eventType eq \"a\" or eventType eq \"b\"";
  EXPECT_EQ(LogFilter(o), o.filter);
  o.actor = "00u1";
  o.outcome = "FAILURE";
  EXPECT_EQ(LogFilter(o), "(eventType eq \"a\" or eventType eq \"b\") and actor.id eq \"00u1\" and outcome.result eq \"FAILURE\"");
  LogQueryOptions q;
  q.target = "we\"ird\\";
  q.event_type = "user.lifecycle.suspend";
  EXPECT_EQ(LogFilter(q), "eventType eq \"user.lifecycle.suspend\" and target.id eq \"we\\\"ird\\\\\"");
}

TEST_F(KeyholectlRateLimitLogTest, LogsRequestCarriesEveryParameterPercentEncoded) {
  fake_.answers.push_back(EventPage(nlohmann::json::array(), std::nullopt));
  ASSERT_EQ(Run({"logs", "--since", "2026-11-27T00:00:00Z", "--until", "2026-11-28T00:00:00+01:00", "--event-type",
                 "user.lifecycle.suspend", "--actor", "00u1", "--q", "bob x", "--limit", "5", "--desc"}),
            kExitOk)
      << err_.str();
  EXPECT_THAT(Targets(), ElementsAre("/api/v1/logs?since=2026-11-27T00%3A00%3A00Z&until=2026-11-28T00%3A00%3A00%2B01%3A00"
                                     "&filter=eventType%20eq%20%22user.lifecycle.suspend%22%20and%20actor.id%20eq%20%2200u1%22"
                                     "&q=bob%20x&limit=5&sortOrder=DESCENDING"));
}

TEST_F(KeyholectlRateLimitLogTest, LogsTableShowsOneLinePerEvent) {
  fake_.answers.push_back(EventPage({Event("user.lifecycle.suspend", "10:00:01", "Suspend user"),
                                     Event("system.api_token.create", "10:00:02", "Create API token")},
                                    std::nullopt));
  ASSERT_EQ(Run({"logs", "--until", "2026-11-29T00:00:00Z"}), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(),
            "PUBLISHED (UTC)      EVENT-TYPE               OUTCOME  ACTOR       TARGETS         MESSAGE\n"
            "2026-11-28 10:00:01  user.lifecycle.suspend   SUCCESS  admin@x.io  bob@x.io, 00T1  Suspend user\n"
            "2026-11-28 10:00:02  system.api_token.create  SUCCESS  admin@x.io  bob@x.io, 00T1  Create API token\n");
  EXPECT_EQ(err_.str(), "");
}

TEST_F(KeyholectlRateLimitLogTest, LogsJsonPrintsTheEvents) {
  nlohmann::json events = {Event("user.lifecycle.create", "10:00:01", "Create okta user")};
  fake_.answers.push_back(EventPage(events, std::nullopt));
  ASSERT_EQ(Run({"logs", "--desc", "--json"}), kExitOk) << err_.str();
  EXPECT_EQ(nlohmann::json::parse(out_.str()), events);
}

TEST_F(KeyholectlRateLimitLogTest, PollingQueryEndsAtTheFirstEmptyPageInsteadOfLooping) {
  // Ascending without until: the coordinator always sends next, even on an empty page.
  const std::string a = kBase + "/api/v1/logs?after=1", b = kBase + "/api/v1/logs?after=2";
  fake_.answers.push_back(EventPage({Event("user.lifecycle.create", "10:00:01", "m")}, a));
  fake_.answers.push_back(EventPage({Event("user.lifecycle.activate", "10:00:02", "m")}, b));
  fake_.answers.push_back(EventPage(nlohmann::json::array(), b));
  ASSERT_EQ(Run({"logs", "--all", "--json", "--limit", "1"}), kExitOk) << err_.str();
  EXPECT_THAT(Targets(), ElementsAre("/api/v1/logs?limit=1", a, b));
  EXPECT_EQ(nlohmann::json::parse(out_.str()).size(), 2u);

  // Without --all: one page; a full one may have more behind it, a short one has not.
  fake_.sent.clear();
  fake_.answers.push_back(EventPage({Event("user.lifecycle.create", "10:00:01", "m")}, a));
  ASSERT_EQ(Run({"logs", "--limit", "1"}), kExitOk);
  EXPECT_THAT(err_.str(), HasSubstr("--all"));
  fake_.answers.push_back(EventPage({Event("user.lifecycle.create", "10:00:01", "m")}, a));
  ASSERT_EQ(Run({"logs"}), kExitOk);
  EXPECT_EQ(err_.str(), "");
}

TEST_F(KeyholectlRateLimitLogTest, FollowPollsThroughEmptyPagesUntilToldToStop) {
  const std::string a = kBase + "/api/v1/logs?after=7", b = kBase + "/api/v1/logs?after=9";
  fake_.answers.push_back(EventPage({Event("user.lifecycle.create", "10:00:01", "first")}, a));
  fake_.answers.push_back(EventPage(nlohmann::json::array(), a));
  fake_.answers.push_back(EventPage(nlohmann::json::array(), a));
  fake_.answers.push_back(EventPage({Event("user.lifecycle.suspend", "10:00:05", "second")}, b));
  fake_.answers.push_back(EventPage(nlohmann::json::array(), b));
  polls_allowed_ = 5;

  ASSERT_EQ(Run({"logs", "--follow", "--interval", "2", "--event-type", "user.lifecycle.create"}), kExitOk)
      << err_.str();
  EXPECT_EQ(follow_begun_, 1);
  EXPECT_THAT(Targets(), ElementsAre("/api/v1/logs?filter=eventType%20eq%20%22user.lifecycle.create%22", a, a, a, b));
  EXPECT_EQ(waits_, std::vector<std::chrono::milliseconds>(5, std::chrono::seconds(2)));
  std::string printed = out_.str();
  EXPECT_EQ(printed.rfind("PUBLISHED (UTC)", 0), 0u) << printed;
  EXPECT_THAT(printed, HasSubstr("2026-11-28 10:00:01  user.lifecycle.create"));
  EXPECT_THAT(printed, HasSubstr("second\n"));
  EXPECT_LT(printed.find("first"), printed.find("second"));
  EXPECT_TRUE(fake_.answers.empty());
}

TEST_F(KeyholectlRateLimitLogTest, FollowCatchesUpOnFullPagesAndPrintsJsonLines) {
  const std::string a = kBase + "/api/v1/logs?after=1", b = kBase + "/api/v1/logs?after=2";
  fake_.answers.push_back(EventPage({Event("e.one", "10:00:01", "m")}, a));  // full at --limit 1
  fake_.answers.push_back(EventPage(nlohmann::json::array(), a));
  polls_allowed_ = 2;
  ASSERT_EQ(Run({"logs", "--follow", "--limit", "1", "--json"}), kExitOk) << err_.str();
  EXPECT_THAT(waits_, ElementsAre(std::chrono::milliseconds(0), std::chrono::milliseconds(5000)));
  EXPECT_EQ(nlohmann::json::parse(out_.str()), Event("e.one", "10:00:01", "m"));  // one object per line
}

TEST_F(KeyholectlRateLimitLogTest, FollowRidesOutAnUnreachableCoordinatorButNotAnError) {
  const std::string a = kBase + "/api/v1/logs?after=1";
  fake_.answers.push_back(UnavailableError("connection refused"));
  fake_.answers.push_back(EventPage(nlohmann::json::array(), a));
  fake_.answers.push_back(OktaError(403, "E0000006", "You do not have permission to perform the requested action"));
  polls_allowed_ = 10;
  EXPECT_EQ(Run({"logs", "--follow"}), kExitApiError);
  EXPECT_THAT(err_.str(), HasSubstr("connection refused"));
  EXPECT_THAT(err_.str(), HasSubstr("E0000006"));
  EXPECT_THAT(Targets(), ElementsAre("/api/v1/logs", "/api/v1/logs", a));

  fake_.sent.clear();
  fake_.answers.push_back(EventPage(nlohmann::json::array(), std::nullopt));  // breaks contract §10
  EXPECT_EQ(Run({"logs", "--follow"}), kExitApiError);
  EXPECT_THAT(err_.str(), HasSubstr("next link"));
}

TEST_F(KeyholectlRateLimitLogTest, LogsArgumentErrorsExitTwo) {
  EXPECT_EQ(Run({"logs", "--follow", "--until", "2026-11-28T00:00:00Z"}), kExitUsage);
  EXPECT_EQ(Run({"logs", "--follow", "--desc"}), kExitUsage);
  EXPECT_EQ(Run({"logs", "--follow", "--all"}), kExitUsage);
  EXPECT_EQ(Run({"logs", "--follow", "--interval", "0"}), kExitUsage);
  EXPECT_EQ(Run({"logs", "--interval", "3"}), kExitUsage);  // only with --follow
  EXPECT_EQ(Run({"logs", "--since", "yesterday"}), kExitUsage);
  EXPECT_EQ(Run({"logs", "--limit", "1001"}), kExitUsage);
  EXPECT_EQ(connects_, 0);
}

TEST_F(KeyholectlRateLimitLogTest, RateLimitsListTable) {
  nlohmann::json limits = {
      {{"method", "GET"}, {"path", "/api/v1/logs"}, {"limit", 60}, {"baseLimit", 60}, {"used", 3}, {"remaining", 57},
       {"reset", 1795824060}, {"resetsAt", "2026-11-28T00:01:00.000Z"}, {"window", "PT1M"}},
      {{"method", "GET"}, {"path", "/api/v1/users"}, {"limit", 20000}, {"baseLimit", 10000}, {"used", 0},
       {"remaining", 20000}, {"reset", 1795824060}, {"resetsAt", "2026-11-28T00:01:00.000Z"}, {"window", "PT1M"}}};
  fake_.answers.push_back(JsonAnswer(200, limits));
  ASSERT_EQ(Run({"ratelimits", "list"}), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(),
            "METHOD  PATH           LIMIT               USED  REMAINING  RESETS (UTC)\n"
            "GET     /api/v1/logs   60                  3     57         2026-11-28 00:01:00\n"
            "GET     /api/v1/users  20000 (base 10000)  0     20000      2026-11-28 00:01:00\n");
  EXPECT_EQ(fake_.sent[0].method + " " + fake_.sent[0].target, "GET /api/v1/rateLimits");
}

TEST(KeyholectlEndpointRateTest, ParsesMethodPathAndRate) {
  auto r = ParseEndpointRate("GET /api/v1/users/{userId}=20000");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->endpoint, "GET /api/v1/users/{userId}");
  EXPECT_EQ(r->per_minute, 20000u);
  for (const char* bad : {"GET /api/v1/users", "GET /api/v1/users=", "GET /api/v1/users=0", "GET /api/v1/users=-5",
                          "GET /api/v1/users=12x", "get /api/v1/users=5", "/api/v1/users=5", "GET api/v1=5",
                          "GET /a b=5", "GET /api/v1/users=99999999999"}) {
    auto p = ParseEndpointRate(bad);
    EXPECT_FALSE(p.ok()) << bad;
    if (!p.ok()) {
      EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument) << bad;
    }
  }
}

TEST_F(KeyholectlRateLimitLogTest, ExceptionRequestSendsTheBodyTheServerExpects) {
  fake_.answers.push_back(JsonAnswer(200, {{"id", "rle1"}, {"status", "PENDING"}}));
  ASSERT_EQ(Run({"ratelimits", "exceptions", "request", "--org", "acme", "--endpoint", "GET /api/v1/users=20000",
                 "--endpoint", "GET /api/v1/logs=120", "--start", "2026-12-01T00:00:00Z", "--end",
                 "2026-12-02T00:00:00Z", "--justification", "quarter-end batch", "--lead-time-override", "incident"}),
            kExitOk)
      << err_.str();
  ASSERT_EQ(fake_.sent.size(), 1u);
  EXPECT_EQ(fake_.sent[0].method + " " + fake_.sent[0].target, "POST /api/v1/rateLimits/exceptions");
  EXPECT_EQ(*fake_.sent[0].body,
            (nlohmann::json{{"org", "acme"},
                            {"endpoints", {{{"endpoint", "GET /api/v1/users"}, {"perMinute", 20000}},
                                           {{"endpoint", "GET /api/v1/logs"}, {"perMinute", 120}}}},
                            {"start", "2026-12-01T00:00:00Z"},
                            {"end", "2026-12-02T00:00:00Z"},
                            {"justification", "quarter-end batch"},
                            {"leadTimeOverride", {{"reason", "incident"}}}}));
  EXPECT_THAT(out_.str(), HasSubstr("rle1"));
}

TEST_F(KeyholectlRateLimitLogTest, ExceptionRequestArgumentErrorsExitTwo) {
  const std::vector<std::string> good = {"ratelimits", "exceptions", "request", "--org", "acme", "--endpoint",
                                         "GET /api/v1/users=20000", "--start", "2026-12-01T00:00:00Z", "--end",
                                         "2026-12-02T00:00:00Z", "--justification", "quarter-end batch"};
  auto with = [&good](const std::string& option, const std::string& value) {
    std::vector<std::string> args = good;
    for (size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == option) args[i + 1] = value;
    }
    return args;
  };
  EXPECT_EQ(Run(with("--endpoint", "GET /api/v1/users")), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("PER_MINUTE"));
  EXPECT_EQ(Run(with("--endpoint", "get /api/v1/users=5")), kExitUsage);
  EXPECT_EQ(Run(with("--endpoint", "GET /api/v1/users=lots")), kExitUsage);
  EXPECT_EQ(Run(with("--start", "tomorrow")), kExitUsage);
  EXPECT_EQ(Run(with("--end", "2026-13-01T00:00:00Z")), kExitUsage);
  EXPECT_EQ(Run({good.begin(), good.end() - 2}), kExitUsage);  // no --justification
  EXPECT_EQ(Run({"ratelimits", "exceptions", "list", "--status", "MAYBE"}), kExitUsage);
  EXPECT_EQ(Run({"ratelimits", "exceptions", "approve"}), kExitUsage);  // no id
  EXPECT_EQ(Run({"ratelimits", "exceptions"}), kExitUsage);
  EXPECT_EQ(connects_, 0);
}

TEST_F(KeyholectlRateLimitLogTest, ExceptionListGetAndDecisionsUseTheirEndpoints) {
  nlohmann::json x = {{"id", "rle1"},          {"status", "APPROVED"}, {"inForce", false}, {"org", "acme"},
                      {"start", "2026-12-01T00:00:00.000Z"}, {"end", "2026-12-02T00:00:00.000Z"},
                      {"endpoints", {{{"endpoint", "GET /api/v1/users"}, {"perMinute", 20000}}}}};
  fake_.answers.push_back(JsonAnswer(200, nlohmann::json::array({x})));
  fake_.answers.push_back(JsonAnswer(200, x));
  fake_.answers.push_back(JsonAnswer(200, x));
  x["status"] = "CANCELED";
  fake_.answers.push_back(JsonAnswer(200, x));
  fake_.answers.push_back(OktaError(400, "E0000001", "Api validation failed: status",
                                    {"status: the exception is CANCELED; only a PENDING one can be approved or denied"}));

  ASSERT_EQ(Run({"ratelimits", "exceptions", "list", "--status", "approved"}), kExitOk) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("rle1  APPROVED  false     acme  2026-12-01 00:00  2026-12-02 00:00  "
                                    "GET /api/v1/users=20000\n"));
  ASSERT_EQ(Run({"ratelimits", "exceptions", "get", "rle1"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("endpoints         GET /api/v1/users=20000\n"));
  ASSERT_EQ(Run({"ratelimits", "exceptions", "approve", "rle1", "--reason", "ok by ops"}), kExitOk);
  ASSERT_EQ(Run({"ratelimits", "exceptions", "cancel", "rle1"}), kExitOk);
  EXPECT_EQ(out_.str(), "exception rle1: canceled, now CANCELED\n");
  EXPECT_EQ(Run({"ratelimits", "exceptions", "deny", "rle1"}), kExitApiError);
  EXPECT_THAT(err_.str(), HasSubstr("only a PENDING one"));

  EXPECT_THAT(Targets(), ElementsAre("/api/v1/rateLimits/exceptions?status=APPROVED", "/api/v1/rateLimits/exceptions/rle1",
                                     "/api/v1/rateLimits/exceptions/rle1/lifecycle/approve",
                                     "/api/v1/rateLimits/exceptions/rle1/lifecycle/cancel",
                                     "/api/v1/rateLimits/exceptions/rle1/lifecycle/deny"));
  EXPECT_EQ(*fake_.sent[2].body, (nlohmann::json{{"reason", "ok by ops"}}));
  EXPECT_FALSE(fake_.sent[3].body.has_value());
  EXPECT_EQ(fake_.sent[2].method, "POST");
}

}  // namespace
}  // namespace keyhole::ctl
