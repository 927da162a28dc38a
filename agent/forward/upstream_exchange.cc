// HttpExchange: UpstreamExchange over an UpstreamConnection with Beast's HTTP/1.1 parser. The
// request head and body are written as raw HTTP/1.1 (http_head.h frames them); the response is
// read with a response_parser<buffer_body> into one chunk buffer at a time, never more than the
// sink's send credit, so a slow coordinator pauses the upstream read (TCP then pushes back).
// Deadlines, each ForwardLimits::response_timeout: the response head within that span of the
// request being fully written (or the upstream ceasing to take it); while the request body is
// being written, that span without the upstream taking bytes (time waiting for the coordinator to
// send more body does not count); after the head, that span without progress while a body read
// waits on the upstream (time paused for lack of send credit does not count).
// The read buffer and body chunk belong to the pooled connection (borrowed for the exchange), and
// body bytes that arrived with the head are parsed at once: a small response leaves as head, data
// and end within one handler, with no allocation for buffers and no second socket read.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <array>
#include <vector>
#include <limits>

#include "agent/forward/http_head.h"
#include "agent/forward/upstream_connection.h"

namespace keyhole::agent {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using protocol::ResetCode;
using Clock = std::chrono::steady_clock;

constexpr size_t kHeaderLimit = 48 << 10;  // stays under the protocol's kMaxHeadPayload once encoded
constexpr size_t kMaxWriteBatch = 256 << 10;
constexpr size_t kReadBuffer = 64 << 10;

std::string Span(std::chrono::milliseconds d) {
  return d.count() % 1000 ? std::to_string(d.count()) + " ms" : std::to_string(d.count() / 1000) + " s";
}

// A request that may run twice: retried on a fresh connection when a reused one was closed under
// it. Not POST, PUT, PATCH or DELETE, body or no body.
bool IsIdempotentRetryable(std::string_view method) { return method == "GET" || method == "HEAD" || method == "OPTIONS"; }

class HttpExchange final : public UpstreamExchange,
                           public net::LazyDeadline::Target,
                           public std::enable_shared_from_this<HttpExchange> {
 public:
  HttpExchange(UpstreamPool& pool, asio::io_context& io, std::shared_ptr<const UpstreamTarget> target,
               const protocol::RequestHead& head, ExchangeSink& sink, ForwardLimits limits)
      : pool_(pool), io_(io), target_holder_(std::move(target)), target_(*target_holder_), stream_(head.stream),
        no_body_(head.end_stream), retryable_(IsIdempotentRetryable(head.method)), sink_(&sink), limits_(limits) {}
  ~HttpExchange() override { DropDeadline(); }

  void Begin(const protocol::RequestHead& head) {
    auto framing = WriteUpstreamRequestHead(head, target_, head_text_);
    if (!framing.ok()) {
      finished_ = true;
      asio::post(io_, [self = shared_from_this(), why = framing.status().message()] {
        if (auto* sink = std::exchange(self->sink_, nullptr)) sink->OnExchangeFailed(self->stream_, ResetCode::kProtocolError, why);
      });
      return;
    }
    framing_ = *framing;
    wire_complete_ = !framing_.chunked && framing_.content_length.value_or(0) == 0;
    Acquire(true);
  }

  void WriteBody(std::string bytes, bool end_stream) override {
    if (finished_) return;
    body_seen_ += bytes.size();
    if (framing_.content_length && body_seen_ > *framing_.content_length) {
      return FailLater(ResetCode::kProtocolError, "request body longer than its Content-Length");
    }
    if (end_stream && framing_.content_length && body_seen_ != *framing_.content_length) {
      return FailLater(ResetCode::kProtocolError, "request body shorter than its Content-Length");
    }
    if (response_done_ || write_failed_) {
      // The upstream answered (or stopped reading) already: the rest of the body goes nowhere,
      // but its credit goes back to the coordinator.
      ReportConsumedLater(bytes.size());
      return;
    }
    pending_.push_back({std::move(bytes), end_stream});
    WriteNext();
  }

  void Resume() override {
    if (!paused_ || finished_) return;
    paused_ = false;
    asio::post(io_, [self = shared_from_this()] { self->ReadBody(); });
  }

  void Cancel() override {
    sink_ = nullptr;
    finished_ = true;
    StopTimers();
    if (conn_) conn_->Close();
  }

 private:
  struct Chunk {
    std::string bytes;
    bool end = false;
  };

  // A deadline on progress with the upstream, active while a write, the response head or a body
  // read waits on it; each lasts response_timeout from its `since`. One deadline serves all
  // three: starting a wait only notes its time, and the deadline, set for the earliest (a later
  // wait never ends sooner, the span being the same), is moved on when it passes early. It is the
  // connection's LazyDeadline, whose timer wait outlives the exchange: a small exchange on a
  // keep-alive connection costs no timer operation at all.
  struct Watch {
    Clock::time_point since{};
    bool active = false;
  };

  void Watching(Watch& w) {
    w.since = Clock::now();
    w.active = true;
    if (!deadline_on_) SetDeadline(w.since + limits_.response_timeout);
  }
  static void Idle(Watch& w) { w.active = false; }

  void SetDeadline(Clock::time_point at) {
    if (!conn_) return;  // the watches run only while the exchange holds a connection
    deadline_on_ = conn_.get();
    deadline_on_->deadline.Set(at, *this);
  }
  // Before the connection goes (to the pool, or closed and dropped) or the exchange does.
  void DropDeadline() {
    if (deadline_on_) std::exchange(deadline_on_, nullptr)->deadline.Clear();
  }

  void OnDeadline() override {
    deadline_on_ = nullptr;
    auto self = shared_from_this();  // Fail tells the sink, which may drop its hold on us
    if (!finished_) CheckDeadlines();
  }

  void CheckDeadlines() {
    const Watch* first = nullptr;
    for (const Watch* w : {&write_watch_, &head_watch_, &read_watch_}) {
      if (w->active && (!first || w->since < first->since)) first = w;
    }
    if (!first || !conn_) return;
    const auto deadline = first->since + limits_.response_timeout;
    if (Clock::now() < deadline) return SetDeadline(deadline);
    const std::string span = Span(limits_.response_timeout);
    if (first == &head_watch_) {
      return Fail(ResetCode::kUpstreamTimeout,
                  "upstream " + target_.name + " sent no response in " + span + " after the request");
    }
    const char* stalled = first == &write_watch_ ? " took no request bytes" : " sent no response bytes";
    Fail(ResetCode::kUpstreamTimeout, "upstream " + target_.name + stalled + " for " + span);
  }

  // The upstream has the whole request (or stopped taking it): from now on its silence counts.
  // Started once per attempt; a retry on a new connection starts over when that one has it.
  void AwaitResponseHead() {
    if (head_sent_ || head_deadline_attempt_ == attempt_) return;
    head_deadline_attempt_ = attempt_;
    Watching(head_watch_);
  }

  void StopTimers() {
    Idle(read_watch_);
    Idle(write_watch_);
    Idle(head_watch_);
    DropDeadline();
  }

  void Acquire(bool allow_reuse) {
    const int attempt = ++attempt_;
    if (allow_reuse) {
      // An idle connection is taken at once rather than through a posted handler: OnConnection
      // only starts I/O, so the sink still hears nothing from inside this call.
      if (auto idle = pool_.TakeIdle(target_.name, no_body_ && retryable_)) {
        return OnConnection(attempt, std::move(idle), true);
      }
    }
    pool_.Acquire(target_.name, false, no_body_ && retryable_,
                  [self = shared_from_this(), attempt](StatusOr<std::unique_ptr<UpstreamConnection>> c, bool reused) {
                    self->OnConnection(attempt, std::move(c), reused);
                  });
  }

  void OnConnection(int attempt, StatusOr<std::unique_ptr<UpstreamConnection>> c, bool reused) {
    if (finished_ || attempt != attempt_) {
      if (c.ok()) (*c)->Close();
      return;
    }
    if (!c.ok()) return Fail(ResetCode::kUpstreamUnreachable, c.status().message());
    conn_ = std::move(*c);
    reused_ = reused;
    buffer_ = std::move(conn_->read_buffer);
    chunk_ = std::move(conn_->body_chunk);
    head_written_ = false;
    write_failed_ = false;  // a retry's new connection: the old one's failed write is history
    // The response head is read once the request's head is written (OnWritten), then beside the
    // body's writes. On a plain keep-alive connection its first read waits for epoll without a
    // recv that would find nothing (the last response drained the socket), which is safe only
    // after a write of ours succeeded: a write fails on a reset socket, a waiting read would not
    // (shared/net/drained_read.h). A readiness wait instead would cost an EPOLL_CTL_MOD
    // (docs/BENCHMARKS.md).
    WriteNext();
  }

  // --- request ---

  void WriteNext() {
    if (writing_ || !conn_ || finished_ || write_failed_) return;
    std::array<asio::const_buffer, 3> buffers;
    size_t payload = 0;
    bool last = false;
    prefix_.clear();
    suffix_.clear();
    if (!head_written_) {
      buffers = {asio::buffer(head_text_), asio::const_buffer(), asio::const_buffer()};
    } else if (!pending_.empty()) {
      // Whatever DATA has queued goes out in one write (and one HTTP chunk): small frames from
      // the coordinator need not cost a system call each.
      current_ = std::move(pending_.front());
      size_t taken = 1;
      while (!current_.end && taken < pending_.size() &&
             current_.bytes.size() + pending_[taken].bytes.size() <= kMaxWriteBatch) {
        current_.bytes += pending_[taken].bytes;
        current_.end = pending_[taken].end;
        ++taken;
      }
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(taken));
      payload = current_.bytes.size();
      last = current_.end;
      if (framing_.chunked) {
        if (payload > 0) {
          AppendChunkHeader(payload, prefix_);
          suffix_ = "\r\n";
        }
        if (last) suffix_ += kLastChunk;
      }
      buffers = {asio::buffer(prefix_), asio::buffer(current_.bytes), asio::buffer(suffix_)};
    } else {
      return;
    }
    writing_ = true;
    Watching(write_watch_);
    asio::async_write(*conn_, buffers,
                      [self = shared_from_this(), attempt = attempt_, payload, last](error_code ec, size_t) {
                        self->OnWritten(attempt, ec, payload, last);
                      });
  }

