// GET /api/v1/logs through the Router with the real handlers over a real SQLite store: filters,
// q, dates, sort order, limits, bounded and polling pagination, and the events the user and
// token handlers record.
#include "coordinator/handlers/logs_handler.h"

#include <gtest/gtest.h>

#include "coordinator/http/url.h"
#include "tests/support/api_harness.h"
#include "tests/support/coordinator_services.h"

namespace keyhole::coord {
namespace {

using nlohmann::json;

constexpr const char* kBase = "https://kh.example.com";

class LogsHandlerTest : public ::testing::Test, protected testing::CoordinatorServices, protected testing::ApiHarness {
 protected:
  void SetUp() override {
    Reopen();
    BuildApi(*this);
    admin = Principal{OwnerKind::kUser, users->Create(Profile("admin@example.com"), true, true)->id, "00Tadmintoken", true};
  }

  static json Profile(const std::string& login) { return CoordinatorServices::Profile(login, "Ada", "Lovelace"); }

  // What the pipeline would do, minus authentication: `who` is the principal.
  Response Call(const std::string& method, const std::string& target, std::optional<Principal> who,
                const std::string& body = "") {
    Request req;
    req.method = method;
    req.target = target;
    size_t qmark = target.find('?');
    req.path = target.substr(0, qmark);
    if (qmark != std::string::npos) req.query = ParseQuery(target.substr(qmark + 1)).value();
    req.headers.emplace_back("User-Agent", "okta-sdk-nodejs/8.1.0");
    req.body = body;
    req.peer_ip = "203.0.113.7";
    req.base_url = kBase;
    req.request_id = "req" + std::to_string(++request_count);
    req.principal = std::move(who);
    RouteMatch m = router->Match(method, req.path);
    EXPECT_NE(m.handler, nullptr) << method << " " << target;
    req.params = std::move(m.params);
    return (*m.handler)(req);
  }
  Response Logs(const std::string& query) { return Call("GET", "/api/v1/logs" + query, admin); }

  // Records an event of `type` by `actor` on `target`, one second after the previous one.
  void Seed(const std::string& type, const std::string& actor, const std::string& target,
            const std::string& result = "SUCCESS", const std::string& message = "") {
    LogEvent e;
    e.event_type = type;
    e.actor = {actor, "User", actor + "@example.com", "Actor " + actor};
    e.targets.push_back({target, "User", target + "@example.com", "Target " + target});
    e.outcome_result = result;
    e.display_message = message;
    log->Record(std::move(e));
    clock.Advance(std::chrono::seconds(1));
  }

  static std::string Next(const Response& r) {
    for (const auto& [k, v] : r.headers) {
      if (k == "Link" && v.find("rel=\"next\"") != std::string::npos) return v.substr(1, v.find('>') - 1);
    }
    return "";
  }
  // The path and query of a Link URL, to call again.
  static std::string Relative(const std::string& url) { return url.substr(std::string(kBase).size()); }
  static std::vector<std::string> Types(const Response& r) {
    std::vector<std::string> out;
    for (const auto& e : Body(r)) out.push_back(e["eventType"]);
    return out;
  }
  // Follows next links from `first` until there is none (or `max_pages`); every event type seen.
  std::vector<std::string> Walk(const std::string& first, int* pages, int max_pages = 20) {
    std::vector<std::string> all;
    std::string target = "/api/v1/logs" + first;
    *pages = 0;
    while (!target.empty() && *pages < max_pages) {
      Response r = Call("GET", target, admin);
      EXPECT_EQ(r.status, 200) << r.body;
      ++*pages;
      auto types = Types(r);
      all.insert(all.end(), types.begin(), types.end());
      std::string next = Next(r);
      if (!next.empty()) {
        EXPECT_FALSE(types.empty()) << "an empty page with a next link: " << target;
      }
      target = next.empty() ? "" : Relative(next);
    }
    return all;
  }

