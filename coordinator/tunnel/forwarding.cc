#include "coordinator/tunnel/forwarding.h"

#include <algorithm>
#include <vector>

#include "coordinator/http/api_error.h"
#include "shared/protocol/http_fields.h"

namespace keyhole::coord {
namespace {

using protocol::EqualsNoCase;
using protocol::IsFixedHopByHop;
using protocol::StartsWithNoCase;

// The field names a Connection header lists.
std::vector<std::string> ConnectionTokens(const protocol::HeaderFields& fields) {
  std::vector<std::string> out;
  for (const auto& [k, v] : fields) {
    if (!EqualsNoCase(k, "Connection")) continue;
    size_t i = 0;
    while (i < v.size()) {
      size_t j = v.find(',', i);
      if (j == std::string::npos) j = v.size();
      std::string_view t(v.data() + i, j - i);
      while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
      while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
      if (!t.empty()) out.emplace_back(t);
      i = j + 1;
    }
  }
  return out;
}

}  // namespace

std::string TunnelTarget(const Request& req) {
  std::string target = "/";
  if (auto it = req.params.find("path"); it != req.params.end()) target += it->second;
  if (size_t q = req.target.find('?'); q != std::string::npos) target.append(req.target, q);
  return target;
}

void DropHopByHop(protocol::HeaderFields& fields) {
  const std::vector<std::string> named = ConnectionTokens(fields);
  std::erase_if(fields, [&](const auto& f) {
    if (IsFixedHopByHop(f.first)) return true;
    return std::any_of(named.begin(), named.end(), [&](const std::string& n) { return EqualsNoCase(n, f.first); });
  });
}

std::optional<Response> CheckRequestHead(const protocol::RequestHead& head) {
  // As it will go out: the link assigns the stream id (Validate refuses stream 0).
  Status s = protocol::Validate(head, /*stream=*/1);
  if (s.ok()) return std::nullopt;
  size_t bytes = head.upstream.size() + head.method.size() + head.target.size() + 64;
  for (const auto& [k, v] : head.headers) bytes += k.size() + v.size() + 4;
  if (head.headers.size() > protocol::kMaxHeaderFields) {
    return OktaError(431, "KH0000003", "Request header fields too large.",
                     {"headers: at most " + std::to_string(protocol::kMaxHeaderFields) + " fields through the tunnel"});
  }
  if (bytes > protocol::kMaxHeadPayload) {
    return OktaError(431, "KH0000003", "Request header fields too large.", {"headers: " + s.message()});
  }
  return ErrorResponse(InvalidArgumentError("request").AddCause("request: " + s.message()));
}

protocol::RequestHead BuildRequestHead(const Request& req, bool has_body) {
  protocol::RequestHead head;
  head.end_stream = !has_body;
  if (auto it = req.params.find("upstream"); it != req.params.end()) head.upstream = it->second;
  head.method = req.method;
  head.target = TunnelTarget(req);
  head.headers.reserve(req.headers.size() + 3);
  // DropHopByHop in the same pass: the fields a Connection header names (none, nearly always).
  const std::vector<std::string> named = ConnectionTokens(req.headers);
  for (const auto& [k, v] : req.headers) {
    // The caller's own forwarding fields say whatever it likes: the upstream gets ours instead.
    if (EqualsNoCase(k, "Authorization") || EqualsNoCase(k, "Host") || EqualsNoCase(k, "Expect") || EqualsNoCase(k, "Forwarded") ||
        EqualsNoCase(k, "X-Real-IP") || StartsWithNoCase(k, "X-Forwarded-") || IsFixedHopByHop(k) ||
        std::any_of(named.begin(), named.end(), [&k](const std::string& n) { return EqualsNoCase(n, k); })) {
      continue;
    }
    head.headers.emplace_back(k, v);
  }
  // The client as the pipeline resolved it (a trusted proxy's X-Forwarded-For believed, nothing
  // else); the TCP peer when the pipeline did not run.
  head.headers.emplace_back("X-Forwarded-For", req.client_ip.empty() ? req.peer_ip : req.client_ip);
  head.headers.emplace_back("X-Forwarded-Proto", req.tls ? "https" : "http");
  if (const std::string* host = req.Header("Host")) head.headers.emplace_back("X-Forwarded-Host", *host);
  return head;
}

}  // namespace keyhole::coord
