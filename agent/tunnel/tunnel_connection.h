// TunnelConnection: one WebSocket to the coordinator carrying a TunnelSession. Dials (DNS, TCP,
// TLS verified by the state's trust anchor, the upgrade with the agent's token and the
// keyhole-tunnel.v1 subprotocol, HELLO both ways) under one deadline, then reads and writes
// messages, pings, and reports once how it ended. Lives on the tunnel's io_context thread; the
// shared_ptr returned by Create is kept alive by its pending operations until it has ended.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "agent/state/agent_state.h"
#include "agent/tunnel/tunnel_session.h"
#include "shared/protocol/frame.h"
#include "shared/protocol/lanes.h"

namespace boost::asio {
class io_context;
}

namespace keyhole::agent {

struct TunnelEndpoint {
  std::string coordinator;  // base URL: https://host[:port] (http:// to a loopback host only)
  TrustAnchor trust;
  std::string token;        // secret: never logged
  std::string session;      // Keyhole-Tunnel-Session: the agent's connections that belong together ("": none)
};

struct TunnelTimeouts {
  std::chrono::milliseconds connect{10000};
  std::chrono::milliseconds ping_interval{20000};
  std::chrono::milliseconds ping_timeout{10000};
};

// How a connection ended, for the reconnect decision and the logs.
struct TunnelOutcome {
  enum class Kind {
    kFailed,        // network, TLS, protocol: the usual backoff
    kUnauthorized,  // the upgrade answered 401: slow backoff
    kRateLimited,   // 429: wait retry_after at least
    kRefused,       // another HTTP status in answer to the upgrade
    kClosed,        // the coordinator sent CLOSE (close_code)
    kLocal,         // this side closed it (drain, replaced, stop)
  };
  Kind kind = Kind::kFailed;
  std::string reason;  // for logs: never holds the token
  std::optional<protocol::CloseCode> close_code;
  std::chrono::milliseconds retry_after{0};
  bool was_up = false;  // HELLO was exchanged
  std::chrono::steady_clock::duration up_for{};
  uint64_t streams_served = 0;
};

class TunnelConnection {
 public:
  struct Events {
    std::function<void(TunnelConnection*)> up;                       // HELLO exchanged
    std::function<void(TunnelConnection*, TunnelOutcome)> down;      // once, at the end
  };

  static std::shared_ptr<TunnelConnection> Create(boost::asio::io_context& io, UpstreamPool& pool,
                                                  TunnelEndpoint endpoint, TunnelSessionOptions session,
                                                  TunnelTimeouts timeouts, Events events);
  virtual ~TunnelConnection() = default;

  virtual void Start() = 0;
  // Refuses new streams; once none is open, sends CLOSE(code, reason) and ends (kLocal).
  virtual void Drain(protocol::CloseCode code, std::string reason) = 0;
  // Ends now, without a CLOSE (kLocal).
  virtual void Abort(std::string reason) = 0;
  virtual bool up() const = 0;
  virtual size_t open_streams() const = 0;
  // Where the coordinator placed this connection (its upgrade answer's Keyhole-Tunnel-Lane);
  // nullopt before the upgrade, or from a coordinator that does not say.
  virtual std::optional<protocol::Lane> lane() const = 0;
};

}  // namespace keyhole::agent
