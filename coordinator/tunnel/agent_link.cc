// AgentLink<Stream>: the Beast WebSocket session of one agent's tunnel (agent_link.h). Lives on
// the worker thread that accepted it; every public entry point queues its work for that thread,
// so the session's state needs no lock. Writes go through a bounded queue of WebSocket messages,
// and frames queued while a write is in flight are batched into the next message.
//
// Per request the tunnel hops threads twice (caller's worker → link's worker → caller's), and
// each hop is batched: the exchanges' calls queue on the link and one posted handler runs all
// that piled up; the events for the exchanges (opened, head, data, reset…) of one read or one
// such run queue per stream and go out as one posted handler per destination thread. The frames
// a batch produces leave in one WebSocket message (one write), not one write per frame.
#include "coordinator/tunnel/agent_link.h"

#include <boost/asio/execution/context_as.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <algorithm>
#include <deque>
#include <functional>
#include <mutex>
#include <unordered_map>

#include "coordinator/tunnel/tunnel_endpoints.h"
#include "shared/log/log.h"
#include "shared/protocol/flow_window.h"
#include "shared/net/lazy_deadline.h"
#include "shared/protocol/lanes.h"

#ifndef KEYHOLE_VERSION
#define KEYHOLE_VERSION "dev"
#endif

namespace keyhole::coord {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using protocol::CloseCode;
using protocol::ResetCode;

// What a link delivers to a stream's sink, run on the sink's executor.
using SinkCall = std::function<void(StreamSink&)>;

// Link-thread state of one stream, but for `sink` and `sink_executor` (set at creation) and
// the inbox (shared with the sink's thread under inbox_mu).
struct LinkStream : std::enable_shared_from_this<LinkStream> {
  std::shared_ptr<StreamSink> sink;
  asio::any_io_executor sink_executor;
  uint32_t id = 0;          // 0 until opened
  bool gone = false;        // removed from the link (ended, reset, cancelled or lost)
  bool local_end = false;   // END_STREAM sent
  bool remote_end = false;  // END_STREAM received
  bool head_seen = false;   // RESPONSE_HEAD received
  protocol::SendWindow send{0};
  protocol::ReceiveWindow recv{0};
  std::string parked;       // request body waiting for connection credit
  bool parked_end = false;
  // The agent's stream credit (send) is passed on to the exchange only within the link's body
  // budget: `held` is credit not passed on yet, `granted` passed on and not used yet.
  uint64_t held = 0;
  uint64_t granted = 0;
  bool awaiting_credit = false;  // in the link's credit_waiters_

  // Events on their way to the sink, in order. Response bytes that arrive while a delivery of
  // data is still queued join it, so a burst of DATA frames costs one call, not one each.
  std::mutex inbox_mu;
  std::vector<SinkCall> calls;  // GUARDED_BY(inbox_mu)
  std::string data;             // GUARDED_BY(inbox_mu)
  bool data_end = false;        // GUARDED_BY(inbox_mu)
  bool data_queued = false;     // GUARDED_BY(inbox_mu): a call in `calls` takes `data`
  bool inbox_posted = false;    // GUARDED_BY(inbox_mu): a drain is pending (or scheduled)
};

namespace {

// On the sink's executor: runs what the link queued for `s` so far.
void DrainInbox(LinkStream& s) {
  std::vector<SinkCall> calls;
  {
    std::lock_guard lock(s.inbox_mu);
    calls.swap(s.calls);
    s.inbox_posted = false;
  }
  for (SinkCall& call : calls) call(*s.sink);
  s.sink->OnDeliveryEnd();
}

}  // namespace

namespace {

constexpr size_t kBatchLimit = 512 << 10;  // one WebSocket message holds at most this much
// Windows we honour whatever the agent's HELLO announces (and however it grows them): what we may
// have sent and the agent not yet consumed.
constexpr uint32_t kMaxStreamWindow = 1 << 20;
constexpr uint32_t kMaxConnectionWindow = 16 << 20;
// Request body held by the link (parked for connection credit, or credit handed to exchanges not
// used yet): past it the exchanges get no more credit, so they stop reading from their callers.
constexpr size_t kBodyBudget = 16 << 20;
// The write queue: DATA is bounded by the connection window we honour (an agent that grants more
// without reading is closed); everything else (heads, PONG, WINDOW_UPDATE, RESET) by this.
constexpr size_t kDataQueueLimit = kMaxConnectionWindow;
constexpr size_t kControlQueueLimit = 2 << 20;
constexpr size_t kPongDropAt = 64 << 10;  // control bytes queued: PINGs go unanswered beyond
// A write that does not complete in this long, and a closing connection not gone in this long,
// end with the socket closed.
constexpr std::chrono::seconds kWriteTimeout{30};
constexpr std::chrono::seconds kCloseDeadline{5};
constexpr size_t kIdleReadBuffer = 2 << 10;
constexpr size_t kBusyReadBuffer = 2 * protocol::kMaxPayload;

bool IsHarmless(const beast::error_code& ec) {
  return ec == asio::error::operation_aborted || ec == websocket::error::closed || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::ssl::error::stream_truncated ||
         ec == beast::error::timeout || ec == asio::error::broken_pipe;
}

int64_t MonoMillis(const Clock& clock) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock.Monotonic().time_since_epoch()).count();
}

