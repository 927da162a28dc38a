#include "shared/protocol/lanes.h"

#include <gtest/gtest.h>

#include <string>

namespace keyhole::protocol {
namespace {

TEST(LanesTest, ParsesWhatTheCoordinatorSendsAndRefusesTheRest) {
  EXPECT_EQ(ParseLane("0/1"), (Lane{0, 1}));
  EXPECT_EQ(ParseLane("3/8"), (Lane{3, 8}));
  EXPECT_EQ(ParseLane("63/64"), (Lane{63, 64}));
  for (const char* bad : {"", "/", "1", "1/", "/2", "2/2", "0/0", "0/65", "-1/2", "a/2", "1/2x", " 1/2", "1/ 2",
                          "1//2", "99999999999/2", "0/99999999999"}) {
    EXPECT_FALSE(ParseLane(bad)) << bad;
  }
}

TEST(LanesTest, SessionIdsAreShortPlainTokens) {
  EXPECT_TRUE(IsSessionId("0123456789abcdef0123456789abcdef"));
  EXPECT_TRUE(IsSessionId("A-z_9"));
  EXPECT_TRUE(IsSessionId(std::string(kMaxSessionId, 'a')));
  EXPECT_FALSE(IsSessionId(std::string(kMaxSessionId + 1, 'a')));
  EXPECT_FALSE(IsSessionId(""));
  for (const char* bad : {"a b", "a\r\nX: y", "a;b", "é", "a/b", "a\t"}) EXPECT_FALSE(IsSessionId(bad)) << bad;
}

}  // namespace
}  // namespace keyhole::protocol
