// UpstreamTarget: where one configured upstream ([upstreams.NAME] url) lives: scheme, host, port,
// and the Host header the agent sends it. Parsed once from an already validated URL; value type.
#pragma once

#include <string>

#include "agent/config/agent_config.h"
#include "shared/errors/status.h"

namespace keyhole::agent {

struct UpstreamTarget {
  std::string name;       // the config's NAME
  bool tls = false;       // https://
  std::string host;       // as resolved: an IPv6 address without brackets
  std::string port;       // "80", "443" when the URL has none
  std::string host_header;  // host[:port] as the URL writes it (brackets kept, default port left out)
  std::string ca_file;    // https only; empty: the system's CAs

  // REQUIRES nothing: an invalid URL gives kInvalidArgument (ValidateUpstreamUrl's message).
  static StatusOr<UpstreamTarget> FromConfig(const std::string& name, const Upstream& upstream);
};

}  // namespace keyhole::agent
