#include "coordinator/http/router.h"

#include <map>

#include "coordinator/http/url.h"

namespace keyhole::coord {

struct Router::Node {
  std::unordered_map<std::string, std::unique_ptr<Node>> literal;
  std::unique_ptr<Node> param;
  std::string param_name;
  std::map<std::string, std::pair<Handler, size_t>> methods;  // → handler, route id; ordered for Allow
};

namespace {

std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace

Router::Router() : root_(std::make_unique<Node>()) {}
Router::~Router() = default;

void Router::Add(std::string method, std::string_view pattern, Handler handler, RouteOptions options) {
  Node* node = root_.get();
  for (std::string_view seg : Segments(pattern)) {
    if (seg.size() > 2 && seg.front() == '{' && seg.back() == '}') {
      if (!node->param) node->param = std::make_unique<Node>();
      node->param_name = std::string(seg.substr(1, seg.size() - 2));
      node = node->param.get();
    } else {
      auto& child = node->literal[std::string(seg)];
      if (!child) child = std::make_unique<Node>();
      node = child.get();
    }
  }
  routes_.push_back(Route{method, std::string(pattern), options.is_public, options.unthrottled});
  node->methods[std::move(method)] = {std::move(handler), routes_.size() - 1};
}

RouteMatch Router::Match(std::string_view method, std::string_view path) const {
  RouteMatch match;
  // A trailing slash is not the same resource; Okta answers 404 for it too.
  if (path.empty() || (path.size() > 1 && path.back() == '/')) return match;
  const Node* node = root_.get();
  for (std::string_view seg : Segments(path)) {
    if (auto it = node->literal.find(std::string(seg)); it != node->literal.end()) {
      node = it->second.get();
    } else if (node->param) {
      auto decoded = PercentDecode(seg, /*plus_is_space=*/false);
      if (!decoded) return RouteMatch{};
      match.params[node->param_name] = std::move(*decoded);
      node = node->param.get();
    } else {
      return RouteMatch{};
    }
  }
  if (node->methods.empty()) return RouteMatch{};
  auto it = node->methods.find(std::string(method));
  if (it == node->methods.end() && method == "HEAD") it = node->methods.find("GET");
  if (it != node->methods.end()) {
    match.handler = &it->second.first;
    match.route_id = it->second.second;
    match.route = &routes_[match.route_id];
    return match;
  }
  match.path_known = true;
  for (const auto& [m, h] : node->methods) {
    if (!match.allow.empty()) match.allow += ", ";
    match.allow += m;
  }
  return match;
}

}  // namespace keyhole::coord
