#include "coordinator/server/http_server.h"

#include <openssl/ssl.h>

#include <atomic>
#include <charconv>
#include <cstring>
#include <limits>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <thread>
#include <unordered_set>
#include <vector>

#include "coordinator/http/api_error.h"
#include "coordinator/http/api_pipeline.h"
#include "coordinator/tunnel/tunnel_endpoints.h"
#include "shared/log/log.h"
#include "shared/net/drained_read.h"
#include "shared/net/lazy_deadline.h"

namespace keyhole::coord {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

bool IsHarmless(const beast::error_code& ec) {
  return ec == asio::error::operation_aborted || ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == ssl::error::stream_truncated || ec == beast::error::timeout ||
         ec == asio::error::broken_pipe;
}

class SessionBase;

// An io_context whose services can be shut down (its pending handlers destroyed) before it is
// destroyed: see HttpServer::Stop.
class WorkerContext : public asio::io_context {
 public:
  using asio::io_context::io_context;
  using asio::execution_context::shutdown;
};

// One worker: an io_context on its own thread, its acceptor, and the sessions living on it.
// Only the worker's thread touches `sessions` and `stopping`.
// Member order matters: destroying `ioc` destroys pending handlers and so sessions, which
// unregister themselves from `sessions`; that set must outlive the io_context.
struct Worker {
  unsigned index = 0;  // of Shared::workers
  std::unordered_set<SessionBase*> sessions;
  bool stopping = false;
  WorkerContext ioc{1};
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<tcp::acceptor> plain_acceptor;  // ServerOptions::plain_host, if set
  std::thread thread;
};

struct Shared {
  ApiPipeline& pipeline;
  const ServerOptions& options;
  ssl::context* tls;  // null for plain HTTP
  TunnelHub* tunnel;  // null: no streaming routes
  std::atomic<size_t> connections{0};
  unsigned workers = 1;
};

class SessionBase {
 public:
  SessionBase(Worker& w, Shared& s) : worker_(w), shared_(s) {
    worker_.sessions.insert(this);
    shared_.connections.fetch_add(1, std::memory_order_relaxed);
  }
  virtual ~SessionBase() {
    worker_.sessions.erase(this);
    shared_.connections.fetch_sub(1, std::memory_order_relaxed);
  }
  // Called on the worker thread at shutdown: close now if idle, else after the current response.
  virtual void Drain() = 0;

