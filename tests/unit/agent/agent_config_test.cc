// agent.toml: defaults, every key, wrong types, unknown keys (named), upstream URL validation, and
// the missing-file rules (default path optional, explicit path required).
#include "agent/config/agent_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/agent/agent_fakes.h"

namespace keyhole::agent {
namespace {

using ::testing::HasSubstr;

StatusOr<AgentConfig> Parse(const std::string& text) { return ParseAgentConfig(text, "agent.toml"); }

TEST(AgentConfigTest, EmptyGivesDefaults) {
  auto c = Parse("");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->heartbeat_interval_seconds, 30);
  EXPECT_EQ(c->rotate_every_days, 7);
  EXPECT_EQ(c->log_level, "info");
  EXPECT_TRUE(c->upstreams.empty());
}

TEST(AgentConfigTest, ReadsEveryKey) {
  auto c = Parse(R"(
coordinator = "https://coordinator.example:8443"
name = "dc-eu1-01"
log_level = "debug"
heartbeat_interval_seconds = 5
rotate_every_days = 2

[upstreams.ldap]
url = "http://127.0.0.1:389"

[upstreams.api]
url = "https://api.internal"
ca_file = "/etc/ssl/internal.pem"
)");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->coordinator, "https://coordinator.example:8443");
  EXPECT_EQ(c->name, "dc-eu1-01");
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->heartbeat_interval_seconds, 5);
  EXPECT_EQ(c->rotate_every_days, 2);
  ASSERT_EQ(c->upstreams.size(), 2u);
  EXPECT_EQ(c->upstreams.at("ldap").url, "http://127.0.0.1:389");
  EXPECT_EQ(c->upstreams.at("api").ca_file, "/etc/ssl/internal.pem");
}

TEST(AgentConfigTest, WrongTypesAndRangesAreErrorsNamingTheKey) {
  struct Case {
    const char* text;
    const char* expected;
  } cases[] = {
      {"heartbeat_interval_seconds = \"30\"", "heartbeat_interval_seconds must be an integer"},
      {"heartbeat_interval_seconds = 0", "heartbeat_interval_seconds must be an integer from 1"},
      {"heartbeat_interval_seconds = 2.5", "heartbeat_interval_seconds"},
      {"rotate_every_days = -1", "rotate_every_days"},
      {"rotate_every_days = 10000", "rotate_every_days"},
      {"name = 3", "name must be a string"},
      {"name = \"\"", "name must have 1 to 100"},
      {"log_level = \"loud\"", "log_level must be"},
      {"coordinator = \"ftp://x\"", "coordinator must be"},
      {"upstreams = 3", "upstreams must be a table"},
      {"[upstreams.x]\nurl = 5", "upstreams.x.url must be a string"},
      {"[upstreams.x]\nca_file = \"/a\"", "upstreams.x.url is required"},
      {"[upstreams.x]\nurl = \"http://h:80\"\nca_file = \"/a\"", "ca_file applies to https://"},
      {"this is not toml", "agent.toml:1"},
  };
  for (const auto& c : cases) {
    auto r = Parse(c.text);
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr(c.expected)) << c.text;
  }
}

TEST(AgentConfigTest, UnknownKeysAreNamed) {
  EXPECT_THAT(Parse("heartbeat_interval = 3").status().message(), HasSubstr("unknown key heartbeat_interval"));
  EXPECT_THAT(Parse("[server]\nport = 1").status().message(), HasSubstr("unknown key server"));
  EXPECT_THAT(Parse("[upstreams.ldap]\nurl = \"http://h:389\"\ntimeout = 3").status().message(),
              HasSubstr("unknown key upstreams.ldap.timeout"));
}

TEST(AgentConfigTest, UpstreamUrls) {
  for (const char* good : {"http://127.0.0.1:389", "http://ldap.corp:8080/", "https://api.internal",
                           "https://api.internal:8443", "http://[::1]:8080"}) {
    EXPECT_TRUE(ValidateUpstreamUrl(good).ok()) << good;
  }
  for (const char* bad : {"ldap://h:389", "http://h", "http://h:0", "http://h:70000", "http://h:80/path",
                          "http://user@h:80", "http://h:80?q", "https://", "http://:80", "h:80", "http://[::1",
                          "http://h:", "http://a b:80"}) {
    EXPECT_FALSE(ValidateUpstreamUrl(bad).ok()) << bad;
  }
  EXPECT_THAT(Parse("[upstreams.bad]\nurl = \"ftp://h:21\"").status().message(), HasSubstr("upstreams.bad.url"));
  EXPECT_THAT(Parse("[upstreams.\"a/b\"]\nurl = \"http://h:1\"").status().message(), HasSubstr("upstream name"));
}

TEST(AgentConfigTest, MissingFileRules) {
  testing::FakeFileSystem fs;
  auto defaults = LoadAgentConfig(fs, kDefaultConfigPath, /*required=*/false);
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(*defaults, AgentConfig{});
  auto missing = LoadAgentConfig(fs, "/etc/other.toml", /*required=*/true);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("/etc/other.toml does not exist"));
  fs.files["/etc/other.toml"] = {"rotate_every_days = 3\n", 0644};
  auto present = LoadAgentConfig(fs, "/etc/other.toml", true);
  ASSERT_TRUE(present.ok());
  EXPECT_EQ(present->rotate_every_days, 3);
}

}  // namespace
}  // namespace keyhole::agent
