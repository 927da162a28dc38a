// How a caller's request becomes a REQUEST_HEAD and a RESPONSE_HEAD becomes the caller's
// response head (the wire contract in docs/PROTOCOL.md and docs/API.md): the target the
// upstream sees, and the header fields that pass (end-to-end only; never the caller's
// Authorization). Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "coordinator/http/request.h"
#include "shared/protocol/frame.h"

namespace keyhole::coord {

// "/" + the catch-all `path` parameter (undecoded) + "?" + the query as received.
std::string TunnelTarget(const Request& req);

// The head for an admitted tunnel request: upstream, method, target, the caller's end-to-end
// fields minus Authorization, Host, Expect and the caller's forwarding fields (Forwarded,
// X-Real-IP, X-Forwarded-*), plus X-Forwarded-For (the client address the pipeline resolved:
// a trusted proxy's X-Forwarded-For is believed, nothing else), X-Forwarded-Proto and -Host.
// `has_body`: a body follows (end_stream is set otherwise).
protocol::RequestHead BuildRequestHead(const Request& req, bool has_body);

// Whether the tunnel can carry `head` (protocol::Validate: the agent's decoder would otherwise
// close the whole connection): nullopt if so, else the caller's answer, 431 KH0000003 for too
// many or too large header fields, 400 E0000001 for anything else.
std::optional<Response> CheckRequestHead(const protocol::RequestHead& head);

// Removes hop-by-hop fields (and those Connection names) from `fields`.
void DropHopByHop(protocol::HeaderFields& fields);

}  // namespace keyhole::coord