  Principal admin;
  int request_count = 0;
};

TEST_F(LogsHandlerTest, OnlyAdminsMayRead) {
  Principal plain{OwnerKind::kUser, users->Create(Profile("plain@example.com"), true, false)->id, "00Tplain", false};
  Response r = Call("GET", "/api/v1/logs", plain);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Code(r), "E0000006");
  EXPECT_EQ(Logs("").status, 200);
}

TEST_F(LogsHandlerTest, EveryFilterForm) {
  Seed("user.lifecycle.create", "00uA", "00uX");
  Seed("user.lifecycle.suspend", "00uA", "00uXY");
  Seed("user.lifecycle.create", "00uB", "00uY", "FAILURE");
  Seed("system.api_token.create", "00uB", "00uX");
  auto types = [&](const std::string& filter) {
    Response r = Logs("?filter=" + PercentEncode(filter));
    EXPECT_EQ(r.status, 200) << filter << r.body;
    return Types(r);
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(types(R"(eventType eq "user.lifecycle.create")"), (V{"user.lifecycle.create", "user.lifecycle.create"}));
  EXPECT_EQ(types(R"(outcome.result eq "FAILURE")"), (V{"user.lifecycle.create"}));
  EXPECT_EQ(types(R"(actor.id eq "00uA")"), (V{"user.lifecycle.create", "user.lifecycle.suspend"}));
  // target.id is exact: 00uX does not match 00uXY.
  EXPECT_EQ(types(R"(target.id eq "00uX")"), (V{"user.lifecycle.create", "system.api_token.create"}));
  EXPECT_EQ(types(R"(target.id eq "00u")"), V{});
  EXPECT_EQ(types(R"(eventType eq "user.lifecycle.create" and actor.id eq "00uB")"), (V{"user.lifecycle.create"}));
  EXPECT_EQ(types(R"(eventType eq "user.lifecycle.suspend" or target.id eq "00uY")"),
            (V{"user.lifecycle.suspend", "user.lifecycle.create"}));
  EXPECT_EQ(types(R"(actor.id eq "00uB" AND (target.id eq "00uX" OR outcome.result eq "FAILURE"))"),
            (V{"user.lifecycle.create", "system.api_token.create"}));
  EXPECT_EQ(types(R"(eventType eq "x' OR 1=1 --")"), V{});  // values are bound, never spliced into SQL
}

TEST_F(LogsHandlerTest, BadFiltersAreInvalidSearchCriteria) {
  for (const char* bad : {R"(eventType ne "a")", R"(severity eq "INFO")", R"(eventType eq a)", R"((eventType eq "a")",
                          "eventType eq \"a\" and"}) {
    Response r = Logs("?filter=" + PercentEncode(bad));
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(Code(r), "E0000031") << bad;
    EXPECT_EQ(Body(r)["errorSummary"], "Invalid search criteria.");
  }
}

TEST_F(LogsHandlerTest, KeywordsAreCaseInsensitiveAndAllMustMatch) {
  Seed("user.lifecycle.create", "00uA", "00uX", "SUCCESS", "Create Okta user");
  Seed("user.lifecycle.suspend", "00uA", "00uY", "SUCCESS", "Suspend Okta user");
  EXPECT_EQ(Types(Logs("?q=SUSPEND")), std::vector<std::string>{"user.lifecycle.suspend"});
  EXPECT_EQ(Types(Logs("?q=okta+user")).size(), 2u);
  EXPECT_EQ(Types(Logs("?q=okta+00uy%40example.com")), std::vector<std::string>{"user.lifecycle.suspend"});
  EXPECT_EQ(Types(Logs("?q=okta+nothing")).size(), 0u);
  EXPECT_EQ(Types(Logs("?q=%25")).size(), 0u);  // no LIKE wildcards
  Response r = Logs("?q=" + std::string(41, 'a'));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Code(r), "E0000031");
  r = Logs("?q=a+b+c+d+e+f+g+h+i+j+k");
  EXPECT_EQ(Code(r), "E0000031");
  EXPECT_EQ(Logs("?q=a+b+c+d+e+f+g+h+i+j").status, 200);
}

TEST_F(LogsHandlerTest, SinceAndUntilBoundTheWindow) {
  Seed("e0", "a", "x");  // 2026-11-28T00:00:00Z
  Seed("e1", "a", "x");  // :01
  Seed("e2", "a", "x");  // :02
  using V = std::vector<std::string>;
  EXPECT_EQ(Types(Logs("?since=2026-11-28T00:00:01.000Z")), (V{"e1", "e2"}));
  EXPECT_EQ(Types(Logs("?since=2026-11-28T00:00:00.000Z&until=2026-11-28T00:00:02.000Z")), (V{"e0", "e1"}));
  // Offsets are accepted: 01:00:01+01:00 is 00:00:01Z.
  EXPECT_EQ(Types(Logs("?until=2026-11-28T01:00:01.000%2B01:00")), (V{"e0"}));
  // since defaults to seven days before until.
  clock.Advance(std::chrono::hours(24 * 8));
  Seed("late", "a", "x");
  EXPECT_EQ(Types(Logs("")), (V{"late"}));
  EXPECT_EQ(Types(Logs("?until=2026-11-29T00:00:00.000Z")), (V{"e0", "e1", "e2"}));
  for (const char* bad : {"?since=yesterday", "?until=2026-11-28", "?since=2026-13-01T00:00:00.000Z",
                          "?since=2026-11-28T00:00:02.000Z&until=2026-11-28T00:00:01.000Z"}) {
    Response r = Logs(bad);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(Code(r), "E0000030") << bad;
    EXPECT_EQ(Body(r)["errorSummary"],
              "Bad request. Invalid date. Dates must be of the form yyyy-MM-dd'T'HH:mm:ss.SSSZZ, e.g. "
              "2013-01-01T12:00:00.000-07:00.");
  }
}

TEST_F(LogsHandlerTest, SortOrderAndLimitBounds) {
  for (int i = 0; i < 3; ++i) Seed("e" + std::to_string(i), "a", "x");
  using V = std::vector<std::string>;
  EXPECT_EQ(Types(Logs("?sortOrder=ASCENDING")), (V{"e0", "e1", "e2"}));
  EXPECT_EQ(Types(Logs("?sortOrder=DESCENDING")), (V{"e2", "e1", "e0"}));
  EXPECT_EQ(Logs("?sortOrder=RANDOM").status, 400);
  EXPECT_EQ(Types(Logs("?limit=1000")).size(), 3u);
  EXPECT_EQ(Logs("?limit=5000").status, 200);  // above the maximum: the maximum, as for every list
  for (const char* bad : {"?limit=-1", "?limit=ten", "?after=abc", "?after=-5"}) {
    Response r = Logs(bad);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(Code(r), "E0000029") << bad;
  }
  // limit=0 is legal: an empty page; bounded, no next; polling, a next that resumes where it was.
  Response bounded = Logs("?limit=0&until=2026-12-01T00:00:00.000Z");
  EXPECT_EQ(bounded.status, 200);
  EXPECT_EQ(Body(bounded).size(), 0u);
  EXPECT_EQ(Next(bounded), "");
  Response polling = Logs("?limit=0");
  EXPECT_EQ(Body(polling).size(), 0u);
  EXPECT_NE(Next(polling), "");
}

TEST_F(LogsHandlerTest, BoundedQueriesPageWithoutAnEmptyLastPage) {
  for (int i = 0; i < 4; ++i) Seed("e" + std::to_string(i), "a", "x");
  int pages = 0;
  using V = std::vector<std::string>;
  EXPECT_EQ(Walk("?limit=2&until=2026-12-01T00:00:00.000Z", &pages), (V{"e0", "e1", "e2", "e3"}));
  EXPECT_EQ(pages, 2);  // exactly two full pages: the second has no next
  EXPECT_EQ(Walk("?limit=3&until=2026-12-01T00:00:00.000Z", &pages), (V{"e0", "e1", "e2", "e3"}));
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(Walk("?limit=3&sortOrder=DESCENDING", &pages), (V{"e3", "e2", "e1", "e0"}));
  EXPECT_EQ(pages, 2);
  // Filters and limit are repeated in next; the cursor is URL-safe.
  Response r = Logs("?limit=1&until=2026-12-01T00:00:00.000Z&filter=" + PercentEncode(R"(actor.id eq "a")"));
  std::string next = Next(r);
  EXPECT_NE(next.find("filter="), std::string::npos);
  EXPECT_NE(next.find("limit=1"), std::string::npos);
  std::string cursor = next.substr(next.find("after=") + 6);
  cursor = cursor.substr(0, cursor.find('&'));
  EXPECT_EQ(cursor.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"),
            std::string::npos);
}

TEST_F(LogsHandlerTest, PollingAlwaysHasNextAndResumesStrictlyAfter) {
  for (int i = 0; i < 3; ++i) Seed("e" + std::to_string(i), "a", "x");
  using V = std::vector<std::string>;
  Response r = Logs("?limit=2");
  EXPECT_EQ(Types(r), (V{"e0", "e1"}));
  r = Call("GET", Relative(Next(r)), admin);
  EXPECT_EQ(Types(r), (V{"e2"}));
  ASSERT_NE(Next(r), "");
  r = Call("GET", Relative(Next(r)), admin);
  EXPECT_EQ(Types(r), V{});  // caught up: an empty page, still with next
  std::string next = Next(r);
  ASSERT_NE(next, "");
  Response again = Call("GET", Relative(next), admin);
  EXPECT_EQ(Types(again), V{});
  EXPECT_EQ(Next(again), next);  // the cursor does not move on an empty page
  Seed("e3", "a", "x");
  Seed("e4", "a", "x");
  r = Call("GET", Relative(next), admin);
  EXPECT_EQ(Types(r), (V{"e3", "e4"}));  // exactly the new ones, nothing repeated
  // A polling query with no events at all still has next.
  r = Logs("?filter=" + PercentEncode(R"(eventType eq "none")"));
  EXPECT_EQ(Types(r), V{});
  EXPECT_NE(Next(r), "");
}

TEST_F(LogsHandlerTest, HandlersRecordWhoDidWhatFromWhere) {
  Response created = Call("POST", "/api/v1/users?activate=true", admin, json{{"profile", Profile("ada@example.com")}}.dump());
  ASSERT_EQ(created.status, 200);
  std::string ada = Body(created)["id"];
  ASSERT_EQ(Call("POST", "/api/v1/users/" + ada, admin, json{{"profile", {{"lastName", "Byron"}}}}.dump()).status, 200);
  ASSERT_EQ(Call("POST", "/api/v1/users/" + ada + "/lifecycle/suspend", admin).status, 200);
  ASSERT_EQ(Call("POST", "/api/v1/users/" + ada + "/lifecycle/unsuspend", admin).status, 200);
  ASSERT_EQ(Call("POST", "/api/v1/users/" + ada + "/roles", admin, json{{"type", "SUPER_ADMIN"}}.dump()).status, 200);
  Response token = Call("POST", "/api/v1/api-tokens", admin, json{{"name", "ci"}, {"userId", ada}}.dump());
  ASSERT_EQ(token.status, 200);
  std::string token_id = Body(token)["id"], secret = Body(token)["token"];
  ASSERT_EQ(Call("DELETE", "/api/v1/api-tokens/" + token_id, admin).status, 204);
  ASSERT_EQ(Call("DELETE", "/api/v1/users/" + ada, admin).status, 204);  // deactivates
  ASSERT_EQ(Call("DELETE", "/api/v1/users/" + ada, admin).status, 204);  // deletes
  ASSERT_EQ(Call("POST", "/api/v1/users/" + ada + "/lifecycle/activate", admin).status, 404);  // no event

  Response r = Logs("?filter=" + PercentEncode("target.id eq \"" + ada + "\""));
  EXPECT_EQ(Types(r), (std::vector<std::string>{
                          "user.lifecycle.create", "user.lifecycle.activate", "user.account.update_profile",
                          "user.lifecycle.suspend", "user.lifecycle.unsuspend", "user.account.privilege.grant",
                          "system.api_token.create", "system.api_token.revoke", "user.lifecycle.deactivate",
                          "user.lifecycle.delete.initiated", "user.lifecycle.delete.completed"}));
  EXPECT_EQ(r.body.find(secret), std::string::npos);
  json suspend = Body(r)[3];
  EXPECT_EQ(suspend["actor"]["id"], admin.owner_id);
  EXPECT_EQ(suspend["actor"]["type"], "User");
  EXPECT_EQ(suspend["actor"]["alternateId"], "admin@example.com");
  EXPECT_EQ(suspend["actor"]["displayName"], "Ada Lovelace");
  EXPECT_EQ(suspend["client"]["ipAddress"], "203.0.113.7");
  EXPECT_EQ(suspend["client"]["userAgent"]["rawUserAgent"], "okta-sdk-nodejs/8.1.0");
  EXPECT_EQ(suspend["transaction"]["type"], "WEB");
  EXPECT_EQ(suspend["transaction"]["detail"]["requestApiTokenId"], "00Tadmintoken");
  EXPECT_EQ(suspend["debugContext"]["debugData"]["requestUri"], "/api/v1/users/" + ada + "/lifecycle/suspend");
  EXPECT_EQ(suspend["target"][0]["alternateId"], "ada@example.com");
  EXPECT_EQ(suspend["outcome"]["result"], "SUCCESS");
  EXPECT_EQ(suspend["severity"], "INFO");
  EXPECT_EQ(suspend["displayMessage"], "Suspend Okta user");
  json revoke = Body(r)[7];
  EXPECT_EQ(revoke["target"][0]["id"], token_id);
  EXPECT_EQ(revoke["target"][0]["type"], "Token");
}

}  // namespace
}  // namespace keyhole::coord
