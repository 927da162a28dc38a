// TunnelSession with real UpstreamPool connections to a real local HTTP server, driven by frames
// in-process (no coordinator): HELLO, GET and POST (chunked and Content-Length) through, Host and
// hop-by-hop fields, keep-alive reuse, unknown upstream refused, stream cap and drain refused,
// upstream unreachable and timeout, RESET cancelling, flow control pausing and resuming the
// upstream read, WINDOW_UPDATE after request bytes were written, and protocol violations; and the
// security review's regressions: upstream heads the coordinator would refuse, peer text in RESET
// reasons, a coordinator that never reads (PONGs dropped, then overloaded), no second run of a
// non-idempotent request, and upstreams that stall mid-body or stop reading the request body; an
// upload slower than the response timeout (which counts from the end of the request) completing,
// and an upstream silent after the whole request timing out.
#include "agent/tunnel/tunnel_session.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>

#include "shared/log/log.h"
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

  void Send(const std::vector<Frame>& frames) { SendMessage(Message(frames)); }
  void SendMessage(const std::string& message) {
    auto close = session_->OnMessage(message);
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

TEST_F(TunnelSessionTest, UnknownUpstreamWarningsAreThinned) {
  std::vector<std::string> warnings;
  SetLogSink([&warnings](LogLevel level, std::string_view m) {
    if (level == LogLevel::kWarning && m.find("refused a request for upstream") != m.npos) warnings.emplace_back(m);
  });
  Hello();
  for (uint32_t i = 0; i < 1200; ++i) Send({Get(1 + 2 * i, "/hello", "elsewhere")});
  SetLogSink({});
  // The 1st, 10th, 100th and 1000th of 1200: the journal hears of it, not 1200 times.
  ASSERT_EQ(warnings.size(), 4u);
  EXPECT_THAT(warnings[0], ::testing::Not(::testing::HasSubstr("such refusals")));
  EXPECT_THAT(warnings[3], ::testing::HasSubstr("(1000 such refusals on this connection)"));
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

TEST_F(TunnelSessionTest, ResponseHeadsTheCoordinatorWouldRefuseResetTheStream) {
  Hello();
  const std::vector<protocol::HeaderFields> bad = {
      {{"Bad Name", "x"}},
      {{"X-Split", "a\r\nb"}},
      {{"X-Big", std::string(70 << 10, 'v')}},
      protocol::HeaderFields(300, {"X-Many", "v"}),
  };
  uint32_t stream = 1;
  for (const auto& headers : bad) {
    Send({Get(stream, "/slow?ms=300")});
    session_->OnResponseHead(stream, 200, headers, false);  // as if the upstream had sent it
    Collect();
    ASSERT_TRUE(ResetOf(stream).has_value()) << stream;
    EXPECT_EQ(ResetOf(stream)->code, ResetCode::kUpstreamError);
    EXPECT_LE(ResetOf(stream)->reason.size(), 128u);
    EXPECT_TRUE(Of<protocol::ResponseHead>(stream).empty());
    stream += 2;
  }
  EXPECT_EQ(session_->open_streams(), 0u);
  // And from a real upstream: more fields than a head may carry.
  Send({Get(stream, "/fields?n=300")});
  ASSERT_TRUE(RunUntil([&] { return ResetOf(stream).has_value(); }));
  EXPECT_EQ(ResetOf(stream)->code, ResetCode::kUpstreamError);
  Send({Get(stream + 2, "/fields?n=200")});
  ASSERT_TRUE(RunUntil([&] { return Ended(stream + 2); }));
  EXPECT_EQ(Of<protocol::ResponseHead>(stream + 2).at(0).headers.size(), 201u);
}

TEST_F(TunnelSessionTest, PeerTextInResetReasonsIsShortAndEscaped) {
  Hello();
  const std::string name = "\x1b[31m" + std::string(240, 'n');
  Send({Get(1, "/hello", name)});
  auto reset = ResetOf(1);
  ASSERT_TRUE(reset.has_value());
  EXPECT_EQ(reset->code, ResetCode::kUnknownUpstream);
  EXPECT_LE(reset->reason.size(), 200u);
  EXPECT_THAT(reset->reason, ::testing::HasSubstr("\\x1b[31m"));
  for (char c : reset->reason) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << int(c);
}

TEST_F(TunnelSessionTest, ACoordinatorThatNeverReadsGetsNoPongsThenOverloads) {
  Open({.software = "t", .max_streams = 4, .output_limit = 64 << 10, .backlog_limit = 64 << 10});
  Hello();
  hold_output_ = true;  // nothing is written from here on
  std::string pings;
  for (uint64_t i = 0; i < 10000; ++i) protocol::Encode(protocol::Ping{i}, pings);
  SendMessage(pings);  // 180 KB of PONGs, were they all answered
  EXPECT_LE(session_->backlog(), (64u << 10) + (16u << 10) + 32);
  EXPECT_FALSE(session_->overloaded());
  // RESETs (streams refused while draining) are not dropped: past the limit the session says the
  // connection must go.
  session_->Drain();
  std::string heads;
  for (uint32_t id = 1; id < 2 * 3000; id += 2) protocol::Encode(Get(id, "/"), heads);
  SendMessage(heads);
  EXPECT_TRUE(session_->overloaded());
  EXPECT_LE(session_->backlog(), 2u << 20);
}

TEST_F(TunnelSessionTest, PongsAreAnsweredWhileOutputFlows) {
  Hello();
  std::string pings;
  for (uint64_t i = 0; i < 1000; ++i) protocol::Encode(protocol::Ping{i}, pings);
  SendMessage(pings);
  size_t pongs = 0;
  for (const auto& f : frames_) pongs += std::holds_alternative<protocol::Pong>(f);
  EXPECT_EQ(pongs, 1000u);
}

TEST_F(TunnelSessionTest, ANonIdempotentRequestIsNotSentTwiceWhenAReusedConnectionDrops) {
  Hello();
  uint32_t id = 1;
  auto pooled = [&] {  // leaves one idle keep-alive connection in the pool
    Send({Get(id, "/hello")});
    ASSERT_TRUE(RunUntil([&] { return Ended(id); }));
    ASSERT_EQ(pool_->idle_count(), 1u);
    id += 2;
  };
  pooled();
  Send({protocol::RequestHead{.stream = id, .end_stream = true, .upstream = "svc", .method = "DELETE", .target = "/drop"}});
  ASSERT_TRUE(RunUntil([&] { return ResetOf(id).has_value(); }));
  EXPECT_EQ(ResetOf(id)->code, ResetCode::kUpstreamError);
  EXPECT_EQ(upstream_.requests("/drop"), 1);
  id += 2;

  pooled();
  Send({protocol::RequestHead{.stream = id, .end_stream = true, .upstream = "svc", .method = "POST", .target = "/drop",
                              .headers = {{"Content-Length", "0"}}}});
  ASSERT_TRUE(RunUntil([&] { return ResetOf(id).has_value(); }));
  EXPECT_EQ(upstream_.requests("/drop"), 2);
  id += 2;

  pooled();  // a GET is retried once on a new connection (which the upstream drops too)
  Send({Get(id, "/drop")});
  ASSERT_TRUE(RunUntil([&] { return ResetOf(id).has_value(); }));
  EXPECT_EQ(ResetOf(id)->code, ResetCode::kUpstreamError);
  EXPECT_EQ(upstream_.requests("/drop"), 4);
}

// An upstream that answers as keep-alive and resets the connection right behind its answer: the
// next GET on that connection sees the reset at once and is retried on a new connection, rather
// than waiting out the response timeout. Regression: a read that drained the socket must not
// hide a reset queued behind its data (shared/net/drained_read.h).
TEST_F(TunnelSessionTest, AResetBehindAKeepAliveAnswerIsSeenWhenTheConnectionIsReused) {
  Hello();
  for (uint32_t id = 1, n = 1; id < 20; id += 4, ++n) {
    Send({Get(id, "/reset-after")});
    // The agent's loop runs only inside RunUntil: stop it once the upstream has the request, so
    // that the answer and the reset are both queued before the agent reads either.
    ASSERT_TRUE(RunUntil([&] { return upstream_.requests("/reset-after") == static_cast<int>(n); }));
    std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(RunUntil([&] { return Ended(id); }));
    EXPECT_EQ(Body(id), "ok");
    const auto start = std::chrono::steady_clock::now();
    Send({Get(id + 2, "/hello")});
    ASSERT_TRUE(RunUntil([&] { return Ended(id + 2) || ResetOf(id + 2).has_value(); }, 3s));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
    EXPECT_EQ(Body(id + 2), "hello") << "stream " << id + 2;
  }
}

TEST_F(TunnelSessionTest, AnUpstreamStallingMidBodyTimesOut) {
  Open({.software = "t", .max_streams = 4}, {.connect_timeout = 2s, .response_timeout = 300ms});
  Hello();
  const auto start = std::chrono::steady_clock::now();
  Send({Get(1, "/stall?n=1000")});
  ASSERT_TRUE(RunUntil([&] { return ResetOf(1).has_value(); }));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(ResetOf(1)->code, ResetCode::kUpstreamTimeout);
  EXPECT_EQ(Of<protocol::ResponseHead>(1).size(), 1u);
  EXPECT_EQ(Body(1), std::string(1000, 's'));
  EXPECT_EQ(session_->open_streams(), 0u);
  EXPECT_TRUE(RunUntil([&] { return upstream_.stalls_closed() == 1; }));  // its connection was closed
  EXPECT_EQ(pool_->idle_count(), 0u);
}

TEST_F(TunnelSessionTest, TimePausedForCreditIsNotAStall) {
  constexpr size_t kWindow = 64 << 10, kTotal = 256 << 10;
  Open({.software = "t", .max_streams = 4}, {.connect_timeout = 2s, .response_timeout = 300ms});
  Hello(kWindow, 16 << 20);
  Send({Get(1, "/bytes?n=" + std::to_string(kTotal))});
  ASSERT_TRUE(RunUntil([&] { return Body(1).size() == kWindow; }));
  RunUntil([] { return false; }, 900ms);  // three timeouts without credit
  EXPECT_FALSE(ResetOf(1).has_value());
  for (size_t granted = kWindow; granted < kTotal; granted += kWindow) {
    Send({protocol::WindowUpdate{.stream = 1, .increment = static_cast<uint32_t>(kWindow)}});
  }
  ASSERT_TRUE(RunUntil([&] { return Ended(1) || ResetOf(1).has_value(); }));
  EXPECT_FALSE(ResetOf(1).has_value());
  EXPECT_EQ(Body(1), Pattern(0, kTotal));
}

TEST_F(TunnelSessionTest, AnUpstreamThatStopsReadingTheRequestBodyTimesOut) {
  Open({.software = "t", .max_streams = 4}, {.connect_timeout = 2s, .response_timeout = 500ms});
  Hello();
  Send({protocol::RequestHead{.stream = 1, .upstream = "svc", .method = "POST", .target = "/noread"}});
  const std::string piece(64 << 10, 'u');
  size_t sent = 0;
  const auto end = std::chrono::steady_clock::now() + 20s;
  while (!ResetOf(1).has_value() && std::chrono::steady_clock::now() < end) {
    size_t stream_granted = protocol::kDefaultStreamWindow, conn_granted = protocol::kDefaultConnectionWindow;
    for (const auto& u : Of<protocol::WindowUpdate>(1)) stream_granted += u.increment;
    for (const auto& u : Of<protocol::WindowUpdate>(0)) conn_granted += u.increment;
    while (sent + piece.size() <= std::min(stream_granted, conn_granted)) {
      Send({protocol::Data{.stream = 1, .bytes = piece}});
      sent += piece.size();
    }
    RunUntil([] { return false; }, 20ms);
  }
  ASSERT_TRUE(ResetOf(1).has_value()) << sent << " bytes sent";
  EXPECT_EQ(ResetOf(1)->code, ResetCode::kUpstreamTimeout);
  EXPECT_THAT(ResetOf(1)->reason, ::testing::HasSubstr("took no request bytes"));
  EXPECT_FALSE(Body(1).empty());  // the response was trickling all along
}

// Regression: the response timeout ran from the connection, before the body was written, so any
// upload longer than upstream_timeout_seconds was reset as UPSTREAM_TIMEOUT (504).
TEST_F(TunnelSessionTest, AnUploadLongerThanTheResponseTimeoutIsNotCutOff) {
  Open({.software = "t", .max_streams = 4}, {.connect_timeout = 2s, .response_timeout = 300ms});
  Hello();
  const std::string piece(8 << 10, 'p');
  constexpr int kPieces = 10;  // one every 100 ms: 1 s, over three timeouts
  Send({protocol::RequestHead{.stream = 1, .upstream = "svc", .method = "POST", .target = "/echo"}});
  Send({protocol::RequestHead{.stream = 3, .upstream = "svc", .method = "PUT", .target = "/echo",
                              .headers = {{"Content-Length", std::to_string(kPieces * piece.size())}}}});
  for (int i = 0; i < kPieces; ++i) {
    RunUntil([] { return false; }, 100ms);
    ASSERT_FALSE(ResetOf(1).has_value()) << ResetOf(1)->reason;
    ASSERT_FALSE(ResetOf(3).has_value()) << ResetOf(3)->reason;
    const bool last = i == kPieces - 1;
    Send({protocol::Data{.stream = 1, .end_stream = last, .bytes = piece},
          protocol::Data{.stream = 3, .end_stream = last, .bytes = piece}});
  }
  ASSERT_TRUE(RunUntil([&] { return (Ended(1) && Ended(3)) || ResetOf(1) || ResetOf(3); }));
  ASSERT_FALSE(ResetOf(1).has_value()) << ResetOf(1)->reason;
  ASSERT_FALSE(ResetOf(3).has_value()) << ResetOf(3)->reason;
  EXPECT_EQ(Of<protocol::ResponseHead>(1).at(0).status, 200);
  EXPECT_EQ(Body(1).size(), kPieces * piece.size());
  EXPECT_EQ(Body(3).size(), kPieces * piece.size());
}

TEST_F(TunnelSessionTest, AnUpstreamSilentAfterTheWholeRequestTimesOut) {
  Open({.software = "t", .max_streams = 4}, {.connect_timeout = 2s, .response_timeout = 300ms});
  Hello();
  Send({protocol::RequestHead{.stream = 1, .upstream = "svc", .method = "POST", .target = "/silent"},
        protocol::Data{.stream = 1, .bytes = "first"}});
  RunUntil([] { return false; }, 600ms);  // the coordinator is slow to send the rest: not the upstream's silence
  ASSERT_FALSE(ResetOf(1).has_value()) << ResetOf(1)->reason;
  Send({protocol::Data{.stream = 1, .end_stream = true, .bytes = "last"}});
  const auto ended = std::chrono::steady_clock::now();
  ASSERT_TRUE(RunUntil([&] { return ResetOf(1).has_value(); }));
  const auto waited = std::chrono::steady_clock::now() - ended;
  EXPECT_EQ(ResetOf(1)->code, ResetCode::kUpstreamTimeout);
  EXPECT_THAT(ResetOf(1)->reason, ::testing::HasSubstr("sent no response"));
  EXPECT_GE(waited, 250ms);
  EXPECT_LT(waited, 2s);
  EXPECT_TRUE(RunUntil([&] { return upstream_.silent_closed() == 1; }));  // its connection was closed
  EXPECT_EQ(pool_->idle_count(), 0u);

  // Without a body, too: the head alone is the whole request.
  Send({protocol::RequestHead{.stream = 3, .end_stream = true, .upstream = "svc", .method = "GET", .target = "/silent"}});
  ASSERT_TRUE(RunUntil([&] { return ResetOf(3).has_value(); }));
  EXPECT_EQ(ResetOf(3)->code, ResetCode::kUpstreamTimeout);
}

// A small response leaves as one batch: its head and its whole body with END_STREAM, from the
// bytes of one upstream read.
TEST_F(TunnelSessionTest, ASmallResponseIsRelayedWholeAtOnce) {
  Hello();
  hold_output_ = true;
  Send({Get(1, "/hello")});
  ASSERT_TRUE(RunUntil([&] { return session_->HasOutput(); }));
  std::string message;
  session_->TakeOutput(message);
  auto frames = protocol::DecodeMessage(message);
  ASSERT_TRUE(frames.ok()) << frames.status().message();
  ASSERT_EQ(frames->size(), 2u);
  EXPECT_TRUE(std::holds_alternative<protocol::ResponseHead>((*frames)[0]));
  auto* data = std::get_if<protocol::Data>(&(*frames)[1]);
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(data->bytes, "hello");
  EXPECT_TRUE(data->end_stream);
  session_->OutputWritten();
}

}  // namespace
}  // namespace keyhole::agent
