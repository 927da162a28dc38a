// The coordinator's tunnel against a hostile agent: a real HttpServer (plain HTTP, loopback) with
// the tunnel routes, a scripted fake agent on a real WebSocket, and a caller on a raw socket. The
// agent side sends whatever frames a test wants, so the coordinator's refusals are seen on the wire.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <atomic>
#include <chrono>
#include <thread>

#include "coordinator/handlers/tunnel_handler.h"
#include "coordinator/http/api_pipeline.h"
#include "coordinator/http/router.h"
#include "coordinator/server/http_server.h"
#include "coordinator/tunnel/tunnel_hub.h"
#include "shared/protocol/frame.h"
#include "tests/support/coordinator_services.h"

namespace keyhole::coord {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// The agent's end of a tunnel, driven frame by frame by the test.
class FakeAgent {
 public:
  FakeAgent(uint16_t port, const std::string& token, uint32_t stream_window = protocol::kDefaultStreamWindow,
            uint32_t connection_window = protocol::kDefaultConnectionWindow)
      : ws_(ioc_) {
    tcp::resolver resolver(ioc_);
    asio::connect(ws_.next_layer(), resolver.resolve("127.0.0.1", std::to_string(port)));
    ws_.set_option(websocket::stream_base::decorator([token](websocket::request_type& req) {
      req.set(beast::http::field::authorization, "SSWS " + token);
      req.set(beast::http::field::sec_websocket_protocol, protocol::kWebSocketSubprotocol);
    }));
    ws_.binary(true);
    ws_.read_message_max(4 << 20);
    ws_.handshake("127.0.0.1", "/api/v1/agents/me/tunnel");
    protocol::Hello hello;
    hello.software = "fake-agent/1";
    hello.upstreams = {"svc"};
    hello.stream_window = stream_window;
    hello.connection_window = connection_window;
    Send(hello);
    EXPECT_TRUE(std::holds_alternative<protocol::Hello>(Next()));
  }

  void Send(const protocol::Frame& frame) { Send(std::vector<protocol::Frame>{frame}); }
  // Several frames in one WebSocket message: the coordinator handles them in one go.
  void Send(const std::vector<protocol::Frame>& frames) {
    std::string out;
    for (const auto& f : frames) protocol::Encode(f, out);
    ws_.write(asio::buffer(out));
  }

  // The next frame from the coordinator (skipping PING/PONG).
  protocol::Frame Next() {
    while (pending_.empty()) {
      beast::flat_buffer b;
      ws_.read(b);
      std::string_view m(static_cast<const char*>(b.data().data()), b.size());
      auto frames = protocol::DecodeMessage(m);
      EXPECT_TRUE(frames.ok()) << frames.status().message();
      if (!frames.ok()) return protocol::Close{};
      for (auto& f : *frames) pending_.push_back(std::move(f));
    }
    protocol::Frame f = std::move(pending_.front());
    pending_.erase(pending_.begin());
    return f;
  }

  template <class T>
  T Expect() {
    protocol::Frame f = Next();
    EXPECT_TRUE(std::holds_alternative<T>(f)) << protocol::ToString(f);
    return std::holds_alternative<T>(f) ? std::get<T>(f) : T{};
  }

 private:
  asio::io_context ioc_;
  websocket::stream<tcp::socket> ws_;
  std::vector<protocol::Frame> pending_;
};

class TunnelExchangeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    services.Reopen();
    admin_token = services.MakeToken(services.MakeAdmin(), "admin").secret;
    auto pool = services.registry->CreatePool("p", AgentType::kHTTP, "00uadmin");
    ASSERT_TRUE(pool.ok());
    pool_id = pool->id;
    auto code = services.registry->CreateCode(pool_id, std::nullopt, "00uadmin");
    ASSERT_TRUE(code.ok());
    auto activation = services.registry->Activate(code->code, AgentInfo{"a", "h", "1", "linux"}, *services.tokens);
    ASSERT_TRUE(activation.ok()) << activation.status().message();
    agent_token = activation->token.secret;

