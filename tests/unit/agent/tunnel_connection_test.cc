// TunnelConnection against a scripted coordinator (a synchronous Beast WebSocket server on a
// thread, plain http:// on loopback): the upgrade carries the token and the subprotocol, HELLO both
// ways, a request forwarded to a real local upstream (a small response in one message); 401 and 429 refusals classified (with
// X-Rate-Limit-Reset); a missing subprotocol refused; a silent coordinator detected by the ping
// deadline; a CLOSE reported with its code; a drain ending with CLOSE; a coordinator that sends
// without reading dropped rather than buffered for.
#include "agent/tunnel/tunnel_connection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <thread>

#include "tests/unit/agent/blocking_upstream.h"

namespace keyhole::agent {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using Kind = TunnelOutcome::Kind;
using testing::BlockingUpstream;

// One connection, handled by `script` on its own thread.
class ScriptedCoordinator {
 public:
  using Script = std::function<void(tcp::socket&, http::request<http::string_body>&)>;
  explicit ScriptedCoordinator(Script script) : acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this, script = std::move(script)] {
      beast::error_code ec;
      tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec) return;
      beast::flat_buffer buffer;
      http::request<http::string_body> req;
      http::read(socket, buffer, req, ec);
      if (ec) return;
      try {
        script(socket, req);
      } catch (const std::exception&) {
      }
    });
  }
  ~ScriptedCoordinator() {
    beast::error_code ec;
    acceptor_.close(ec);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  asio::io_context io_;
  tcp::acceptor acceptor_;
  int port_ = 0;
  std::thread thread_;
};

void Refuse(tcp::socket& socket, http::status status, std::vector<std::pair<std::string, std::string>> fields = {}) {
  http::response<http::string_body> res{status, 11};
  res.set(http::field::content_type, "application/json");
  for (auto& [k, v] : fields) res.set(k, v);
  res.body() = R"({"errorCode":"E0000011","errorSummary":"Invalid token provided"})";
  res.prepare_payload();
  http::write(socket, res);
}

std::string Encode(const protocol::Frame& f) {
  std::string out;
  protocol::Encode(f, out);
  return out;
}

std::vector<protocol::Frame> ReadFrames(websocket::stream<tcp::socket&>& ws) {
  beast::flat_buffer b;
  ws.read(b);
  auto frames = protocol::DecodeMessage(beast::buffers_to_string(b.data()));
  return frames.ok() ? *frames : std::vector<protocol::Frame>{};
}

// Accepts the upgrade (offering the subprotocol unless told not to) and swaps HELLOs.
void AcceptAndHello(websocket::stream<tcp::socket&>& ws, http::request<http::string_body>& req,
                    protocol::Hello* agent_hello, bool subprotocol = true, std::string lane = "") {
  ws.set_option(websocket::stream_base::decorator([subprotocol, lane](websocket::response_type& res) {
    if (subprotocol) res.set(http::field::sec_websocket_protocol, protocol::kWebSocketSubprotocol);
    if (!lane.empty()) res.set(protocol::kLaneHeader, lane);
  }));
  ws.accept(req);
  ws.binary(true);
  if (!subprotocol) return;
  auto frames = ReadFrames(ws);
  if (agent_hello && !frames.empty()) {
    if (auto* h = std::get_if<protocol::Hello>(&frames[0])) *agent_hello = *h;
  }
  protocol::Hello hello;
  hello.role = protocol::Role::kCoordinator;
  hello.software = "keyhole-coordinator/test";
  ws.write(asio::buffer(Encode(hello)));
}

