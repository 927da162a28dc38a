// WsTunnel: TunnelConnection over Beast's WebSocket, on a TLS stream (https://) or a plain socket
// (http://, loopback only). Beast and Asio are compiled header-only here: libcpprest.so carries
// its own header-only Asio, so the agent must not link the separately compiled keyhole_asio.
#include "agent/tunnel/tunnel_connection.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "agent/activation/coordinator_url.h"
#include "agent/forward/http_head.h"
#include "shared/net/lazy_deadline.h"
#include "shared/rest/server_trust.h"

namespace keyhole::agent {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Kind = TunnelOutcome::Kind;
using SteadyClock = std::chrono::steady_clock;

constexpr char kTunnelPath[] = "/api/v1/agents/me/tunnel";
constexpr std::chrono::seconds kCloseGrace{2};

struct ParsedUrl {
  bool tls = true;
  std::string host;         // without brackets
  std::string port;
  std::string host_header;  // as the URL writes it
  std::string target;       // base path + kTunnelPath
};

StatusOr<ParsedUrl> ParseCoordinatorUrl(const std::string& url) {
  if (Status s = CoordinatorUrl::Check(url); !s.ok()) return s;
  ParsedUrl p;
  p.tls = url.size() >= 8 && (url[4] == 's' || url[4] == 'S');
  std::string_view rest = std::string_view(url).substr(url.find("://") + 3);
  const size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  path = path.substr(0, path.find_first_of("?#"));
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (authority.find('@') != std::string_view::npos) return InvalidArgumentError("coordinator URL " + url + ": user info is not supported");
  p.host_header = std::string(authority);
  std::string_view host = CoordinatorUrl::Host(url);
  std::string_view after = authority.substr(std::min(authority.size(), host.size()));
  if (host.empty()) return InvalidArgumentError("coordinator URL " + url + ": no host");
  if (host.front() == '[') host = host.substr(1, host.size() - 2);
  p.host = std::string(host);
  p.port = after.size() > 1 && after.front() == ':' ? std::string(after.substr(1)) : (p.tls ? "443" : "80");
  p.target = std::string(path) + kTunnelPath;
  return p;
}

bool IsIpAddress(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string Seconds(std::chrono::milliseconds d) {
  return d.count() % 1000 ? std::to_string(d.count()) + " ms" : std::to_string(d.count() / 1000) + " s";
}

template <bool kTls>
class WsTunnel final : public TunnelConnection,
                       public net::LazyDeadline::Target,
                       public std::enable_shared_from_this<WsTunnel<kTls>> {
  // On the io_context's own executor type rather than any_io_executor (as UpstreamConnection).
  using Socket = asio::basic_stream_socket<tcp, asio::io_context::executor_type>;
  using Next = std::conditional_t<kTls, ssl::stream<Socket>, Socket>;

 public:
  WsTunnel(asio::io_context& io, UpstreamPool& pool, TunnelEndpoint endpoint, ParsedUrl url,
           TunnelSessionOptions session, TunnelTimeouts timeouts, Events events, std::unique_ptr<ssl::context> ctx,
           std::shared_ptr<rest::ServerTrust> trust)
      : io_(io), pool_(pool), endpoint_(std::move(endpoint)), url_(std::move(url)), session_options_(std::move(session)),
        timeouts_(timeouts), events_(std::move(events)), ctx_(std::move(ctx)), trust_(std::move(trust)),
        ws_(MakeWs(io, ctx_.get())), resolver_(io), deadline_(io), ping_timer_(io), pong_timer_(io),
        silence_(io.get_executor()) {
    // Asio sets SSL_MODE_RELEASE_BUFFERS on every SSL object: OpenSSL then frees its 16 KiB read
    // and write record buffers whenever they drain and allocates them again for the next record,
    // two large malloc/free pairs per batch of frames. An agent holds one or a few links: keep them.
    if constexpr (kTls) SSL_clear_mode(ws_.next_layer().native_handle(), SSL_MODE_RELEASE_BUFFERS);
  }

  void Start() override {
    deadline_.expires_after(timeouts_.connect);
    deadline_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (ec || self->up_ || self->ended_) return;
      self->End({.kind = Kind::kFailed,
                 .reason = "no tunnel to " + self->endpoint_.coordinator + " within " + Seconds(self->timeouts_.connect)});
    });
    resolver_.async_resolve(url_.host, url_.port,
                            [self = this->shared_from_this()](error_code ec, tcp::resolver::results_type r) {
                              self->OnResolved(ec, std::move(r));
                            });
  }