    TunnelOptions tunnel_options;
    tunnel_options.response_timeout = 1s;
    tunnel_options.ping_timeout = ping_timeout;
    hub = std::make_unique<TunnelHub>(services.clock, tunnel_options);
    handler = std::make_unique<TunnelHandler>(*services.registry, *hub);
    handler->Register(router);
    pipeline = std::make_unique<ApiPipeline>(router, *services.tokens, services.clock, PipelineOptions{});
    ServerOptions options;
    options.tls = false;
    options.threads = 2;
    options.idle_timeout = idle_timeout;
    server = std::make_unique<HttpServer>(*pipeline, options, hub.get());
    ASSERT_TRUE(server->Start().ok());
    agent = std::make_unique<FakeAgent>(server->port(), agent_token);
    for (int i = 0; i < 200 && hub->size() == 0; ++i) std::this_thread::sleep_for(5ms);
    ASSERT_EQ(hub->size(), 1u);
  }

  void TearDown() override {
    agent.reset();
    if (server) server->Stop();
  }

  // A caller's connection with `request` (head lines after the request line, no final CRLF) sent.
  std::unique_ptr<tcp::socket> Call(const std::string& method, const std::string& path, const std::string& extra = "",
                                    const std::string& body = "") {
    auto s = std::make_unique<tcp::socket>(ioc);
    s->connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server->port()));
    std::string req = method + " /api/v1/agentPools/" + pool_id + "/tunnel/svc/" + path + " HTTP/1.1\r\n" +
                      "Host: kh.test\r\nAuthorization: SSWS " + admin_token + "\r\n" + extra + "\r\n" + body;
    asio::write(*s, asio::buffer(req));
    return s;
  }

  // Everything the caller receives until the coordinator closes the connection.
  static std::string ReadAll(tcp::socket& s) {
    std::string out;
    char buf[4096];
    beast::error_code ec;
    for (;;) {
      size_t n = s.read_some(asio::buffer(buf), ec);
      if (ec) break;
      out.append(buf, n);
    }
    return out;
  }

  testing::CoordinatorServices services;
  std::string admin_token, agent_token, pool_id;
  Router router;
  std::unique_ptr<TunnelHub> hub;
  std::unique_ptr<TunnelHandler> handler;
  std::unique_ptr<ApiPipeline> pipeline;
  std::unique_ptr<HttpServer> server;
  std::unique_ptr<FakeAgent> agent;
  asio::io_context ioc;
  std::chrono::seconds idle_timeout{75};  // the server's keep-alive wait, set before SetUp
  std::chrono::milliseconds ping_timeout{60s};  // the hub's, set before SetUp
};

class TunnelLinkSilenceTest : public TunnelExchangeTest {
 protected:
  void SetUp() override {
    ping_timeout = 300ms;
    TunnelExchangeTest::SetUp();
  }
};

class TunnelExchangeIdleTest : public TunnelExchangeTest {
 protected:
  void SetUp() override {
    idle_timeout = 1s;
    TunnelExchangeTest::SetUp();
  }
};

TEST_F(TunnelExchangeTest, TooManyHeaderFieldsAre431AndNeverReachTheAgent) {
  std::string extra;
  for (int i = 0; i < 300; ++i) extra += "X-F" + std::to_string(i) + ": 1\r\n";
  extra += "Connection: close\r\n";
  auto caller = Call("GET", "x", extra);
  const std::string response = ReadAll(*caller);
  EXPECT_EQ(response.rfind("HTTP/1.1 431", 0), 0u) << response;
  EXPECT_NE(response.find("KH0000003"), std::string::npos) << response;
  // The agent's connection is intact: the next request reaches it.
  auto next = Call("GET", "ok", "Connection: close\r\n");
  auto head = agent->Expect<protocol::RequestHead>();
  EXPECT_EQ(head.target, "/ok");
  agent->Send(protocol::ResponseHead{head.stream, true, 204, {}});
  EXPECT_EQ(ReadAll(*next).rfind("HTTP/1.1 204", 0), 0u);
}

// A keep-alive caller that half-closes right behind its request (data and FIN arrive together):
// the coordinator answers, then sees the end of stream at once, not after the idle timeout.
// Regression: a read that drained the socket must not hide a FIN queued behind the data
// (shared/net/drained_read.h).
TEST_F(TunnelExchangeTest, ACallerThatHalfClosesAfterItsRequestIsClosedRightAfterTheAnswer) {
  auto caller = Call("GET", "x");
  caller->shutdown(tcp::socket::shutdown_send);
  timeval three_seconds{3, 0};
  ASSERT_EQ(::setsockopt(caller->native_handle(), SOL_SOCKET, SO_RCVTIMEO, &three_seconds, sizeof three_seconds), 0);
  auto head = agent->Expect<protocol::RequestHead>();
  agent->Send(protocol::ResponseHead{head.stream, false, 200, {{"Content-Length", "2"}}});
  agent->Send(protocol::Data{head.stream, true, "ok"});
  const auto start = std::chrono::steady_clock::now();
  std::string response;  // read natively: Asio's blocking read would wait out SO_RCVTIMEO in poll()
  char buf[4096];
  for (ssize_t n; (n = ::recv(caller->native_handle(), buf, sizeof buf, 0)) > 0;) response.append(buf, n);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << "the coordinator kept the half-closed connection open";
  EXPECT_EQ(response.rfind("HTTP/1.1 200", 0), 0u) << response;
  EXPECT_EQ(response.substr(response.find("\r\n\r\n") + 4), "ok") << response;
}

