// The tunnel's requests (tunnel_fixture.h sets up the processes): the harness on its own, methods,
// bodies with either framing both ways, statuses, the headers that must not cross, refusals and
// errors, the agent's upstream timeout, and load spread by requests in flight.
#include "tests/integration/tunnel_fixture.h"

namespace keyhole::testing {
namespace {

// The harness itself: the test upstream streams and sinks without the tunnel in between.

TEST_F(TunnelTest, TestUpstreamStreamsAndSinksDirectly) {
  StreamingHttpClient direct(w_->upstream[0]->url());
  StreamingResult down = direct.Exchange({.target = "/bytes?n=" + std::to_string(64 * kMiB + 5)},
                                         {.check_pattern = true});
  EXPECT_TRUE(down.complete) << down.error;
  EXPECT_EQ(down.body_bytes, 64 * kMiB + 5);
  EXPECT_TRUE(down.pattern_ok);
  StreamingResult up = direct.Exchange({.method = "POST", .target = "/sink", .body = StreamingRequest::Body::kChunked,
                                        .body_bytes = 64 * kMiB + 7, .piece = 100000},
                                       {.sha256 = true});
  ASSERT_TRUE(up.complete) << up.error;
  json sink = json::parse(up.body, nullptr, false);
  EXPECT_EQ(sink.value("bytes", 0ull), 64 * kMiB + 7) << up.body;
  EXPECT_EQ(sink.value("sha256", ""), up.request_sha256);
  EXPECT_EQ(sink.value("framing", ""), "chunked");
  EXPECT_TRUE(sink.value("pattern", false));
}

// ---------------------------------------------------------------------------------------------
// Requests and bodies.

TEST_F(TunnelTest, GetAndHeadReachAnUpstreamThroughAnAgent) {
  TestResponse r = Get("hello");
  ASSERT_EQ(r.status, 200) << r.body;
  const int served = Served(r.Header("X-Upstream"));
  ASSERT_NE(served, -1) << r.Header("X-Upstream");
  EXPECT_EQ(r.body, std::string("hello from ") + kUpstreamNames[served]);
  EXPECT_EQ(r.Header("Content-Length"), "12");
  EXPECT_EQ(r.Header("Content-Type"), "text/plain");

  TestResponse head = Call("HEAD", TunnelPath("hello"));
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("Content-Length"), "12");
  EXPECT_TRUE(head.body.empty());

  // The path after the upstream's name and the query reach the upstream as they were sent.
  TestResponse echo = Call("GET", TunnelPath("echo?a=1&b=two%20words&c="));
  ASSERT_EQ(echo.status, 200) << echo.body;
  EXPECT_EQ(echo.Header("X-Echo-Method"), "GET");
  EXPECT_EQ(echo.Header("X-Echo-Target"), "/echo?a=1&b=two%20words&c=");
}

TEST_F(TunnelTest, UpstreamStatusesPassThroughUnchanged) {
  for (int status : {201, 204, 404, 418, 500, 503}) {
    TestResponse r = Get("status/" + std::to_string(status));
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_NE(Served(r.Header("X-Upstream")), -1) << status << " came from the coordinator, not the upstream";
  }
}

TEST_F(TunnelTest, PostBodiesWithContentLengthBothWays) {
  std::mt19937 rng(5);
  std::string body(3 * kMiB + 7, '\0');
  for (char& c : body) c = static_cast<char>(rng());
  TestResponse r = Call("POST", TunnelPath("echo?kind=length"), body, {{"Content-Type", "application/octet-stream"}});
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 500);
  EXPECT_EQ(r.Header("X-Echo-Method"), "POST");
  EXPECT_EQ(r.Header("X-Echo-Target"), "/echo?kind=length");
  EXPECT_EQ(r.Header("X-Echo-Content-Length"), std::to_string(body.size()));  // the upstream got the length…
  EXPECT_EQ(r.Header("X-Echo-Transfer-Encoding"), "");                         // …not chunks
  EXPECT_EQ(r.Header("Content-Type"), "application/octet-stream");
  EXPECT_EQ(r.Header("Content-Length"), std::to_string(body.size()));  // and the caller the upstream's length
  EXPECT_TRUE(r.body == body) << "the echoed body differs (" << r.body.size() << " bytes back)";