  void Drain(protocol::CloseCode code, std::string reason) override {
    if (ended_) return;
    if (!up_) return End({.kind = Kind::kLocal, .reason = reason});
    drain_close_ = protocol::Close{code, std::move(reason)};
    session_->Drain();
    MaybeFinishDrain();
  }

  void Abort(std::string reason) override { End({.kind = Kind::kLocal, .reason = std::move(reason)}); }
  bool up() const override { return up_ && !ended_; }
  size_t open_streams() const override { return session_ ? session_->open_streams() : 0; }
  std::optional<protocol::Lane> lane() const override { return lane_; }

 private:
  static websocket::stream<Next> MakeWs(asio::io_context& io, ssl::context* ctx) {
    if constexpr (kTls) return websocket::stream<Next>(io, *ctx);
    else return websocket::stream<Next>(io);
  }
  Socket& socket() { return beast::get_lowest_layer(ws_); }

  // --- dial ---

  void OnResolved(error_code ec, tcp::resolver::results_type results) {
    if (ended_) return;
    if (ec) return Fail("cannot resolve " + url_.host + ": " + ec.message());
    asio::async_connect(socket(), results, [self = this->shared_from_this()](error_code ec, const tcp::endpoint&) {
      self->OnConnected(ec);
    });
  }

  void OnConnected(error_code ec) {
    if (ended_) return;
    if (ec) return Fail("cannot connect to " + url_.host_header + ": " + ec.message());
    socket().set_option(tcp::no_delay(true), ec);
    if constexpr (kTls) {
      auto& tls = ws_.next_layer();
      if (!IsIpAddress(url_.host)) SSL_set_tlsext_host_name(tls.native_handle(), url_.host.c_str());
      tls.async_handshake(ssl::stream_base::client, [self = this->shared_from_this()](error_code ec) {
        if (self->ended_) return;
        if (ec) {
          std::string why = self->trust_ ? self->trust_->LastRefusal() : "";
          return self->Fail("TLS with " + self->url_.host_header + ": " + (why.empty() ? ec.message() : why));
        }
        self->Upgrade();
      });
    } else {
      Upgrade();
    }
  }

  void Upgrade() {
    ws_.set_option(websocket::stream_base::decorator(
        [token = endpoint_.token, software = session_options_.software,
         session = endpoint_.session](websocket::request_type& req) {
          req.set(http::field::authorization, "SSWS " + token);
          if (!session.empty()) req.set(protocol::kSessionHeader, session);
          req.set(http::field::user_agent, software);
          req.set(http::field::sec_websocket_protocol, protocol::kWebSocketSubprotocol);
        }));
    // Beast's own deadlines: the upgrade and the closing handshake (the dial deadline covers the
    // first too). Not its idle timeout, which re-arms a timer at every read: a connection on which
    // nothing at all arrives for longer than the ping rule allows is `silence_`'s. WebSocket
    // pings are not used (the protocol has its own).
    websocket::stream_base::timeout limits;
    limits.handshake_timeout = timeouts_.connect;
    limits.idle_timeout = websocket::stream_base::none();
    limits.keep_alive_pings = false;
    ws_.set_option(limits);
    ws_.async_handshake(response_, url_.host_header, url_.target,
                        [self = this->shared_from_this()](error_code ec) { self->OnUpgraded(ec); });
  }

  void OnUpgraded(error_code ec) {
    if (ended_) return;
    if (ec == websocket::error::upgrade_declined || (ec && response_.result_int() != 0 && response_.result_int() != 101)) {
      return Refused();
    }
    if (ec) return Fail("WebSocket upgrade at " + url_.host_header + ": " + ec.message());
    if (response_[http::field::sec_websocket_protocol] != protocol::kWebSocketSubprotocol) {
      return Fail("the coordinator did not accept the " + std::string(protocol::kWebSocketSubprotocol) + " subprotocol");
    }
    if (auto it = response_.find(protocol::kLaneHeader); it != response_.end()) {
      lane_ = protocol::ParseLane(std::string_view(it->value().data(), it->value().size()));
    }
    ws_.binary(true);
    ws_.auto_fragment(false);
    ws_.write_buffer_bytes(64 << 10);
    ws_.read_message_max(protocol::kMaxMessage);
    session_.emplace(session_options_, pool_, [this] { OnOutput(); });
    session_->Start();
    DoRead();
  }

