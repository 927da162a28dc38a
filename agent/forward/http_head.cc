#include "agent/forward/http_head.h"

#include <strings.h>

#include <array>
#include <charconv>
#include <cstdio>

#include "shared/protocol/http_fields.h"

namespace keyhole::agent {
namespace {

using protocol::EqualsNoCase;

// tchar (RFC 9110): a table, since this runs on every byte of every forwarded field name.
constexpr auto kTokenChars = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = t[c - 'a' + 'A'] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

bool IsTokenChar(char c) { return kTokenChars[static_cast<unsigned char>(c)]; }

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// Field values: visible characters, spaces and tabs, obs-text; never CR, LF or NUL.
bool IsFieldValue(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u == '\r' || u == '\n' || u == 0 || (u < 0x20 && u != '\t') || u == 0x7f) return false;
  }
  return true;
}

bool IsOriginForm(std::string_view target) {
  if (target.empty() || target.front() != '/') return false;
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool IsHopByHopField(std::string_view name, std::string_view connection) {
  if (protocol::IsFixedHopByHop(name)) return true;
  while (!connection.empty()) {
    const size_t comma = connection.find(',');
    if (EqualsNoCase(Trim(connection.substr(0, comma)), name)) return true;
    if (comma == std::string_view::npos) break;
    connection.remove_prefix(comma + 1);
  }
  return false;
}

std::string QuoteForReason(std::string_view text, size_t max) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    const bool plain = u >= 0x20 && u < 0x7f && u != '\\';
    if (out.size() + (plain ? 1 : 4) > max) return out + "...";
    if (plain) {
      out += static_cast<char>(u);
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out.append(buf, 4);
    }
  }
  return out;
}

void AppendChunkHeader(size_t size, std::string& out) {
  char buf[24];
  const int n = std::snprintf(buf, sizeof buf, "%zx\r\n", size);
  out.append(buf, static_cast<size_t>(n));
}

StatusOr<RequestFraming> WriteUpstreamRequestHead(const protocol::RequestHead& head, const UpstreamTarget& target,
                                                  std::string& out) {
  if (!IsToken(head.method)) return InvalidArgumentError("bad request method");
  if (!IsOriginForm(head.target)) return InvalidArgumentError("bad request target");
  RequestFraming framing;
  framing.head_method = head.method == "HEAD";
  std::string_view connection;
  for (const auto& [name, value] : head.headers) {
    if (!IsToken(name)) return InvalidArgumentError("bad header field name");
    if (!IsFieldValue(value)) return InvalidArgumentError("bad value of header field " + QuoteForReason(name));
    if (EqualsNoCase(name, "connection")) connection = value;
  }
  // One allocation for the whole head, not one per doubling.
  size_t size = head.method.size() + head.target.size() + target.host_header.size() + 64;
  for (const auto& [name, value] : head.headers) size += name.size() + value.size() + 4;
  out.reserve(out.size() + size);
  out.append(head.method).append(" ").append(head.target).append(" HTTP/1.1\r\nHost: ").append(target.host_header);
  out.append("\r\n");
  for (const auto& [name, value] : head.headers) {
    if (EqualsNoCase(name, "host") || IsHopByHopField(name, connection)) continue;
    // Expect: 100-continue would make the upstream wait for a go-ahead the body streams without.
    if (EqualsNoCase(name, "expect")) continue;
    if (EqualsNoCase(name, "content-length")) {
      const std::string_view v = Trim(value);
      uint64_t n = 0;
      auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || end != v.data() + v.size() || v.empty()) return InvalidArgumentError("bad Content-Length");
      if (framing.content_length && *framing.content_length != n) return InvalidArgumentError("conflicting Content-Length");
      if (framing.content_length) continue;  // the same value twice: send it once
      framing.content_length = n;
    }
    out.append(name).append(": ").append(Trim(value)).append("\r\n");
  }
  if (!framing.content_length) {
    if (!head.end_stream) {
      framing.chunked = true;
      out.append("Transfer-Encoding: chunked\r\n");
    } else if (head.method == "POST" || head.method == "PUT" || head.method == "PATCH") {
      out.append("Content-Length: 0\r\n");
      framing.content_length = 0;
    }
  }
  out.append("\r\n");
  return framing;
}

}  // namespace keyhole::agent
