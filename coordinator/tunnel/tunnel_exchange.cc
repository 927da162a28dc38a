// TunnelExchange<Stream>: one caller's request streamed through an agent (tunnel_endpoints.h).
// Lives on the caller's worker thread, on the server session's stream; talks to the AgentLink
// (another thread, maybe) only through AgentLinkBase's posted calls and StreamSink callbacks.
// Flow control both ways: it reads request body from the caller only as far as the agent's
// credit goes, and reports response bytes to the link only once they are written to the
// caller, so a slow caller stops the agent and a slow agent stops the caller.
#include <boost/asio/execution/context_as.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/container/small_vector.hpp>
#include <charconv>
#include <cstring>
#include <limits>

#include "coordinator/http/api_error.h"
#include "coordinator/tunnel/agent_link.h"
#include "coordinator/tunnel/forwarding.h"
#include "coordinator/tunnel/tunnel_endpoints.h"
#include "shared/protocol/http_fields.h"
#include "shared/log/log.h"
#include "shared/net/drained_read.h"
#include "shared/net/send_now.h"

namespace keyhole::coord {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using protocol::ResetCode;

namespace {

constexpr size_t kReplayLimit = 256 << 10;  // request body kept for a retry elsewhere
constexpr int kMaxAttempts = 3;
// Every agent at its stream cap: wait for a free stream this long before answering 503, re-trying
// after kBusyPollFirst, doubling up to kBusyPollMax (each try takes the hub's mutex). A burst
// above the cap queues briefly instead of failing.
constexpr std::chrono::milliseconds kBusyWait{2000};
constexpr std::chrono::milliseconds kBusyPollFirst{2};
constexpr std::chrono::milliseconds kBusyPollMax{100};
// Before the response head, request body handed to the agent re-arms the response timer only in
// steps of this much: a window update of a byte at a time cannot hold the caller forever.
constexpr size_t kProgressStep = protocol::kMaxDataChunk;

void AppendClean(std::string& out, std::string_view v) {
  if (std::memchr(v.data(), '\r', v.size()) == nullptr && std::memchr(v.data(), '\n', v.size()) == nullptr) {
    out.append(v.data(), v.size());
    return;
  }
  for (char c : v) {
    if (c != '\r' && c != '\n') out += c;
  }
}

template <class Stream>
class TunnelExchange final : public net::LazyDeadline::Target,
                             public std::enable_shared_from_this<TunnelExchange<Stream>> {
 public:
  TunnelExchange(Stream& stream, beast::flat_buffer& buffer, http::request_parser<http::string_body>& header_parser,
                 Request req, TunnelHub& hub, ExchangeSettings settings, std::shared_ptr<void> owner, ExchangeDone done)
      : stream_(stream),
        reads_(stream),
        buffer_(buffer),
        parser_(std::move(header_parser)),
        req_(std::move(req)),
        hub_(hub),
        settings_(settings),
        owner_(std::move(owner)),
        done_(std::move(done)),
        timer_(stream.get_executor()) {
    if constexpr (std::is_same_v<Stream, TcpStream>) reads_.Enable();  // the server set TCP_INQ on it
  }

  ~TunnelExchange() {
    // Not finished (the io_context is going away, say) while the session lives: its watch must
    // not call us.
    if (owner_) settings_.deadlines.watch->Clear();
  }

  void Start() {
    auto& msg = parser_.get();
    // Flow control bounds what is buffered, not a body limit (and not boost::none: Beast 1.74
    // refuses any Content-Length with it).
    parser_.body_limit(std::numeric_limits<std::uint64_t>::max());
    version_ = msg.version();
    keep_alive_ = settings_.keep_alive;
    has_body_ = msg.chunked() || parser_.content_length().value_or(0) > 0;
    body_complete_ = !has_body_ || parser_.is_done();
    need_continue_ = has_body_ && version_ >= 11 && beast::iequals(msg[http::field::expect], "100-continue");
    // Beast's reads are as large as the buffer's free capacity; the head left it small, which
    // would cut the body into ~1 KiB DATA frames. Room for a whole frame (given back at the end).
    if (has_body_) buffer_.reserve(buffer_.size() + protocol::kMaxDataChunk);
    head_ = std::make_shared<const protocol::RequestHead>(BuildRequestHead(req_, has_body_));
    pool_id_ = req_.params.count("poolId") ? req_.params.at("poolId") : "";
    head_only_ = req_.method == "HEAD";
    idempotent_ = req_.method == "GET" || req_.method == "HEAD";
    // The agent's decoder refuses a head it cannot carry (more than kMaxHeaderFields fields, say)
    // by closing the whole connection: answer here instead.
    if (std::optional<Response> refusal = CheckRequestHead(*head_)) return Fail(std::move(*refusal));
    Attempt();
  }

 private:
  // The StreamSink of one attempt: callbacks of an abandoned attempt are dropped.
  class Sink final : public StreamSink {
   public:
    Sink(std::shared_ptr<TunnelExchange> ex, int attempt) : ex_(std::move(ex)), attempt_(attempt) {}
    void OnOpened(uint32_t credit) override {
      if (Live()) ex_->OnOpened(credit);
    }
    void OnWindow(uint32_t increment) override {
      if (Live()) ex_->OnWindow(increment);
    }
    void OnResponseHead(protocol::ResponseHead head) override {
      if (!Live()) return;
      ex_->in_delivery_ = true;
      ex_->OnResponseHead(std::move(head));
    }
    void OnData(std::string bytes, bool end_stream) override {
      // Bytes of an abandoned attempt need no crediting: the link released its stream's credit.
      if (!Live()) return;
      ex_->in_delivery_ = true;
      ex_->OnData(std::move(bytes), end_stream);
    }
    void OnReset(ResetCode code, std::string reason) override {
      if (Live()) ex_->OnReset(code, std::move(reason));
    }
    void OnLost(bool sent, std::string reason) override {
      if (Live()) ex_->OnLost(sent, std::move(reason));
    }
    // Whatever the attempt: a call above may have ended it (or the exchange) mid-delivery.
    void OnDeliveryEnd() override { ex_->OnDeliveryEnd(); }

   private:
    bool Live() const { return ex_->attempt_ == attempt_ && !ex_->finished_; }
    std::shared_ptr<TunnelExchange> ex_;
    const int attempt_;
  };

  void Attempt() {
    ReleaseLink();
    const std::string& upstream = head_->upstream;
    // The link on this worker, when the agent has one here: no thread hop either way.
    LinkPick pick = hub_.Pick(pool_id_, upstream, tried_, &asio::query(stream_.get_executor(), asio::execution::context_as<asio::execution_context&>));
    switch (pick.outcome) {
      case PickOutcome::kPicked:
        break;
      case PickOutcome::kNoAgent:
        return Fail(tried_.empty() || !last_error_ ? TunnelNoAgent(pool_id_, upstream) : std::move(*last_error_));
      case PickOutcome::kBusy: {
        // A retry's wait for a free agent is not the last agent's silence: the response timer
        // starts again once one is picked.
        settings_.deadlines.watch->Clear();
        if (busy_waited_ >= kBusyWait) return Fail(TunnelBusy(pool_id_));
        const auto poll = std::min(busy_poll_, kBusyWait - busy_waited_);
        busy_waited_ += poll;
        busy_poll_ = std::min(busy_poll_ * 2, kBusyPollMax);
        timer_.expires_after(poll);
        timer_.async_wait([self = this->shared_from_this()](beast::error_code ec) {
          if (!ec && !self->finished_) self->Attempt();
        });
        return;
      }
      case PickOutcome::kShuttingDown:
        return Fail(TunnelShuttingDown());
    }
    ++attempt_;
    link_ = std::static_pointer_cast<AgentLinkBase>(pick.link);
    tried_.push_back(link_.get());
    opened_ = false;
    credit_ = 0;
    end_sent_ = !has_body_;
    if (has_body_ && replayable_) pending_ = replay_;  // a retry sends the body read so far again
    progress_since_arm_ = 0;
    handle_ = link_->Open(std::make_shared<Sink>(this->shared_from_this(), attempt_), stream_.get_executor(), head_);
    ArmResponseTimer();
  }

  // 504 unless the agent makes progress (takes kProgressStep of request body, or answers) within
  // the response timeout: a long upload is not a slow upstream.
  void ArmResponseTimer() { settings_.deadlines.watch->SetAfter(hub_.options().response_timeout, *this); }

  // The watch: before the response head, the response timer; after it, the idle timer.
  void OnDeadline() override {
    if (finished_) return;
    auto self = this->shared_from_this();  // what follows may release the last other owner
    if (got_head_) return OnIdleTimer();
    CancelStream();
    Fail(TunnelTimeout(head_->upstream,
                       "no response within " + std::to_string(hub_.options().response_timeout.count() / 1000) + " s"));
  }

  // The caller's connection has io_timeout for each read and each write of ours (the session
  // closes it when one passes). A read and a write may be pending together: the connection's
  // deadline is the earlier of theirs.
  void CallerIoStarted(net::LazyDeadline::Clock::time_point& since) {
    since = net::LazyDeadline::Clock::now();
    SetCallerDeadline();
  }
  void SetCallerDeadline() {
    const ExchangeDeadlines& d = settings_.deadlines;
    if (!reading_ && !writing_) return d.caller_io->Clear();
    const auto first = !writing_ ? read_since_ : !reading_ ? write_since_ : std::min(read_since_, write_since_);
    d.caller_io->Set(first + settings_.io_timeout, *d.on_caller_io);
  }

  // Another agent, if the rules allow it; else `error`.
  void RetryOr(Response error, bool allowed) {
    if (allowed && replayable_ && attempt_ < kMaxAttempts) {
      last_error_ = std::move(error);
      return Attempt();
    }
    Fail(std::move(error));
  }

  void ReleaseLink() {
    if (link_) TunnelHub::Release(*link_);
    link_.reset();
    handle_.reset();
  }

  void CancelStream() {
    if (link_ && handle_) link_->Cancel(handle_);
  }

  // The agent ended its side (the link saw END_STREAM before we did) and so did we: the link
  // has removed the stream or will once its parked body is out, and gives the connection credit
  // back then. Consumed() and Cancel() would be no-ops there, each a hop to the link's thread.
  bool StreamOver() const { return response_end_ && end_sent_; }

  // Request body, caller → agent.
  void OnOpened(uint32_t credit) {
    opened_ = true;
    credit_ += credit;
    PumpBody();
  }

  void OnWindow(uint32_t increment) {
    credit_ += increment;
    PumpBody();
  }

  void PumpBody() {
    // Also after the response started: an upstream may answer while the upload goes on.
    if (!has_body_ || !opened_ || finished_ || !handle_) return;
    while (credit_ > 0 && !pending_.empty()) {
      const size_t n = std::min<size_t>({credit_, protocol::kMaxDataChunk, pending_.size()});
      const bool last = n == pending_.size() && body_complete_;
      link_->SendData(handle_, pending_.substr(0, n), last);
      pending_.erase(0, n);
      credit_ -= n;
      if (last) end_sent_ = true;
      Progress();
      progress_since_arm_ += n;
      if (!got_head_ && progress_since_arm_ >= kProgressStep) {
        progress_since_arm_ = 0;
        ArmResponseTimer();
      }
    }
    if (pending_.empty() && body_complete_ && !end_sent_) {
      link_->SendData(handle_, std::string(), true);
      end_sent_ = true;
    }
    if (!reading_ && pending_.empty() && !body_complete_ && credit_ > 0) ReadBody();
  }

  void ReadBody() {
    reading_ = true;
    if (need_continue_) {
      // The caller waits for this before it sends its body (curl does, above 1 KiB).
      need_continue_ = false;
      static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      CallerIoStarted(read_since_);
      wrote_last_ = true;
      asio::async_write(stream_, asio::buffer(kContinue, sizeof kContinue - 1),
                        [self = this->shared_from_this()](beast::error_code ec, size_t) {
                          self->reading_ = false;
                          self->SetCallerDeadline();
                          if (self->finished_) return self->TryComplete();
                          if (ec) return self->Abort("write 100-continue: " + ec.message(), true);
                          self->PumpBody();
                        });
      return;
    }
    const size_t want = std::min<size_t>(credit_, protocol::kMaxDataChunk);
    chunk_.resize(want);
    parser_.get().body().data = chunk_.data();
    parser_.get().body().size = want;
    CallerIoStarted(read_since_);
    http::async_read_some(reads_, buffer_, parser_,
                          [self = this->shared_from_this(), want](beast::error_code ec, size_t) {
                            self->OnBodyRead(ec, want);
                          });
  }

  void OnBodyRead(beast::error_code ec, size_t want) {
    reading_ = false;
    SetCallerDeadline();
    wrote_last_ = false;
    if (ec == http::error::need_buffer) ec = {};
    if (finished_) return TryComplete();
    if (ec) return Abort("reading the request body: " + ec.message(), true);
    const size_t got = want - parser_.get().body().size;
    if (got > 0) Progress();
    parser_.get().body().data = nullptr;
    chunk_.resize(got);
    if (parser_.is_done()) body_complete_ = true;
    if (replayable_) {
      replay_ += chunk_;
      if (replay_.size() > kReplayLimit) {
        replayable_ = false;
        std::string().swap(replay_);
      }
    }
    pending_ += chunk_;
    PumpBody();
  }

  // Response, agent → caller.
  void OnResponseHead(protocol::ResponseHead head) {
    if (got_head_) return;
    if (head.status < 200) {
      CancelStream();
      return Fail(TunnelFailed("the upstream answered " + std::to_string(head.status) + ", which the tunnel does not carry"));
    }
    DropHopByHop(head.headers);
    for (const auto& [k, v] : head.headers) {
      if (!protocol::EqualsNoCase(k, "Content-Length")) continue;
      uint64_t n = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || p != v.data() + v.size() || content_length_) {
        CancelStream();
        return Fail(TunnelFailed("the upstream sent a bad Content-Length"));
      }
      content_length_ = n;
    }
    got_head_ = true;
    ArmIdleTimer();
    std::string out;
    out.reserve(256 + 64 * head.headers.size());
    out += version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    out += std::to_string(head.status);
    out += ' ';
    beast::string_view reason = http::obsolete_reason(static_cast<http::status>(head.status));
    out.append(reason.data(), reason.size());
    out += "\r\n";
    no_body_ = head_only_ || head.status == 204 || head.status == 304;
    for (const auto& [k, v] : head.headers) {
      AppendClean(out, k);
      out += ": ";
      AppendClean(out, v);
      out += "\r\n";
    }
    if (!no_body_ && !content_length_) {
      if (version_ >= 11) {
        chunked_ = true;
        out += "Transfer-Encoding: chunked\r\n";
      } else {
        keep_alive_ = false;  // the end of the body is the end of the connection
      }
    }
    out += "X-Okta-Request-Id: ";
    out += req_.request_id;
    out += "\r\n";
    if (!keep_alive_) out += "Connection: close\r\n";
    else if (version_ == 10) out += "Connection: keep-alive\r\n";
    out += "\r\n";
    Queue(std::move(out), 0);
    if (head.end_stream) EndResponse();
    Write();
  }