template <class Stream>
class AgentLink final : public AgentLinkBase,
                        public net::LazyDeadline::Target,
                        public std::enable_shared_from_this<AgentLink<Stream>> {
 public:
  AgentLink(Stream stream, TunnelHub& hub)
      : ws_(std::move(stream)), hub_(hub), options_(hub.options()), silence_(ws_.get_executor()),
        conn_recv_(options_.connection_window) {
    home = &asio::query(ws_.get_executor(), asio::execution::context_as<asio::execution_context&>);
  }

  void Start(http::request<http::string_body> upgrade, LinkLane lane) {
    // The WebSocket layer's own timeouts replace the TCP stream's.
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::seconds(10);
    // No idle timeout of Beast's: it re-arms a timer at every read (an insert, a cancel and a
    // handler run per batch). Our own idle rule (the hub's sweep, with a CLOSE frame) comes first;
    // the backstop is `silence_`, below.
    timeouts.idle_timeout = websocket::stream_base::none();
    timeouts.keep_alive_pings = false;
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator([lane](websocket::response_type& res) {
      res.set(http::field::server, "Keyhole");
      res.set(http::field::sec_websocket_protocol, protocol::kWebSocketSubprotocol);
      res.set(protocol::kLaneHeader, std::to_string(lane.index) + "/" + std::to_string(lane.count));
    }));
    ws_.binary(true);
    ws_.auto_fragment(false);
    // Only masking, compression and fragmenting use Beast's write buffer; we do none of them.
    ws_.write_buffer_bytes(512);
    // A message holds whole frames, the largest kMaxPayload; room for a batch of small ones too.
    ws_.read_message_max(2 * (protocol::kMaxPayload + protocol::kFrameHeaderSize));
    last_frame_ms.store(MonoMillis(hub_.clock()));
    upgrade_ = std::make_unique<http::request<http::string_body>>(std::move(upgrade));
    ws_.async_accept(*upgrade_, beast::bind_front_handler(&AgentLink::OnAccept, this->shared_from_this()));
  }

  // AgentLinkBase, from any thread.
  std::shared_ptr<LinkStream> Open(std::shared_ptr<StreamSink> sink, asio::any_io_executor sink_executor,
                                   std::shared_ptr<const protocol::RequestHead> head) override {
    auto s = std::make_shared<LinkStream>();
    s->sink = std::move(sink);
    s->sink_executor = std::move(sink_executor);
    Run([this, s, head = std::move(head)]() mutable { DoOpen(s, std::move(head)); });
    return s;
  }
  void SendData(const std::shared_ptr<LinkStream>& s, std::string bytes, bool end_stream) override {
    Run([this, s, bytes = std::move(bytes), end_stream]() mutable { DoSendData(s, std::move(bytes), end_stream); });
  }
  void Consumed(const std::shared_ptr<LinkStream>& s, size_t n) override {
    Run([this, s, n] { DoConsumed(s, n); });
  }
  void Cancel(const std::shared_ptr<LinkStream>& s) override {
    Run([this, s] { DoCancel(s); });
  }
  // TunnelLink, from any thread.
  void Close(CloseCode code, std::string reason) override {
    Run([this, code, reason = std::move(reason)]() mutable { DoClose(code, std::move(reason)); });
  }
  void Drain(CloseCode code, std::string reason) override {
    Run([this, code, reason = std::move(reason)]() mutable { DoDrain(code, std::move(reason)); });
  }

 private:
  // Queues `op` for the link's thread. Ops that pile up while one run is pending go with it: a
  // burst of requests from another worker costs that worker one hand-off, not one per call.
  template <class F>
  void Run(F&& op) {
    {
      std::lock_guard lock(ops_mu_);
      ops_.emplace_back(std::forward<F>(op));
      if (ops_posted_) return;
      ops_posted_ = true;
    }
    asio::post(ws_.get_executor(), [self = this->shared_from_this()] { self->RunOps(); });
  }

  void RunOps() {
    {
      std::lock_guard lock(ops_mu_);
      running_.swap(ops_);
      ops_posted_ = false;
    }
    BeginBatch();
    for (auto& op : running_) op();
    running_.clear();
    EndBatch();
  }

  // Inside a batch, deliveries to the sinks and writes to the agent wait for its end.
  void BeginBatch() { ++batch_; }
  void EndBatch() {
    if (--batch_ > 0) return;
    if (!credit_waiters_.empty() && parked_total_ + granted_total_ < kBodyBudget) RegrantWaiting();
    FlushDeliveries();
    Flush();
  }
  void OnAccept(beast::error_code ec) {
    upgrade_.reset();
    if (ec) return Fail(ec, "websocket accept");
    accepted_ = true;
    // The agent speaks first; a connection that never says HELLO does not hold a slot for long.
    timer_.emplace(ws_.get_executor());
    timer_->expires_after(options_.hello_timeout);
    timer_->async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (!ec && !self->hello_done_) self->DoClose(CloseCode::kProtocolError, "no HELLO in time");
    });
    DoRead();
  }

  void DoRead() {
    silence_.SetAfter(options_.ping_timeout * 2, *this);
    ws_.async_read(rd_, beast::bind_front_handler(&AgentLink::OnRead, this->shared_from_this()));
  }

  // Nothing at all from the agent for twice the ping timeout, the hub's sweep notwithstanding.
  void OnDeadline() override {
    auto self = this->shared_from_this();
    if (torn_down_) return;
    LogWarning("tunnel: agent " + agent_id + " silent; closing its connection");
    TearDown("the agent's connection fell silent");
  }

  void OnRead(beast::error_code ec, size_t) {
    if (ec) return Lost(ec, "read");
    last_frame_ms.store(MonoMillis(hub_.clock()), std::memory_order_relaxed);
    BeginBatch();
    if (!closing_) {
      const auto data = rd_.cdata();
      std::string_view message(static_cast<const char*>(data.data()), data.size());
      while (!message.empty() && !closing_) {
        auto frame = protocol::DecodeFrame(message);
        if (!frame.ok()) {
          DoClose(CloseCode::kProtocolError, frame.status().message());
          break;
        }
        OnFrame(std::move(frame).value());
      }
    }
    EndBatch();
    rd_.consume(rd_.size());
    // An idle link keeps no read buffer to speak of (10,000 of them); a busy one keeps its own.
    if (rd_.capacity() > (streams_.empty() ? kIdleReadBuffer : kBusyReadBuffer)) rd_.shrink_to_fit();
    if (!closed_) DoRead();
  }

  void OnFrame(protocol::Frame frame) {
    if (!hello_done_ && !std::holds_alternative<protocol::Hello>(frame)) {
      return DoClose(CloseCode::kProtocolError, "a frame before HELLO");
    }
    std::visit([this](auto& f) { On(f); }, frame);
  }

  void On(protocol::Hello& h) {
    if (hello_done_) return DoClose(CloseCode::kProtocolError, "a second HELLO");
    if (h.version != protocol::kVersion) {
      return DoClose(CloseCode::kVersionUnsupported, "this coordinator speaks version " + std::to_string(protocol::kVersion));
    }
    if (h.role != protocol::Role::kAgent) return DoClose(CloseCode::kProtocolError, "HELLO from a non-agent");
    hello_done_ = true;
    if (timer_) timer_->cancel();
    peer_stream_window_ = std::min(h.stream_window, kMaxStreamWindow);
    conn_send_ = protocol::SendWindow(std::min(h.connection_window, kMaxConnectionWindow));
    max_streams = std::max<uint32_t>(1, std::min(h.max_streams, options_.max_streams_per_agent));
    upstreams = std::move(h.upstreams);
    protocol::Hello mine;
    mine.role = protocol::Role::kCoordinator;
    mine.stream_window = options_.stream_window;
    mine.connection_window = options_.connection_window;
    mine.max_streams = 0;  // the agent opens no streams
    mine.software = std::string("keyhole-coordinator/") + KEYHOLE_VERSION;
    Enqueue(mine);
    std::string names;
    for (const auto& u : upstreams) names += (names.empty() ? "" : ",") + u;
    LogInfo("tunnel: agent " + agent_id + " connected (" + h.software + "; upstreams " + names + ")");
    hub_.Add(this->shared_from_this());
  }

  void On(protocol::RequestHead&) { DoClose(CloseCode::kProtocolError, "REQUEST_HEAD from the agent"); }

  void On(protocol::ResponseHead& h) {
    const uint32_t id = h.stream;
    const bool end = h.end_stream;
    LinkStream* s = Find(id);
    if (!s) return;  // a stream we already reset
    if (s->head_seen) return StreamError(*s, "a second RESPONSE_HEAD");
    s->head_seen = true;
    Deliver(*s, [head = std::move(h)](StreamSink& sink) mutable { sink.OnResponseHead(std::move(head)); });
    if (end) RemoteEnd(id);
  }

  void On(protocol::Data& d) {
    const size_t n = d.bytes.size();
    if (!conn_recv_.Receive(n).ok()) return DoClose(CloseCode::kProtocolError, "connection flow-control window exceeded");
    auto it = streams_.find(d.stream);
    if (it == streams_.end()) {
      // Late data of a stream we reset: give its credit back at once.
      ConnectionConsumed(n);
      return;
    }
    LinkStream& s = *it->second;
    if (s.remote_end || !s.head_seen) {
      ConnectionConsumed(n);
      return StreamError(s, s.remote_end ? "DATA after END_STREAM" : "DATA before RESPONSE_HEAD");
    }
    if (!s.recv.Receive(n).ok()) {
      ConnectionConsumed(n);
      Deliver(s, [](StreamSink& sink) { sink.OnReset(ResetCode::kFlowControlError, "agent exceeded the stream window"); });
      Enqueue(protocol::Reset{d.stream, ResetCode::kFlowControlError, "stream window exceeded"});
      return Remove(d.stream);
    }
    const bool end = d.end_stream;
    DeliverData(it->second, std::move(d.bytes), end);
    if (end) RemoteEnd(d.stream);
  }

  void On(protocol::Reset& r) {
    LinkStream* s = Find(r.stream);
    if (!s) return;
    Deliver(*s, [code = r.code, reason = std::move(r.reason)](StreamSink& sink) mutable {
      sink.OnReset(code, std::move(reason));
    });
    Remove(r.stream);
  }

  // The part of `increment` that keeps `window` within `cap` (what we honour); nullopt when it
  // would overflow kMaxWindow (a flow-control error).
  static std::optional<uint32_t> Honoured(const protocol::SendWindow& window, uint32_t increment, uint32_t cap) {
    const uint64_t available = window.available();
    if (available + increment > protocol::kMaxWindow) return std::nullopt;
    return static_cast<uint32_t>(std::min<uint64_t>(increment, available >= cap ? 0 : cap - available));
  }

  void On(protocol::WindowUpdate& w) {
    if (w.stream == 0) {
      std::optional<uint32_t> inc = Honoured(conn_send_, w.increment, kMaxConnectionWindow);
      if (!inc) return DoClose(CloseCode::kProtocolError, "connection window overflow");
      if (*inc > 0) (void)conn_send_.Grow(*inc);
      return FlushParked();
    }
    LinkStream* s = Find(w.stream);
    if (!s) return;
    std::optional<uint32_t> inc = Honoured(s->send, w.increment, kMaxStreamWindow);
    if (!inc) {
      Deliver(*s, [](StreamSink& sink) { sink.OnReset(ResetCode::kFlowControlError, "agent overflowed the window"); });
      Enqueue(protocol::Reset{w.stream, ResetCode::kFlowControlError, "window overflow"});
      return Remove(w.stream);
    }
    if (*inc == 0 || s->local_end) return;
    (void)s->send.Grow(*inc);
    s->held += *inc;
    if (uint64_t n = TakeCredit(*s); n > 0) Deliver(*s, [n](StreamSink& sink) { sink.OnWindow(static_cast<uint32_t>(n)); });
  }

  // Passes on as much of `s`'s held credit as the body budget allows; the rest waits in
  // credit_waiters_ for RegrantWaiting().
  uint64_t TakeCredit(LinkStream& s) {
    const size_t used = parked_total_ + granted_total_;
    const uint64_t n = std::min<uint64_t>(s.held, used >= kBodyBudget ? 0 : kBodyBudget - used);
    s.held -= n;
    s.granted += n;
    granted_total_ += n;
    if (s.held > 0 && !s.awaiting_credit) {
      s.awaiting_credit = true;
      credit_waiters_.push_back(s.id);
    }
    return n;
  }

  void RegrantWaiting() {
    std::vector<uint32_t> waiters;
    waiters.swap(credit_waiters_);
    for (uint32_t id : waiters) {
      LinkStream* s = Find(id);
      if (!s) continue;
      s->awaiting_credit = false;
      if (s->local_end) continue;
      if (uint64_t n = TakeCredit(*s); n > 0) Deliver(*s, [n](StreamSink& sink) { sink.OnWindow(static_cast<uint32_t>(n)); });
    }
  }

  // A stream-level violation by the agent: RESET kProtocolError, the exchange hears of it.
  void StreamError(LinkStream& s, const std::string& what) {
    const uint32_t id = s.id;
    Deliver(s, [what](StreamSink& sink) { sink.OnReset(ResetCode::kProtocolError, "the agent sent " + what); });
    Enqueue(protocol::Reset{id, ResetCode::kProtocolError, what});
    Remove(id);
  }

  void On(protocol::Ping& p) {
    // An agent that pings without reading our answers gets none once they pile up.
    if (out_bytes_ - data_bytes_ > kPongDropAt) return;
    Enqueue(protocol::Pong{p.opaque});
  }
  void On(protocol::Pong&) {}

  void On(protocol::Close& c) {
    LogInfo("tunnel: agent " + agent_id + " closes: " + std::string(protocol::ToString(c.code)) +
            (c.reason.empty() ? "" : " (" + c.reason + ")"));
    peer_closed_ = true;
    // Its CLOSE is its last frame; ours answers it, then the WebSocket closes.
    DoClose(CloseCode::kNormal, "agent closed: " + c.reason);
  }

  // Exchange-facing operations, on the link's thread.
  void DoOpen(const std::shared_ptr<LinkStream>& s, std::shared_ptr<const protocol::RequestHead> head) {
    if (closing_ || draining_ || !hello_done_ || streams_.size() >= max_streams) {
      s->gone = true;
      return Deliver(*s, [](StreamSink& sink) { sink.OnLost(false, "the agent's connection takes no new streams"); });
    }
    s->id = next_stream_;
    next_stream_ += 2;
    s->send = protocol::SendWindow(peer_stream_window_);
    s->recv = protocol::ReceiveWindow(options_.stream_window);
    s->local_end = head->end_stream;
    streams_.emplace(s->id, s);
    const bool body = !head->end_stream;
    EnqueueWith([&](std::string& out) { protocol::Encode(*head, s->id, out); });
    // A request without body waits for nothing: no call (and no thread hop) for it.
    if (body) {
      s->held = peer_stream_window_;
      const uint64_t credit = TakeCredit(*s);
      Deliver(*s, [credit](StreamSink& sink) { sink.OnOpened(static_cast<uint32_t>(credit)); });
    }
  }

  void DoSendData(const std::shared_ptr<LinkStream>& s, std::string bytes, bool end) {
    if (s->gone || s->id == 0 || s->local_end) return;
    const size_t n = std::min<uint64_t>(bytes.size(), std::min<uint64_t>(s->granted, s->send.available()));
    if (n < bytes.size()) LogError("tunnel: an exchange sent past its credit; bytes dropped");
    bytes.resize(n);
    s->send.Consume(n);
    s->granted -= n;
    granted_total_ -= n;
    parked_total_ += n;
    s->local_end = end;
    s->parked += bytes;
    s->parked_end = end;
    SendParked(*s);
    if (end && s->remote_end && s->parked.empty()) Remove(s->id);
  }

  // Sends as much of a stream's parked body as the connection window allows.
  void SendParked(LinkStream& s) {
    while ((!s.parked.empty() || s.parked_end) && !closed_) {
      const size_t n = std::min({s.parked.size(), conn_send_.available(), protocol::kMaxDataChunk});
      if (n == 0 && !s.parked.empty()) {
        if (std::find(waiting_.begin(), waiting_.end(), s.id) == waiting_.end()) waiting_.push_back(s.id);
        return;
      }
      const bool end = s.parked_end && n == s.parked.size();
      conn_send_.Consume(n);
      std::string& out = Batch(protocol::kFrameHeaderSize + n, true);
      protocol::AppendDataHeader(s.id, n, end, out);
      out.append(s.parked, 0, n);
      s.parked.erase(0, n);
      parked_total_ -= n;
      if (end) s.parked_end = false;
      Flush();
      if (end) break;
    }
  }

  void FlushParked() {
    std::vector<uint32_t> waiting;
    waiting.swap(waiting_);
    for (uint32_t id : waiting) {
      if (LinkStream* s = Find(id)) {
        SendParked(*s);
        if (s->local_end && s->remote_end && s->parked.empty()) Remove(id);
      }
    }
  }

  void DoConsumed(const std::shared_ptr<LinkStream>& s, size_t n) {
    if (s->gone || s->id == 0) return;  // its credit went back when it was removed
    if (uint32_t inc = s->recv.Consumed(n); inc > 0 && !s->remote_end) Enqueue(protocol::WindowUpdate{s->id, inc});
    ConnectionConsumed(n);
  }

  void ConnectionConsumed(size_t n) {
    if (uint32_t inc = conn_recv_.Consumed(n); inc > 0) Enqueue(protocol::WindowUpdate{0, inc});
  }

  void DoCancel(const std::shared_ptr<LinkStream>& s) {
    if (s->gone || s->id == 0) return;
    if (!(s->local_end && s->remote_end)) Enqueue(protocol::Reset{s->id, ResetCode::kCancel, "caller went away"});
    Remove(s->id);
  }

  LinkStream* Find(uint32_t id) {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second.get();
  }

  void RemoteEnd(uint32_t id) {
    LinkStream* s = Find(id);
    if (!s) return;
    s->remote_end = true;
    if (s->local_end && s->parked.empty()) Remove(id);
  }

  void Remove(uint32_t id) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    LinkStream& s = *it->second;
    s.gone = true;
    granted_total_ -= s.granted;
    parked_total_ -= s.parked.size();
    s.granted = s.held = 0;
    std::string().swap(s.parked);
    s.parked_end = false;
    // What the exchange has not written onward yet no longer counts against the connection.
    if (size_t buffered = s.recv.buffered(); buffered > 0) ConnectionConsumed(buffered);
    streams_.erase(it);
    if (draining_ && streams_.empty()) DoClose(drain_code_, drain_reason_);
  }

  void DeliverData(const std::shared_ptr<LinkStream>& s, std::string bytes, bool end) {
    bool schedule = false;
    {
      std::lock_guard lock(s->inbox_mu);
      if (s->data.empty()) s->data = std::move(bytes);
      else s->data += bytes;
      s->data_end = s->data_end || end;
      if (!s->data_queued) {
        s->data_queued = true;
        // The drain that runs this holds `s`.
        s->calls.emplace_back([st = s.get()](StreamSink& sink) {
          std::string out;
          bool out_end;
          {
            std::lock_guard lock(st->inbox_mu);
            out.swap(st->data);
            out_end = st->data_end;
            st->data_end = false;
            st->data_queued = false;
          }
          sink.OnData(std::move(out), out_end);
        });
      }
      schedule = !s->inbox_posted;
      s->inbox_posted = true;
    }
    if (schedule) Schedule(s);
  }

  template <class F>
  void Deliver(LinkStream& s, F&& f) {
    bool schedule = false;
    {
      std::lock_guard lock(s.inbox_mu);
      s.calls.emplace_back(std::forward<F>(f));
      schedule = !s.inbox_posted;
      s.inbox_posted = true;
    }
    if (schedule) Schedule(s.shared_from_this());
  }

  // `s` has calls waiting and no drain pending: one goes out at the end of the batch (now, if
  // outside one).
  void Schedule(std::shared_ptr<LinkStream> s) {
    deliveries_.push_back(std::move(s));
    if (batch_ == 0) FlushDeliveries();
  }

  // One posted handler per destination executor drains the inboxes of all its streams.
  void FlushDeliveries() {
    while (!deliveries_.empty()) {
      const asio::any_io_executor ex = deliveries_.front()->sink_executor;
      auto split = std::stable_partition(deliveries_.begin(), deliveries_.end(),
                                         [&ex](const std::shared_ptr<LinkStream>& s) { return s->sink_executor == ex; });
      std::vector<std::shared_ptr<LinkStream>> group(std::make_move_iterator(deliveries_.begin()),
                                                     std::make_move_iterator(split));
      deliveries_.erase(deliveries_.begin(), split);
      asio::post(ex, [group = std::move(group)] {
        for (const auto& s : group) DrainInbox(*s);
      });
    }
  }

  // The message frames are appended to: the last queued one unless it is being written or full.
  std::string& Batch(size_t adding, bool data = false) {
    const size_t writing = writing_ ? 1 : 0;
    if (out_.size() <= writing || out_.back().size() + adding > kBatchLimit) {
      out_.emplace_back();
      out_data_.push_back(0);
    }
    out_bytes_ += adding;
    if (data) {
      out_data_.back() += adding;
      data_bytes_ += adding;
    }
    return out_.back();
  }

  void Enqueue(const protocol::Frame& frame) {
    EnqueueWith([&frame](std::string& out) { protocol::Encode(frame, out); });
  }
  // `encode(out)` appends one whole frame to the open batch.
  template <class EncodeFn>
  void EnqueueWith(EncodeFn&& encode) {
    if (closed_) return;
    std::string& out = Batch(0);
    const size_t before = out.size();
    encode(out);
    out_bytes_ += out.size() - before;
    Flush();
  }

  void Flush() {
    if (data_bytes_ > kDataQueueLimit || out_bytes_ - data_bytes_ > kControlQueueLimit) {
      if (!closed_) LogWarning("tunnel: agent " + agent_id + " does not read; closing its connection");
      return Abort();
    }
    if (batch_ > 0 || writing_ || out_.empty() || closed_) return;
    writing_ = true;
    write_started_ = std::chrono::steady_clock::now();
    if (!guard_armed_) ArmGuard(kWriteTimeout);
    ws_.async_write(asio::buffer(out_.front()), beast::bind_front_handler(&AgentLink::OnWrite, this->shared_from_this()));
  }

  void OnWrite(beast::error_code ec, size_t) {
    writing_ = false;
    out_bytes_ -= out_.front().size();
    data_bytes_ -= out_data_.front();
    out_.pop_front();
    out_data_.pop_front();
    if (ec) return Lost(ec, "write");
    if (!out_.empty()) return Flush();
    if (closing_ && !ws_closing_ && !closed_) {
      ws_closing_ = true;
      ws_.async_close(websocket::close_code::normal, [self = this->shared_from_this()](beast::error_code) {
        self->closed_ = true;
        // Beast has closed the socket: the close deadline has nothing left to do.
        self->torn_down_ = true;
        ++self->guard_gen_;
        if (self->guard_) self->guard_->cancel();
      });
    }
  }

  void DoDrain(CloseCode code, std::string reason) {
    if (closing_ || draining_) return;
    draining_ = true;
    retiring.store(true);
    drain_code_ = code;
    drain_reason_ = std::move(reason);
    hub_.Remove(this);
    if (streams_.empty()) return DoClose(drain_code_, drain_reason_);
    if (!timer_) timer_.emplace(ws_.get_executor());
    timer_->expires_after(options_.drain_timeout);
    timer_->async_wait([self = this->shared_from_this()](beast::error_code ec) {
      if (!ec) self->DoClose(self->drain_code_, self->drain_reason_ + " (drain timeout)");
    });
  }

  void DoClose(CloseCode code, std::string reason) {
    if (closing_ || closed_) return;
    closing_ = true;
    retiring.store(true);
    hub_.Remove(this);
    if (timer_) timer_->cancel();
    if (hello_done_ && code != CloseCode::kNormal) {
      LogInfo("tunnel: closing agent " + agent_id + ": " + std::string(protocol::ToString(code)) + " (" + reason + ")");
    }
    LoseStreams(reason);
    if (!accepted_) return;
    // The agent learns why (and how to back off) from the CLOSE frame; then the WebSocket closes,
    // or, at the latest after kCloseDeadline, the socket (an agent that does not read).
    closing_deadline_ = true;
    ArmGuard(kCloseDeadline);
    Enqueue(protocol::Close{code, reason});
  }

  // One timer for two deadlines: a write in progress for kWriteTimeout, and a closing connection
  // still open after kCloseDeadline. Either closes the socket.
  void ArmGuard(std::chrono::steady_clock::duration after) {
    if (!guard_) guard_.emplace(ws_.get_executor());
    guard_armed_ = true;
    guard_->expires_after(after);
    guard_->async_wait([self = this->shared_from_this(), gen = ++guard_gen_](beast::error_code ec) {
      if (ec || gen != self->guard_gen_) return;
      self->OnGuard();
    });
  }

  void OnGuard() {
    guard_armed_ = false;
    if (torn_down_) return;
    if (closing_deadline_) return TearDown("closing took too long");
    if (!writing_) return;  // the next write arms it again
    const auto busy = std::chrono::steady_clock::now() - write_started_;
    if (busy >= kWriteTimeout) {
      LogWarning("tunnel: agent " + agent_id + " does not read; closing its connection");
      return TearDown("the agent's connection timed out");
    }
    ArmGuard(kWriteTimeout - busy);
  }

  // Closes the socket now, whatever is queued or in progress; pending operations end with errors.
  void TearDown(const std::string& reason) {
    torn_down_ = true;
    closing_ = closed_ = true;
    retiring.store(true);
    hub_.Remove(this);
    if (timer_) timer_->cancel();
    // The guard's wait holds the link: without this a link torn down with a write guard armed
    // would live on (and keep a stopping server's worker busy) until it fires.
    ++guard_gen_;
    if (guard_) guard_->cancel();
    LoseStreams(reason);
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  void LoseStreams(const std::string& reason) {
    auto streams = std::move(streams_);
    streams_.clear();
    parked_total_ = granted_total_ = 0;
    credit_waiters_.clear();
    waiting_.clear();
    for (auto& [id, s] : streams) {
      s->gone = true;
      Deliver(*s, [reason](StreamSink& sink) { sink.OnLost(true, reason); });
    }
  }

  // A write queue past its bound: no CLOSE frame could get through either.
  void Abort() {
    if (torn_down_) return;
    closing_ = true;
    closed_ = true;
    retiring.store(true);
    hub_.Remove(this);
    if (timer_) timer_->cancel();
    LoseStreams("the agent's connection was closed");
    torn_down_ = true;
    if (guard_) guard_->cancel();
    beast::get_lowest_layer(ws_).close();
  }

  void Lost(beast::error_code ec, const char* what) {
    if (closed_) return;
    closed_ = true;
    closing_ = true;
    retiring.store(true);
    hub_.Remove(this);
    if (timer_) timer_->cancel();
    if (!IsHarmless(ec) && !peer_closed_) LogInfo("tunnel: agent " + agent_id + ": " + what + ": " + ec.message());
    else if (hello_done_ && !ws_closing_ && !peer_closed_) LogInfo("tunnel: agent " + agent_id + " disconnected");
    LoseStreams("the agent's connection was lost");
    torn_down_ = true;
    if (guard_) guard_->cancel();
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  void Fail(beast::error_code ec, const char* what) {
    if (!IsHarmless(ec)) LogDebug(std::string("tunnel: agent ") + agent_id + ": " + what + ": " + ec.message());
    closed_ = closing_ = true;
    retiring.store(true);
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  websocket::stream<Stream> ws_;
  TunnelHub& hub_;
  const TunnelOptions& options_;
  std::unique_ptr<http::request<http::string_body>> upgrade_;  // until accepted
  beast::flat_buffer rd_;
  std::optional<asio::steady_timer> timer_;  // HELLO deadline, then drain deadline

  std::deque<std::string> out_;  // messages; the front one is being written when writing_
  std::deque<size_t> out_data_;  // DATA frame bytes in each of out_
  size_t out_bytes_ = 0;
  size_t data_bytes_ = 0;        // DATA frame bytes in out_
  bool writing_ = false;
  std::chrono::steady_clock::time_point write_started_{};
  std::optional<asio::steady_timer> guard_;  // write timeout, then close deadline
  net::LazyDeadline silence_;  // from each read: the agent's silence (the backstop)
  uint64_t guard_gen_ = 0;                   // the wait that counts
  bool guard_armed_ = false;
  bool closing_deadline_ = false;
  bool torn_down_ = false;  // the socket is closed

  bool accepted_ = false;
  bool hello_done_ = false;
  bool draining_ = false;
  bool closing_ = false;     // no new streams; CLOSE queued
  bool ws_closing_ = false;  // WebSocket close started
  bool closed_ = false;      // nothing more is written
  bool peer_closed_ = false;
  CloseCode drain_code_ = CloseCode::kShuttingDown;
  std::string drain_reason_;

  uint32_t peer_stream_window_ = protocol::kDefaultStreamWindow;
  protocol::SendWindow conn_send_{protocol::kDefaultConnectionWindow};
  protocol::ReceiveWindow conn_recv_;
  std::unordered_map<uint32_t, std::shared_ptr<LinkStream>> streams_;
  std::vector<uint32_t> waiting_;  // streams with body parked for connection credit
  std::vector<uint32_t> credit_waiters_;  // streams with held credit, waiting for body budget
  size_t parked_total_ = 0;   // request body parked on all streams
  size_t granted_total_ = 0;  // credit passed on to exchanges and not used yet
  uint32_t next_stream_ = 1;

  // Work queued by other threads (Run), and the run in progress.
  std::mutex ops_mu_;
  std::vector<std::function<void()>> ops_;  // GUARDED_BY(ops_mu_)
  bool ops_posted_ = false;                 // GUARDED_BY(ops_mu_)
  std::vector<std::function<void()>> running_;
  int batch_ = 0;                                         // BeginBatch() depth
  std::vector<std::shared_ptr<LinkStream>> deliveries_;  // streams whose drain waits for the batch's end
};

}  // namespace

template <class Stream>
void StartAgentLink(Stream stream, http::request<http::string_body> upgrade, const Request& req, TunnelHub& hub,
                    LinkLane lane) {
  auto link = std::make_shared<AgentLink<Stream>>(std::move(stream), hub);
  link->agent_id = req.principal->owner_id;
  link->token_id = req.principal->token_id;
  link->connected_since = hub.clock().Now();
  // The route's handler looked the agent up and left its pool here.
  if (auto it = req.params.find("poolId"); it != req.params.end()) link->pool_id = it->second;
  // A malformed session id is no session: the connection then replaces the agent's others.
  if (auto it = upgrade.find(protocol::kSessionHeader); it != upgrade.end()) {
    const std::string_view id(it->value().data(), it->value().size());
    if (protocol::IsSessionId(id)) link->session = std::string(id);
  }
  if (!hub.options().lanes) lane = LinkLane{};  // "0/1": one connection is all the agent needs
  link->Start(std::move(upgrade), lane);
}

template void StartAgentLink<TcpStream>(TcpStream, http::request<http::string_body>, const Request&, TunnelHub&,
                                        LinkLane);
template void StartAgentLink<TlsStream>(TlsStream, http::request<http::string_body>, const Request&, TunnelHub&,
                                        LinkLane);

}  // namespace keyhole::coord
