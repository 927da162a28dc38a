#include "shared/clock/iso8601.h"

#include <cstdio>
#include <ctime>

namespace keyhole {
namespace {

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

std::tm ToTm(WallTime t, int* millis) {
  int64_t ms = ToEpochMillis(t);
  int64_t secs = ms / 1000;
  int64_t rem = ms % 1000;
  if (rem < 0) {
    rem += 1000;
    secs -= 1;
  }
  *millis = static_cast<int>(rem);
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return tm;
}

}  // namespace

std::string FormatIso8601(WallTime t) {
  int millis = 0;
  std::tm tm = ToTm(t, &millis);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

std::string FormatHttpDate(WallTime t) {
  int millis = 0;
  std::tm tm = ToTm(t, &millis);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

std::optional<WallTime> ParseIso8601(std::string_view s) {
  int year, mon, day, hour, min, sec;
  if (!Digits(s, 0, 4, &year) || s.size() < 19 || s[4] != '-' || !Digits(s, 5, 2, &mon) || s[7] != '-' ||
      !Digits(s, 8, 2, &day) || (s[10] != 'T' && s[10] != 't') || !Digits(s, 11, 2, &hour) || s[13] != ':' ||
      !Digits(s, 14, 2, &min) || s[16] != ':' || !Digits(s, 17, 2, &sec)) {
    return std::nullopt;
  }
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) return std::nullopt;
  size_t pos = 19;
  int millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t start = pos;
    int scale = 100;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      millis += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start || pos - start > 9) return std::nullopt;
  }
  int offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int sign = s[pos] == '-' ? -1 : 1;
    int oh, om;
    if (!Digits(s, pos + 1, 2, &oh)) return std::nullopt;
    size_t mpos = pos + 3;
    if (mpos < s.size() && s[mpos] == ':') ++mpos;
    if (!Digits(s, mpos, 2, &om) || oh > 23 || om > 59) return std::nullopt;
    offset_minutes = sign * (oh * 60 + om);
    pos = mpos + 2;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;

  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  std::time_t secs = timegm(&tm);
  // timegm normalizes 31 Feb into March; refuse dates that do not exist.
  std::tm check{};
  gmtime_r(&secs, &check);
  if (check.tm_mday != day && sec != 60) return std::nullopt;
  int64_t ms = (static_cast<int64_t>(secs) - offset_minutes * 60) * 1000 + millis;
  return FromEpochMillis(ms);
}

std::optional<std::chrono::milliseconds> ParseIsoDuration(std::string_view text) {
  if (text.size() < 3 || text.size() > 40 || text[0] != 'P') return std::nullopt;
  int64_t seconds = 0;
  bool in_time = false, any = false;
  char last_unit = 0;  // units must come in order: D, then T, then H, M, S
  constexpr std::string_view kOrder = "DHMS";
  for (size_t i = 1; i < text.size();) {
    if (text[i] == 'T') {
      if (in_time) return std::nullopt;
      in_time = true;
      ++i;
      if (i == text.size()) return std::nullopt;
      continue;
    }
    int64_t n = 0;
    size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      n = n * 10 + (text[i] - '0');
      if (++digits > 9) return std::nullopt;
      ++i;
    }
    if (digits == 0 || i == text.size()) return std::nullopt;
    char unit = text[i++];
    if ((unit == 'D') == in_time) return std::nullopt;  // D before T; H, M, S after it
    size_t pos = kOrder.find(unit);
    if (pos == std::string_view::npos || (last_unit && pos <= kOrder.find(last_unit))) return std::nullopt;
    last_unit = unit;
    static constexpr int64_t kSeconds[] = {86400, 3600, 60, 1};
    seconds += n * kSeconds[pos];
    any = true;
  }
  if (!any) return std::nullopt;
  return std::chrono::seconds(seconds);
}

}  // namespace keyhole