TEST_F(TunnelExchangeTest, BytesPastContentLengthNeverReachTheCaller) {
  auto caller = Call("GET", "x");
  auto head = agent->Expect<protocol::RequestHead>();
  agent->Send(protocol::ResponseHead{head.stream, false, 200, {{"Content-Length", "5"}}});
  agent->Send(protocol::Data{head.stream, false, "helloHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ninjected"});
  const std::string response = ReadAll(*caller);  // the connection closes
  EXPECT_EQ(response.substr(response.find("\r\n\r\n") + 4), "hello") << response;
  EXPECT_EQ(response.find("injected"), std::string::npos) << response;
  auto reset = agent->Expect<protocol::Reset>();
  EXPECT_EQ(reset.stream, head.stream);
  EXPECT_EQ(reset.code, protocol::ResetCode::kCancel);
}

TEST_F(TunnelExchangeTest, DataAfterTheAgentsEndStreamIsAStreamError) {
  // The request body is still coming, so the stream stays open after the response ends.
  auto caller = Call("POST", "x", "Content-Length: 10\r\n", "abc");
  auto head = agent->Expect<protocol::RequestHead>();
  agent->Send(std::vector<protocol::Frame>{protocol::ResponseHead{head.stream, false, 200, {{"Content-Length", "2"}}},
                                           protocol::Data{head.stream, true, "ok"},
                                           protocol::Data{head.stream, false, "HTTP/1.1 200 OK\r\n\r\n"}});
  for (;;) {
    protocol::Frame f = agent->Next();
    if (auto* r = std::get_if<protocol::Reset>(&f)) {
      EXPECT_EQ(r->code, protocol::ResetCode::kProtocolError) << protocol::ToString(f);
      break;
    }
    ASSERT_TRUE(std::holds_alternative<protocol::Data>(f) || std::holds_alternative<protocol::WindowUpdate>(f))
        << protocol::ToString(f);
  }
  const std::string response = ReadAll(*caller);
  ASSERT_NE(response.find("\r\n\r\n"), std::string::npos) << response;
  EXPECT_EQ(response.substr(response.find("\r\n\r\n") + 4), "ok") << "the whole response, nothing after it";
}

TEST_F(TunnelExchangeTest, AnAgentWithoutConnectionCreditDoesNotMakeUsBufferTheUpload) {
  // The most stream credit a HELLO can give, and no connection credit: every byte we take from
  // the caller would have to wait in the coordinator.
  agent.reset();
  for (int i = 0; i < 200 && hub->size() != 0; ++i) std::this_thread::sleep_for(5ms);
  agent = std::make_unique<FakeAgent>(server->port(), agent_token, protocol::kMaxWindow, 0);
  for (int i = 0; i < 200 && hub->size() == 0; ++i) std::this_thread::sleep_for(5ms);
  constexpr size_t kBody = 256 << 20;
  auto caller = Call("POST", "sink", "Content-Length: " + std::to_string(kBody) + "\r\n");
  auto head = agent->Expect<protocol::RequestHead>();
  EXPECT_FALSE(head.end_stream);
  std::atomic<size_t> written{0};
  std::thread writer([&] {
    std::string chunk(1 << 20, 'x');
    beast::error_code ec;
    while (written < kBody) {
      size_t n = asio::write(*caller, asio::buffer(chunk), ec);
      if (ec) return;
      written += n;
    }
  });
  std::this_thread::sleep_for(1500ms);
  // What the coordinator took is held by it (1 MiB of stream credit at most) or sits in the two
  // socket buffers of the loopback connection (a few MiB); nothing like the whole body.
  EXPECT_LT(written.load(), size_t{48} << 20);
  beast::error_code ignored;
  caller->shutdown(tcp::socket::shutdown_both, ignored);
  caller->close(ignored);
  writer.join();
}

