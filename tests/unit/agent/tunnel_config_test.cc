// agent.toml's [tunnel] section and the upstream targets derived from [upstreams.NAME]: defaults,
// every key, ranges and unknown keys named; host, port and Host header per URL form.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/config/agent_config.h"
#include "agent/forward/upstream_target.h"

namespace keyhole::agent {
namespace {

using ::testing::HasSubstr;

TEST(TunnelConfigTest, Defaults) {
  auto c = ParseAgentConfig("", "agent.toml");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->tunnel.enabled);
  EXPECT_EQ(c->tunnel.max_streams, 64);
  EXPECT_EQ(c->tunnel.max_connections, 4);
  EXPECT_EQ(c->tunnel.ping_interval_seconds, 20);
  EXPECT_EQ(c->tunnel.ping_timeout_seconds, 10);
  EXPECT_EQ(c->tunnel.connect_timeout_seconds, 10);
  EXPECT_EQ(c->tunnel.upstream_connect_timeout_seconds, 5);
  EXPECT_EQ(c->tunnel.upstream_timeout_seconds, 30);
  EXPECT_EQ(c->tunnel.drain_timeout_seconds, 10);
}

TEST(TunnelConfigTest, ReadsEveryKey) {
  auto c = ParseAgentConfig(R"(
[tunnel]
enabled = false
max_streams = 8
max_connections = 1
ping_interval_seconds = 15
ping_timeout_seconds = 5
connect_timeout_seconds = 3
upstream_connect_timeout_seconds = 2
upstream_timeout_seconds = 60
drain_timeout_seconds = 0
)", "agent.toml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->tunnel, (TunnelConfig{.enabled = false, .max_streams = 8, .max_connections = 1, .ping_interval_seconds = 15,
                                     .ping_timeout_seconds = 5, .connect_timeout_seconds = 3,
                                     .upstream_connect_timeout_seconds = 2, .upstream_timeout_seconds = 60,
                                     .drain_timeout_seconds = 0}));
}

TEST(TunnelConfigTest, BadValuesAreErrorsNamingTheKey) {
  struct Case {
    const char* text;
    const char* expected;
  } cases[] = {
      {"tunnel = 3", "tunnel must be a [tunnel] section"},
      {"[tunnel]\nenabled = \"yes\"", "tunnel.enabled must be true or false"},
      {"[tunnel]\nmax_streams = 0", "tunnel.max_streams must be an integer from 1"},
      {"[tunnel]\nmax_connections = 0", "tunnel.max_connections must be an integer from 1"},
      {"[tunnel]\nmax_connections = 65", "tunnel.max_connections must be an integer from 1"},
      {"[tunnel]\nping_interval_seconds = 0", "tunnel.ping_interval_seconds"},
      {"[tunnel]\nupstream_timeout_seconds = \"30\"", "tunnel.upstream_timeout_seconds"},
      {"[tunnel]\ndrain_timeout_seconds = -1", "tunnel.drain_timeout_seconds"},
      {"[tunnel]\nping_every = 3", "unknown key tunnel.ping_every"},
  };
  for (const auto& c : cases) {
    auto r = ParseAgentConfig(c.text, "agent.toml");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_THAT(r.status().message(), HasSubstr(c.expected)) << c.text;
  }
}

TEST(UpstreamTargetTest, HostPortAndHostHeader) {
  struct Case {
    const char* url;
    bool tls;
    const char* host;
    const char* port;
    const char* host_header;
  } cases[] = {
      {"http://127.0.0.1:8080", false, "127.0.0.1", "8080", "127.0.0.1:8080"},
      {"http://svc.internal:80/", false, "svc.internal", "80", "svc.internal"},
      {"https://api.internal", true, "api.internal", "443", "api.internal"},
      {"https://api.internal:8443", true, "api.internal", "8443", "api.internal:8443"},
      {"http://[::1]:9000", false, "::1", "9000", "[::1]:9000"},
  };
  for (const auto& c : cases) {
    auto t = UpstreamTarget::FromConfig("x", Upstream{c.url, ""});
    ASSERT_TRUE(t.ok()) << c.url;
    EXPECT_EQ(t->tls, c.tls) << c.url;
    EXPECT_EQ(t->host, c.host) << c.url;
    EXPECT_EQ(t->port, c.port) << c.url;
    EXPECT_EQ(t->host_header, c.host_header) << c.url;
  }
  EXPECT_FALSE(UpstreamTarget::FromConfig("x", Upstream{"ftp://h:1", ""}).ok());
}

}  // namespace
}  // namespace keyhole::agent
