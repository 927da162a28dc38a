#include "coordinator/config/coordinator_config.h"

#include <charconv>
#include <limits>
#include <toml++/toml.h>

namespace keyhole::coord {

Status LoadConfigFile(const std::string& path, CoordinatorConfig& c) {
  toml::table root;
  try {
    // Debian's toml++ is built with exceptions: a parse error throws. It stops here.
    root = toml::parse_file(path);
  } catch (const toml::parse_error& err) {
    return InvalidArgumentError(path + ":" + std::to_string(err.source().begin.line) + ": " +
                                std::string(err.description()));
  }
  Status status;
  auto unknown = [&](const std::string& key) {
    if (status.ok()) status = InvalidArgumentError(path + ": unknown key " + key);
  };
  for (const auto& [section, node] : root) {
    const toml::table* t = node.as_table();
    if (!t) {
      unknown(std::string(section.str()));
      continue;
    }
    for (const auto& [key, value] : *t) {
      std::string name = std::string(section.str()) + "." + std::string(key.str());
      auto str = [&](std::string& out) {
        if (auto v = value.value<std::string>()) out = *v;
        else if (status.ok()) status = InvalidArgumentError(path + ": " + name + " must be a string");
      };
      auto num = [&](auto& out) {
        using T = std::remove_reference_t<decltype(out)>;
        auto v = value.value<int64_t>();
        if (v && *v >= 0 && static_cast<uint64_t>(*v) <= static_cast<uint64_t>(std::numeric_limits<T>::max())) out = static_cast<T>(*v);
        else if (status.ok()) status = InvalidArgumentError(path + ": " + name + " must be a non-negative integer in range");
      };
      if (name == "server.listen") str(c.listen);
      else if (name == "server.plain_listen") str(c.plain_listen);
      else if (name == "server.public_url") str(c.public_url);
      else if (name == "server.tls_cert") str(c.tls_cert_file);
      else if (name == "server.tls_key") str(c.tls_key_file);
      else if (name == "server.threads") num(c.threads);
      else if (name == "server.max_connections") num(c.max_connections);
      else if (name == "server.request_timeout") num(c.request_timeout_seconds);
      else if (name == "server.plain_http") {
        if (auto v = value.value_exact<bool>()) c.plain_http = *v;
        else if (status.ok()) status = InvalidArgumentError(path + ": " + name + " must be true or false");
      } else if (name == "ratelimits.enabled") {
        if (auto v = value.value_exact<bool>()) c.rate_limits.enabled = *v;
        else if (status.ok()) status = InvalidArgumentError(path + ": " + name + " must be true or false");
      } else if (name == "ratelimits.default_per_minute") num(c.rate_limits.default_per_minute);
      else if (name == "ratelimits.unauthenticated_per_minute") num(c.rate_limits.unauthenticated_per_minute);
      else if (name == "ratelimits.agent_tunnel_connects_per_minute") num(c.rate_limits.agent_tunnel_connects_per_minute);
      else if (name == "ratelimits.exception_lead_business_days") num(c.rate_limit_lead_business_days);
      else if (name == "ratelimits.trusted_proxies") {
        const toml::array* list = value.as_array();
        for (size_t i = 0; list && i < list->size(); ++i) {
          if (auto v = (*list)[i].value<std::string>()) c.rate_limits.trusted_proxies.push_back(*v);
          else list = nullptr;
        }
        if (!list && status.ok()) status = InvalidArgumentError(path + ": " + name + " must be a list of strings");
      } else if (name == "ratelimits.endpoints") {
        // "METHOD /api/v1/path/{template}" = requests per minute
        const toml::table* endpoints = value.as_table();
        if (!endpoints && status.ok()) status = InvalidArgumentError(path + ": " + name + " must be a table");
        for (const auto& [endpoint, limit] : endpoints ? *endpoints : toml::table{}) {
          auto v = limit.value<int64_t>();
          std::string key(endpoint.str());
          if (!v || *v < 0 || *v > UINT32_MAX || key.find(' ') == std::string::npos) {
            if (status.ok()) status = InvalidArgumentError(path + ": ratelimits.endpoints.\"" + key +
                                                           "\" must be \"METHOD /path\" = a non-negative integer");
            continue;
          }
          c.rate_limits.endpoints[key] = static_cast<uint32_t>(*v);
        }
      } else if (name == "log.level") str(c.log_level);
      else if (name == "system_log.retention_days") {
        num(c.system_log_retention_days);
        if (status.ok() && c.system_log_retention_days == 0) status = InvalidArgumentError(path + ": " + name + " must be at least 1");
      }
      else if (name == "store.data_dir") str(c.data_dir);
      else if (name == "agents.activation_code_lifetime_hours") {
        num(c.activation_code_lifetime_hours);
        if (status.ok() && (c.activation_code_lifetime_hours == 0 || c.activation_code_lifetime_hours > 24 * 30)) {
          status = InvalidArgumentError(path + ": " + name + " must be between 1 and 720");
        }
      } else if (name == "agents.rotation_grace_seconds") {
        num(c.rotation_grace_seconds);
        if (status.ok() && c.rotation_grace_seconds == 0) status = InvalidArgumentError(path + ": " + name + " must be at least 1");
      } else if (name == "agents.heartbeat_interval_seconds") {
        num(c.agent_heartbeat_interval_seconds);
        if (status.ok() && c.agent_heartbeat_interval_seconds == 0) {
          status = InvalidArgumentError(path + ": " + name + " must be at least 1");
        }
      }
      else if (name.rfind("tunnel.", 0) == 0) {
        TunnelOptions& t = c.tunnel;
        auto seconds = [&](std::chrono::milliseconds& out, unsigned min, unsigned max) {
          unsigned v = 0;
          num(v);
          if (!status.ok()) return;
          if (v < min || v > max) {
            status = InvalidArgumentError(path + ": " + name + " must be between " + std::to_string(min) + " and " +
                                          std::to_string(max));
            return;
          }
          out = std::chrono::seconds(v);
        };
        auto window = [&](uint32_t& out) {
          uint32_t v = 0;
          num(v);
          if (!status.ok()) return;
          if (v < protocol::kMaxDataChunk || v > protocol::kMaxWindow) {
            status = InvalidArgumentError(path + ": " + name + " must be between " +
                                          std::to_string(protocol::kMaxDataChunk) + " and " +
                                          std::to_string(protocol::kMaxWindow));
            return;
          }
          out = v;
        };
        if (name == "tunnel.response_timeout_seconds") seconds(t.response_timeout, 1, 3600);
        else if (name == "tunnel.ping_timeout_seconds") seconds(t.ping_timeout, 5, 3600);
        else if (name == "tunnel.drain_timeout_seconds") seconds(t.drain_timeout, 0, 3600);
        else if (name == "tunnel.stream_window") window(t.stream_window);
        else if (name == "tunnel.connection_window") window(t.connection_window);
        else if (name == "tunnel.max_streams_per_agent") {
          num(t.max_streams_per_agent);
          if (status.ok() && (t.max_streams_per_agent == 0 || t.max_streams_per_agent > 65536)) {
            status = InvalidArgumentError(path + ": " + name + " must be between 1 and 65536");
          }
        } else if (name == "tunnel.lanes") {
          if (auto v = value.value_exact<bool>()) t.lanes = *v;
          else if (status.ok()) status = InvalidArgumentError(path + ": " + name + " must be true or false");
        } else unknown(name);
      }
      else unknown(name);
    }
  }
  if (status.ok() && c.tunnel.connection_window < c.tunnel.stream_window) {
    status = InvalidArgumentError(path + ": tunnel.connection_window must be at least tunnel.stream_window");
  }
  if (status.ok() && (c.rate_limit_lead_business_days > 365)) {
    status = InvalidArgumentError(path + ": ratelimits.exception_lead_business_days must be at most 365");
  }
  return status;
}

Status SplitHostPort(const std::string& listen, std::string* host, uint16_t* port) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return InvalidArgumentError("--listen wants HOST:PORT, got " + listen);
  std::string h = listen.substr(0, colon);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  std::string p = listen.substr(colon + 1);
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (ec != std::errc() || ptr != p.data() + p.size() || v > 65535) {
    return InvalidArgumentError("--listen: bad port in " + listen);
  }
  *host = h;
  *port = static_cast<uint16_t>(v);
  return Status::Ok();
}

}  // namespace keyhole::coord
