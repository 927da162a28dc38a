// TunnelSession with real UpstreamPool connections to a real local HTTP server, driven by frames
// in-process (no coordinator): HELLO, GET and POST (chunked and Content-Length) through, Host and
// hop-by-hop fields, keep-alive reuse, unknown upstream refused, stream cap and drain refused,
// upstream unreachable and timeout, RESET cancelling, flow control pausing and resuming the
// upstream read, WINDOW_UPDATE after request bytes were written, and protocol violations.
#include "agent/tunnel/tunnel_session.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>

#include "tests/unit/agent/blocking_upstream.h"

namespace keyhole::agent {
namespace {

using namespace std::chrono_literals;
using protocol::Frame;
using protocol::ResetCode;
using testing::BlockingUpstream;

std::string Message(const std::vector<Frame>& frames) {
  std::string out;
  for (const auto& f : frames) protocol::Encode(f, out);
  return out;
}

std::string Pattern(size_t from, size_t n) {
  std::string s(n, 'x');
  for (size_t i = 0; i < n; ++i) s[i] = BlockingUpstream::PatternByte(from + i);
  return s;
}

class TunnelSessionTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open(TunnelSessionOptions options = {.software = "keyhole-agent/test", .max_streams = 4},
            ForwardLimits limits = {.connect_timeout = 2s, .response_timeout = 5s}) {
    session_.reset();
    pool_ = std::make_unique<UpstreamPool>(io_, limits);
    std::map<std::string, Upstream> upstreams{{"svc", {"http://127.0.0.1:" + std::to_string(upstream_.port()), ""}}};
    for (const auto& [k, v] : extra_upstreams_) upstreams[k] = v;
    pool_->Configure(upstreams, limits);
    session_ = std::make_unique<TunnelSession>(options, *pool_, [] {});
    session_->Start();
    Collect();
  }

  // Moves the session's output into frames_ (as if written at once, unless holding).
  void Collect() {
    if (hold_output_ || !session_->HasOutput()) return;
    std::string message;
    session_->TakeOutput(message);
    auto decoded = protocol::DecodeMessage(message);
    ASSERT_TRUE(decoded.ok()) << decoded.status().message();
    for (auto& f : *decoded) frames_.push_back(std::move(f));
    session_->OutputWritten();
  }

  void Send(const std::vector<Frame>& frames) {
    auto close = session_->OnMessage(Message(frames));
    ASSERT_FALSE(close.has_value()) << close->reason;
    Collect();
  }

  void Hello(uint32_t stream_window = protocol::kDefaultStreamWindow,
             uint32_t connection_window = protocol::kDefaultConnectionWindow) {
    protocol::Hello h;
    h.role = protocol::Role::kCoordinator;
    h.stream_window = stream_window;
    h.connection_window = connection_window;
    h.software = "keyhole-coordinator/test";
    Send({h});
  }

  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 5s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > end) return false;
      io_.restart();
      io_.run_for(5ms);
      Collect();
    }
    return true;
  }

  template <class T>
  std::vector<T> Of(uint32_t stream) const {
    std::vector<T> out;
    for (const auto& f : frames_) {
      if (auto* x = std::get_if<T>(&f); x && x->stream == stream) out.push_back(*x);
    }
    return out;
  }

  std::string Body(uint32_t stream) const {
    std::string s;
    for (const auto& d : Of<protocol::Data>(stream)) s += d.bytes;
    return s;
  }
  bool Ended(uint32_t stream) const {
    auto heads = Of<protocol::ResponseHead>(stream);
    if (!heads.empty() && heads.back().end_stream) return true;
    auto data = Of<protocol::Data>(stream);
    return !data.empty() && data.back().end_stream;
  }
  std::optional<protocol::Reset> ResetOf(uint32_t stream) const {
    auto r = Of<protocol::Reset>(stream);
    if (r.empty()) return std::nullopt;
    return r.back();
  }
  static std::string Header(const protocol::ResponseHead& h, const std::string& name) {
    for (const auto& [n, v] : h.headers) {
      if (strcasecmp(n.c_str(), name.c_str()) == 0) return v;
    }
    return "";
  }

  protocol::RequestHead Get(uint32_t stream, std::string target, std::string upstream = "svc") {
    return {.stream = stream, .end_stream = true, .upstream = std::move(upstream), .method = "GET",
            .target = std::move(target), .headers = {{"Accept", "*/*"}, {"Host", "coordinator.example"}}};
  }

  BlockingUpstream upstream_;
  boost::asio::io_context io_;
  std::map<std::string, Upstream> extra_upstreams_;
  std::unique_ptr<UpstreamPool> pool_;
  std::unique_ptr<TunnelSession> session_;
  std::vector<Frame> frames_;
  bool hold_output_ = false;
};

