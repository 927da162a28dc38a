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
  EXPECT_EQ(Field(head.headers, "X-Forwarded-For"), "10.0.0.7") << "the caller's own X-Forwarded-For is not believed";
  EXPECT_EQ(Field(head.headers, "X-Forwarded-Proto"), "https");
  EXPECT_EQ(Field(head.headers, "X-Forwarded-Host"), "kh.example.com");
  EXPECT_TRUE(BuildRequestHead(req, false).end_stream);
}

TEST(TunnelForwardingTest, CallersForwardingFieldsAreReplacedByOurs) {
  Request req = Tunnel("/api/v1/agentPools/p/tunnel/web/x",
                       {{"Host", "kh.example.com"},
                        {"Forwarded", "for=1.2.3.4;host=evil"},
                        {"X-Real-IP", "1.2.3.4"},
                        {"X-Forwarded-For", "1.2.3.4"},
                        {"x-forwarded-for", "5.6.7.8"},
                        {"X-Forwarded-Port", "1"},
                        {"X-Forwarded-Prefix", "/admin"},
                        {"X-Forwarded-Host", "evil.example"},
                        {"X-Forwarded-Proto", "http"},
                        {"X-Forwarded-Custom", "x"}});
  // The pipeline's verdict on who the client is (a trusted proxy's X-Forwarded-For, say).
  req.client_ip = "198.51.100.9";
  protocol::RequestHead head = BuildRequestHead(req, false);
  EXPECT_EQ(head.headers, (protocol::HeaderFields{{"X-Forwarded-For", "198.51.100.9"},
                                                  {"X-Forwarded-Proto", "https"},
                                                  {"X-Forwarded-Host", "kh.example.com"}}));
}

TEST(TunnelForwardingTest, HeadsTheAgentCouldNotDecodeAreRefusedHere) {
  // ~300 tiny fields fit the server's 16 KiB header limit but not kMaxHeaderFields: the agent's
  // decoder would close its whole connection on them.
  HeaderList many;
  for (int i = 0; i < 300; ++i) many.emplace_back("X-F" + std::to_string(i), "1");
  std::optional<Response> refusal = CheckRequestHead(BuildRequestHead(Tunnel("/api/v1/agentPools/p/tunnel/web/x", many), false));
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->status, 431);
  EXPECT_NE(refusal->body.find("KH0000003"), std::string::npos) << refusal->body;

  many.resize(protocol::kMaxHeaderFields - 3);  // room for our three X-Forwarded-* fields
  EXPECT_FALSE(CheckRequestHead(BuildRequestHead(Tunnel("/api/v1/agentPools/p/tunnel/web/x", many), false)));

  protocol::RequestHead bad = BuildRequestHead(Tunnel("/api/v1/agentPools/p/tunnel/web/x", {}), false);
  bad.upstream = std::string(protocol::kMaxName + 1, 'u');
  refusal = CheckRequestHead(bad);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->status, 400);
}

TEST(TunnelForwardingTest, ResponseHopByHopFieldsAreDropped) {
  protocol::HeaderFields h = {{"Content-Length", "3"}, {"connection", "close, X-Secret"}, {"x-secret", "1"},
                              {"Transfer-Encoding", "chunked"}, {"ETag", "\"1\""}};
  DropHopByHop(h);
  EXPECT_EQ(h, (protocol::HeaderFields{{"Content-Length", "3"}, {"ETag", "\"1\""}}));
}

}  // namespace
}  // namespace keyhole::coord
