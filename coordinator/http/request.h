// Request and Response: Keyhole's own HTTP messages. server/ converts between Beast messages and
// these; everything above it (pipeline, handlers) sees only these types, so handler tests need
// no sockets. Plain values; one request per thread at a time.
#pragma once

#include <nlohmann/json.hpp>
#include <algorithm>
#include <stdexcept>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "coordinator/auth/principal.h"

namespace keyhole::coord {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// A path template's parameters ("poolId" → "0oa…"): two or three per request, so a flat list
// searched in order, not a hash map (which costs an allocation per parameter on every request).
// The subset of std::map's interface the handlers use.
class PathParams {
 public:
  using value_type = std::pair<std::string, std::string>;
  using Items = std::vector<value_type>;
  using iterator = Items::iterator;
  using const_iterator = Items::const_iterator;

  iterator find(std::string_view name) {
    return std::find_if(items_.begin(), items_.end(), [name](const value_type& p) { return p.first == name; });
  }
  const_iterator find(std::string_view name) const {
    return std::find_if(items_.begin(), items_.end(), [name](const value_type& p) { return p.first == name; });
  }
  size_t count(std::string_view name) const { return find(name) == end() ? 0 : 1; }
  // Throws std::out_of_range when absent, as std::map::at does.
  const std::string& at(std::string_view name) const {
    auto it = find(name);
    if (it == end()) throw std::out_of_range("no path parameter " + std::string(name));
    return it->second;
  }
  std::string& operator[](std::string_view name) {
    auto it = find(name);
    if (it != end()) return it->second;
    if (items_.capacity() == 0) items_.reserve(4);
    return items_.emplace_back(std::string(name), std::string()).second;
  }
  iterator begin() { return items_.begin(); }
  iterator end() { return items_.end(); }
  const_iterator begin() const { return items_.begin(); }
  const_iterator end() const { return items_.end(); }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  void clear() { items_.clear(); }

 private:
  Items items_;
};

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
  PathParams params;  // path template parameters

  const std::string* Header(std::string_view name) const { return FindHeader(headers, name); }
  std::optional<std::string> Query(std::string_view name) const;
  const std::string& Param(std::string_view name) const { return params.at(name); }
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