  // Other methods, and an empty body.
  for (const char* method : {"PUT", "PATCH", "DELETE"}) {
    TestResponse m = Call(method, TunnelPath("echo"), std::string("body of ") + method);
    EXPECT_EQ(m.status, 200) << method << " " << m.body;
    EXPECT_EQ(m.Header("X-Echo-Method"), method);
    EXPECT_EQ(m.body, std::string("body of ") + method);
  }
  TestResponse empty = Call("POST", TunnelPath("echo"), "");
  EXPECT_EQ(empty.status, 200) << empty.body;
  EXPECT_EQ(empty.Header("X-Echo-Bytes"), "0");
  EXPECT_TRUE(empty.body.empty());
}

TEST_F(TunnelTest, ChunkedRequestBodiesReachTheUpstreamChunked) {
  StreamingRequest req{.method = "POST", .target = TunnelPath("echo?kind=chunked"), .headers = AdminAuth(),
                       .body = StreamingRequest::Body::kChunked, .body_bytes = 3 * kMiB + 11, .piece = 100000};
  StreamingResult r = w_->streams->Exchange(req, {.check_pattern = true});
  ASSERT_TRUE(r.complete) << r.error << " " << r.body.substr(0, 500);
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.Header("X-Echo-Transfer-Encoding").find("chunked"), std::string::npos);
  EXPECT_EQ(r.Header("X-Echo-Content-Length"), "");
  EXPECT_EQ(r.Header("X-Echo-Bytes"), std::to_string(3 * kMiB + 11));
  // The upstream answered chunked, so the caller gets chunks too.
  EXPECT_FALSE(r.Has("Content-Length"));
  EXPECT_NE(r.Header("Transfer-Encoding").find("chunked"), std::string::npos);
  EXPECT_EQ(r.body_bytes, 3 * kMiB + 11);
  EXPECT_TRUE(r.pattern_ok);

  StreamingResult sink = w_->streams->Exchange({.method = "POST", .target = TunnelPath("sink"), .headers = AdminAuth(),
                                                .body = StreamingRequest::Body::kChunked, .body_bytes = 8 * kMiB + 3},
                                               {.sha256 = true});
  ASSERT_TRUE(sink.complete) << sink.error;
  ASSERT_EQ(sink.status, 200) << sink.body;
  json j = json::parse(sink.body, nullptr, false);
  EXPECT_EQ(j.value("bytes", 0ull), 8 * kMiB + 3) << sink.body;
  EXPECT_EQ(j.value("sha256", ""), sink.request_sha256);
  EXPECT_EQ(j.value("framing", ""), "chunked");
}

TEST_F(TunnelTest, ResponsesWithAndWithoutContentLength) {
  const uint64_t n = 5 * kMiB + 3;
  const std::string ns = std::to_string(n);
  StreamingResult length = w_->streams->Exchange({.target = TunnelPath("bytes?n=" + ns), .headers = AdminAuth()},
                                                 {.check_pattern = true});
  EXPECT_TRUE(length.complete) << length.error;
  EXPECT_EQ(length.status, 200);
  EXPECT_EQ(length.Header("Content-Length"), ns);
  EXPECT_EQ(length.body_bytes, n);
  EXPECT_TRUE(length.pattern_ok);

  StreamingResult chunked = w_->streams->Exchange(
      {.target = TunnelPath("bytes?chunked=1&n=" + ns), .headers = AdminAuth()}, {.check_pattern = true});
  EXPECT_TRUE(chunked.complete) << chunked.error;
  EXPECT_FALSE(chunked.Has("Content-Length"));
  EXPECT_NE(chunked.Header("Transfer-Encoding").find("chunked"), std::string::npos);
  EXPECT_EQ(chunked.body_bytes, n);
  EXPECT_TRUE(chunked.pattern_ok);

  // Ended by the upstream closing its connection: neither length nor chunks upstream.
  StreamingResult closed = w_->streams->Exchange(
      {.target = TunnelPath("bytes?close=1&n=" + ns), .headers = AdminAuth()},
                                                 {.check_pattern = true});
  EXPECT_TRUE(closed.complete) << closed.error;
  EXPECT_EQ(closed.status, 200);
  EXPECT_EQ(closed.body_bytes, n);
  EXPECT_TRUE(closed.pattern_ok);

  TestResponse zero = Get("bytes?n=0");
  EXPECT_EQ(zero.status, 200);
  EXPECT_EQ(zero.Header("Content-Length"), "0");
  EXPECT_TRUE(zero.body.empty());
}

