#include "agent/config/agent_config.h"

#include <toml++/toml.h>

#include <cctype>
#include <charconv>

#include "shared/log/log.h"

namespace keyhole::agent {
namespace {

constexpr int kMaxHeartbeatSeconds = 3600;
constexpr int kMaxRotateDays = 365;

class Reader {
 public:
  explicit Reader(const std::string& source) : source_(source) {}

  void Fail(const std::string& message) {
    if (status_.ok()) status_ = InvalidArgumentError(source_ + ": " + message);
  }
  void String(const toml::node& node, const std::string& key, std::string& out) {
    if (auto v = node.value_exact<std::string>()) out = *v;
    else Fail(key + " must be a string");
  }
  void Integer(const toml::node& node, const std::string& key, int min, int max, int& out) {
    auto v = node.value_exact<int64_t>();
    if (!v || *v < min || *v > max) {
      Fail(key + " must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
      return;
    }
    out = static_cast<int>(*v);
  }
  void Bool(const toml::node& node, const std::string& key, bool& out) {
    if (auto v = node.value_exact<bool>()) out = *v;
    else Fail(key + " must be true or false");
  }
  const Status& status() const { return status_; }

 private:
  const std::string& source_;
  Status status_;
};

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

void ReadTunnel(const toml::table& t, Reader& r, TunnelConfig& out) {
  for (const auto& [k, v] : t) {
    const std::string field(k.str());
    const std::string key = "tunnel." + field;
    if (field == "enabled") r.Bool(v, key, out.enabled);
    else if (field == "max_streams") r.Integer(v, key, 1, 4096, out.max_streams);
    else if (field == "max_connections") r.Integer(v, key, 1, 64, out.max_connections);
    else if (field == "ping_interval_seconds") r.Integer(v, key, 1, 300, out.ping_interval_seconds);
    else if (field == "ping_timeout_seconds") r.Integer(v, key, 1, 300, out.ping_timeout_seconds);
    else if (field == "connect_timeout_seconds") r.Integer(v, key, 1, 300, out.connect_timeout_seconds);
    else if (field == "upstream_connect_timeout_seconds") r.Integer(v, key, 1, 300, out.upstream_connect_timeout_seconds);
    else if (field == "upstream_timeout_seconds") r.Integer(v, key, 1, 3600, out.upstream_timeout_seconds);
    else if (field == "drain_timeout_seconds") r.Integer(v, key, 0, 3600, out.drain_timeout_seconds);
    else r.Fail("unknown key " + key);
  }
}

}  // namespace

Status ValidateUpstreamUrl(const std::string& url) {
  std::string_view rest = url;
  bool https = false;
  if (rest.rfind("http://", 0) == 0) {
    rest.remove_prefix(7);
  } else if (rest.rfind("https://", 0) == 0) {
    rest.remove_prefix(8);
    https = true;
  } else {
    return InvalidArgumentError("expected http://host:port or https://host[:port], not \"" + url + "\"");
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string_view::npos) {
    return InvalidArgumentError("expected http://host:port or https://host[:port], not \"" + url + "\"");
  }
  std::string_view host = rest, port;
  if (rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos || close == 1) return InvalidArgumentError("bad IPv6 address in \"" + url + "\"");
    host = rest.substr(0, close + 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return InvalidArgumentError("bad host in \"" + url + "\"");
      port = after.substr(1);
      if (port.empty()) return InvalidArgumentError("empty port in \"" + url + "\"");
    }
  } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (port.empty()) return InvalidArgumentError("empty port in \"" + url + "\"");
  }
  if (host.empty() || (host.find(':') != std::string_view::npos && host.front() != '[')) {
    return InvalidArgumentError("no host in \"" + url + "\"");
  }
  if (!port.empty()) {
    int value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535) {
      return InvalidArgumentError("bad port in \"" + url + "\"");
    }
  } else if (!https) {
    return InvalidArgumentError("an http:// upstream needs a port: \"" + url + "\"");
  }
  return Status::Ok();
}