  void Refused() {
    const unsigned status = response_.result_int();
    std::string summary;
    try {
      auto body = nlohmann::json::parse(response_.body());
      if (body.is_object() && body.contains("errorSummary") && body["errorSummary"].is_string()) {
        summary = QuoteForReason(body["errorSummary"].get<std::string>(), 200);
      }
    } catch (const std::exception&) {
    }
    TunnelOutcome o;
    o.reason = "the coordinator answered " + std::to_string(status) + (summary.empty() ? "" : " (" + summary + ")");
    if (status == 401) {
      o.kind = Kind::kUnauthorized;
    } else if (status == 429) {
      o.kind = Kind::kRateLimited;
      // X-Rate-Limit-Reset: the epoch second the window resets.
      const std::string reset(response_["X-Rate-Limit-Reset"]);
      char* end = nullptr;
      const long long at = std::strtoll(reset.c_str(), &end, 10);
      if (!reset.empty() && end && *end == '\0') {
        const long long now =
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        o.retry_after = std::chrono::seconds(std::clamp(at - now, 0LL, 3600LL));
      }
    } else {
      o.kind = Kind::kRefused;
    }
    End(std::move(o));
  }

  // --- running ---

  void DoRead() {
    silence_.SetAfter(timeouts_.ping_interval + 2 * timeouts_.ping_timeout, *this);
    ws_.async_read(read_buffer_, [self = this->shared_from_this()](error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnDeadline() override {
    auto self = this->shared_from_this();
    if (!ended_) {
      Fail("nothing heard from the coordinator for " +
           Seconds(timeouts_.ping_interval + 2 * timeouts_.ping_timeout));
    }
  }

  void OnRead(error_code ec) {
    if (ended_) return;
    if (ec) {
      return Fail(ec == websocket::error::closed ? "the coordinator closed the WebSocket"
                                                 : "connection lost: " + ec.message());
    }
    if (!ws_.got_binary()) return CloseWith({protocol::CloseCode::kProtocolError, "a text message"}, Kind::kFailed);
    const auto data = read_buffer_.cdata();
    auto violation = session_->OnMessage(std::string_view(static_cast<const char*>(data.data()), data.size()));
    read_buffer_.consume(read_buffer_.size());
    if (session_->overloaded()) return Overloaded();
    if (violation) {
      const std::string why = violation->reason;
      return CloseWith(std::move(*violation), Kind::kFailed, "protocol error: " + why);
    }
    if (const auto& close = session_->peer_close()) {
      TunnelOutcome o{.kind = Kind::kClosed,
                      .reason = "closed by the coordinator: " + std::string(protocol::ToString(close->code)) +
                                (close->reason.empty() ? "" : " (" + QuoteForReason(close->reason, 200) + ")"),
                      .close_code = close->code};
      pending_outcome_ = std::move(o);
      return FinishClose();
    }
    if (!up_ && session_->hello_received()) {
      up_ = true;
      up_since_ = SteadyClock::now();
      deadline_.cancel();
      SchedulePing();
      if (events_.up) events_.up(this);
    }
    MaybeFinishDrain();
    if (!ended_ && !closing_) DoRead();
  }

  // The session's wake: output to write, or too much of it waiting. Called from inside the session
  // (and its exchanges' callbacks), so dropping the connection is posted, not done here. The write
  // is posted too, once per handler turn: whatever the current handler still queues (a response's
  // head, data and end; a batch of requests' WINDOW_UPDATEs) leaves in the same message, not one
  // message (and one system call) per frame.
  void OnOutput() {
    if (session_->overloaded()) {
      asio::post(io_, [self = this->shared_from_this()] { self->Overloaded(); });
      return;
    }
    if (writing_ || flush_posted_) return;  // OnWrite, or the flush already posted, takes it
    flush_posted_ = true;
    asio::post(io_, [self = this->shared_from_this()] {
      self->flush_posted_ = false;
      self->DoWrite();
    });
  }

  void Overloaded() {
    if (ended_) return;
    Fail("the coordinator is not reading: " + std::to_string(session_->backlog() >> 10) +
         " KiB of output waiting");
  }

  void DoWrite() {
    if (writing_ || ended_ || !session_ || !session_->HasOutput()) return;
    session_->TakeOutput(write_buffer_);
    writing_ = true;
    write_started_ = SteadyClock::now();
    ws_.async_write(asio::buffer(write_buffer_),
                    [self = this->shared_from_this()](error_code ec, size_t) { self->OnWrite(ec); });
  }

  void OnWrite(error_code ec) {
    writing_ = false;
    if (ended_) return;
    if (ec) return Fail("connection lost while writing: " + ec.message());
    session_->OutputWritten();
    if (closing_ && !session_->HasOutput()) return FinishClose();
    DoWrite();
    MaybeFinishDrain();
  }

  void SchedulePing() {
    ping_timer_.expires_after(timeouts_.ping_interval);
    ping_timer_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (ec || self->ended_ || self->closing_) return;
      // A write stuck this long: the coordinator reads nothing (it may still send).
      const auto stuck = self->timeouts_.ping_interval + self->timeouts_.ping_timeout;
      if (self->writing_ && SteadyClock::now() - self->write_started_ > stuck) {
        return self->Fail("the coordinator has read nothing for " +
                          Seconds(std::chrono::duration_cast<std::chrono::seconds>(SteadyClock::now() - self->write_started_)));
      }
      if (!self->ping_outstanding_) {  // a deadline under way is not pushed back by the next ping
        self->ping_outstanding_ = true;
        self->frames_at_ping_ = self->session_->frames_received();
        self->session_->SendPing(++self->pings_);
        self->pong_timer_.expires_after(self->timeouts_.ping_timeout);
        self->pong_timer_.async_wait([self](error_code ec) {
          if (ec || self->ended_) return;
          self->ping_outstanding_ = false;
          if (self->session_->frames_received() == self->frames_at_ping_) {
            return self->Fail("no answer to a ping within " + Seconds(self->timeouts_.ping_timeout));
          }
        });
      }
      self->SchedulePing();
    });
  }

  // --- ending ---

  void MaybeFinishDrain() {
    if (drain_close_ && !closing_ && !ended_ && session_->open_streams() == 0) {
      protocol::Close c = *drain_close_;
      const std::string reason = c.reason;
      CloseWith(std::move(c), Kind::kLocal, reason);
    }
  }

  // Sends CLOSE as the last frame, then closes the WebSocket.
  void CloseWith(protocol::Close close, Kind kind, std::string reason = {}) {
    if (closing_ || ended_) return;
    closing_ = true;
    pending_outcome_ = TunnelOutcome{.kind = kind, .reason = reason.empty() ? close.reason : std::move(reason)};
    session_->Abort();
    session_->SendClose(close.code, close.reason);
    deadline_.expires_after(kCloseGrace);
    deadline_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (!ec) self->End(std::move(self->pending_outcome_));
    });
    DoWrite();
  }

  void FinishClose() {
    closing_ = true;
    if (close_started_) return;
    close_started_ = true;
    deadline_.expires_after(kCloseGrace);
    deadline_.async_wait([self = this->shared_from_this()](error_code ec) {
      if (!ec) self->End(std::move(self->pending_outcome_));
    });
    ws_.async_close(websocket::close_code::normal, [self = this->shared_from_this()](error_code) {
      self->End(std::move(self->pending_outcome_));
    });
  }

  void Fail(std::string reason) { End({.kind = Kind::kFailed, .reason = std::move(reason)}); }

  void End(TunnelOutcome outcome) {
    if (ended_) return;
    ended_ = true;
    error_code ignored;
    silence_.Clear();
    resolver_.cancel();
    deadline_.cancel();
    ping_timer_.cancel();
    pong_timer_.cancel();
    if (session_) {
      session_->Abort();
      outcome.streams_served = session_->streams_served();
    }
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
    outcome.was_up = up_;
    if (up_) outcome.up_for = SteadyClock::now() - up_since_;
    asio::post(io_, [self = this->shared_from_this(), outcome = std::move(outcome)]() mutable {
      if (self->events_.down) self->events_.down(self.get(), std::move(outcome));
    });
  }

  asio::io_context& io_;
  UpstreamPool& pool_;
  const TunnelEndpoint endpoint_;
  const ParsedUrl url_;
  const TunnelSessionOptions session_options_;
  const TunnelTimeouts timeouts_;
  const Events events_;
  std::unique_ptr<ssl::context> ctx_;  // before ws_, which refers to it
  std::shared_ptr<rest::ServerTrust> trust_;
  websocket::stream<Next> ws_;
  tcp::resolver resolver_;
  asio::steady_timer deadline_, ping_timer_, pong_timer_;
  websocket::response_type response_;
  beast::flat_buffer read_buffer_;
  std::string write_buffer_;
  std::optional<TunnelSession> session_;
  net::LazyDeadline silence_;  // from each read: the coordinator's silence
  std::optional<protocol::Close> drain_close_;
  TunnelOutcome pending_outcome_;
  SteadyClock::time_point up_since_{};
  SteadyClock::time_point write_started_{};
  uint64_t frames_at_ping_ = 0;
  uint64_t pings_ = 0;
  bool up_ = false;
  std::optional<protocol::Lane> lane_;
  bool ping_outstanding_ = false;
  bool writing_ = false;
  bool flush_posted_ = false;
  bool closing_ = false;
  bool close_started_ = false;
  bool ended_ = false;
};