TEST_F(TunnelSessionTest, HelloAnnouncesTheConfiguredUpstreamsAndLimits) {
  ASSERT_EQ(frames_.size(), 1u);
  auto* hello = std::get_if<protocol::Hello>(&frames_[0]);
  ASSERT_NE(hello, nullptr);
  EXPECT_EQ(hello->role, protocol::Role::kAgent);
  EXPECT_EQ(hello->version, protocol::kVersion);
  EXPECT_EQ(hello->max_streams, 4u);
  EXPECT_EQ(hello->software, "keyhole-agent/test");
  EXPECT_EQ(hello->upstreams, std::vector<std::string>{"svc"});
}

TEST_F(TunnelSessionTest, GetGoesThroughWithTheUpstreamsHostAndWithoutHopByHopFields) {
  Hello();
  Send({Get(1, "/hello?x=1")});
  ASSERT_TRUE(RunUntil([&] { return Ended(1); }));
  auto heads = Of<protocol::ResponseHead>(1);
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_EQ(heads[0].status, 200);
  EXPECT_EQ(Header(heads[0], "X-Host"), "127.0.0.1:" + std::to_string(upstream_.port()));
  EXPECT_EQ(Header(heads[0], "Content-Length"), "5");
  EXPECT_EQ(Header(heads[0], "X-Kept"), "yes");
  EXPECT_EQ(Header(heads[0], "Keep-Alive"), "");
  EXPECT_EQ(Header(heads[0], "Connection"), "");
  EXPECT_EQ(Header(heads[0], "X-Private"), "");  // named by Connection
  EXPECT_EQ(Body(1), "hello");
  EXPECT_EQ(upstream_.last_request_line(), "GET /hello?x=1 HTTP/1.1");
  EXPECT_EQ(session_->open_streams(), 0u);
}

TEST_F(TunnelSessionTest, KeepAliveConnectionIsReused) {
  Hello();
  Send({Get(1, "/hello")});
  ASSERT_TRUE(RunUntil([&] { return Ended(1); }));
  Send({Get(3, "/hello")});
  ASSERT_TRUE(RunUntil([&] { return Ended(3); }));
  Send({Get(5, "/echo")});
  ASSERT_TRUE(RunUntil([&] { return Ended(5); }));
  EXPECT_EQ(upstream_.connections(), 1);
  EXPECT_EQ(pool_->idle_count(), 1u);
}

TEST_F(TunnelSessionTest, PostWithoutContentLengthIsSentChunked) {
  Hello();
  Send({protocol::RequestHead{.stream = 1, .upstream = "svc", .method = "POST", .target = "/echo",
                              .headers = {{"Content-Type", "text/plain"}}},
        protocol::Data{.stream = 1, .bytes = "abc"}});
  Send({protocol::Data{.stream = 1, .end_stream = true, .bytes = "def"}});
  ASSERT_TRUE(RunUntil([&] { return Ended(1); }));
  EXPECT_EQ(Of<protocol::ResponseHead>(1).at(0).status, 200);
  EXPECT_EQ(Body(1), "abcdef");
  EXPECT_EQ(upstream_.last_headers()["transfer-encoding"], "chunked");
}

TEST_F(TunnelSessionTest, PostWithContentLengthKeepsIt) {
  Hello();
  Send({protocol::RequestHead{.stream = 1, .upstream = "svc", .method = "PUT", .target = "/echo",
                              .headers = {{"Content-Length", "6"}}},
        protocol::Data{.stream = 1, .bytes = "abc"}, protocol::Data{.stream = 1, .end_stream = true, .bytes = "def"}});
  ASSERT_TRUE(RunUntil([&] { return Ended(1); }));
  EXPECT_EQ(Body(1), "abcdef");
  EXPECT_EQ(Header(Of<protocol::ResponseHead>(1).at(0), "X-Method"), "PUT");
  EXPECT_EQ(upstream_.last_headers()["content-length"], "6");
  EXPECT_EQ(upstream_.last_headers().count("transfer-encoding"), 0u);
}

TEST_F(TunnelSessionTest, UnknownUpstreamIsRefusedWithoutDialling) {
  Hello();
  Send({Get(1, "/hello", "elsewhere")});
  auto reset = ResetOf(1);
  ASSERT_TRUE(reset.has_value());
  EXPECT_EQ(reset->code, ResetCode::kUnknownUpstream);
  EXPECT_THAT(reset->reason, ::testing::HasSubstr("elsewhere"));
  EXPECT_EQ(upstream_.connections(), 0);
}

