// Which coordinator URLs the agent talks to: https:// anywhere, http:// only to loopback; hosts
// that merely look like loopback are not.
#include "agent/activation/coordinator_url.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace keyhole::agent {
namespace {

TEST(CoordinatorUrlTest, HttpsAnywhereHttpOnlyToLoopback) {
  for (const char* ok : {"https://kh.example:8443", "HTTPS://kh.example", "https://10.0.0.1", "http://127.0.0.1:8080",
                         "http://127.3.2.1", "http://localhost:1234/base", "http://LocalHost", "http://[::1]:8443",
                         "http://[::1]"}) {
    EXPECT_TRUE(CoordinatorUrl::Check(ok).ok()) << ok;
  }
  for (const char* refused : {"http://kh.example", "http://10.0.0.1:8080", "http://128.0.0.1", "http://127.0.0.1.evil.example",
                              "http://localhost.evil.example", "http://evil.example/127.0.0.1", "http://2130706433",
                              "http://127.1", "http://[::2]", "http://[::ffff:10.0.0.1]", "http://localhost@evil.example",
                              "ftp://localhost", "kh.example", ""}) {
    Status s = CoordinatorUrl::Check(refused);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << refused;
  }
  EXPECT_THAT(CoordinatorUrl::Check("http://kh.example:80").message(),
              ::testing::HasSubstr("http:// would send the activation code and the agent's token in clear; use https://"));
}

TEST(CoordinatorUrlTest, Host) {
  EXPECT_EQ(CoordinatorUrl::Host("https://kh.example:8443/x?y#z"), "kh.example");
  EXPECT_EQ(CoordinatorUrl::Host("http://[::1]:80/"), "[::1]");
  EXPECT_EQ(CoordinatorUrl::Host("http://u@h"), "h");
  EXPECT_EQ(CoordinatorUrl::Host("nothing"), "");
}

}  // namespace
}  // namespace keyhole::agent