 protected:
  Worker& worker_;
  Shared& shared_;
};

template <class Stream>
class Session : public SessionBase,
                public net::LazyDeadline::Target,
                public std::enable_shared_from_this<Session<Stream>> {
 public:
  template <class... Args>
  Session(Worker& w, Shared& s, std::string peer_ip, Args&&... args)
      : SessionBase(w, s),
        stream_(std::forward<Args>(args)...),
        reads_(stream_),
        io_deadline_(stream_.get_executor()),
        idle_deadline_(stream_.get_executor()),
        watch_(stream_.get_executor()),
        peer_ip_(std::move(peer_ip)) {
    if constexpr (!kTls) reads_.Enable();  // the server set TCP_INQ on the socket
  }

  void Start() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(shared_.options.request_timeout);
      stream_.async_handshake(ssl::stream_base::server,
                              beast::bind_front_handler(&Session::OnHandshake, this->shared_from_this()));
    } else {
      DoRead();
    }
  }

  void Drain() override {
    draining_ = true;
    if (idle_) beast::get_lowest_layer(stream_).cancel();
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, TcpStream>;

  void OnHandshake(beast::error_code ec) {
    if (ec) return Fail(ec, "tls handshake");
    beast::get_lowest_layer(stream_).expires_never();  // from here on, the lazy deadlines
    DoRead();
  }

  // A deadline passed with a read or write of ours pending: end the connection, as Beast's own
  // timeout does; the pending operation fails and its handler closes.
  void OnDeadline() override {
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().close(ignored);
  }

  // A read or write of a request starts: request_timeout from now for it. Between requests the
  // wait is idle_deadline_'s (one LazyDeadline per length: moving between them arms nothing).
  void ExpectIo() { io_deadline_.SetAfter(shared_.options.request_timeout, *this); }
  void NoDeadlines() {
    io_deadline_.Clear();
    idle_deadline_.Clear();
  }

  void DoRead(bool after_our_write = true) {
    if (draining_ || worker_.stopping) return DoClose();
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(shared_.options.header_limit));
    // The body limit is set once the head shows whether this is a streaming route (no limit);
    // Beast would otherwise refuse a large Content-Length while parsing the head.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());  // not boost::none: Beast 1.74 compares it wrongly
    idle_ = true;
    if (requests_ == 0) {
      ExpectIo();
    } else {
      io_deadline_.Clear();
      idle_deadline_.SetAfter(shared_.options.idle_timeout, *this);
    }
    // The skip is safe only after a write of ours that followed the last read (a write fails on
    // a reset socket), and only for a socket read: with bytes buffered, Beast reads later,
    // mid-request.
    if (after_our_write && buffer_.size() == 0) reads_.BeginMessage();
    http::async_read_header(reads_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, this->shared_from_this()));
  }

  void OnHeader(beast::error_code ec, size_t) {
    idle_ = false;
    NoDeadlines();
    if (ec) return OnReadError(ec);
    auto& req = parser_->get();
    if (shared_.tunnel) {
      const auto method = req.method_string();
      const auto target = req.target();
      StreamKind kind = shared_.pipeline.StreamKindOf(std::string_view(method.data(), method.size()),
                                                      std::string_view(target.data(), target.size()));
      if (kind != StreamKind::kNone) return OnStreamingHead(kind);
    }
    parser_->body_limit(shared_.options.body_limit);
    if (auto cl = parser_->content_length(); cl && *cl > shared_.options.body_limit) {
      return Reject(PayloadTooLarge(shared_.options.body_limit));
    }
    if (req.version() >= 11 && beast::iequals(req[http::field::expect], "100-continue")) {
      // Tell a client that waits before sending its body (curl does, above 1 KiB) to go ahead.
      continue_.emplace(http::status::continue_, req.version());
      ExpectIo();
      return http::async_write(stream_, *continue_, beast::bind_front_handler(&Session::OnContinue, this->shared_from_this()));
    }
    ReadBody();
  }

  void OnContinue(beast::error_code ec, size_t) {
    if (ec) return Fail(ec, "write 100-continue");
    ReadBody();
  }

  void ReadBody() {
    if (parser_->is_done()) return OnRequest();
    ExpectIo();
    http::async_read(reads_, buffer_, *parser_, beast::bind_front_handler(&Session::OnBody, this->shared_from_this()));
  }

  void OnBody(beast::error_code ec, size_t) {
    io_deadline_.Clear();
    if (ec) return OnReadError(ec);
    OnRequest();
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::body_limit) return Reject(PayloadTooLarge(shared_.options.body_limit));
    if (ec == http::error::header_limit) {
      return Reject(OktaError(431, "KH0000003", "Request header fields too large.",
                              {"headers: at most " + std::to_string(shared_.options.header_limit) + " bytes"}));
    }
    if (ec == http::error::end_of_stream || IsHarmless(ec)) return DoClose();
    // Anything else is a malformed request: answer once, then close.
    return Reject(OktaError(400, "E0000003", "The request body was not well-formed.", {"http: " + ec.message()}));
  }

  // An answer to a request we will not process further; the connection closes after it.
  void Reject(Response resp) {
    keep_alive_ = false;
    linger_ = true;
    Send(shared_.pipeline.Finish(std::move(resp), shared_.pipeline.NewRequestId()), 11);
  }

  void OnRequest() {
    ++requests_;
    auto msg = parser_->release();
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.headers.reserve(16);
    for (const auto& field : msg) req.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    req.body = std::move(msg.body());
    req.peer_ip = peer_ip_;
    req.tls = kTls;
    keep_alive_ = msg.keep_alive() && !draining_ && !worker_.stopping;
    Response resp = shared_.pipeline.Handle(req);
    Send(std::move(resp), msg.version());
  }

  // A streaming route: the pipeline judges the head alone; then the tunnel takes over, for one
  // exchange (the connection comes back after it) or for good (an agent's WebSocket).
  void OnStreamingHead(StreamKind kind) {
    ++requests_;
    auto& msg = parser_->get();
    Request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.headers.reserve(16);
    for (const auto& field : msg) req.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    req.peer_ip = peer_ip_;
    req.tls = kTls;
    keep_alive_ = msg.keep_alive() && !draining_ && !worker_.stopping;
    const unsigned version = msg.version();
    const bool has_body = msg.chunked() || parser_->content_length().value_or(0) > 0;
    Response resp = shared_.pipeline.Handle(req);
    if (resp.status != kStreamProceed) {
      if (has_body) {
        // Its body is still on the wire: answer, then close (lingering, as for a 413).
        keep_alive_ = false;
        linger_ = true;
      }
      return Send(std::move(resp), version);
    }
    if (kind == StreamKind::kAgentLink) {
      beast::get_lowest_layer(stream_).expires_never();
      NoDeadlines();
      StartAgentLink(std::move(stream_), parser_->release(), req, *shared_.tunnel, LinkLane{worker_.index, shared_.workers});
      return;  // the connection is the agent link's now; this session ends
    }
    exchange_version_ = version;
    exchange_request_id_ = req.request_id;
    exchange_rate_limit_ = resp.rate_limit;
    ExchangeSettings settings{shared_.options.request_timeout, keep_alive_, {&io_deadline_, this, &watch_}};
    StartTunnelExchange(stream_, buffer_, *parser_, std::move(req), *shared_.tunnel, settings,
                        std::shared_ptr<void>(this->shared_from_this()),
                        [this](std::optional<Response> error, bool keep_alive, bool wrote_last) {
                          OnExchangeDone(std::move(error), keep_alive, wrote_last);
                        });
  }

  void OnExchangeDone(std::optional<Response> error, bool keep_alive, bool wrote_last) {
    keep_alive_ = keep_alive_ && keep_alive;
    if (error) {
      if (!keep_alive_) linger_ = true;
      error->rate_limit = exchange_rate_limit_;
      return Send(shared_.pipeline.Finish(std::move(*error), exchange_request_id_), exchange_version_);
    }
    if (keep_alive_) return DoRead(wrote_last);
    DoClose();
  }

  // The response goes out as one contiguous buffer, serialized here: Beast's field-by-field
  // buffer sequences cost more per header than the whole rest of a small request (measured with
  // callgrind, docs/BENCHMARKS.md). Header values are ours; CR and LF are dropped regardless.
  void Send(Response resp, unsigned version) {
    std::string& out = out_;
    out.clear();
    out.reserve(256 + resp.body.size() + 64 * resp.headers.size());
    out += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    out += std::to_string(resp.status);
    out += ' ';
    beast::string_view reason = http::obsolete_reason(static_cast<http::status>(resp.status));
    out.append(reason.data(), reason.size());
    out += "\r\nServer: Keyhole\r\n";
    auto append_clean = [&out](std::string_view v) {
      if (std::memchr(v.data(), '\r', v.size()) == nullptr && std::memchr(v.data(), '\n', v.size()) == nullptr) {
        out.append(v.data(), v.size());
        return;
      }
      for (char c : v) {
        if (c != '\r' && c != '\n') out += c;
      }
    };
    for (const auto& [k, v] : resp.headers) {
      append_clean(k);
      out += ": ";
      append_clean(v);
      out += "\r\n";
    }
    if (resp.rate_limit) {
      // One field each, never comma-joined: Okta's SDKs parse each as a single integer.
      char num[24];
      auto field = [&](std::string_view name, auto value) {
        out.append(name.data(), name.size());
        auto [end, ec] = std::to_chars(num, num + sizeof num, value);
        out.append(num, end);
        out += "\r\n";
      };
      field("X-Rate-Limit-Limit: ", resp.rate_limit->limit);
      field("X-Rate-Limit-Remaining: ", resp.rate_limit->remaining);
      field("X-Rate-Limit-Reset: ", resp.rate_limit->reset_epoch_seconds);
    }
    if (resp.status != 204 && resp.status != 304 && !(resp.status >= 100 && resp.status < 200)) {
      out += "Content-Length: ";
      out += std::to_string(resp.body.size());
      out += "\r\n";
    }
    if (!keep_alive_) out += "Connection: close\r\n";
    else if (version == 10) out += "Connection: keep-alive\r\n";
    out += "\r\n";
    out += resp.body;
    ExpectIo();
    asio::async_write(stream_, asio::buffer(out), beast::bind_front_handler(&Session::OnWrite, this->shared_from_this()));
  }

  void OnWrite(beast::error_code ec, size_t) {
    io_deadline_.Clear();
    if (ec) return Fail(ec, "write");
    if (!keep_alive_) return linger_ ? DoLinger() : DoClose();
    DoRead();
  }

  // After refusing a request whose body may still be arriving (413, say), stop sending and read
  // and discard for a little while before closing, so the client reads our answer instead of a
  // reset (nginx's lingering close). Bounded in time and in bytes.
  void DoLinger() {
    NoDeadlines();
    if constexpr (!kTls) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
    Discard(0);
  }

  void Discard(size_t so_far) {
    constexpr size_t kMaxDiscard = 8 << 20;
    if (so_far > kMaxDiscard) return DoClose();
    linger_buffer_.resize(16 << 10);
    reads_.async_read_some(asio::buffer(linger_buffer_),
                            [self = this->shared_from_this(), so_far](beast::error_code ec, size_t n) {
                              if (ec) return self->DoClose();
                              self->Discard(so_far + n);
                            });
  }

  void DoClose() {
    NoDeadlines();
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        beast::error_code ignored;
        beast::get_lowest_layer(self->stream_).socket().close(ignored);
      });
    } else {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
      stream_.socket().close(ignored);
    }
  }

  void Fail(beast::error_code ec, const char* what) {
    if (!IsHarmless(ec)) LogDebug(std::string("connection from ") + peer_ip_ + ": " + what + ": " + ec.message());
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().close(ignored);
  }

  Stream stream_;
  // The request's reads (shared/net/drained_read.h): on plain HTTP the first read of a request
  // that follows our answer skips the recv that would find nothing after the last read drained
  // the socket, and the rest of the request is read as Asio would, so a reset behind a partial
  // request is seen at once.
  net::MessageReads<Stream> reads_;
  // Timeouts (shared/net/lazy_deadline.h), one per length: request_timeout for a request's reads
  // and our writes (the exchange's too), idle_timeout between requests; `watch_` is lent to each
  // tunnel exchange in turn, for its response timeouts.
  net::LazyDeadline io_deadline_;
  net::LazyDeadline idle_deadline_;
  net::LazyDeadline watch_;
  std::string peer_ip_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  std::string out_;  // the response being written; reused across requests on this connection
  bool keep_alive_ = true;
  bool linger_ = false;
  std::vector<char> linger_buffer_;
  bool idle_ = false;
  bool draining_ = false;
  uint64_t requests_ = 0;
  unsigned exchange_version_ = 11;
  std::string exchange_request_id_;
  std::optional<RateLimitHeaders> exchange_rate_limit_;
};

}  // namespace