  void OnWritten(int attempt, error_code ec, size_t payload, bool last) {
    if (attempt != attempt_) return;
    writing_ = false;
    Idle(write_watch_);
    current_.bytes.clear();
    if (finished_) return;
    if (ec) {
      // The upstream stopped reading: its answer (or the broken read) ends the exchange. The body
      // still coming is dropped, its credit returned.
      write_failed_ = true;
      if (!head_written_) ReadHeader(/*new_message=*/false);  // tries the socket: sees the reset
      size_t dropped = payload;
      for (const Chunk& c : pending_) dropped += c.bytes.size();
      pending_.clear();
      AwaitResponseHead();
      ReportConsumed(dropped);
      return;
    }
    if (!head_written_) {
      head_written_ = true;
      ReadHeader(/*new_message=*/true);
    } else {
      body_written_ += payload;
      if (last || (framing_.content_length && body_written_ == *framing_.content_length)) wire_complete_ = true;
    }
    if (wire_complete_) AwaitResponseHead();
    if (payload > 0) {
      ReportConsumed(payload);
      if (finished_) return;
    }
    WriteNext();
  }

  // --- response ---

  // `new_message`: the response's first read, after our request's head went out; false for the
  // final head after a 1xx, or after a failed write: those reads try the socket at once.
  void ReadHeader(bool new_message) {
    // Room for a small response whole (head and body) in one socket read; kept with the
    // connection, so reserved once per connection.
    buffer_.reserve(kReadBuffer);
    parser_.emplace();
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    parser_->header_limit(kHeaderLimit);
    if (framing_.head_method) parser_->skip(true);
    // With bytes already buffered Beast reads the socket later, mid-message: no skip then.
    if (new_message && buffer_.size() == 0) conn_->BeginMessage();
    http::async_read_header(*conn_, buffer_, *parser_,
                            [self = shared_from_this(), attempt = attempt_](error_code ec, size_t) {
                              self->OnHeader(attempt, ec);
                            });
  }

