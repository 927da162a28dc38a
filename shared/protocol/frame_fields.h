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
inline bool IsFieldValue(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= '\r' && (u == '\r' || u == '\n' || u == '\0')) return false;
  }
  return true;
}

// Origin-form as it goes on the upstream's request line: a leading '/', no whitespace or control bytes.
inline bool IsOriginForm(std::string_view s) {
  if (s.empty() || s[0] != '/') return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
  }
  return true;
}

// The decoder's rules for a REQUEST_HEAD's upstream, method and target, and for header field
// `index`, shared with Validate so that the two cannot drift apart: empty when they pass, else
// the problem as the refusal names it (after "REQUEST_HEAD: "). Allocates only on a refusal.
inline std::string RequestLineProblem(std::string_view upstream, std::string_view method, std::string_view target);
inline std::string HeaderFieldProblem(size_t index, std::string_view name, std::string_view value);

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

inline std::string RequestLineProblem(std::string_view upstream, std::string_view method, std::string_view target) {
  if (upstream.empty()) return "empty upstream";
  if (method.empty()) return "empty method";
  if (!IsHttpToken(method)) return "method '" + EscapeForMessage(method) + "' is not an HTTP token";
  if (target.empty() || target[0] != '/') return "target '" + EscapeForMessage(target) + "' does not start with '/'";
  if (!IsOriginForm(target)) return "target '" + EscapeForMessage(target) + "' contains whitespace or control bytes";
  return {};
}

inline std::string HeaderFieldProblem(size_t index, std::string_view name, std::string_view value) {
  if (name.empty()) return "header " + std::to_string(index) + " has an empty name";
  if (!IsHttpToken(name)) return "header name '" + EscapeForMessage(name) + "' has a byte not allowed in an HTTP token";
  if (!IsFieldValue(value)) return "header '" + EscapeForMessage(name) + "' value contains CR, LF or NUL";
  return {};
}

}  // namespace keyhole::protocol