TEST_F(TunnelSessionTest, StreamsBeyondTheCapAndWhileDrainingAreRefused) {
  Open({.software = "t", .max_streams = 1});
  Hello();
  Send({Get(1, "/slow?ms=300")});
  Send({Get(3, "/hello")});
  ASSERT_TRUE(ResetOf(3).has_value());
  EXPECT_EQ(ResetOf(3)->code, ResetCode::kRefused);
  session_->Drain();
  ASSERT_TRUE(RunUntil([&] { return Ended(1); }));  // the open one finishes
  EXPECT_EQ(Body(1), "slow");
  Send({Get(5, "/hello")});
  ASSERT_TRUE(ResetOf(5).has_value());
  EXPECT_EQ(ResetOf(5)->code, ResetCode::kRefused);
}

TEST_F(TunnelSessionTest, UnreachableUpstreamResetsTheStream) {
  extra_upstreams_["dead"] = Upstream{"http://127.0.0.1:1", ""};
  Open();
  Hello();
  Send({Get(1, "/", "dead")});
  ASSERT_TRUE(RunUntil([&] { return ResetOf(1).has_value(); }));
  EXPECT_EQ(ResetOf(1)->code, ResetCode::kUpstreamUnreachable);
}

TEST_F(TunnelSessionTest, SlowUpstreamTimesOut) {
  Open({.software = "t", .max_streams = 4}, {.connect_timeout = 2s, .response_timeout = 200ms});
  Hello();
  Send({Get(1, "/slow?ms=2000")});
  ASSERT_TRUE(RunUntil([&] { return ResetOf(1).has_value(); }));
  EXPECT_EQ(ResetOf(1)->code, ResetCode::kUpstreamTimeout);
}

TEST_F(TunnelSessionTest, ResetFromTheCoordinatorCancelsTheExchange) {
  Hello();
  Send({Get(1, "/slow?ms=300")});
  RunUntil([&] { return upstream_.connections() == 1; });
  Send({protocol::Reset{.stream = 1, .code = ResetCode::kCancel}});
  EXPECT_EQ(session_->open_streams(), 0u);
  RunUntil([] { return false; }, 500ms);
  EXPECT_TRUE(Of<protocol::ResponseHead>(1).empty());
  EXPECT_EQ(pool_->idle_count(), 0u);  // that connection was closed, not pooled
}

TEST_F(TunnelSessionTest, ResponseWaitsForSendCreditAndResumesOnWindowUpdate) {
  constexpr size_t kWindow = 64 << 10, kTotal = 1 << 20;
  Hello(kWindow, 16 << 20);
  Send({Get(1, "/bytes?n=" + std::to_string(kTotal))});
  ASSERT_TRUE(RunUntil([&] { return Body(1).size() == kWindow; }));
  RunUntil([] { return false; }, 200ms);
  EXPECT_EQ(Body(1).size(), kWindow) << "sent beyond the stream window";
  size_t granted = kWindow;
  while (granted < kTotal && !Ended(1)) {
    Send({protocol::WindowUpdate{.stream = 1, .increment = static_cast<uint32_t>(kWindow)}});
    granted += kWindow;
    ASSERT_TRUE(RunUntil([&] { return Body(1).size() == std::min(granted, kTotal); }));
  }
  ASSERT_TRUE(RunUntil([&] { return Ended(1); }));
  EXPECT_EQ(Body(1), Pattern(0, kTotal));
  for (const auto& d : Of<protocol::Data>(1)) EXPECT_LE(d.bytes.size(), protocol::kMaxDataChunk);
}

TEST_F(TunnelSessionTest, ConnectionWindowLimitsAllStreams) {
  constexpr size_t kConn = 96 << 10;
  Hello(1 << 20, kConn);
  Send({Get(1, "/bytes?n=131072&chunked=1"), Get(3, "/bytes?n=131072")});
  ASSERT_TRUE(RunUntil([&] { return Body(1).size() + Body(3).size() == kConn; }));
  RunUntil([] { return false; }, 200ms);
  EXPECT_EQ(Body(1).size() + Body(3).size(), kConn);
  Send({protocol::WindowUpdate{.stream = 0, .increment = 1 << 20}});
  ASSERT_TRUE(RunUntil([&] { return Ended(1) && Ended(3); }));
  EXPECT_EQ(Body(1), Pattern(0, 131072));
  EXPECT_EQ(Body(3), Pattern(0, 131072));
}

TEST_F(TunnelSessionTest, UnwrittenOutputPausesTheUpstream) {
  Hello(8 << 20, 16 << 20);
  hold_output_ = true;  // the WebSocket is not writing
  Send({Get(1, "/bytes?n=4194304")});
  RunUntil([] { return false; }, 300ms);
  std::string held;
  session_->TakeOutput(held);
  EXPECT_LE(held.size(), (512u << 10) + 2 * protocol::kMaxDataChunk);
  hold_output_ = false;
  session_->OutputWritten();
  ASSERT_TRUE(RunUntil([&] { return Body(1).size() > 0; }));
}