  void OnHeader(int attempt, error_code ec) {
    if (attempt != attempt_ || finished_) return;
    if (ec) return ReadFailed(ec);
    auto& res = parser_->get();
    const unsigned status = res.result_int();
    if (status == 101) return Fail(ResetCode::kUpstreamError, "upstream " + target_.name + " switched protocols");
    if (status < 200) return ReadHeader(/*new_message=*/false);  // 100 Continue, 103 Early Hints: the real answer follows
    const std::string connection(res[http::field::connection]);
    protocol::HeaderFields fields;
    fields.reserve(static_cast<size_t>(std::distance(res.begin(), res.end())));
    for (const auto& f : res) {
      const std::string_view name(f.name_string().data(), f.name_string().size());
      if (IsHopByHopField(name, connection)) continue;
      fields.emplace_back(std::string(name), std::string(f.value()));
    }
    if (fields.size() > protocol::kMaxHeaderFields) {
      return Fail(ResetCode::kUpstreamError, "upstream " + target_.name + " sent too many header fields");
    }
    head_sent_ = true;
    Idle(head_watch_);
    const bool done = parser_->is_done();
    std::unique_ptr<UpstreamConnection> reusable;
    if (done) reusable = ResponseComplete();
    if (sink_) sink_->OnResponseHead(stream_, static_cast<uint16_t>(status), std::move(fields), done);
    if (done) return ReleaseConnection(std::move(reusable));
    ReadBody();
  }

