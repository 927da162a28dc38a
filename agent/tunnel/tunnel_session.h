// TunnelSession: the agent's side of one tunnel connection's protocol (docs/PROTOCOL.md), with no
// I/O of its own: the transport hands it each WebSocket message and sends what it queues. It
// answers HELLO and PING, opens an UpstreamExchange per REQUEST_HEAD (refusing unknown upstreams,
// streams beyond max_streams and, once draining, every new stream), keeps both flow-control windows
// per stream and for the connection, and batches outgoing frames into one message. Output is
// bounded: exchanges get send credit only while less than output_limit bytes wait to be written;
// PONGs are dropped while output is backed up; and past output_limit + backlog_limit unwritten
// bytes (heads, RESETs: a coordinator that sends but never reads) the session is overloaded() and
// the transport drops the connection.
// Not thread-safe: lives on the tunnel's io_context thread, as do its exchanges.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "agent/forward/upstream_exchange.h"
#include "agent/forward/upstream_pool.h"
#include "shared/protocol/flow_window.h"
#include "shared/protocol/frame.h"

namespace keyhole::agent {

struct TunnelSessionOptions {
  std::string software;  // "keyhole-agent/0.1.0"
  uint32_t max_streams = 64;
  uint32_t stream_window = protocol::kDefaultStreamWindow;
  uint32_t connection_window = protocol::kDefaultConnectionWindow;
  size_t output_limit = 512 << 10;   // unwritten bytes beyond which response DATA waits
  size_t backlog_limit = 4 << 20;    // beyond output_limit: the coordinator is not reading
};

class TunnelSession final : public ExchangeSink {
 public:
  // Bytes of frames batched into one message: hundreds of small responses, but about one DATA
  // chunk of a large body, so the coordinator forwards each chunk while the next is on the wire
  // (it handles a message once all of it has arrived; a window's worth in one message would make
  // the two hops take turns).
  static constexpr size_t kMaxMessage = 64 << 10;

  // `wake` is called when output becomes available while none was queued.
  TunnelSession(TunnelSessionOptions options, UpstreamPool& pool, std::function<void()> wake);
  ~TunnelSession() override;  // cancels every exchange

  // Queues this side's HELLO (the first frame on the connection).
  void Start();
  // One message from the coordinator. A Close to send when it broke the protocol (the transport
  // sends it and drops the connection); nullopt otherwise.
  std::optional<protocol::Close> OnMessage(std::string_view message);

  bool HasOutput() const { return !out_.empty(); }
  // Bytes queued or being written.
  size_t backlog() const { return out_.size() + in_flight_; }
  // More than output_limit + backlog_limit bytes waited to be written: the transport must drop
  // the connection (sticky; wake() was called when it became true).
  bool overloaded() const { return overloaded_; }
  // Moves queued frames (whole ones, up to kMaxMessage bytes) into `message` (cleared first): one
  // WebSocket binary message.
  void TakeOutput(std::string& message);
  // The last message taken has been written: its bytes no longer count against output_limit.
  void OutputWritten();

  void SendPing(uint64_t opaque);
  void SendClose(protocol::CloseCode code, std::string reason);
  // Refuse new streams (REFUSED); open ones finish.
  void Drain() { draining_ = true; }
  // The connection is gone: cancel every exchange.
  void Abort();

  bool hello_received() const { return hello_received_; }
  const std::optional<protocol::Close>& peer_close() const { return peer_close_; }
  size_t open_streams() const { return streams_.size(); }
  uint64_t frames_received() const { return frames_received_; }
  uint64_t streams_served() const { return streams_served_; }
  bool draining() const { return draining_; }

  // ExchangeSink
  void OnResponseHead(uint32_t stream, uint16_t status, protocol::HeaderFields headers, bool end_stream) override;
  size_t SendCredit(uint32_t stream) override;
  void OnResponseData(uint32_t stream, std::string_view bytes, bool end_stream) override;
  void OnRequestBodyConsumed(uint32_t stream, size_t n) override;
  void OnExchangeFailed(uint32_t stream, protocol::ResetCode code, std::string reason) override;

 private:
  struct Stream {
    Stream(uint32_t recv_window, uint32_t send_window) : recv(recv_window), send(send_window) {}
    std::shared_ptr<UpstreamExchange> exchange;
    protocol::ReceiveWindow recv;
    protocol::SendWindow send;
    size_t reserved = 0;  // credit granted to the exchange's read in progress
    bool request_ended = false;
    bool response_ended = false;
  };

  std::optional<protocol::Close> Handle(protocol::Frame& frame);
  std::optional<protocol::Close> OnRequestHead(protocol::RequestHead& head);
  std::optional<protocol::Close> OnData(protocol::Data& data);
  void Queue(const protocol::Frame& frame);
  void Reset(uint32_t stream, protocol::ResetCode code, std::string reason);
  // Forgets a stream: returns its unconsumed bytes to the connection window, cancels its exchange.
  void Remove(uint32_t stream);
  void RemoveIfDone(uint32_t stream);
  size_t Credit(const Stream& s) const;
  // Returns a stream's reserved send credit to its windows.
  void Unreserve(Stream& s);
  void ResumeBlocked();
  void CreditConnection(size_t n);

  const TunnelSessionOptions options_;
  UpstreamPool& pool_;
  std::function<void()> wake_;
  std::map<uint32_t, Stream> streams_;
  std::set<uint32_t> blocked_;  // streams waiting for send credit
  protocol::ReceiveWindow conn_recv_;
  protocol::SendWindow conn_send_{0};
  uint32_t peer_stream_window_ = 0;
  uint32_t last_stream_ = 0;
  bool hello_received_ = false;
  bool draining_ = false;
  bool overloaded_ = false;
  std::optional<protocol::Close> peer_close_;
  std::string out_;
  size_t in_flight_ = 0;
  size_t reserved_ = 0;  // credit granted to reads in progress, on every stream
  uint64_t frames_received_ = 0;
  uint64_t streams_served_ = 0;
  uint64_t unknown_refused_ = 0;  // requests for upstreams not in the config (their warnings are thinned)
};

}  // namespace keyhole::agent
