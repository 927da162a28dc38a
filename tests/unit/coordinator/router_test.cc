#include "coordinator/http/router.h"

#include <gtest/gtest.h>

namespace keyhole::coord {
namespace {

Response Tag(int n) { return Response{n, {}, {}}; }

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    r.Add("GET", "/api/v1/api-tokens", [](Request&) { return Tag(1); });
    r.Add("DELETE", "/api/v1/api-tokens/current", [](Request&) { return Tag(2); });
    r.Add("GET", "/api/v1/api-tokens/{apiTokenId}", [](Request&) { return Tag(3); });
    r.Add("DELETE", "/api/v1/api-tokens/{apiTokenId}", [](Request&) { return Tag(4); });
    r.Add("POST", "/api/v1/users/{userId}/lifecycle/{op}", [](Request&) { return Tag(5); });
  }
  int Call(const char* method, const char* path) {
    RouteMatch m = r.Match(method, path);
    if (!m.handler) return m.path_known ? -405 : -404;
    Request req;
    return (*m.handler)(req).status;
  }
  Router r;
};

TEST_F(RouterTest, LiteralSegmentsWinOverParameters) {
  EXPECT_EQ(Call("DELETE", "/api/v1/api-tokens/current"), 2);
  EXPECT_EQ(Call("DELETE", "/api/v1/api-tokens/00Tabc"), 4);
  EXPECT_EQ(Call("GET", "/api/v1/api-tokens/00Tabc"), 3);
}

TEST_F(RouterTest, ExtractsDecodedParameters) {
  RouteMatch m = r.Match("POST", "/api/v1/users/ada%40example.com/lifecycle/suspend");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.params["userId"], "ada@example.com");
  EXPECT_EQ(m.params["op"], "suspend");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/api/v1/users/{userId}/lifecycle/{op}");
  EXPECT_EQ(m.route->method, "POST");
  EXPECT_EQ(&r.routes()[m.route_id], m.route);
}

TEST_F(RouterTest, UnknownPathsAndMethods) {
  EXPECT_EQ(Call("GET", "/api/v1/nothing"), -404);
  EXPECT_EQ(Call("GET", "/api/v1/api-tokens/"), -404);
  EXPECT_EQ(Call("GET", "/api/v1/users/x/lifecycle"), -404);
  EXPECT_EQ(Call("GET", "/api/v1/users/x/lifecycle/suspend/extra"), -404);
  EXPECT_EQ(Call("PUT", "/api/v1/api-tokens"), -405);
  RouteMatch m = r.Match("PATCH", "/api/v1/api-tokens/x");
  EXPECT_EQ(m.allow, "DELETE, GET");
  EXPECT_EQ(Call("GET", "/api/v1/users/bad%zz/lifecycle/x"), -404);
}

TEST_F(RouterTest, ALiteralRouteDoesNotHideTheParameterRouteForOtherMethodsOrSubpaths) {
  Router users;
  users.Add("GET", "/api/v1/users/me", [](Request&) { return Tag(10); });
  users.Add("GET", "/api/v1/users/{userId}", [](Request&) { return Tag(11); });
  users.Add("POST", "/api/v1/users/{userId}", [](Request&) { return Tag(12); });
  users.Add("POST", "/api/v1/users/{userId}/lifecycle/{op}", [](Request&) { return Tag(13); });
  auto call = [&users](const char* m, const char* p) {
    RouteMatch match = users.Match(m, p);
    Request req;
    return match.handler ? (*match.handler)(req).status : (match.path_known ? -405 : -404);
  };
  EXPECT_EQ(call("GET", "/api/v1/users/me"), 10);
  EXPECT_EQ(call("POST", "/api/v1/users/me"), 12);
  EXPECT_EQ(users.Match("POST", "/api/v1/users/me").params.at("userId"), "me");
  EXPECT_EQ(call("POST", "/api/v1/users/me/lifecycle/suspend"), 13);
  EXPECT_EQ(call("GET", "/api/v1/users/00u1"), 11);
  EXPECT_EQ(call("DELETE", "/api/v1/users/me"), -405);
  EXPECT_EQ(users.Match("DELETE", "/api/v1/users/me").allow, "GET");
}

TEST_F(RouterTest, HeadFallsBackToGet) { EXPECT_EQ(Call("HEAD", "/api/v1/api-tokens"), 1); }

TEST(PathParamsTest, BehavesAsTheMapItReplaces) {
  PathParams p;
  EXPECT_TRUE(p.empty());
  EXPECT_EQ(p.count("poolId"), 0u);
  EXPECT_EQ(p.find("poolId"), p.end());
  EXPECT_THROW((void)p.at("poolId"), std::out_of_range);
  p["poolId"] = "0oa1";
  p["upstream"] = "ldap";
  p["poolId"] = "0oa2";  // assigning again replaces, never adds a second entry
  EXPECT_EQ(p.size(), 2u);
  EXPECT_EQ(p.count("poolId"), 1u);
  EXPECT_EQ(p.at("poolId"), "0oa2");
  ASSERT_NE(p.find("upstream"), p.end());
  EXPECT_EQ(p.find("upstream")->second, "ldap");
  EXPECT_EQ(p.count("Upstream"), 0u);  // names are case-sensitive, as in the templates
  Request req;
  req.params = p;
  EXPECT_EQ(req.Param("upstream"), "ldap");
  p.clear();
  EXPECT_TRUE(p.empty());
}

}  // namespace
}  // namespace keyhole::coord