  void ReadBody() {
    while (!finished_ && !response_done_ && sink_) {
      const size_t credit = sink_->SendCredit(stream_);
      if (credit == 0) {
        paused_ = true;  // the read watch is idle: waiting for credit is not the upstream's stall
        return;
      }
      if (!chunk_) chunk_ = std::make_unique<char[]>(protocol::kMaxDataChunk);
      requested_ = std::min(credit, protocol::kMaxDataChunk);
      auto& body = parser_->get().body();
      body.data = chunk_.get();
      body.size = requested_;
      body.more = true;
      if (buffer_.size() > 0) {
        // Bytes read with the head (or beyond the last chunk): parsed now, without a socket read
        // (Beast's read would post its completion even when it needs no I/O).
        // Eager: through every chunk header and body byte buffered, not one element per call. Not
        // for Beast's reads: an eager parser with a partial chunk left would keep reading until
        // the chunk buffer fills, holding back a trickling response.
        error_code ec;
        parser_->eager(true);
        const size_t used = parser_->put(buffer_.data(), ec);
        parser_->eager(false);
        buffer_.consume(used);
        if (ec == http::error::need_buffer || ec == http::error::need_more) ec = {};
        if (ec) return ReadFailed(ec);
        if (Delivered()) continue;
      }
      // Beast reads at most the buffer's free capacity: kReadBuffer reserved means one socket
      // read, and one DATA frame, per 64 KiB rather than per 512 bytes.
      buffer_.reserve(kReadBuffer);
      Watching(read_watch_);
      http::async_read_some(*conn_, buffer_, *parser_,
                            [self = shared_from_this(), attempt = attempt_](error_code ec, size_t) {
                              self->OnBody(attempt, ec);
                            });
      return;
    }
  }

