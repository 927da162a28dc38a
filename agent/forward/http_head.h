// The HTTP/1.1 text the agent writes to an upstream for a tunnel REQUEST_HEAD, and the filtering of
// the upstream's response fields into a RESPONSE_HEAD: hop-by-hop fields dropped both ways, Host set
// to the upstream's own, bodies framed by Content-Length when the caller gave one, else chunked.
// Everything from the coordinator is checked before it reaches the upstream (no CR, LF or NUL, a
// token method, an origin-form target), so a coordinator cannot smuggle a second request. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "agent/forward/upstream_target.h"
#include "shared/errors/status.h"
#include "shared/protocol/frame.h"

namespace keyhole::agent {

// How the request body is framed on the upstream connection.
struct RequestFraming {
  bool chunked = false;                    // body sent as chunks, ended by "0\r\n\r\n"
  std::optional<uint64_t> content_length;  // the caller's, passed through
  bool head_method = false;                // HEAD: the response has no body whatever it says
};

// Appends the request line and fields to `out`. kInvalidArgument for a malformed head.
StatusOr<RequestFraming> WriteUpstreamRequestHead(const protocol::RequestHead& head, const UpstreamTarget& target,
                                                  std::string& out);

// Whether a field never crosses a proxy: Connection, Keep-Alive, Proxy-*, TE, Trailer,
// Transfer-Encoding, Upgrade, or a name listed in `connection` (the Connection field's value).
bool IsHopByHopField(std::string_view name, std::string_view connection);

// Text a peer sent (a header name, an upstream name, a path), made fit for a RESET reason or a log
// line: printable ASCII kept, every other byte (and '\\') as \xNN, at most `max` bytes of output
// plus "..." when cut. Keeps reasons short whatever the peer sent.
inline constexpr size_t kMaxQuoted = 128;
std::string QuoteForReason(std::string_view text, size_t max = kMaxQuoted);

// Appends the chunk framing for `size` body bytes ("1f40\r\n"); the caller then writes the bytes and "\r\n".
void AppendChunkHeader(size_t size, std::string& out);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace keyhole::agent
