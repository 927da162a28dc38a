#include "coordinator/config/coordinator_config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/temp_dir.h"

namespace keyhole::coord {
namespace {

using keyhole::testing::TempDir;

class ConfigTest : public ::testing::Test {
 protected:
  Status Load(const std::string& text) {
    std::ofstream(dir.File("c.toml")) << text;
    return LoadConfigFile(dir.File("c.toml"), config);
  }
  TempDir dir;
  CoordinatorConfig config;
};

TEST_F(ConfigTest, ReadsEveryKey) {
  ASSERT_TRUE(Load(R"([store]
data_dir = "/srv/kh"
[server]
listen = "0.0.0.0:9443"
plain_http = true
plain_listen = "127.0.0.1:8080"
public_url = "https://kh.example.com"
threads = 3
max_connections = 50
request_timeout = 7
[log]
level = "debug"
)").ok());
  EXPECT_EQ(config.data_dir, "/srv/kh");
  EXPECT_EQ(config.listen, "0.0.0.0:9443");
  EXPECT_TRUE(config.plain_http);
  EXPECT_EQ(config.plain_listen, "127.0.0.1:8080");
  EXPECT_EQ(config.public_url, "https://kh.example.com");
  EXPECT_EQ(config.threads, 3u);
  EXPECT_EQ(config.max_connections, 50u);
  EXPECT_EQ(config.request_timeout_seconds, 7u);
  EXPECT_EQ(config.log_level, "debug");
}

TEST_F(ConfigTest, RejectsUnknownKeysWrongTypesAndBadSyntax) {
  EXPECT_NE(Load("[server]\nlisen = \"x\"\n").message().find("unknown key server.lisen"), std::string::npos);
  EXPECT_NE(Load("[server]\nthreads = \"two\"\n").message().find("non-negative integer"), std::string::npos);
  EXPECT_NE(Load("[server]\nthreads = -1\n").message().find("non-negative integer"), std::string::npos);
  EXPECT_NE(Load("[server\n").message().find("c.toml:1"), std::string::npos);
  EXPECT_FALSE(Load("top = 1\n").ok());
  EXPECT_FALSE(LoadConfigFile(dir.File("missing.toml"), config).ok());
}

TEST_F(ConfigTest, TunnelLanes) {
  EXPECT_TRUE(config.tunnel.lanes);
  ASSERT_TRUE(Load("[tunnel]\nlanes = false\n").ok());
  EXPECT_FALSE(config.tunnel.lanes);
  EXPECT_NE(Load("[tunnel]\nlanes = 2\n").message().find("tunnel.lanes must be true or false"), std::string::npos);
  // Not only here: an integer is no boolean for the other switches either.
  EXPECT_NE(Load("[server]\nplain_http = 1\n").message().find("must be true or false"), std::string::npos);
  EXPECT_NE(Load("[ratelimits]\nenabled = 0\n").message().find("must be true or false"), std::string::npos);
}

TEST_F(ConfigTest, SystemLogRetention) {
  EXPECT_EQ(config.system_log_retention_days, 90u);
  ASSERT_TRUE(Load("[system_log]\nretention_days = 30\n").ok());
  EXPECT_EQ(config.system_log_retention_days, 30u);
  EXPECT_FALSE(Load("[system_log]\nretention_days = 0\n").ok());
  EXPECT_FALSE(Load("[system_log]\nretention_days = \"long\"\n").ok());
  EXPECT_NE(Load("[system_log]\nretention = 5\n").message().find("unknown key"), std::string::npos);
}

TEST_F(ConfigTest, ReadsRateLimits) {
  ASSERT_TRUE(Load(R"([ratelimits]
enabled = false
default_per_minute = 500
unauthenticated_per_minute = 7
trusted_proxies = ["10.0.0.0/8", "::1"]
exception_lead_business_days = 3
[ratelimits.endpoints]
"GET /api/v1/logs" = 120
)").ok());
  EXPECT_FALSE(config.rate_limits.enabled);
  EXPECT_EQ(config.rate_limits.default_per_minute, 500u);
  EXPECT_EQ(config.rate_limits.unauthenticated_per_minute, 7u);
  EXPECT_EQ(config.rate_limits.trusted_proxies, (std::vector<std::string>{"10.0.0.0/8", "::1"}));
  EXPECT_EQ(config.rate_limit_lead_business_days, 3);
  EXPECT_EQ(config.rate_limits.endpoints.at("GET /api/v1/logs"), 120u);
  EXPECT_FALSE(Load("[ratelimits.endpoints]\n\"/api/v1/logs\" = 5\n").ok());     // no method
  EXPECT_FALSE(Load("[ratelimits.endpoints]\n\"GET /api/v1/logs\" = -5\n").ok());
  EXPECT_FALSE(Load("[ratelimits]\ntrusted_proxies = [1, 2]\n").ok());
  EXPECT_FALSE(Load("[ratelimits]\ndefault_per_minute = 4294967296\n").ok());  // would wrap to 0
  EXPECT_FALSE(Load("[ratelimits]\nexception_lead_business_days = 100000\n").ok());
}

TEST(SplitHostPort, Forms) {
  std::string host;
  uint16_t port = 1;
  ASSERT_TRUE(SplitHostPort("127.0.0.1:0", &host, &port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 0);
  ASSERT_TRUE(SplitHostPort("[::1]:8443", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 8443);
  EXPECT_FALSE(SplitHostPort("localhost", &host, &port).ok());
  EXPECT_FALSE(SplitHostPort("h:70000", &host, &port).ok());
  EXPECT_FALSE(SplitHostPort("h:8x", &host, &port).ok());
}

}  // namespace
}  // namespace keyhole::coord
