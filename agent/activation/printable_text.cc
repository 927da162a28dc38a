#include "agent/activation/printable_text.h"

#include <algorithm>
#include <cstdint>

namespace keyhole::agent {
namespace {

// The length of the well-formed UTF-8 sequence at text[i], or 0 (overlong forms, surrogates and
// code points past U+10FFFF are not well-formed). `cp` receives its code point.
size_t Utf8Length(std::string_view text, size_t i, uint32_t& cp) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const unsigned char lead = b(0);
  size_t n;
  uint32_t min;
  if (lead < 0x80) {
    cp = lead;
    return 1;
  } else if ((lead & 0xe0) == 0xc0) {
    n = 2, cp = lead & 0x1f, min = 0x80;
  } else if ((lead & 0xf0) == 0xe0) {
    n = 3, cp = lead & 0x0f, min = 0x800;
  } else if ((lead & 0xf8) == 0xf0) {
    n = 4, cp = lead & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

}  // namespace

std::string PrintableText(std::string_view text, size_t max) {
  std::string out;
  out.reserve(std::min(text.size(), max));
  size_t i = 0;
  while (i < text.size()) {
    uint32_t cp = 0;
    size_t n = Utf8Length(text, i, cp);
    std::string_view piece;
    char replacement = 0;
    if (n == 0) {
      replacement = '?';
      n = 1;
    } else if (cp < 0x20 || cp == 0x7f) {
      replacement = ' ';
    } else if (cp >= 0x80 && cp <= 0x9f) {
      replacement = '?';
    } else {
      piece = text.substr(i, n);
    }
    const size_t width = replacement ? 1 : piece.size();
    if (out.size() + width > max) {
      // Cut on a character boundary (`out` holds only whole characters), leaving room for the mark.
      while (!out.empty() && out.size() + 3 > max) {
        while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xc0) == 0x80) out.pop_back();
        if (!out.empty()) out.pop_back();
      }
      return out + std::string("...").substr(0, max);
    }
    if (replacement) {
      out += replacement;
    } else {
      out.append(piece);
    }
    i += n;
  }
  return out;
}

}  // namespace keyhole::agent