class TunnelConnectionTest : public ::testing::Test {
 protected:
  std::optional<TunnelOutcome> Run(const std::string& url, std::function<void(TunnelConnection&)> after_up = {},
                                   TunnelTimeouts timeouts = {.connect = 3s, .ping_interval = 5s, .ping_timeout = 5s}) {
    pool_.Configure({{"svc", {"http://127.0.0.1:" + std::to_string(upstream_.port()), ""}}}, {});
    std::optional<TunnelOutcome> outcome;
    std::shared_ptr<TunnelConnection> c;
    c = TunnelConnection::Create(
        io_, pool_, TunnelEndpoint{url, {}, "kha_secret", session_},
        session_options_, timeouts,
        {.up = [&](TunnelConnection* conn) {
           up_ = true;
           if (after_up) after_up(*conn);
         },
         .down = [&](TunnelConnection*, TunnelOutcome o) { outcome = std::move(o); }});
    c->Start();
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (!outcome && std::chrono::steady_clock::now() < end) {
      io_.restart();
      io_.run_for(10ms);
    }
    return outcome;
  }

  BlockingUpstream upstream_;
  asio::io_context io_;
  UpstreamPool pool_{io_, {}};
  TunnelSessionOptions session_options_{.software = "keyhole-agent/test", .max_streams = 4};
  bool up_ = false;
  std::string session_;
};

TEST_F(TunnelConnectionTest, SendsItsSessionAndLearnsWhichCoordinatorWorkerTookIt) {
  session_ = "0123456789abcdef0123456789abcdef";
  std::string sent_session;
  ScriptedCoordinator coordinator([&](tcp::socket& socket, http::request<http::string_body>& req) {
    sent_session = std::string(req[protocol::kSessionHeader]);
    websocket::stream<tcp::socket&> ws(socket);
    AcceptAndHello(ws, req, nullptr, true, "1/2");
    ws.write(asio::buffer(Encode(protocol::Close{protocol::CloseCode::kShuttingDown, "bye"})));
  });
  std::optional<protocol::Lane> lane;
  auto outcome = Run(coordinator.url(), [&](TunnelConnection& c) { lane = c.lane(); });
  ASSERT_TRUE(outcome.has_value());
  EXPECT_EQ(sent_session, session_);
  EXPECT_EQ(lane, (protocol::Lane{1, 2}));
}

TEST_F(TunnelConnectionTest, ACoordinatorThatSaysNothingOfLanesGivesNone) {
  std::string sent_session = "unset";
  ScriptedCoordinator coordinator([&](tcp::socket& socket, http::request<http::string_body>& req) {
    sent_session = std::string(req[protocol::kSessionHeader]);
    websocket::stream<tcp::socket&> ws(socket);
    AcceptAndHello(ws, req, nullptr, true, "");
    ws.write(asio::buffer(Encode(protocol::Close{protocol::CloseCode::kShuttingDown, "bye"})));
  });
  std::optional<protocol::Lane> lane = protocol::Lane{};
  auto outcome = Run(coordinator.url(), [&](TunnelConnection& c) { lane = c.lane(); });
  ASSERT_TRUE(outcome.has_value());
  EXPECT_TRUE(up_);
  EXPECT_EQ(sent_session, "") << "no session: no header";
  EXPECT_FALSE(lane);
}

