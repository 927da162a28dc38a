#include <gtest/gtest.h>

#include <string>

#include "coordinator/http/router.h"

namespace keyhole::coord {
namespace {

Response Tag(int n) { return Response{n, {}, {}}; }

class RouterCatchAllTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* m : {"GET", "POST"}) {
      r.Add(m, "/api/v1/agentPools/{poolId}/tunnel/{upstream}/{path...}", [](Request&) { return Tag(1); },
            {.stream = StreamKind::kTunnel});
    }
    r.Add("GET", "/api/v1/agentPools/{poolId}/agents", [](Request&) { return Tag(2); });
    r.Add("GET", "/api/v1/agentPools/{poolId}/tunnel/status", [](Request&) { return Tag(3); });
  }
  RouteMatch M(const char* method, const char* path) { return r.Match(method, path); }
  int Call(const char* method, const char* path) {
    RouteMatch m = M(method, path);
    if (!m.handler) return m.path_known ? -405 : -404;
    Request req;
    return (*m.handler)(req).status;
  }
  Router r;
};

TEST_F(RouterCatchAllTest, TakesTheRestOfThePathUndecoded) {
  RouteMatch m = M("GET", "/api/v1/agentPools/p%201/tunnel/web/a/b%2Fc/d");
  ASSERT_NE(m.handler, nullptr);
  EXPECT_EQ(m.params["poolId"], "p 1");
  EXPECT_EQ(m.params["upstream"], "web");
  EXPECT_EQ(m.params["path"], "a/b%2Fc/d");
  EXPECT_EQ(m.route->stream, StreamKind::kTunnel);
}

TEST_F(RouterCatchAllTest, MatchesZeroSegmentsAndTrailingSlashes) {
  EXPECT_EQ(M("GET", "/api/v1/agentPools/p/tunnel/web").params["path"], "");
  EXPECT_EQ(M("GET", "/api/v1/agentPools/p/tunnel/web/").params["path"], "");
  EXPECT_EQ(M("GET", "/api/v1/agentPools/p/tunnel/web/dir/").params["path"], "dir/");
  // Elsewhere a trailing slash is still a different resource.
  EXPECT_EQ(Call("GET", "/api/v1/agentPools/p/agents/"), -404);
  EXPECT_EQ(Call("GET", "/api/v1/agentPools/p/agents"), 2);
}

TEST_F(RouterCatchAllTest, LiteralsAndParametersWinOverTheCatchAll) {
  EXPECT_EQ(Call("GET", "/api/v1/agentPools/p/tunnel/status"), 3);
  EXPECT_EQ(Call("GET", "/api/v1/agentPools/p/tunnel/status/x"), 1);
}

TEST_F(RouterCatchAllTest, OtherMethodsAre405WithAllow) {
  RouteMatch m = M("TRACE", "/api/v1/agentPools/p/tunnel/web/x");
  EXPECT_EQ(m.handler, nullptr);
  EXPECT_TRUE(m.path_known);
  EXPECT_EQ(m.allow, "GET, POST");
  EXPECT_EQ(Call("HEAD", "/api/v1/agentPools/p/tunnel/web/x"), 1) << "HEAD falls back to GET";
}

TEST_F(RouterCatchAllTest, PatternNamesTheCatchAllPlainly) {
  RouteMatch m = M("POST", "/api/v1/agentPools/p/tunnel/web/x");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/api/v1/agentPools/{poolId}/tunnel/{upstream}/{path}");
}

// The server asks RouteOf of every request head and the pipeline Match: they must name one route.
TEST_F(RouterCatchAllTest, RouteOfAgreesWithMatch) {
  r.Add("GET", "/api/v1/users/{userId}", [](Request&) { return Tag(4); });
  for (const char* method : {"GET", "POST", "HEAD", "TRACE"}) {
    for (const char* path : {"/api/v1/agentPools/p/tunnel/web/x", "/api/v1/agentPools/p%201/tunnel/web/a%zz/",
                             "/api/v1/agentPools/p%zz/tunnel/web/x", "/api/v1/agentPools/p/tunnel/w%00/x",
                             "/api/v1/agentPools/p/tunnel/web", "/api/v1/agentPools/p/tunnel/status",
                             "/api/v1/agentPools/p/agents", "/api/v1/agentPools/p/agents/", "/api/v1/users/a%4",
                             "/api/v1/users/a%40b", "/api/v1/users/%", "/nowhere", "/", ""}) {
      SCOPED_TRACE(std::string(method) + " " + path);
      EXPECT_EQ(r.RouteOf(method, path), M(method, path).route);
    }
  }
}

}  // namespace
}  // namespace keyhole::coord
