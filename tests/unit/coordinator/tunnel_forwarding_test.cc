#include "coordinator/tunnel/forwarding.h"

#include <gtest/gtest.h>

#include "coordinator/http/router.h"

namespace keyhole::coord {
namespace {

Request Tunnel(std::string target, HeaderList headers) {
  Router r;
  r.Add("GET", "/api/v1/agentPools/{poolId}/tunnel/{upstream}/{path...}", [](Request&) { return Response{}; });
  Request req;
  req.method = "GET";
  req.target = std::move(target);
  req.headers = std::move(headers);
  req.peer_ip = "10.0.0.7";
  req.tls = true;
  RouteMatch m = r.Match("GET", req.target.substr(0, req.target.find('?')));
  req.params = m.params;
  return req;
}

std::optional<std::string> Field(const protocol::HeaderFields& h, std::string_view name) {
  for (const auto& [k, v] : h) {
    if (k == name) return v;
  }
  return std::nullopt;
}

TEST(TunnelForwardingTest, TargetIsTheRestOfThePathAndTheQueryAsReceived) {
  EXPECT_EQ(TunnelTarget(Tunnel("/api/v1/agentPools/p/tunnel/web/a/b%20c?x=1&y=%2F", {})), "/a/b%20c?x=1&y=%2F");
  EXPECT_EQ(TunnelTarget(Tunnel("/api/v1/agentPools/p/tunnel/web/dir/", {})), "/dir/");
  EXPECT_EQ(TunnelTarget(Tunnel("/api/v1/agentPools/p/tunnel/web/", {})), "/");
  EXPECT_EQ(TunnelTarget(Tunnel("/api/v1/agentPools/p/tunnel/web", {})), "/");
  EXPECT_EQ(TunnelTarget(Tunnel("/api/v1/agentPools/p/tunnel/web?q", {})), "/?q");
}

TEST(TunnelForwardingTest, HeadKeepsEndToEndFieldsOnly) {
  Request req = Tunnel("/api/v1/agentPools/p/tunnel/web/x",
                       {{"Host", "kh.example.com"},
                        {"Authorization", "SSWS secret"},
                        {"Connection", "keep-alive, X-Hop"},
                        {"X-Hop", "1"},
                        {"Keep-Alive", "timeout=5"},
                        {"Proxy-Authorization", "Basic x"},
                        {"TE", "trailers"},
                        {"Transfer-Encoding", "chunked"},
                        {"Upgrade", "h2c"},
                        {"Expect", "100-continue"},
                        {"X-Forwarded-For", "192.0.2.1"},
                        {"X-Forwarded-Proto", "http"},
                        {"Content-Type", "text/plain"},
                        {"Content-Length", "5"},
                        {"X-Custom", "kept"}});
  protocol::RequestHead head = BuildRequestHead(req, /*has_body=*/true);
  EXPECT_EQ(head.upstream, "web");
  EXPECT_EQ(head.method, "GET");
  EXPECT_EQ(head.target, "/x");
  EXPECT_FALSE(head.end_stream);
  for (const char* gone : {"Host", "Authorization", "Connection", "X-Hop", "Keep-Alive", "Proxy-Authorization", "TE",
                           "Transfer-Encoding", "Upgrade", "Expect"}) {
    EXPECT_FALSE(Field(head.headers, gone)) << gone;
  }
  EXPECT_EQ(Field(head.headers, "X-Custom"), "kept");
  EXPECT_EQ(Field(head.headers, "Content-Length"), "5");
  EXPECT_EQ(Field(head.headers, "X-Forwarded-For"), "192.0.2.1, 10.0.0.7");
  EXPECT_EQ(Field(head.headers, "X-Forwarded-Proto"), "https");
  EXPECT_EQ(Field(head.headers, "X-Forwarded-Host"), "kh.example.com");
  EXPECT_TRUE(BuildRequestHead(req, false).end_stream);
}

TEST(TunnelForwardingTest, ResponseHopByHopFieldsAreDropped) {
  protocol::HeaderFields h = {{"Content-Length", "3"}, {"connection", "close, X-Secret"}, {"x-secret", "1"},
                              {"Transfer-Encoding", "chunked"}, {"ETag", "\"1\""}};
  DropHopByHop(h);
  EXPECT_EQ(h, (protocol::HeaderFields{{"Content-Length", "3"}, {"ETag", "\"1\""}}));
}

}  // namespace
}  // namespace keyhole::coord
