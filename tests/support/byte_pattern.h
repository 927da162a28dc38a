// The byte pattern of the tunnel tests' generated bodies: byte i is i % 251 (a prime period, so a
// piece that is lost, repeated or shifted shows). keyhole-test-upstream sends it from /bytes and
// checks it in /sink; the streaming client generates and checks it. Header-only, no dependencies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace keyhole::testing {

inline constexpr uint64_t kPatternPeriod = 251;

// 256 KiB and more of the pattern, from offset 0, built once: pieces are copied or compared from it.
struct PatternTable {
  static constexpr size_t kSize = kPatternPeriod * 1045 + kPatternPeriod;
  char bytes[kSize];
  PatternTable() {
    for (size_t i = 0; i < kSize; ++i) bytes[i] = static_cast<char>(i % kPatternPeriod);
  }
  static const PatternTable& Get() {
    static const PatternTable table;
    return table;
  }
};

// Writes bytes [offset, offset + n) of the pattern to `out`.
inline void FillPattern(uint64_t offset, char* out, size_t n) {
  const PatternTable& t = PatternTable::Get();
  size_t r = static_cast<size_t>(offset % kPatternPeriod);
  while (n > 0) {
    size_t k = n < PatternTable::kSize - r ? n : PatternTable::kSize - r;
    std::memcpy(out, t.bytes + r, k);
    out += k;
    n -= k;
    r = (r + k) % kPatternPeriod;
  }
}

// True if `p[0, n)` are bytes [offset, offset + n) of the pattern.
inline bool MatchesPattern(uint64_t offset, const char* p, size_t n) {
  const PatternTable& t = PatternTable::Get();
  size_t r = static_cast<size_t>(offset % kPatternPeriod);
  while (n > 0) {
    size_t k = n < PatternTable::kSize - r ? n : PatternTable::kSize - r;
    if (std::memcmp(p, t.bytes + r, k) != 0) return false;
    p += k;
    n -= k;
    r = (r + k) % kPatternPeriod;
  }
  return true;
}

}  // namespace keyhole::testing