TEST_F(TunnelTest, CallersAuthorizationAndHopByHopHeadersAreNotForwarded) {
  TestResponse r = Call("GET", TunnelPath("headers"), "",
                        {{"Connection", "keep-alive, X-Drop-Me"},
                         {"X-Drop-Me", "named by Connection"},
                         {"Keep-Alive", "timeout=5"},
                         {"Proxy-Authorization", "Basic cHJveHk6c2VjcmV0"},
                         {"Proxy-Connection", "keep-alive"},
                         {"TE", "trailers"},
                         {"Trailer", "X-Checksum"},
                         {"X-Keep-Me", "end to end"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const int served = Served(r.Header("X-Upstream"));
  ASSERT_NE(served, -1);
  json h = r.Json();
  ASSERT_TRUE(h.is_object()) << r.body;
  for (const char* gone : {"authorization", "x-drop-me", "keep-alive", "proxy-authorization", "proxy-connection", "te",
                           "trailer", "upgrade"}) {
    EXPECT_FALSE(h.contains(gone)) << gone << " reached the upstream: " << r.body;
  }
  EXPECT_EQ(r.body.find(w_->admin), std::string::npos) << "the caller's token reached the upstream";
  EXPECT_EQ(h.value("connection", "").find("X-Drop-Me"), std::string::npos) << r.body;
  EXPECT_EQ(h.value("x-keep-me", ""), "end to end");
  EXPECT_EQ(h.value("user-agent", ""), "keyhole-tests");
  EXPECT_EQ(h.value("host", ""), "127.0.0.1:" + std::to_string(w_->upstream[served]->port()));
  EXPECT_NE(h.value("x-forwarded-for", "").find("127.0.0.1"), std::string::npos) << r.body;
  EXPECT_EQ(h.value("x-forwarded-proto", ""), "https") << r.body;
  EXPECT_EQ(h.value("x-forwarded-host", ""), w_->api->host() + ":" + std::to_string(w_->api->port())) << r.body;

  // And on the way back: the upstream's hop-by-hop fields stop at the agent.
  TestResponse hop = Get("hop");
  ASSERT_EQ(hop.status, 200) << hop.body;
  EXPECT_EQ(hop.Header("X-End-To-End"), "kept");
  EXPECT_EQ(hop.body, "hop");
  for (const char* gone : {"X-Resp-Hop", "Keep-Alive", "Proxy-Authenticate"}) {
    EXPECT_TRUE(hop.All(gone).empty()) << gone << " reached the caller";
  }
  for (const auto& c : hop.All("Connection")) EXPECT_EQ(c.find("X-Resp-Hop"), std::string::npos) << c;
}

// ---------------------------------------------------------------------------------------------
// Refusals and errors.

TEST_F(TunnelTest, OnlyAdminsMayUseTheTunnel) {
  const std::string tag = Tag("auth");
  TestResponse user = w_->api->Post("/api/v1/users?activate=true", w_->admin,
                                    {{"profile",
                                      {{"login", "plain.user@example.com"},
                                       {"email", "plain.user@example.com"},
                                       {"firstName", "Plain"},
                                       {"lastName", "User"}}}});
  ASSERT_EQ(user.status, 200) << user.body;
  TestResponse token =
      w_->api->Post("/api/v1/api-tokens", w_->admin, {{"name", "tunnel-test"}, {"userId", user.Json()["id"]}});
  ASSERT_EQ(token.status, 200) << token.body;
  const std::string user_token = token.Json().value("token", "");

  EXPECT_EQ(Call("GET", TunnelPath("hello?" + tag), "", {}, "").status, 401);
  EXPECT_EQ(Call("GET", TunnelPath("hello?" + tag), "", {}, "khu_notavalidtokenatall").status, 401);
  ExpectOktaError(Call("GET", TunnelPath("hello?" + tag), "", {}, user_token), 403, "E0000006");
  ExpectOktaError(Call("POST", TunnelPath("echo?" + tag), "x", {}, w_->agent[0]->token()), 403, "E0000006");
  std::this_thread::sleep_for(100ms);
  for (int i = 0; i < 2; ++i) EXPECT_FALSE(w_->upstream[i]->SawRequest(tag)) << "a refused request reached " << i;
}

TEST_F(TunnelTest, UnknownUpstreamIsRefused) {
  const std::string tag = Tag("unknown");
  TestResponse r = Call("GET", TunnelPath("hello?" + tag, "nosuch"));
  ExpectOktaError(r, 502, "KH0000004");
  EXPECT_NE(r.body.find("nosuch"), std::string::npos) << r.body;
  for (int i = 0; i < 2; ++i) EXPECT_FALSE(w_->upstream[i]->SawRequest(tag));
}

TEST_F(TunnelTest, UnreachableUpstreamIs502NamingIt) {
  TestResponse r = Call("GET", TunnelPath("hello", "down"));
  ExpectOktaError(r, 502, "KH0000005");
  EXPECT_NE(r.body.find("down"), std::string::npos) << r.body;
}

TEST_F(TunnelTest, PoolWithoutAConnectedAgentIs502NamingThePool) {
  TestResponse r = Call("GET", TunnelPath("hello", "svc", w_->empty_pool));
  ExpectOktaError(r, 502, "KH0000004");
  EXPECT_NE(r.body.find(w_->empty_pool), std::string::npos) << r.body;

  TestResponse unknown = Call("GET", TunnelPath("hello", "svc", "0oanosuchpool0000000"));
  EXPECT_EQ(unknown.status, 404) << unknown.body;
}

TEST_F(TunnelTest, UpstreamTooSlowIs504) {
  const auto start = Clock::now();
  TestResponse r = Get("slow?ms=5000&" + Tag("504"));
  const int64_t took = Ms(Clock::now() - start);
  ExpectOktaError(r, 504, "KH0000007");
  EXPECT_GE(took, kResponseTimeoutSeconds * 1000 - 100);
  EXPECT_LT(took, kResponseTimeoutSeconds * 1000 + 1500);
}

// The agent's upstream timeout is for the upstream's answer: an upload that keeps flowing for
// longer is not a slow upstream. A third agent, alone in a pool, with a 1 s upstream timeout.
TEST_F(TunnelTest, UploadLongerThanTheAgentsUpstreamTimeoutIsNotCutOff) {
  std::string error;
  const std::string pool = NewPool(*w_, "short-upstream-timeout", &error);
  ASSERT_FALSE(pool.empty()) << error;
  std::unique_ptr<AgentProcess> agent =
      StartAgent(*w_, pool, "agent-short", w_->upstream[0]->url(), "upstream_timeout_seconds = 1\n", &error);
  ASSERT_TRUE(agent) << error;
  ASSERT_TRUE(WaitTunnel(*w_, agent->agent_id(), true, 15s)) << Tail(agent->Stderr());

  // The timeout itself works: a slow upstream is 504 after 1 s, from the agent.
  const auto start = Clock::now();
  TestResponse slow = Call("GET", TunnelPath("slow?ms=1800&" + Tag("agent-timeout"), "svc", pool));
  ExpectOktaError(slow, 504, "KH0000007");
  EXPECT_LT(Ms(Clock::now() - start), 1700) << "the agent's 1 s did not apply";

  // A chunked upload trickling for 2 s, answered at once when it ends.
  const uint64_t pieces = 40;
  StreamingResult r = w_->streams->Exchange({.method = "POST",
                                             .target = TunnelPath("sink?" + Tag("long-upload"), "svc", pool),
                                             .headers = AdminAuth(),
                                             .body = StreamingRequest::Body::kChunked,
                                             .body_bytes = pieces * 64 * 1024,
                                             .piece = 64 * 1024,
                                             .pause = 50ms},
                                            {.sha256 = true});
  ASSERT_TRUE(r.complete) << r.error;
  ASSERT_EQ(r.status, 200) << r.body << "\n" << r.request_bytes_sent / 1024 << " KiB sent in " << r.elapsed.count()
                           << " ms";
  json sink = json::parse(r.body, nullptr, false);
  EXPECT_EQ(sink.value("bytes", 0ull), pieces * 64 * 1024) << r.body;
  EXPECT_EQ(sink.value("sha256", ""), r.request_sha256);
  agent->Stop(5s);
}

// ---------------------------------------------------------------------------------------------
// Load balancing.

// Lanes (PROTOCOL.md 2.3): each agent keeps one connection per coordinator worker (the fixture's
// coordinator runs two), so a caller's request never crosses the coordinator's threads; requests
// from many fresh connections (landing on both workers) all get through.
TEST_F(TunnelTest, EachAgentKeepsOneConnectionPerCoordinatorWorker) {
  for (int i = 0; i < 2; ++i) {
    const auto deadline = Clock::now() + 25s;
    json t;
    while (Clock::now() < deadline) {
      t = AgentJson(*w_, i)["tunnel"];
      if (t.value("connections", 0) == 2) break;
      std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(t.value("connections", 0), 2) << "agent " << i << ": " << t.dump();
    EXPECT_TRUE(t.value("connected", false)) << t.dump();
  }
  for (int k = 0; k < 16; ++k) {
    TestResponse r = Get("hello?" + Tag("lane" + std::to_string(k)));  // a new connection each time
    EXPECT_EQ(r.status, 200) << r.body;
    // The same through the loopback plain listener: callers in plain HTTP, agents over TLS.
    TestResponse p = w_->plain_api->Send("GET", TunnelPath("hello?" + Tag("plain" + std::to_string(k))), w_->admin);
    EXPECT_EQ(p.status, 200) << p.body;
  }
}

TEST_F(TunnelTest, LoadSpreadsOverBothAgentsByRequestsInFlight) {
  constexpr int kRequests = 8;
  std::vector<std::future<TestResponse>> calls;
  for (int k = 0; k < kRequests; ++k) {
    const std::string tag = Tag("spread" + std::to_string(k));
    calls.push_back(std::async(std::launch::async, [tag] { return Get("slow?ms=900&" + tag); }));
  }
  // While they wait, the pool listing shows both tunnels and what each carries.
  std::this_thread::sleep_for(400ms);
  TestResponse pools = w_->api->Get("/api/v1/agentPools", w_->admin);
  ASSERT_EQ(pools.status, 200) << pools.body;
  int in_flight[2] = {-1, -1};
  for (const json& p : pools.Json()) {
    if (p.value("id", "") != w_->pool) continue;
    for (const json& a : p["agents"]) {
      for (int i = 0; i < 2; ++i) {
        if (a.value("id", "") != w_->agent[i]->agent_id()) continue;
        const json& t = a["tunnel"];
        EXPECT_TRUE(t.value("connected", false)) << t.dump();
        EXPECT_TRUE(t["connectedSince"].is_string()) << t.dump();
        EXPECT_NE(t.value("upstreams", json::array()).dump().find("svc"), std::string::npos) << t.dump();
        in_flight[i] = t.value("requestsInFlight", -1);
      }
    }
  }
  EXPECT_EQ(in_flight[0] + in_flight[1], kRequests) << in_flight[0] << " + " << in_flight[1];
  int served[2] = {0, 0};
  for (auto& c : calls) {
    TestResponse r = c.get();
    EXPECT_EQ(r.status, 200) << r.body;
    int s = Served(r.Header("X-Upstream"));
    if (s >= 0) ++served[s];
  }
  // Fewest in flight: an even split (allow one off for requests that did not overlap).
  EXPECT_GE(served[0], kRequests / 2 - 1) << served[0] << "/" << served[1];
  EXPECT_GE(served[1], kRequests / 2 - 1) << served[0] << "/" << served[1];
  EXPECT_GE(in_flight[0], kRequests / 2 - 1);
  EXPECT_GE(in_flight[1], kRequests / 2 - 1);
}

}  // namespace
}  // namespace keyhole::testing
