#include "agent/tunnel/tunnel_session.h"

#include <algorithm>
#include <vector>

#include "agent/forward/http_head.h"
#include "shared/log/log.h"

namespace keyhole::agent {

using protocol::CloseCode;
using protocol::ResetCode;

namespace {

constexpr size_t kMinUsefulRoom = 16 << 10;  // less output room than this: wait rather than send slivers

protocol::Close ProtocolError(std::string why) { return protocol::Close{CloseCode::kProtocolError, std::move(why)}; }

// The path of a request target, for logs: query strings carry secrets.
std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

}  // namespace

TunnelSession::TunnelSession(TunnelSessionOptions options, UpstreamPool& pool, std::function<void()> wake)
    : options_(std::move(options)), pool_(pool), wake_(std::move(wake)), conn_recv_(options_.connection_window) {}

TunnelSession::~TunnelSession() { Abort(); }

void TunnelSession::Start() {
  protocol::Hello hello;
  hello.role = protocol::Role::kAgent;
  hello.stream_window = options_.stream_window;
  hello.connection_window = options_.connection_window;
  hello.max_streams = options_.max_streams;
  hello.software = options_.software;
  hello.upstreams = pool_.Names();
  if (hello.upstreams.size() > protocol::kMaxHelloUpstreams) {
    LogError("tunnel: the config names " + std::to_string(hello.upstreams.size()) + " upstreams; only the first " +
             std::to_string(protocol::kMaxHelloUpstreams) + " are announced to the coordinator");
    hello.upstreams.resize(protocol::kMaxHelloUpstreams);
  }
  Queue(hello);
}

void TunnelSession::Abort() {
  // Cancel() never calls back, so the map is stable while this runs.
  for (auto& [id, s] : streams_) {
    if (s.exchange) s.exchange->Cancel();
  }
  streams_.clear();
  blocked_.clear();
}

void TunnelSession::TakeOutput(std::string& message) {
  message.clear();
  // Whole frames, at most kMaxMessage bytes unless one frame alone is larger (a full DATA chunk
  // and its header; the coordinator reads messages of up to twice the largest frame).
  size_t cut = 0;
  while (cut + protocol::kFrameHeaderSize <= out_.size()) {
    const auto* h = reinterpret_cast<const unsigned char*>(out_.data() + cut);
    const size_t length = (size_t{h[6]} << 24) | (size_t{h[7]} << 16) | (size_t{h[8]} << 8) | h[9];
    const size_t end = cut + protocol::kFrameHeaderSize + length;
    if (cut > 0 && end > kMaxMessage) break;
    cut = end;
  }
  if (cut >= out_.size()) {
    message.swap(out_);
  } else {
    message.assign(out_, 0, cut);
    out_.erase(0, cut);
  }
  in_flight_ = message.size();
}

void TunnelSession::OutputWritten() {
  in_flight_ = 0;
  ResumeBlocked();
}

void TunnelSession::Queue(const protocol::Frame& frame) {
  const bool was_empty = out_.empty();
  protocol::Encode(frame, out_);
  if (!overloaded_ && backlog() > options_.output_limit + options_.backlog_limit) {
    overloaded_ = true;
    if (wake_) wake_();  // the transport sees overloaded() and drops the connection
  } else if (was_empty && wake_) {
    wake_();
  }
}

void TunnelSession::SendPing(uint64_t opaque) { Queue(protocol::Ping{opaque}); }

void TunnelSession::SendClose(CloseCode code, std::string reason) { Queue(protocol::Close{code, std::move(reason)}); }

std::optional<protocol::Close> TunnelSession::OnMessage(std::string_view message) {
  if (message.empty()) return ProtocolError("empty message");
  while (!message.empty()) {
    auto frame = protocol::DecodeFrame(message);
    if (!frame.ok()) return ProtocolError(frame.status().message());
    ++frames_received_;
    if (auto close = Handle(*frame)) return close;
    if (peer_close_) return std::nullopt;  // nothing after CLOSE counts
  }
  return std::nullopt;
}

std::optional<protocol::Close> TunnelSession::Handle(protocol::Frame& frame) {
  if (auto* hello = std::get_if<protocol::Hello>(&frame)) {
    if (hello_received_) return ProtocolError("a second HELLO");
    if (hello->version != protocol::kVersion) {
      return protocol::Close{CloseCode::kVersionUnsupported,
                             "this agent speaks version " + std::to_string(protocol::kVersion) + ", not " +
                                 std::to_string(hello->version)};
    }
    if (hello->role != protocol::Role::kCoordinator) return ProtocolError("HELLO from a peer that is no coordinator");
    hello_received_ = true;
    conn_send_ = protocol::SendWindow(hello->connection_window);
    peer_stream_window_ = hello->stream_window;
    return std::nullopt;
  }
  if (!hello_received_) return ProtocolError("a frame before HELLO");
  if (auto* head = std::get_if<protocol::RequestHead>(&frame)) return OnRequestHead(*head);
  if (auto* data = std::get_if<protocol::Data>(&frame)) return OnData(*data);
  if (auto* reset = std::get_if<protocol::Reset>(&frame)) {
    if (streams_.count(reset->stream)) {
      LogDebug("tunnel: stream " + std::to_string(reset->stream) + " reset by the coordinator (" +
               std::string(protocol::ToString(reset->code)) + ")");
      Remove(reset->stream);
    }
    return std::nullopt;
  }
  if (auto* update = std::get_if<protocol::WindowUpdate>(&frame)) {
    if (update->stream == 0) {
      if (Status s = conn_send_.Grow(update->increment); !s.ok()) return ProtocolError("connection window: " + s.message());
    } else if (auto it = streams_.find(update->stream); it != streams_.end()) {
      if (Status s = it->second.send.Grow(update->increment); !s.ok()) {
        Reset(update->stream, ResetCode::kFlowControlError, s.message());
        return std::nullopt;
      }
    }
    ResumeBlocked();
    return std::nullopt;
  }
  if (auto* ping = std::get_if<protocol::Ping>(&frame)) {
    // A coordinator that pings without reading would grow the queue without bound: while more
    // than a quarter of the backlog allowance waits beyond the DATA bound, PINGs go unanswered
    // (the coordinator's liveness rule counts any frame, and DATA is still flowing, or nothing is).
    if (backlog() <= options_.output_limit + options_.backlog_limit / 4) Queue(protocol::Pong{ping->opaque});
    return std::nullopt;
  }
  if (std::holds_alternative<protocol::Pong>(frame)) return std::nullopt;
  if (auto* close = std::get_if<protocol::Close>(&frame)) {
    peer_close_ = std::move(*close);
    return std::nullopt;
  }
  return ProtocolError("a RESPONSE_HEAD sent to the agent");
}

std::optional<protocol::Close> TunnelSession::OnRequestHead(protocol::RequestHead& head) {
  if (head.stream % 2 == 0 || head.stream <= last_stream_) {
    return ProtocolError("stream " + std::to_string(head.stream) + " opened out of order");
  }
  last_stream_ = head.stream;
  if (draining_) {
    Reset(head.stream, ResetCode::kRefused, "the agent is shutting down");
  } else if (streams_.size() >= options_.max_streams) {
    Reset(head.stream, ResetCode::kRefused, "the agent is at its limit of " + std::to_string(options_.max_streams) + " streams");
  } else if (!pool_.Has(head.upstream)) {
    const std::string name = QuoteForReason(head.upstream);
    // A coordinator (or a caller's typo in a loop) can send these at any rate: the 1st, 10th,
    // 100th, then every 1000th are logged, so the journal stays readable.
    ++unknown_refused_;
    const uint64_t n = unknown_refused_;
    if (n == 1 || n == 10 || n == 100 || n % 1000 == 0) {
      LogWarning("tunnel: refused a request for upstream \"" + name + "\", which this agent's config does not name" +
                 (unknown_refused_ == 1 ? std::string() : " (" + std::to_string(unknown_refused_) + " such refusals on this connection)"));
    }
    Reset(head.stream, ResetCode::kUnknownUpstream, "upstream " + name + " is not configured on this agent");
  } else {
    ++streams_served_;
    auto [it, inserted] = streams_.try_emplace(head.stream, options_.stream_window, peer_stream_window_);
    it->second.request_ended = head.end_stream;
    LogDebug("tunnel: stream " + std::to_string(head.stream) + ": " + QuoteForReason(head.method) + " " + head.upstream +
             " " + QuoteForReason(PathOf(head.target)));
    it->second.exchange = pool_.Start(head, *this);
  }
  // A refused request's body may still arrive; OnData returns its credit.
  return std::nullopt;
}

std::optional<protocol::Close> TunnelSession::OnData(protocol::Data& data) {
  const size_t n = data.bytes.size();
  if (Status s = conn_recv_.Receive(n); !s.ok()) return ProtocolError("connection window: " + s.message());
  auto it = streams_.find(data.stream);
  if (it == streams_.end()) {
    if (data.stream > last_stream_) return ProtocolError("DATA on stream " + std::to_string(data.stream) + ", never opened");
    CreditConnection(n);  // a stream already reset or refused: drop the bytes, return the credit
    return std::nullopt;
  }
  Stream& s = it->second;
  if (s.request_ended) {
    CreditConnection(n);
    Reset(data.stream, ResetCode::kProtocolError, "DATA after END_STREAM");
    return std::nullopt;
  }
  if (Status st = s.recv.Receive(n); !st.ok()) {
    CreditConnection(n);
    Reset(data.stream, ResetCode::kFlowControlError, st.message());
    return std::nullopt;
  }
  s.request_ended = data.end_stream;
  s.exchange->WriteBody(std::move(data.bytes), data.end_stream);
  RemoveIfDone(data.stream);
  return std::nullopt;
}

void TunnelSession::CreditConnection(size_t n) {
  if (uint32_t inc = conn_recv_.Consumed(n)) Queue(protocol::WindowUpdate{0, inc});
}

void TunnelSession::Reset(uint32_t stream, ResetCode code, std::string reason) {
  Queue(protocol::Reset{stream, code, std::move(reason)});
  if (streams_.count(stream)) Remove(stream);
}

void TunnelSession::Remove(uint32_t stream) {
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  const size_t unconsumed = it->second.recv.buffered();
  if (size_t r = it->second.reserved) {  // the read in progress will never be sent
    reserved_ -= r;
    (void)conn_send_.Grow(static_cast<uint32_t>(r));
  }
  std::shared_ptr<UpstreamExchange> exchange = std::move(it->second.exchange);
  streams_.erase(it);
  blocked_.erase(stream);
  if (exchange) exchange->Cancel();
  if (unconsumed > 0) CreditConnection(unconsumed);
}

void TunnelSession::RemoveIfDone(uint32_t stream) {
  auto it = streams_.find(stream);
  if (it != streams_.end() && it->second.request_ended && it->second.response_ended) Remove(stream);
}

size_t TunnelSession::Credit(const Stream& s) const {
  const size_t queued = out_.size() + in_flight_ + reserved_;
  size_t room = queued < options_.output_limit ? options_.output_limit - queued : 0;
  if (room < kMinUsefulRoom) room = 0;
  return std::min({s.send.available(), conn_send_.available(), room});
}

void TunnelSession::ResumeBlocked() {
  if (blocked_.empty()) return;
  std::vector<uint32_t> ready;
  for (uint32_t id : blocked_) {
    auto it = streams_.find(id);
    if (it != streams_.end() && Credit(it->second) > 0) ready.push_back(id);
  }
  for (uint32_t id : ready) {
    blocked_.erase(id);
    streams_.at(id).exchange->Resume();  // posts; never calls back from here
  }
}

// --- ExchangeSink ---

void TunnelSession::OnResponseHead(uint32_t stream, uint16_t status, protocol::HeaderFields headers, bool end_stream) {
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  // Built from the upstream's bytes: anything Encode would abort on, or the coordinator's decoder
  // refuse (too many or too large fields, a bad name or value, a status out of range), resets the
  // stream instead.
  protocol::Frame head = protocol::ResponseHead{stream, end_stream, status, std::move(headers)};
  if (Status valid = protocol::Validate(head); !valid.ok()) {
    LogInfo("tunnel: stream " + std::to_string(stream) + ": the upstream's response head cannot be relayed: " +
            QuoteForReason(valid.message(), 200));
    Reset(stream, ResetCode::kUpstreamError, "the upstream's response head is invalid or too large");
    return;
  }
  Queue(head);
  it->second.response_ended = end_stream;
  RemoveIfDone(stream);
}

size_t TunnelSession::SendCredit(uint32_t stream) {
  auto it = streams_.find(stream);
  if (it == streams_.end()) return 0;
  Stream& s = it->second;
  Unreserve(s);
  const size_t credit = std::min(Credit(s), protocol::kMaxDataChunk);
  if (credit == 0) {
    blocked_.insert(stream);
    return 0;
  }
  // Taken from both windows now, so reads in progress on several streams never add up to more
  // than the coordinator allowed; OnResponseData gives back what the read did not fill.
  s.send.Consume(credit);
  conn_send_.Consume(credit);
  s.reserved = credit;
  reserved_ += credit;
  return credit;
}

void TunnelSession::Unreserve(Stream& s) {
  if (s.reserved == 0) return;
  (void)s.send.Grow(static_cast<uint32_t>(s.reserved));
  (void)conn_send_.Grow(static_cast<uint32_t>(s.reserved));
  reserved_ -= s.reserved;
  s.reserved = 0;
}

void TunnelSession::OnResponseData(uint32_t stream, std::string_view bytes, bool end_stream) {
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  Unreserve(it->second);
  it->second.send.Consume(bytes.size());
  conn_send_.Consume(bytes.size());
  const bool was_empty = out_.empty();
  protocol::AppendDataHeader(stream, bytes.size(), end_stream, out_);
  out_.append(bytes);
  if (was_empty && wake_) wake_();
  it->second.response_ended = end_stream;
  RemoveIfDone(stream);
}

void TunnelSession::OnRequestBodyConsumed(uint32_t stream, size_t n) {
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;  // Remove() returned its credit already
  CreditConnection(n);
  const uint32_t inc = it->second.recv.Consumed(n);
  if (inc && !it->second.request_ended) Queue(protocol::WindowUpdate{stream, inc});
}

void TunnelSession::OnExchangeFailed(uint32_t stream, ResetCode code, std::string reason) {
  if (!streams_.count(stream)) return;
  LogInfo("tunnel: stream " + std::to_string(stream) + " failed (" + std::string(protocol::ToString(code)) + "): " + reason);
  Reset(stream, code, std::move(reason));
}

}  // namespace keyhole::agent
