#include "agent/forward/upstream_target.h"

#include <string_view>

namespace keyhole::agent {

StatusOr<UpstreamTarget> UpstreamTarget::FromConfig(const std::string& name, const Upstream& upstream) {
  if (Status s = ValidateUpstreamUrl(upstream.url); !s.ok()) return s;
  UpstreamTarget t;
  t.name = name;
  t.ca_file = upstream.ca_file;
  std::string_view rest = upstream.url;
  t.tls = rest.rfind("https://", 0) == 0;
  rest.remove_prefix(t.tls ? 8 : 7);
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  std::string_view host = rest, port;
  if (rest.front() == '[') {
    const size_t close = rest.find(']');
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) port = rest.substr(close + 2);
  } else if (const size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  t.host = std::string(host);
  t.port = port.empty() ? (t.tls ? "443" : "80") : std::string(port);
  const bool default_port = (t.tls && t.port == "443") || (!t.tls && t.port == "80");
  const std::string bracketed = t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host;
  t.host_header = default_port ? bracketed : bracketed + ":" + t.port;
  return t;
}

}  // namespace keyhole::agent
