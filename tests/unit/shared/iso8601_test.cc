#include "shared/clock/iso8601.h"

#include <gtest/gtest.h>

namespace keyhole {
namespace {

TEST(Iso8601, FormatsUtcWithMilliseconds) {
  EXPECT_EQ(FormatIso8601(FromEpochMillis(1795821000123)), "2026-11-27T23:10:00.123Z");
  EXPECT_EQ(FormatIso8601(FromEpochMillis(0)), "1970-01-01T00:00:00.000Z");
}

TEST(Iso8601, ParsesWhatItFormats) {
  WallTime t = FromEpochMillis(1795821000123);
  EXPECT_EQ(ParseIso8601(FormatIso8601(t)), t);
}

TEST(Iso8601, ParsesOffsetsAndFractions) {
  EXPECT_EQ(ParseIso8601("2013-01-01T12:00:00.000-07:00"), ParseIso8601("2013-01-01T19:00:00.000Z"));
  EXPECT_EQ(ParseIso8601("2013-01-01T12:00:00+0100"), ParseIso8601("2013-01-01T11:00:00Z"));
  EXPECT_EQ(ParseIso8601("2013-01-01T12:00:00.5Z"), ParseIso8601("2013-01-01T12:00:00.500Z"));
}

TEST(Iso8601, RejectsMalformed) {
  for (const char* bad : {"", "2013-01-01", "2013-01-01T12:00:00", "2013-13-01T00:00:00Z", "2013-02-30T00:00:00Z",
                          "2013-01-01T12:00:00.Z", "2013-01-01T12:00:00Zjunk", "yesterday", "2013-01-01T25:00:00Z"}) {
    EXPECT_FALSE(ParseIso8601(bad).has_value()) << bad;
  }
}

TEST(Iso8601, HttpDate) {
  EXPECT_EQ(FormatHttpDate(FromEpochMillis(1795820988000)), "Fri, 27 Nov 2026 23:09:48 GMT");
}

}  // namespace
}  // namespace keyhole