struct HttpServer::Impl {
  Impl(ApiPipeline& p, ServerOptions o, TunnelHub* t) : options(std::move(o)), shared{p, options, nullptr, t, {}} {}

  // `plain`: the plain listener beside a TLS one.
  void Accept(Worker& w, bool plain = false) {
    tcp::acceptor& acceptor = plain ? *w.plain_acceptor : *w.acceptor;
    acceptor.async_accept(w.ioc, [this, &w, plain](beast::error_code ec, TcpStream::socket_type socket) {
      OnAccept(w, plain, ec, std::move(socket));
    });
  }

  void OnAccept(Worker& w, bool plain, beast::error_code ec, TcpStream::socket_type socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || w.stopping) return;
      LogWarning("accept: " + ec.message());
      // Out of descriptors, say: back off briefly rather than spin.
      auto timer = std::make_shared<asio::steady_timer>(w.ioc, std::chrono::milliseconds(50));
      timer->async_wait([this, &w, plain, timer](beast::error_code) {
        if (!w.stopping) Accept(w, plain);
      });
      return;
    }
    if (shared.connections.load(std::memory_order_relaxed) >= options.max_connections) {
      beast::error_code ignored;
      socket.close(ignored);
      return Accept(w, plain);
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::string peer = socket.remote_endpoint(ignored).address().to_string();
    if (shared.tls && !plain) {
      std::make_shared<Session<TlsStream>>(w, shared, std::move(peer), std::move(socket), *shared.tls)->Start();
    } else {
      net::EnableDrainedReads(socket);  // Session's reads skip the recv that would find nothing
      std::make_shared<Session<TcpStream>>(w, shared, std::move(peer), std::move(socket))->Start();
    }
    Accept(w, plain);
  }

  // One of a worker's SO_REUSEPORT acceptors on host:*port; an ephemeral *port becomes the bound one.
  static Status Listen(Worker& w, const std::string& host, uint16_t* port, std::unique_ptr<tcp::acceptor>& out) {
    beast::error_code ec;
    auto address = asio::ip::make_address(host, ec);
    if (ec) return InvalidArgumentError("listen address " + host + ": " + ec.message());
    out = std::make_unique<tcp::acceptor>(w.ioc);
    tcp::endpoint ep(address, *port);
    out->open(ep.protocol(), ec);
    if (!ec) out->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) {
      int one = 1;
      if (::setsockopt(out->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        return ErrnoToStatus(errno, "SO_REUSEPORT");
      }
    }
    if (!ec) out->bind(ep, ec);
    if (!ec) out->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return UnavailableError("listen on " + host + ":" + std::to_string(*port) + ": " + ec.message());
    *port = out->local_endpoint().port();  // the first acceptor picks the ephemeral port
    return Status::Ok();
  }

  ServerOptions options;
  Shared shared;
  std::unique_ptr<ssl::context> tls;
  std::vector<std::unique_ptr<Worker>> workers;
  uint16_t port = 0;
  uint16_t plain_port = 0;
  bool stopped = false;
};

