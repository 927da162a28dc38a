// TunnelLink: what the TunnelHub knows of one agent's live tunnel connection: who it is, what it
// offers and how busy it is. The Beast session (AgentLink) derives from it; tests use fakes.
// The identity fields are set before the link is added to the hub and never change; the counters
// are atomics, read by any thread. Close() and Drain() may be called from any thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "shared/clock/clock.h"
#include "shared/protocol/frame.h"

namespace keyhole::coord {

class TunnelLink {
 public:
  virtual ~TunnelLink() = default;

  // Sends CLOSE `code`, fails the streams still open and closes the connection.
  virtual void Close(protocol::CloseCode code, std::string reason) = 0;
  // Takes no new streams; closes with `code` once the open ones are done (or after a deadline).
  virtual void Drain(protocol::CloseCode code, std::string reason) = 0;

  bool Offers(std::string_view upstream) const {
    return std::find(upstreams.begin(), upstreams.end(), upstream) != upstreams.end();
  }

  // Identity, fixed before TunnelHub::Add.
  std::string agent_id;
  std::string pool_id;
  std::string token_id;
  std::vector<std::string> upstreams;
  uint32_t max_streams = 0;
  WallTime connected_since{};
  // An agent may hold several connections at once, one per coordinator worker ("lanes", see
  // docs/PROTOCOL.md): those sharing its `session` work side by side; a new session replaces the
  // older connections. Empty: a client that opens one connection only.
  std::string session;
  // The worker (io_context) this connection lives on: a caller on the same worker is served
  // without crossing threads. Only compared, never dereferenced.
  const void* home = nullptr;

  // Streams reserved (by TunnelHub::Pick) and not yet released.
  std::atomic<uint32_t> in_flight{0};
  // Set when the link stops taking streams (draining or closing); never cleared.
  std::atomic<bool> retiring{false};
  // Monotonic milliseconds of the last frame received, for the idle check.
  std::atomic<int64_t> last_frame_ms{0};
  // Monotonic milliseconds of the last lastConnection refresh.
  std::atomic<int64_t> last_heartbeat_ms{0};
};

}  // namespace keyhole::coord