  void OnBody(int attempt, error_code ec) {
    if (attempt != attempt_ || finished_) return;
    Idle(read_watch_);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) return ReadFailed(ec);
    Delivered();
    ReadBody();
  }

  // Hands the sink what the parser put into the chunk (false when nothing, and not the end).
  bool Delivered() {
    const size_t got = requested_ - parser_->get().body().size;
    const bool done = parser_->is_done();
    if (got == 0 && !done) return false;
    std::unique_ptr<UpstreamConnection> reusable;
    if (done) reusable = ResponseComplete();
    if (sink_) sink_->OnResponseData(stream_, std::string_view(chunk_.get(), got), done);
    if (done) ReleaseConnection(std::move(reusable));
    return true;
  }

  void ReadFailed(error_code ec) {
    if (!head_sent_ && reused_ && no_body_ && retryable_ && !retried_ && buffer_.size() == 0) {
      // A keep-alive connection the upstream closed as we reused it: once more on a new one. Only
      // for methods that may run twice: the upstream may have acted on the request before closing.
      retried_ = true;
      Idle(write_watch_);
      Idle(head_watch_);  // the new connection's own starts when it has the request
      DropDeadline();
      conn_->Close();
      conn_.reset();
      writing_ = false;
      parser_.reset();
      Acquire(false);
      return;
    }
    const std::string why = ec == http::error::end_of_stream || ec == asio::error::eof
                                ? "closed the connection"
                                : ec.message();
    Fail(ResetCode::kUpstreamError, "upstream " + target_.name + (head_sent_ ? " broke off its response: " : " failed before answering: ") + why);
  }

  // The response is complete: returns the connection when it may be reused, taken from the
  // exchange so that a Cancel() from the sink hearing of the end cannot close it; the caller
  // tells the sink, then gives it back with ReleaseConnection.
  std::unique_ptr<UpstreamConnection> ResponseComplete() {
    response_done_ = true;
    StopTimers();
    // Bytes beyond the response (none unless the upstream misbehaves) would desynchronize the next one.
    const bool reusable = parser_->keep_alive() && wire_complete_ && !writing_ && !write_failed_ &&
                          pending_.empty() && buffer_.size() == 0;
    std::unique_ptr<UpstreamConnection> keep;
    if (reusable) {
      keep = std::move(conn_);
    } else if (conn_) {
      conn_->Close();
    }
    // Body chunks still queued go nowhere now; their credit returns.
    size_t dropped = 0;
    for (const Chunk& c : pending_) dropped += c.bytes.size();
    pending_.clear();
    if (dropped) ReportConsumed(dropped);
    return keep;
  }

  void ReleaseConnection(std::unique_ptr<UpstreamConnection> c) {
    if (!c) return;
    c->read_buffer = std::move(buffer_);
    c->body_chunk = std::move(chunk_);
    pool_.Release(target_.name, std::move(c));
  }

  // --- reporting ---

  void ReportConsumed(size_t n) {
    if (n > 0 && sink_) sink_->OnRequestBodyConsumed(stream_, n);
  }
  void ReportConsumedLater(size_t n) {
    if (n == 0) return;
    asio::post(io_, [self = shared_from_this(), n] { self->ReportConsumed(n); });
  }

  void Fail(ResetCode code, const std::string& reason) {
    if (finished_) return;
    finished_ = true;
    StopTimers();
    if (conn_) conn_->Close();
    if (auto* sink = std::exchange(sink_, nullptr)) sink->OnExchangeFailed(stream_, code, reason);
  }
  void FailLater(ResetCode code, std::string reason) {
    asio::post(io_, [self = shared_from_this(), code, reason = std::move(reason)] { self->Fail(code, reason); });
  }

  UpstreamPool& pool_;
  asio::io_context& io_;
  // Shared with the pool (copying its strings cost allocations per request); kept alive here
  // should the pool drop the upstream mid-exchange.
  const std::shared_ptr<const UpstreamTarget> target_holder_;
  const UpstreamTarget& target_;
  const uint32_t stream_;
  const bool no_body_;
  const bool retryable_;  // GET, HEAD, OPTIONS
  ExchangeSink* sink_;
  const ForwardLimits limits_;
  UpstreamConnection* deadline_on_ = nullptr;  // whose LazyDeadline is set for us
  Watch write_watch_, head_watch_, read_watch_;

  std::string head_text_;
  RequestFraming framing_;
  std::unique_ptr<UpstreamConnection> conn_;
  int attempt_ = 0;
  int head_deadline_attempt_ = 0;  // the attempt whose response head is awaited
  bool reused_ = false;
  bool retried_ = false;
  bool finished_ = false;

  // request direction
  std::vector<Chunk> pending_;  // a vector: a deque allocates even when empty, and a GET has none
  Chunk current_;
  std::string prefix_, suffix_;
  bool head_written_ = false;
  bool writing_ = false;
  bool write_failed_ = false;
  bool wire_complete_ = false;  // the whole request is on the wire
  uint64_t body_seen_ = 0;
  uint64_t body_written_ = 0;

  // response direction
  beast::flat_buffer buffer_;
  std::optional<http::response_parser<http::buffer_body>> parser_;
  std::unique_ptr<char[]> chunk_;
  size_t requested_ = 0;
  bool head_sent_ = false;
  bool paused_ = false;
  bool response_done_ = false;
};

}  // namespace

std::shared_ptr<UpstreamExchange> StartHttpExchange(UpstreamPool& pool, asio::io_context& io,
                                                    std::shared_ptr<const UpstreamTarget> target,
                                                    const protocol::RequestHead& head,
                                                    ExchangeSink& sink, const ForwardLimits& limits) {
  auto exchange = std::make_shared<HttpExchange>(pool, io, std::move(target), head, sink, limits);
  exchange->Begin(head);
  return exchange;
}

}  // namespace keyhole::agent