  void OnData(std::string bytes, bool end) {
    if (!got_head_) {
      CancelStream();
      return Fail(TunnelFailed("the agent sent body before a response head"));
    }
    // The link refuses DATA after the agent's END_STREAM; this is the backstop.
    if (response_end_) return;
    const size_t n = bytes.size();
    if (n > 0) Progress();
    if (content_length_ && !no_body_ && n > *content_length_ - body_written_) {
      // Bytes past the announced length would be read by the caller as a response of its own:
      // the response ends at its length, the stream is cancelled, the connection closes after.
      LogDebug("tunnel: " + req_.method + " " + req_.path + ": the agent sent more than the upstream's Content-Length");
      bytes.resize(*content_length_ - body_written_);
      keep_alive_ = false;
      CancelStream();
      handle_.reset();
      return OnData(std::move(bytes), true);
    }
    if (no_body_) {
      if (n > 0 && !end) link_->Consumed(handle_, n);
    } else if (n > 0) {
      body_written_ += n;
      if (chunked_) {
        char size[24];
        auto [p, ec] = std::to_chars(size, size + sizeof size - 2, n, 16);
        *p++ = '\r';
        *p++ = '\n';
        Queue(std::string(size, p), 0);
        Queue(std::move(bytes), n);
        Queue("\r\n", 0);
      } else {
        Queue(std::move(bytes), n);
      }
    }
    if (end) EndResponse();
    Write();
  }