TEST_F(TunnelConnectionTest, UpgradesWithTheTokenSaysHelloAndForwards) {
  std::string authorization, offered, target;
  protocol::Hello agent_hello;
  std::vector<protocol::Frame> replies;
  int messages = 0;
  ScriptedCoordinator coordinator([&](tcp::socket& socket, http::request<http::string_body>& req) {
    authorization = std::string(req[http::field::authorization]);
    offered = std::string(req[http::field::sec_websocket_protocol]);
    target = std::string(req.target());
    websocket::stream<tcp::socket&> ws(socket);
    AcceptAndHello(ws, req, &agent_hello);
    ws.write(asio::buffer(Encode(protocol::RequestHead{.stream = 1, .end_stream = true, .upstream = "svc",
                                                       .method = "GET", .target = "/hello"})));
    while (true) {
      auto frames = ReadFrames(ws);
      ++messages;
      for (auto& f : frames) {
        replies.push_back(f);
        if (auto* d = std::get_if<protocol::Data>(&f); d && d->end_stream) {
          ws.write(asio::buffer(Encode(protocol::Close{protocol::CloseCode::kShuttingDown, "bye"})));
          return;
        }
      }
    }
  });
  auto outcome = Run(coordinator.url());
  ASSERT_TRUE(outcome.has_value());
  EXPECT_TRUE(up_);
  EXPECT_EQ(authorization, "SSWS kha_secret");
  EXPECT_EQ(offered, protocol::kWebSocketSubprotocol);
  EXPECT_EQ(target, "/api/v1/agents/me/tunnel");
  EXPECT_EQ(agent_hello.upstreams, std::vector<std::string>{"svc"});
  EXPECT_EQ(agent_hello.max_streams, 4u);
  ASSERT_GE(replies.size(), 2u);
  EXPECT_EQ(std::get<protocol::ResponseHead>(replies[0]).status, 200);
  // The small response's head, body and end went out in one WebSocket message.
  EXPECT_EQ(messages, 1);
  EXPECT_EQ(replies.size(), 2u);
  EXPECT_EQ(outcome->kind, Kind::kClosed);
  EXPECT_EQ(outcome->close_code, protocol::CloseCode::kShuttingDown);
  EXPECT_TRUE(outcome->was_up);
  EXPECT_EQ(outcome->streams_served, 1u);
  EXPECT_THAT(outcome->reason, ::testing::Not(::testing::HasSubstr("kha_secret")));
}

TEST_F(TunnelConnectionTest, RefusalsAreClassified) {
  {
    ScriptedCoordinator coordinator([](tcp::socket& s, auto&) { Refuse(s, http::status::unauthorized); });
    auto o = Run(coordinator.url());
    ASSERT_TRUE(o.has_value());
    EXPECT_EQ(o->kind, Kind::kUnauthorized);
    EXPECT_THAT(o->reason, ::testing::HasSubstr("401 (Invalid token provided)"));
  }
  {
    const auto reset = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count() + 30;
    ScriptedCoordinator coordinator([reset](tcp::socket& s, auto&) {
      Refuse(s, http::status::too_many_requests, {{"X-Rate-Limit-Reset", std::to_string(reset)}});
    });
    auto o = Run(coordinator.url());
    ASSERT_TRUE(o.has_value());
    EXPECT_EQ(o->kind, Kind::kRateLimited);
    EXPECT_GE(o->retry_after, 28s);
    EXPECT_LE(o->retry_after, 31s);
  }
  {
    ScriptedCoordinator coordinator([](tcp::socket& s, auto&) { Refuse(s, http::status::forbidden); });
    auto o = Run(coordinator.url());
    ASSERT_TRUE(o.has_value());
    EXPECT_EQ(o->kind, Kind::kRefused);
  }
}

TEST_F(TunnelConnectionTest, AnUpgradeWithoutTheSubprotocolIsRefused) {
  ScriptedCoordinator coordinator([](tcp::socket& socket, http::request<http::string_body>& req) {
    websocket::stream<tcp::socket&> ws(socket);
    AcceptAndHello(ws, req, nullptr, /*subprotocol=*/false);
    beast::flat_buffer b;
    beast::error_code ec;
    ws.read(b, ec);
  });
  auto o = Run(coordinator.url());
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->kind, Kind::kFailed);
  EXPECT_THAT(o->reason, ::testing::HasSubstr("subprotocol"));
  EXPECT_FALSE(up_);
}

TEST_F(TunnelConnectionTest, ASilentCoordinatorFailsThePingDeadline) {
  ScriptedCoordinator coordinator([](tcp::socket& socket, http::request<http::string_body>& req) {
    websocket::stream<tcp::socket&> ws(socket);
    AcceptAndHello(ws, req, nullptr);
    std::this_thread::sleep_for(1500ms);  // reads nothing, answers nothing
  });
  const auto start = std::chrono::steady_clock::now();
  auto o = Run(coordinator.url(), {}, {.connect = 3s, .ping_interval = 200ms, .ping_timeout = 300ms});
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->kind, Kind::kFailed);
  EXPECT_THAT(o->reason, ::testing::HasSubstr("no answer to a ping"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1400ms);
}

