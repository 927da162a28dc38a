#include "shared/clock/iso8601.h"

#include <gtest/gtest.h>

#include <utility>

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

TEST(IsoDuration, AcceptsDaysHoursMinutesSeconds) {
  using std::chrono::hours;
  using std::chrono::milliseconds;
  using std::chrono::minutes;
  using std::chrono::seconds;
  const std::pair<const char*, milliseconds> cases[] = {
      {"PT24H", hours(24)},
      {"P1D", hours(24)},
      {"P30D", hours(24 * 30)},
      {"PT1M", minutes(1)},
      {"PT90S", seconds(90)},
      {"PT0S", seconds(0)},
      {"P1DT2H30M", hours(26) + minutes(30)},
      {"P1DT1S", hours(24) + seconds(1)},
      {"PT1H30M15S", hours(1) + minutes(30) + seconds(15)},
      {"PT999999999S", seconds(999999999)},
  };
  for (const auto& [text, expected] : cases) {
    auto d = ParseIsoDuration(text);
    ASSERT_TRUE(d.has_value()) << text;
    EXPECT_EQ(*d, expected) << text;
  }
}

TEST(IsoDuration, RefusesWhatItDoesNotSpeak) {
  for (const char* text : {"", "P", "PT", "P1M", "P1Y", "P1W", "PT1.5S", "PT1,5S", "PT1H1D", "-PT1H", "+PT1H",
                           "PT9999999999S", "P1DT", "PT1S1M", "PT1M1M", "P1D1D", "1D", "T1H", "pt1h", "PT1h",
                           "PTH", "P1", "PT1H ", " PT1H", "P-1D", "PT1X"}) {
    EXPECT_FALSE(ParseIsoDuration(text).has_value()) << '"' << text << '"';
  }
}

}  // namespace
}  // namespace keyhole
