#include "coordinator/http/paging.h"

#include <charconv>

#include "coordinator/http/api_error.h"
#include "coordinator/http/url.h"

namespace keyhole::coord {
namespace {

std::optional<int64_t> ParseNonNegative(const std::string& s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

std::string Url(const Request& req, std::optional<int64_t> after) {
  std::vector<std::pair<std::string, std::string>> q;
  for (const auto& kv : req.query) {
    if (kv.first != "after") q.push_back(kv);
  }
  if (after) q.emplace_back("after", std::to_string(*after));
  std::string url = req.base_url + req.path;
  if (!q.empty()) url += "?" + BuildQuery(q);
  return url;
}

}  // namespace

StatusOr<PageRequest> ReadPaging(const Request& req, size_t default_limit, size_t max_limit) {
  PageRequest page{default_limit};
  if (auto limit = req.Query("limit")) {
    auto v = ParseNonNegative(*limit);
    if (!v || *v < 1) {
      return InvalidArgumentError("limit").WithDetail(std::string(kDetailPaging)).AddCause("limit: must be a positive integer");
    }
    page.limit = static_cast<size_t>(std::min<int64_t>(*v, static_cast<int64_t>(max_limit)));
  }
  if (auto after = req.Query("after")) {
    auto v = ParseNonNegative(*after);
    if (!v) return InvalidArgumentError("after").WithDetail(std::string(kDetailPaging)).AddCause("after: not a valid cursor");
    page.after = *v;
  }
  return page;
}

void AddPageLinks(const Request& req, Response& resp, std::optional<int64_t> next_after) {
  std::string self = req.base_url + req.path;
  if (!req.query.empty()) self += "?" + BuildQuery(req.query);
  resp.AddHeader("Link", "<" + self + ">; rel=\"self\"");
  if (next_after) resp.AddHeader("Link", "<" + Url(req, next_after) + ">; rel=\"next\"");
}

}  // namespace keyhole::coord