// The connection's silence deadline (nothing at all from the coordinator for ping_interval + 2 x
// ping_timeout: 800 ms here) moves with every read (shared/net/lazy_deadline.h): a coordinator
// that answers each ping keeps the connection for twice that, and it ends when the coordinator
// closes it, not before.
TEST_F(TunnelConnectionTest, ACoordinatorThatAnswersItsPingsKeepsTheConnection) {
  ScriptedCoordinator coordinator([](tcp::socket& socket, http::request<http::string_body>& req) {
    websocket::stream<tcp::socket&> ws(socket);
    AcceptAndHello(ws, req, nullptr);
    const auto until = std::chrono::steady_clock::now() + 1600ms;
    while (std::chrono::steady_clock::now() < until) {
      for (const auto& f : ReadFrames(ws)) {
        if (auto* ping = std::get_if<protocol::Ping>(&f)) ws.write(asio::buffer(Encode(protocol::Pong{ping->opaque})));
      }
    }
    ws.close(websocket::close_code::normal);
  });
  const auto start = std::chrono::steady_clock::now();
  auto o = Run(coordinator.url(), {}, {.connect = 3s, .ping_interval = 200ms, .ping_timeout = 300ms});
  ASSERT_TRUE(o.has_value());
  EXPECT_THAT(o->reason, ::testing::HasSubstr("closed")) << o->reason;
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1500ms) << o->reason;
}

TEST_F(TunnelConnectionTest, DrainEndsWithAClose) {
  std::optional<protocol::Close> seen;
  ScriptedCoordinator coordinator([&](tcp::socket& socket, http::request<http::string_body>& req) {
    websocket::stream<tcp::socket&> ws(socket);
    AcceptAndHello(ws, req, nullptr);
    beast::error_code ec;
    while (!ec) {
      beast::flat_buffer b;
      ws.read(b, ec);
      if (ec) break;
      auto frames = protocol::DecodeMessage(beast::buffers_to_string(b.data()));
      for (auto& f : *frames) {
        if (auto* c = std::get_if<protocol::Close>(&f)) seen = *c;
      }
    }
  });
  auto o = Run(coordinator.url(), [](TunnelConnection& c) {
    c.Drain(protocol::CloseCode::kShuttingDown, "the agent is shutting down");
  });
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->kind, Kind::kLocal);
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->code, protocol::CloseCode::kShuttingDown);
}

TEST_F(TunnelConnectionTest, ACoordinatorThatNeverReadsIsDropped) {
  session_options_.output_limit = 64 << 10;
  session_options_.backlog_limit = 256 << 10;
  ScriptedCoordinator coordinator([](tcp::socket& socket, http::request<http::string_body>& req) {
    websocket::stream<tcp::socket&> ws(socket);
    AcceptAndHello(ws, req, nullptr);
    // Four streams that stay open fill the agent's cap; then streams it must refuse, as fast as it
    // reads them, never reading the RESETs: they pile up behind the full socket buffers.
    uint32_t id = 1;
    const auto end = std::chrono::steady_clock::now() + 8s;
    while (std::chrono::steady_clock::now() < end) {
      std::string message;
      for (int i = 0; i < 10000; ++i, id += 2) {
        protocol::Encode(protocol::RequestHead{.stream = id, .end_stream = true, .upstream = "svc", .method = "GET",
                                               .target = id < 8 ? "/noread" : "/"},
                         message);
      }
      ws.write(asio::buffer(message));  // throws once the agent has dropped the connection
    }
  });
  const auto start = std::chrono::steady_clock::now();
  auto o = Run(coordinator.url());
  ASSERT_TRUE(o.has_value());
  EXPECT_EQ(o->kind, Kind::kFailed);
  EXPECT_THAT(o->reason, ::testing::HasSubstr("not reading"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 8s);
}

}  // namespace
}  // namespace keyhole::agent