TEST_F(TunnelExchangeTest, ABadContentLengthFromTheUpstreamIs502) {
  auto caller = Call("GET", "x", "Connection: close\r\n");
  auto head = agent->Expect<protocol::RequestHead>();
  agent->Send(protocol::ResponseHead{head.stream, false, 200, {{"Content-Length", "5, 5"}}});
  const std::string response = ReadAll(*caller);
  EXPECT_EQ(response.rfind("HTTP/1.1 502", 0), 0u) << response;
  EXPECT_NE(response.find("KH0000006"), std::string::npos) << response;
}

TEST_F(TunnelExchangeTest, AResponseThatStallsIsCutAfterTheResponseTimeout) {
  auto caller = Call("GET", "x");
  auto head = agent->Expect<protocol::RequestHead>();
  agent->Send(protocol::ResponseHead{head.stream, false, 200, {}});
  agent->Send(protocol::Data{head.stream, false, "part"});
  const auto start = std::chrono::steady_clock::now();
  const std::string response = ReadAll(*caller);  // closed by the idle timeout
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 5s);
  EXPECT_NE(response.find("part"), std::string::npos) << response;
  EXPECT_EQ(response.find("0\r\n\r\n"), std::string::npos) << "a truncated chunked body: " << response;
  for (;;) {
    protocol::Frame f = agent->Next();
    if (auto* r = std::get_if<protocol::Reset>(&f)) {
      EXPECT_EQ(r->code, protocol::ResetCode::kCancel);
      break;
    }
  }
}

// The connection's deadlines are set once and moved by each request (shared/net/lazy_deadline.h):
// they must follow the requests, not fire from when they were first set. Four requests 800 ms
// apart, each answered after 300 ms, on one keep-alive connection: longer in all than the idle
// timeout and the response timeout (1 s each), neither of which any single wait reaches. Then the
// connection, idle, is closed after the idle timeout.
TEST_F(TunnelExchangeIdleTest, AKeepAliveConnectionLivesWhileUsedAndIsClosedOnceIdle) {
  auto caller = Call("GET", "0");
  for (int i = 0; i < 4; ++i) {
    if (i > 0) {
      std::this_thread::sleep_for(500ms);
      const std::string req = "GET /api/v1/agentPools/" + pool_id + "/tunnel/svc/" + std::to_string(i) +
                              " HTTP/1.1\r\nHost: kh.test\r\nAuthorization: SSWS " + admin_token + "\r\n\r\n";
      asio::write(*caller, asio::buffer(req));
    }
    auto head = agent->Expect<protocol::RequestHead>();
    EXPECT_EQ(head.target, "/" + std::to_string(i));
    std::this_thread::sleep_for(300ms);
    agent->Send(protocol::ResponseHead{head.stream, false, 200, {{"Content-Length", "2"}}});
    agent->Send(protocol::Data{head.stream, true, "ok"});
    std::string response;
    char buf[4096];
    beast::error_code ec;
    while (response.find("\r\n\r\nok") == std::string::npos && !ec) {
      response.append(buf, caller->read_some(asio::buffer(buf), ec));
    }
    ASSERT_FALSE(ec) << "request " << i << ": " << ec.message() << ": " << response;
    EXPECT_EQ(response.rfind("HTTP/1.1 200", 0), 0u) << "request " << i << ": " << response;
  }
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(ReadAll(*caller), "");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 5s);
}

// The link's own backstop to the hub's idle sweep (which does not run here): a connection on
// which nothing arrives from the agent for twice the ping timeout is closed, and one on which the
// agent keeps talking is not, however long it lives: each read moves the deadline
// (shared/net/lazy_deadline.h) that Beast's idle timeout, re-armed per read, used to keep.
TEST_F(TunnelLinkSilenceTest, ATalkingAgentConnectionStaysAndASilentOneIsClosed) {
  for (uint64_t i = 0; i < 8; ++i) {  // 1.6 s: longer than any single deadline (600 ms)
    agent->Send(protocol::Ping{i});
    std::this_thread::sleep_for(200ms);
    ASSERT_EQ(hub->size(), 1u) << "closed after " << i << " pings";
  }
  const auto start = std::chrono::steady_clock::now();
  while (hub->size() != 0 && std::chrono::steady_clock::now() - start < 5s) std::this_thread::sleep_for(10ms);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(hub->size(), 0u);
  EXPECT_GE(took, 300ms);  // 600 ms after the last PING, which was 200 ms before `start`
  EXPECT_LT(took, 5s);
}

}  // namespace
}  // namespace keyhole::coord
