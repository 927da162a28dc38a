// What frame.cc (the encoder and Validate) and frame_decoder.cc share: the rules for field
// contents and the escaping of untrusted bytes in error messages. Internal to shared/protocol;
// pure functions, thread-safe.
#pragma once

#include <array>
#include <cstdio>
#include <string>
#include <string_view>

#include "shared/protocol/frame.h"

namespace keyhole::protocol {

inline constexpr size_t kMaxString = 0xffff;  // a u16 length prefix

inline constexpr std::array<bool, 256> kHttpTokenChar = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

// RFC 9110 token (a method, a field name): one or more tchars.
inline bool IsHttpToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!kHttpTokenChar[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

// Field values may carry obs-text and HTAB, never what would split or end a header line.
inline bool IsFieldValue(std::string_view s) { return s.find_first_of(std::string_view("\r\n\0", 3)) == s.npos; }

// Origin-form as it goes on the upstream's request line: a leading '/', no whitespace or control bytes.
inline bool IsOriginForm(std::string_view s) {
  if (s.empty() || s[0] != '/') return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
  }
  return true;
}

inline bool IsHeadType(FrameType type) { return type == FrameType::kRequestHead || type == FrameType::kResponseHead; }

// Untrusted bytes for an error message or a log line: printable ASCII kept, the rest as \xNN, cut
// after 64 bytes.
inline std::string EscapeForMessage(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 64)) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\'' && c != '\\') {
      out += c;
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    }
  }
  if (s.size() > 64) out += "...";
  return out;
}

}  // namespace keyhole::protocol
