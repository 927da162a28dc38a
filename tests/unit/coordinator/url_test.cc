#include "coordinator/http/url.h"

#include <gtest/gtest.h>

namespace keyhole::coord {
namespace {

TEST(Url, PercentDecoding) {
  EXPECT_EQ(PercentDecode("a%20b+c", true), "a b c");
  EXPECT_EQ(PercentDecode("a%20b+c", false), "a b+c");
  EXPECT_FALSE(PercentDecode("%", true).has_value());
  EXPECT_FALSE(PercentDecode("%4", true).has_value());
  EXPECT_FALSE(PercentDecode("%zz", true).has_value());
  EXPECT_FALSE(PercentDecode("a%00b", true).has_value());
}

TEST(Url, IsPercentDecodableAgreesWithPercentDecode) {
  for (const char* in : {"", "abc", "a+b", "%20", "a%2", "%", "%%41", "%4g", "%00", "a%0", "%0a%41%7E", "%ff", "x%zz"}) {
    SCOPED_TRACE(in);
    EXPECT_EQ(IsPercentDecodable(in), PercentDecode(in, false).has_value());
  }
}

TEST(Url, QueryRoundTrip) {
  auto q = ParseQuery("limit=2&q=ada%20l&filter=status+eq+%22ACTIVE%22&flag");
  ASSERT_TRUE(q.has_value());
  ASSERT_EQ(q->size(), 4u);
  EXPECT_EQ((*q)[1].second, "ada l");
  EXPECT_EQ((*q)[2].second, "status eq \"ACTIVE\"");
  EXPECT_EQ((*q)[3].first, "flag");
  EXPECT_EQ(ParseQuery(BuildQuery(*q)), q);
  EXPECT_EQ(BuildQuery({{"after", "12"}, {"q", "a+b"}}), "after=12&q=a%2Bb");
}

}  // namespace
}  // namespace keyhole::coord
