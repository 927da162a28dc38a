// Request and Response: Keyhole's own HTTP messages. server/ converts between Beast messages and
// these; everything above it (pipeline, handlers) sees only these types, so handler tests need
// no sockets. Plain values; one request per thread at a time.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "coordinator/auth/principal.h"

namespace keyhole::coord {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive header lookup; the first field with that name, or nullptr.
const std::string* FindHeader(const HeaderList& headers, std::string_view name);

struct Request {
  // Filled by the server.
  std::string method;  // "GET", "POST", …
  std::string target;  // as received: path and query
  HeaderList headers;
  std::string body;
  std::string peer_ip;
  bool tls = false;

  // Filled by the pipeline.
  std::string path;
  std::string client_ip;  // peer_ip, or what a trusted proxy's X-Forwarded-For says
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::string base_url;    // "https://host:port" as the client addressed us
  std::string request_id;  // X-Okta-Request-Id
  std::optional<Principal> principal;
  std::unordered_map<std::string, std::string> params;  // path template parameters

  const std::string* Header(std::string_view name) const { return FindHeader(headers, name); }
  std::optional<std::string> Query(std::string_view name) const;
  const std::string& Param(const std::string& name) const { return params.at(name); }
};

// X-Rate-Limit-Limit, -Remaining and -Reset: on nearly every response, so carried as numbers and
// written by the server straight into its output buffer (no strings to allocate per request).
struct RateLimitHeaders {
  uint32_t limit = 0;
  uint32_t remaining = 0;
  int64_t reset_epoch_seconds = 0;
};

struct Response {
  int status = 200;
  HeaderList headers;
  std::string body;
  std::optional<RateLimitHeaders> rate_limit;

  static Response Json(int status, const nlohmann::json& body);
  static Response NoContent() { return Response{204, {}, {}}; }
  void AddHeader(std::string name, std::string value) { headers.emplace_back(std::move(name), std::move(value)); }
};

// A response header's value as the client will see it, the rate-limit fields included.
std::optional<std::string> ResponseHeader(const Response& r, std::string_view name);

}  // namespace keyhole::coord