// A connection that cannot even be attempted (bad URL, unusable CA): it reports why when started.
class BrokenTunnel final : public TunnelConnection, public std::enable_shared_from_this<BrokenTunnel> {
 public:
  BrokenTunnel(asio::io_context& io, std::string why, Events events) : io_(io), why_(std::move(why)), events_(std::move(events)) {}
  void Start() override {
    asio::post(io_, [self = shared_from_this()] {
      if (self->events_.down) self->events_.down(self.get(), {.kind = Kind::kFailed, .reason = self->why_});
    });
  }
  void Drain(protocol::CloseCode, std::string) override {}
  void Abort(std::string) override {}
  bool up() const override { return false; }
  std::optional<protocol::Lane> lane() const override { return std::nullopt; }
  size_t open_streams() const override { return 0; }

 private:
  asio::io_context& io_;
  std::string why_;
  Events events_;
};

}  // namespace

std::shared_ptr<TunnelConnection> TunnelConnection::Create(asio::io_context& io, UpstreamPool& pool,
                                                           TunnelEndpoint endpoint, TunnelSessionOptions session,
                                                           TunnelTimeouts timeouts, Events events) {
  auto url = ParseCoordinatorUrl(endpoint.coordinator);
  if (!url.ok()) return std::make_shared<BrokenTunnel>(io, url.status().message(), std::move(events));
  if (!url->tls) {
    return std::make_shared<WsTunnel<false>>(io, pool, std::move(endpoint), std::move(*url), std::move(session),
                                             timeouts, std::move(events), nullptr, nullptr);
  }
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  std::shared_ptr<rest::ServerTrust> trust;
  const TrustAnchor& anchor = endpoint.trust;
  if (!anchor.pin.empty()) {
    trust = rest::ServerTrust::Pin(anchor.pin);
  } else if (!anchor.ca_pem.empty()) {
    auto t = rest::ServerTrust::CaPem(anchor.ca_pem, url->host, "the state's CA");
    if (!t.ok()) return std::make_shared<BrokenTunnel>(io, t.status().message(), std::move(events));
    trust = *t;
  } else {
    error_code ec;
    ctx->set_default_verify_paths(ec);
    trust = rest::ServerTrust::SystemCas(url->host);
  }
  trust->Configure(ctx->native_handle());  // TLS 1.2 at least, and the verification above
  ctx->set_verify_mode(ssl::verify_peer);
  return std::make_shared<WsTunnel<true>>(io, pool, std::move(endpoint), std::move(*url), std::move(session), timeouts,
                                          std::move(events), std::move(ctx), std::move(trust));
}

}  // namespace keyhole::agent
