// UpstreamExchange: one tunnel stream's request/response with an upstream over a pooled HTTP/1.1
// connection, and ExchangeSink, the tunnel side it reports to. The request body is written as DATA
// arrives (the sink hears when bytes reached the upstream, to announce WINDOW_UPDATE); the response
// body is read only as far as the sink grants send credit, so neither direction buffers more than
// the protocol's windows. Everything runs on the io_context thread of the UpstreamPool; the sink is
// never called after Cancel() and never from inside a call into the exchange.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "shared/protocol/frame.h"

namespace keyhole::agent {

class UpstreamPool;

class ExchangeSink {
 public:
  virtual ~ExchangeSink() = default;
  virtual void OnResponseHead(uint32_t stream, uint16_t status, protocol::HeaderFields headers, bool end_stream) = 0;
  // Response body bytes the sink can take now (0: the exchange waits for Resume()). The credit is
  // reserved for this stream until the next OnResponseData, which returns what it did not use.
  virtual size_t SendCredit(uint32_t stream) = 0;
  // REQUIRES: bytes.size() <= the SendCredit(stream) just before.
  virtual void OnResponseData(uint32_t stream, std::string_view bytes, bool end_stream) = 0;
  // `n` request body bytes were written to the upstream (or dropped after the response ended).
  virtual void OnRequestBodyConsumed(uint32_t stream, size_t n) = 0;
  // The exchange failed; the stream is to be reset with `code`. Nothing follows.
  virtual void OnExchangeFailed(uint32_t stream, protocol::ResetCode code, std::string reason) = 0;
};

class UpstreamExchange {
 public:
  virtual ~UpstreamExchange() = default;
  // Request body from the coordinator, in order; `end_stream` on the last.
  virtual void WriteBody(std::string bytes, bool end_stream) = 0;
  // The sink has send credit again.
  virtual void Resume() = 0;
  // The stream was reset or the tunnel closed: stop, close the upstream connection, report nothing.
  virtual void Cancel() = 0;
};

}  // namespace keyhole::agent
