// CoordinatorConfig: the coordinator's settings, from an optional TOML file (toml++) and then
// the command line, which wins. See docs/CONFIG.md for every key.
#pragma once

#include <chrono>
#include <string>

#include "coordinator/ratelimit/rate_limit_table.h"
#include "coordinator/tunnel/tunnel_options.h"
#include "shared/errors/status.h"

namespace keyhole::coord {

struct CoordinatorConfig {
  std::string data_dir;
  std::string listen = "127.0.0.1:8443";
  bool plain_http = false;
  // HOST:PORT of a second listener in plain HTTP beside the TLS one, loopback only (a local
  // TLS-terminating proxy, local callers); empty: none.
  std::string plain_listen;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string public_url;  // base of the absolute URLs in Link headers, when behind a proxy
  unsigned threads = 0;    // 0: one per core
  size_t max_connections = 10000;
  unsigned request_timeout_seconds = 30;  // to receive a request's head, and again its body
  RateLimitConfig rate_limits;
  int rate_limit_lead_business_days = 10;  // notice an exception request must give
  std::string log_level = "info";
  unsigned system_log_retention_days = 90;  // System Log events older than this are pruned
  std::chrono::milliseconds usage_flush_interval{1000};
  unsigned activation_code_lifetime_hours = 24;  // default lifetime of an agent activation code
  unsigned rotation_grace_seconds = 600;         // a rotated agent token's validity after rotation, at most
  unsigned agent_heartbeat_interval_seconds = 30;  // agents silent for 3 intervals are DISRUPTED
  TunnelOptions tunnel;  // [tunnel]
};

// Reads `path` over the defaults in `config`. Unknown keys are an error, so typos do not pass.
Status LoadConfigFile(const std::string& path, CoordinatorConfig& config);

// "host:port", "[v6]:port"; port 0 allowed.
Status SplitHostPort(const std::string& listen, std::string* host, uint16_t* port);

}  // namespace keyhole::coord
