// AgentLinkBase: one agent's tunnel connection as the callers' exchanges use it: open a stream,
// send request body, report response bytes written onward, cancel. Every call may come from any
// thread; it is posted to the link's own thread (the worker that accepted the agent), and the
// link answers on the StreamSink's executor. The Beast session behind it is AgentLink<Stream>
// in agent_link.cc; it runs the protocol (docs/PROTOCOL.md) with flow control both ways.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "coordinator/tunnel/tunnel_link.h"
#include "shared/protocol/frame.h"

namespace keyhole::coord {

// The receiving end of one stream: a caller's exchange. Each method runs on the executor given
// to Open(), one at a time, in the order the link produced them.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // REQUEST_HEAD went out; the agent accepts `credit` bytes of request body for now.
  virtual void OnOpened(uint32_t credit) = 0;
  // The agent accepts `increment` more bytes.
  virtual void OnWindow(uint32_t increment) = 0;
  virtual void OnResponseHead(protocol::ResponseHead head) = 0;
  virtual void OnData(std::string bytes, bool end_stream) = 0;
  virtual void OnReset(protocol::ResetCode code, std::string reason) = 0;
  // The stream is gone without a RESET: the connection closed. `sent` false: the REQUEST_HEAD
  // never went out (the link was closing or full), so the request can go elsewhere unchanged.
  virtual void OnLost(bool sent, std::string reason) = 0;
  // The calls above come in deliveries (everything the link had for this stream when it handed
  // over); this ends one. A sink that writes what they brought can write once here, for all.
  virtual void OnDeliveryEnd() {}
};

// An exchange's handle on its stream. Opaque outside the link.
struct LinkStream;

class AgentLinkBase : public TunnelLink {
 public:
  // Opens a stream for `head` (the link numbers the stream; head.stream is ignored). The head is
  // shared, not copied: an exchange keeps it for a retry on another agent. REQUIRES: a stream
  // reserved on this link by TunnelHub::Pick.
  virtual std::shared_ptr<LinkStream> Open(std::shared_ptr<StreamSink> sink, boost::asio::any_io_executor sink_executor,
                                           std::shared_ptr<const protocol::RequestHead> head) = 0;
  // Request body. REQUIRES: no more than the credit OnOpened/OnWindow granted.
  virtual void SendData(const std::shared_ptr<LinkStream>& stream, std::string bytes, bool end_stream) = 0;
  // `n` response bytes were written to the caller: the agent may send that much more.
  virtual void Consumed(const std::shared_ptr<LinkStream>& stream, size_t n) = 0;
  // The caller is gone or the response is no longer wanted: RESET kCancel unless already over.
  virtual void Cancel(const std::shared_ptr<LinkStream>& stream) = 0;
};

}  // namespace keyhole::coord
