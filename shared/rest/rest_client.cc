#include "shared/rest/rest_client.h"

#include <strings.h>

namespace keyhole::rest {
namespace {

bool SameName(const std::string& a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::optional<std::string> RestResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (SameName(k, name)) return v;
  }
  return std::nullopt;
}

std::vector<std::string> RestResponse::Headers(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : headers) {
    if (SameName(k, name)) out.push_back(v);
  }
  return out;
}

}  // namespace keyhole::rest