HttpServer::HttpServer(ApiPipeline& pipeline, ServerOptions options, TunnelHub* tunnel)
    : impl_(std::make_unique<Impl>(pipeline, std::move(options), tunnel)) {}

HttpServer::~HttpServer() { Stop(); }

uint16_t HttpServer::port() const { return impl_->port; }

uint16_t HttpServer::plain_port() const { return impl_->plain_port; }

Status HttpServer::Start() {
  Impl& m = *impl_;
  if (m.options.tls) {
    m.tls = std::make_unique<ssl::context>(ssl::context::tls_server);
    m.tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    SSL_CTX_set_min_proto_version(m.tls->native_handle(), TLS1_2_VERSION);
    // Forward secrecy and AEAD only for TLS 1.2 (TLS 1.3's suites are all of that kind already);
    // the server's order wins; no renegotiation a client could use to burn our CPU.
    SSL_CTX_set_cipher_list(m.tls->native_handle(), "ECDHE+AESGCM:ECDHE+CHACHA20");
    SSL_CTX_set_options(m.tls->native_handle(), SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    // Thousands of idle agent connections: no TLS record buffers while a connection is idle.
    SSL_CTX_set_mode(m.tls->native_handle(), SSL_MODE_RELEASE_BUFFERS);
    beast::error_code ec;
    m.tls->use_certificate_chain_file(m.options.tls_cert_file, ec);
    if (ec) return InvalidArgumentError("TLS certificate " + m.options.tls_cert_file + ": " + ec.message());
    m.tls->use_private_key_file(m.options.tls_key_file, ssl::context::pem, ec);
    if (ec) return InvalidArgumentError("TLS key " + m.options.tls_key_file + ": " + ec.message());
    if (SSL_CTX_check_private_key(m.tls->native_handle()) != 1) {
      return InvalidArgumentError("TLS key does not match the certificate");
    }
    m.shared.tls = m.tls.get();
  }

  if (!m.options.plain_host.empty() && !m.options.tls) {
    return InvalidArgumentError("a plain listener beside the main one needs the main one in TLS");
  }
  unsigned threads = m.options.threads ? m.options.threads : std::max(1u, std::thread::hardware_concurrency());
  uint16_t port = m.options.port;
  uint16_t plain_port = m.options.plain_port;
  for (unsigned i = 0; i < threads; ++i) {
    auto w = std::make_unique<Worker>();
    w->index = i;
    if (Status s = Impl::Listen(*w, m.options.host, &port, w->acceptor); !s.ok()) return s;
    if (!m.options.plain_host.empty()) {
      if (Status s = Impl::Listen(*w, m.options.plain_host, &plain_port, w->plain_acceptor); !s.ok()) return s;
    }
    m.workers.push_back(std::move(w));
  }
  if (!m.options.plain_host.empty()) m.plain_port = plain_port;
  m.port = port;
  m.shared.workers = threads;
  for (auto& w : m.workers) {
    Worker& worker = *w;
    m.Accept(worker);
    if (worker.plain_acceptor) m.Accept(worker, true);
    worker.thread = std::thread([&worker] {
      for (;;) {
        try {
          worker.ioc.run();
          return;
        } catch (const std::exception& e) {
          // A handler threw: a bug. Log it and keep serving the other connections.
          LogError(std::string("worker: unexpected exception: ") + e.what());
        }
      }
    });
  }
  return Status::Ok();
}

void HttpServer::Stop() {
  Impl& m = *impl_;
  if (m.stopped) return;
  m.stopped = true;
  TunnelHub* tunnel = m.shared.tunnel;
  if (tunnel) tunnel->BeginShutdown();  // new tunnel requests get 503 from now on
  for (auto& w : m.workers) {
    Worker* worker = w.get();
    asio::post(worker->ioc, [worker] {
      worker->stopping = true;
      beast::error_code ignored;
      worker->acceptor->close(ignored);
      if (worker->plain_acceptor) worker->plain_acceptor->close(ignored);
      std::vector<SessionBase*> sessions(worker->sessions.begin(), worker->sessions.end());
      for (SessionBase* s : sessions) s->Drain();
    });
  }
  auto deadline = std::chrono::steady_clock::now() + m.options.drain_timeout;
  if (tunnel) {
    // Requests in the tunnels finish first (bounded); then the agents hear why we go away.
    while (tunnel->InFlight() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    tunnel->CloseAll(protocol::CloseCode::kShuttingDown, "the coordinator is shutting down");
    // Room for the CLOSE frames and the WebSocket closing handshakes.
    deadline = std::max(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(2));
  }
  for (auto& w : m.workers) {
    // A worker whose thread never started (Start failed part-way) has nothing to drain.
    while (w->thread.joinable() && !w->ioc.stopped() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    w->ioc.stop();
    if (w->thread.joinable()) w->thread.join();
  }
  // Objects cross workers: an exchange on one worker holds the agent link (socket, timers) of
  // another, and a link's posted deliveries hold exchanges. Destroying the pending handlers of
  // every worker first, while all the io_contexts still exist, lets those objects go with their
  // own io_context alive; then the io_contexts go.
  for (auto& w : m.workers) w->ioc.shutdown();
  m.workers.clear();
}

}  // namespace keyhole::coord