StatusOr<AgentConfig> ParseAgentConfig(std::string_view text, const std::string& source) {
  toml::table root;
  try {
    // Debian's toml++ is built with exceptions: a parse error throws. It stops here.
    root = toml::parse(text, source);
  } catch (const toml::parse_error& err) {
    return InvalidArgumentError(source + ":" + std::to_string(err.source().begin.line) + ": " +
                                std::string(err.description()));
  }
  AgentConfig c;
  Reader r(source);
  for (const auto& [k, node] : root) {
    const std::string key(k.str());
    if (key == "coordinator") {
      r.String(node, key, c.coordinator);
    } else if (key == "name") {
      r.String(node, key, c.name);
      if (r.status().ok() && (c.name.empty() || c.name.size() > 100)) r.Fail("name must have 1 to 100 characters");
    } else if (key == "log_level") {
      r.String(node, key, c.log_level);
      if (r.status().ok() && !ParseLogLevel(c.log_level)) r.Fail("log_level must be debug, info, warning or error");
    } else if (key == "heartbeat_interval_seconds") {
      r.Integer(node, key, 1, kMaxHeartbeatSeconds, c.heartbeat_interval_seconds);
    } else if (key == "rotate_every_days") {
      r.Integer(node, key, 1, kMaxRotateDays, c.rotate_every_days);
    } else if (key == "tunnel") {
      const toml::table* t = node.as_table();
      if (!t) {
        r.Fail("tunnel must be a [tunnel] section");
        continue;
      }
      ReadTunnel(*t, r, c.tunnel);
    } else if (key == "upstreams") {
      const toml::table* upstreams = node.as_table();
      if (!upstreams) {
        r.Fail("upstreams must be a table of [upstreams.NAME] sections");
        continue;
      }
      for (const auto& [n, entry] : *upstreams) {
        const std::string name(n.str());
        const std::string prefix = "upstreams." + name;
        const toml::table* t = entry.as_table();
        if (!ValidName(name)) r.Fail(prefix + ": an upstream name has 1 to 64 letters, digits, '-', '_' or '.'");
        if (!t) {
          r.Fail(prefix + " must be a table");
          continue;
        }
        Upstream u;
        for (const auto& [uk, uv] : *t) {
          const std::string field(uk.str());
          if (field == "url") r.String(uv, prefix + ".url", u.url);
          else if (field == "ca_file") r.String(uv, prefix + ".ca_file", u.ca_file);
          else r.Fail("unknown key " + prefix + "." + field);
        }
        if (!r.status().ok()) continue;
        if (u.url.empty()) {
          r.Fail(prefix + ".url is required");
        } else if (Status s = ValidateUpstreamUrl(u.url); !s.ok()) {
          r.Fail(prefix + ".url: " + s.message());
        } else if (!u.ca_file.empty() && u.url.rfind("https://", 0) != 0) {
          r.Fail(prefix + ".ca_file applies to https:// upstreams only");
        }
        c.upstreams[name] = u;
      }
      // The tunnel's HELLO carries the names; the protocol takes at most kMaxHelloUpstreams.
      if (c.upstreams.size() > 256) r.Fail("upstreams: at most 256 [upstreams.NAME] sections");
    } else {
      r.Fail("unknown key " + key);
    }
  }
  if (!r.status().ok()) return r.status();
  if (!c.coordinator.empty() && c.coordinator.rfind("https://", 0) != 0 && c.coordinator.rfind("http://", 0) != 0) {
    return InvalidArgumentError(source + ": coordinator must be an https:// URL, not \"" + c.coordinator + "\"");
  }
  return c;
}

StatusOr<AgentConfig> LoadAgentConfig(FileSystem& fs, const std::string& path, bool required) {
  if (!fs.Exists(path)) {
    if (required) return InvalidArgumentError("config file " + path + " does not exist");
    return AgentConfig{};
  }
  auto text = fs.ReadFile(path);
  if (!text.ok()) return InvalidArgumentError("config file " + path + ": " + text.status().message());
  return ParseAgentConfig(*text, path);
}

}  // namespace keyhole::agent