TEST_F(TunnelSessionTest, RequestCreditReturnsOnceWrittenUpstream) {
  Hello();
  const std::string piece(50 << 10, 'b');
  Send({protocol::RequestHead{.stream = 1, .upstream = "svc", .method = "POST", .target = "/echo",
                              .headers = {{"Content-Length", std::to_string(4 * piece.size())}}}});
  for (int i = 0; i < 3; ++i) Send({protocol::Data{.stream = 1, .bytes = piece}});
  // Half the 256 KiB stream window (128 KiB) written upstream: the coordinator may send more.
  ASSERT_TRUE(RunUntil([&] { return !Of<protocol::WindowUpdate>(1).empty(); }));
  EXPECT_GE(Of<protocol::WindowUpdate>(1)[0].increment, 128u << 10);
  Send({protocol::Data{.stream = 1, .end_stream = true, .bytes = piece}});
  ASSERT_TRUE(RunUntil([&] { return Ended(1); }));
  EXPECT_EQ(Body(1).size(), 4 * piece.size());
}

TEST_F(TunnelSessionTest, DataBeyondTheStreamWindowResetsTheStream) {
  Open({.software = "t", .max_streams = 4, .stream_window = 1024});
  Hello();
  Send({protocol::RequestHead{.stream = 1, .upstream = "svc", .method = "POST", .target = "/echo"},
        protocol::Data{.stream = 1, .bytes = std::string(2048, 'x')}});
  ASSERT_TRUE(ResetOf(1).has_value());
  EXPECT_EQ(ResetOf(1)->code, ResetCode::kFlowControlError);
}

TEST_F(TunnelSessionTest, ProtocolViolationsCloseTheConnection) {
  auto close = session_->OnMessage(Message({Get(1, "/hello")}));
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->code, protocol::CloseCode::kProtocolError);  // before HELLO

  Open();
  Hello();
  Send({Get(3, "/hello")});
  close = session_->OnMessage(Message({Get(1, "/hello")}));
  ASSERT_TRUE(close.has_value());  // ids must increase
  EXPECT_EQ(close->code, protocol::CloseCode::kProtocolError);

  Open();
  protocol::Hello h;
  h.version = 9;
  h.role = protocol::Role::kCoordinator;
  close = session_->OnMessage(Message({h}));
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->code, protocol::CloseCode::kVersionUnsupported);
}

TEST_F(TunnelSessionTest, PingIsAnsweredAndCloseIsRecorded) {
  Hello();
  Send({protocol::Ping{.opaque = 42}});
  bool pong = false;
  for (const auto& f : frames_) pong |= std::holds_alternative<protocol::Pong>(f) && std::get<protocol::Pong>(f).opaque == 42;
  EXPECT_TRUE(pong);
  Send({protocol::Close{.code = protocol::CloseCode::kAgentDeactivated, .reason = "bye"}});
  ASSERT_TRUE(session_->peer_close().has_value());
  EXPECT_EQ(session_->peer_close()->code, protocol::CloseCode::kAgentDeactivated);
}

TEST_F(TunnelSessionTest, MalformedHeadsNeverReachTheUpstream) {
  // The decoder refuses CR, LF or a non-token method (the connection closes); what it lets through
  // and HTTP/1.1 cannot carry is refused per stream. Either way the upstream sees nothing.
  const std::vector<protocol::RequestHead> heads = {
      {.stream = 1, .end_stream = true, .upstream = "svc", .method = "GET /admin HTTP/1.1", .target = "/"},
      {.stream = 1, .end_stream = true, .upstream = "svc", .method = "GET", .target = "http://elsewhere/"},
      {.stream = 1, .end_stream = true, .upstream = "svc", .method = "GET", .target = "/a b"},
      {.stream = 1, .end_stream = true, .upstream = "svc", .method = "GET", .target = "/",
       .headers = {{"X-Evil", "a\r\nGET /admin HTTP/1.1"}}},
  };
  for (const auto& head : heads) {
    Open();
    Hello();
    if (session_->OnMessage(Message({head}))) continue;
    Collect();
    ASSERT_TRUE(RunUntil([&] { return ResetOf(1).has_value(); })) << head.method << " " << head.target;
    EXPECT_EQ(ResetOf(1)->code, ResetCode::kProtocolError);
  }
  RunUntil([] { return false; }, 100ms);
  EXPECT_EQ(upstream_.connections(), 0);
}

}  // namespace
}  // namespace keyhole::agent
