// AgentConfig: keyhole-agent's settings from /etc/keyhole-agent/agent.toml (all optional), and the
// strict parser for that file: wrong types, bad values and unknown keys are errors naming the key.
// Value type; the parser is a pure function of the text. Read by `run` at start and on SIGHUP.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "shared/errors/status.h"
#include "shared/fs/file_system.h"

namespace keyhole::agent {

inline constexpr char kDefaultConfigPath[] = "/etc/keyhole-agent/agent.toml";

// An on-premises service the tunnel forwards to; the coordinator names it, the agent refuses any
// name not configured here.
struct Upstream {
  std::string url;      // http://host:port or https://host:port
  std::string ca_file;  // optional, https only
  bool operator==(const Upstream&) const = default;
};

// [tunnel]: the WebSocket to the coordinator that carries requests to the upstreams (docs/AGENTS.md).
struct TunnelConfig {
  bool enabled = true;
  int max_streams = 64;                       // requests forwarded at once; more are refused (REFUSED)
  int max_connections = 4;                    // one per coordinator worker thread, at most this many
  int ping_interval_seconds = 20;             // a PING this often…
  int ping_timeout_seconds = 10;              // …answered within this, else the connection is replaced
  int connect_timeout_seconds = 10;           // dial: DNS, TCP, TLS, upgrade and HELLO
  int upstream_connect_timeout_seconds = 5;   // TCP (and TLS) to an upstream
  int upstream_timeout_seconds = 30;          // request sent → response head from the upstream
  int drain_timeout_seconds = 10;             // on SIGTERM, open requests get this long to finish
  bool operator==(const TunnelConfig&) const = default;
};

struct AgentConfig {
  std::string coordinator;  // default URL for `activate`
  std::string name;         // default agent name for `activate`; empty: the host name
  std::string log_level = "info";
  int heartbeat_interval_seconds = 30;
  int rotate_every_days = 7;
  std::map<std::string, Upstream> upstreams;
  TunnelConfig tunnel;

  bool operator==(const AgentConfig&) const = default;
};

// Parses TOML text; `source` names the file in messages ("/etc/keyhole-agent/agent.toml").
StatusOr<AgentConfig> ParseAgentConfig(std::string_view text, const std::string& source);

// Reads and parses `path`. A missing file gives the defaults unless `required` (the path was given
// explicitly), when it is an error.
StatusOr<AgentConfig> LoadAgentConfig(FileSystem& fs, const std::string& path, bool required);

// "http://host:port" or "https://host[:port]" with no path beyond "/", query or user info.
Status ValidateUpstreamUrl(const std::string& url);

}  // namespace keyhole::agent
