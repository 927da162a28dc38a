// TunnelOptions: the coordinator's [tunnel] settings (docs/CONFIG.md), fixed at start-up.
#pragma once

#include <chrono>
#include <cstdint>

#include "shared/protocol/frame.h"

namespace keyhole::coord {

struct TunnelOptions {
  std::chrono::milliseconds response_timeout{std::chrono::seconds(30)};  // request sent → response head
  uint32_t max_streams_per_agent = 256;  // cap on one agent's concurrent streams (its HELLO may lower it)
  // Lanes (PROTOCOL.md 2.3): tell agents which worker took each connection, so that they keep
  // one per worker. false: every agent keeps one connection (a very large fleet, where the
  // memory of a connection per agent and worker counts more than the thread hop).
  bool lanes = true;
  uint32_t max_connections_per_agent = 16;  // an agent's connections side by side (one per worker is what it needs)
  uint32_t stream_window = protocol::kDefaultStreamWindow;          // what an agent may send us per stream
  uint32_t connection_window = protocol::kDefaultConnectionWindow;  // … and per connection
  std::chrono::milliseconds ping_timeout{std::chrono::seconds(60)};    // a silent agent connection is closed
  std::chrono::milliseconds drain_timeout{std::chrono::seconds(10)};   // a replaced connection's streams
  std::chrono::milliseconds hello_timeout{std::chrono::seconds(10)};   // upgrade → the agent's HELLO
  std::chrono::milliseconds sweep_interval{250};  // token, status and idleness checks of every connection
  std::chrono::milliseconds heartbeat_interval{std::chrono::seconds(10)};  // lastConnection refresh while connected
};

}  // namespace keyhole::coord