  void EndResponse() {
    response_end_ = true;
    if (chunked_) Queue("0\r\n\r\n", 0);
    if (content_length_ && !no_body_ && body_written_ != *content_length_) keep_alive_ = false;
  }

  void Queue(std::string bytes, size_t payload) {
    queue_.push_back(std::move(bytes));
    payloads_ += payload;
  }

  // Response bytes from the link (head and DATA) are written once its delivery ends, so that
  // everything it brought goes in one gather write; other writes start from a posted handler,
  // for the same reason, at the cost of a pass through the scheduler.
  void Write() {
    if (write_posted_ || writing_ || finished_) return;
    if (in_delivery_) {
      write_due_ = true;
      return;
    }
    write_posted_ = true;
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
      self->write_posted_ = false;
      self->DoWrite();
    });
  }

  void OnDeliveryEnd() {
    in_delivery_ = false;
    if (std::exchange(write_due_, false) && !write_posted_) DoWrite();
  }

  void DoWrite() {
    if (writing_ || finished_) return;
    if (queue_.empty()) {
      if (response_end_) Complete();
      return;
    }
    writing_ = true;
    inflight_.swap(queue_);
    inflight_payload_ = payloads_;
    payloads_ = 0;
    buffers_.clear();
    size_t total = 0;
    for (const std::string& s : inflight_) {
      buffers_.emplace_back(s.data(), s.size());
      total += s.size();
    }
    wrote_last_ = true;
    if constexpr (std::is_same_v<Stream, TcpStream>) {
      // Written here if the socket has room (shared/net/send_now.h); the rest, if any, below.
      beast::error_code ec;
      const size_t sent = net::SendNow(stream_.socket().native_handle(), buffers_, ec);
      if (ec != asio::error::would_block) {
        if (ec || sent == total) return OnWrite(ec);
        net::ConsumeFront(buffers_, sent);
      }
    }
    CallerIoStarted(write_since_);
    asio::async_write(stream_, buffers_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      self->OnWrite(ec);
    });
  }

  void OnWrite(beast::error_code ec) {
    writing_ = false;
    SetCallerDeadline();
    inflight_.clear();
    const size_t consumed = inflight_payload_;
    inflight_payload_ = 0;
    Progress();
    if (finished_) return TryComplete();
    if (ec) {
      CancelStream();
      return Abort("writing the response: " + ec.message());
    }
    // Only now may the agent send that much more: a slow caller slows the agent.
    if (consumed > 0 && link_ && handle_ && !response_end_) link_->Consumed(handle_, consumed);
    // What arrived meanwhile is queued already: no need to wait for more (Write()'s post).
    if (!write_posted_) DoWrite();
  }

  void Complete() {
    // The response is whole. A request body still arriving means the connection cannot be
    // reused; the agent's side of the stream is cancelled.
    if (!body_complete_ || !end_sent_) {
      keep_alive_ = false;
      CancelStream();
    }
    Finish(std::nullopt);
  }

  void OnReset(ResetCode code, std::string reason) {
    handle_.reset();  // the link removed the stream
    // The whole response is here (maybe not yet written): the reset is about what came after it.
    if (response_end_) return;
    if (got_head_) return Abort("the agent reset the stream: " + reason);
    const std::string& up = head_->upstream;
    switch (code) {
      case ResetCode::kRefused:
        return RetryOr(TunnelFailed("the agent refused the request: " + reason), true);
      case ResetCode::kUpstreamUnreachable:
        return Fail(TunnelUpstreamUnreachable(up, reason));
      case ResetCode::kUnknownUpstream:
        return RetryOr(TunnelNoAgent(pool_id_, up), true);
      case ResetCode::kUpstreamTimeout:
        return Fail(TunnelTimeout(up, reason));
      default:
        return Fail(TunnelFailed(std::string(protocol::ToString(code)) + (reason.empty() ? "" : ": " + reason)));
    }
  }

  void OnLost(bool sent, std::string reason) {
    handle_.reset();
    if (got_head_) return Abort(reason);
    // Not sent: nothing reached the agent. Sent: only an idempotent request may go again, once.
    bool allowed = !sent;
    if (sent && idempotent_ && !retried_lost_) {
      retried_lost_ = true;
      allowed = true;
    }
    RetryOr(TunnelFailed(reason), allowed);
  }

  // Ends the exchange with an error answer, if nothing of the response went out yet.
  void Fail(Response error) {
    if (finished_) return;
    if (got_head_) return Abort(error.body);
    if (!body_complete_) keep_alive_ = false;  // the caller's body is still on the wire
    Finish(std::move(error));
  }

  // Ends the exchange and the connection: a truncated response is all the caller can get. Before
  // the response head nothing was written: the caller gets 502 (unless `caller_failed`: its own
  // connection broke, and there is no one to answer).
  void Abort(const std::string& why, bool caller_failed = false) {
    if (finished_) return;
    LogDebug("tunnel: " + req_.method + " " + req_.path + ": " + why);
    keep_alive_ = false;
    if (!got_head_ && !caller_failed) return Finish(TunnelFailed(why));
    Finish(std::nullopt);
  }

  void Progress() { last_progress_ = std::chrono::steady_clock::now(); }

  // After the response head: an agent (or upstream) that moves no byte either way for the
  // response timeout, while we are not waiting on the caller to take bytes, ends the exchange:
  // RESET kCancel, and the caller's response is cut short.
  void ArmIdleTimer() {
    Progress();
    settings_.deadlines.watch->Set(last_progress_ + hub_.options().response_timeout, *this);  // one clock read
  }

  void OnIdleTimer() {
    const auto timeout = hub_.options().response_timeout;
    const auto idle = std::chrono::steady_clock::now() - last_progress_;
    // Waiting on the caller (a write of response, a read of request body) is not the agent
    // stalling: those have their own deadline (io_timeout).
    const bool caller_paced = writing_ || write_posted_ || reading_;
    if (caller_paced || idle < timeout) {
      if (caller_paced) Progress();
      const auto wait = caller_paced ? timeout : timeout - std::chrono::duration_cast<std::chrono::milliseconds>(idle);
      settings_.deadlines.watch->SetAfter(wait, *this);
      return;
    }
    CancelStream();
    Abort("no response bytes for " + std::to_string(timeout.count() / 1000) + " s");
  }

  void Finish(std::optional<Response> error) {
    if (finished_) return;
    finished_ = true;
    error_ = std::move(error);
    settings_.deadlines.watch->Clear();
    timer_.cancel();  // a busy poll's
    if (!StreamOver()) CancelStream();
    ReleaseLink();
    if (reading_) {
      // The caller's body is still coming; the connection is not reusable.
      keep_alive_ = false;
      beast::get_lowest_layer(stream_).cancel();
    }
    TryComplete();
  }

  void TryComplete() {
    if (reading_ || writing_ || !done_) return;
    ExchangeDone done = std::move(done_);
    done_ = nullptr;
    if (has_body_) buffer_.shrink_to_fit();  // a keep-alive connection does not keep 64 KiB
    auto owner = std::move(owner_);
    done(std::move(error_), keep_alive_, wrote_last_);
  }

  Stream& stream_;
  // The request body's reads try the socket at once, as Asio's would: the head's read may have
  // drained it with a reset queued behind (shared/net/drained_read.h).
  net::MessageReads<Stream> reads_;
  bool wrote_last_ = false;  // a write to the caller started after the last read of it finished (ExchangeDone)
  beast::flat_buffer& buffer_;
  http::request_parser<http::buffer_body> parser_;
  Request req_;
  TunnelHub& hub_;
  const ExchangeSettings settings_;
  std::shared_ptr<void> owner_;
  ExchangeDone done_;
  asio::steady_timer timer_;  // between polls while every agent is busy

  std::shared_ptr<const protocol::RequestHead> head_;  // shared with the link: no copy per attempt
  std::string pool_id_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool head_only_ = false;
  bool idempotent_ = false;

  // Attempts.
  int attempt_ = 0;
  std::vector<const TunnelLink*> tried_;
  std::optional<Response> last_error_;
  bool retried_lost_ = false;
  std::chrono::milliseconds busy_waited_{0};
  std::chrono::milliseconds busy_poll_{kBusyPollFirst};
  size_t progress_since_arm_ = 0;  // request body handed over since the response timer was armed
  std::chrono::steady_clock::time_point last_progress_{};
  std::shared_ptr<AgentLinkBase> link_;  // with a stream reserved on it
  std::shared_ptr<LinkStream> handle_;
  bool opened_ = false;

  // Request body.
  bool has_body_ = false;
  bool body_complete_ = true;  // all of it read from the caller
  bool need_continue_ = false;
  bool reading_ = false;  // a read (or the 100 Continue write) is in flight
  net::LazyDeadline::Clock::time_point read_since_{};  // when it started
  bool end_sent_ = true;
  size_t credit_ = 0;
  std::string chunk_;
  std::string pending_;  // read, not yet sent to the current agent
  std::string replay_;   // read so far, while small enough to send again elsewhere
  bool replayable_ = true;

  // Response.
  bool got_head_ = false;
  bool no_body_ = false;
  bool chunked_ = false;
  bool response_end_ = false;
  std::optional<uint64_t> content_length_;
  uint64_t body_written_ = 0;
  // A small response is a head and a body or two: held inline, no allocation per exchange.
  boost::container::small_vector<std::string, 4> queue_;  // waiting to be written
  size_t payloads_ = 0;                                    // body bytes in queue_
  boost::container::small_vector<std::string, 4> inflight_;
  size_t inflight_payload_ = 0;
  boost::container::small_vector<asio::const_buffer, 4> buffers_;
  bool writing_ = false;
  net::LazyDeadline::Clock::time_point write_since_{};  // when the pending async write started
  bool write_posted_ = false;
  bool in_delivery_ = false;  // between the link's response calls and OnDeliveryEnd
  bool write_due_ = false;    // Write() during them: DoWrite at OnDeliveryEnd

  bool finished_ = false;
  std::optional<Response> error_;
};

}  // namespace

template <class Stream>
void StartTunnelExchange(Stream& stream, beast::flat_buffer& buffer, http::request_parser<http::string_body>& parser,
                         Request req, TunnelHub& hub, ExchangeSettings settings, std::shared_ptr<void> owner,
                         ExchangeDone done) {
  std::make_shared<TunnelExchange<Stream>>(stream, buffer, parser, std::move(req), hub, settings, std::move(owner),
                                           std::move(done))
      ->Start();
}

template void StartTunnelExchange<TcpStream>(TcpStream&, beast::flat_buffer&, http::request_parser<http::string_body>&,
                                             Request, TunnelHub&, ExchangeSettings, std::shared_ptr<void>, ExchangeDone);
template void StartTunnelExchange<TlsStream>(TlsStream&, beast::flat_buffer&, http::request_parser<http::string_body>&,
                                             Request, TunnelHub&, ExchangeSettings, std::shared_ptr<void>, ExchangeDone);

}  // namespace keyhole::coord
