// The admin-API side of keyhole-tunnel-load: phase 1 (a pool, then one activation code and one
// activation per agent, from a bounded pool of keep-alive connections) and the check of what
// GET /api/v1/agentPools lists. Called from the main thread; each starts its own clients.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "bench/tunnel_load/target.h"

namespace keyhole::bench {

struct Activated {
  std::string pool_id;
  std::vector<std::string> tokens;
};

// Creates the pool `pool_name` and activates `count` agents in it with `workers` connections;
// false (with the first error logged) if any activation failed.
bool ActivateAgents(boost::asio::ssl::context& tls, const Target& target, const std::string& admin_token,
                    size_t count, int workers, const std::string& pool_name, Activated& out);

// GET /api/v1/agentPools: how many agents of the pool the coordinator lists as connected. Logs it
// and prints a line "TAG seconds=… bytes=… listed=… connected=… expected=…" on stdout.
void CheckListing(boost::asio::ssl::context& tls, const Target& target, const std::string& admin_token,
                  const std::string& pool_id, size_t expected, const char* tag = "LISTING");

}  // namespace keyhole::bench
