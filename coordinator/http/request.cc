#include "coordinator/http/request.h"

#include <strings.h>

namespace keyhole::coord {

const std::string* FindHeader(const HeaderList& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), name.size()) == 0) return &v;
  }
  return nullptr;
}

std::optional<std::string> Request::Query(std::string_view name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return v;
  }
  return std::nullopt;
}

std::optional<std::string> ResponseHeader(const Response& r, std::string_view name) {
  if (r.rate_limit) {
    if (strcasecmp(std::string(name).c_str(), "X-Rate-Limit-Limit") == 0) return std::to_string(r.rate_limit->limit);
    if (strcasecmp(std::string(name).c_str(), "X-Rate-Limit-Remaining") == 0) return std::to_string(r.rate_limit->remaining);
    if (strcasecmp(std::string(name).c_str(), "X-Rate-Limit-Reset") == 0) return std::to_string(r.rate_limit->reset_epoch_seconds);
  }
  if (const std::string* v = FindHeader(r.headers, name)) return *v;
  return std::nullopt;
}

Response Response::Json(int status, const nlohmann::json& body) {
  Response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r.AddHeader("Content-Type", "application/json");
  return r;
}

}  // namespace keyhole::coord
