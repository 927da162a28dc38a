#include "coordinator/http/router.h"

#include <map>

#include "coordinator/http/url.h"

namespace keyhole::coord {

// Lookups by string_view, without building a std::string per path segment on every request.
struct TransparentHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

struct Router::Node {
  std::unordered_map<std::string, std::unique_ptr<Node>, TransparentHash, std::equal_to<>> literal;
  std::unique_ptr<Node> param;
  std::string param_name;
  std::map<std::string, std::pair<Handler, size_t>, std::less<>> methods;  // → handler, route id; ordered for Allow
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
  routes_.push_back(Route{method, std::string(pattern), options.is_public, options.unthrottled, options.agent});
  node->methods[std::move(method)] = {std::move(handler), routes_.size() - 1};
}

namespace {

// Depth-first: a literal segment is tried before a parameter, and the search backtracks, so
// "GET /users/me" (literal) and "POST /users/{userId}" both match their own requests. The first
// node that completes the path is remembered for a 405 if no node has the method.
template <class Node>
const Node* Walk(const Node* node, const std::vector<std::string_view>& segs, size_t i, std::string_view method,
                 std::vector<std::pair<const Node*, std::string_view>>& params, const Node** path_only,
                 std::vector<std::pair<const Node*, std::string_view>>* path_only_params) {
  if (i == segs.size()) {
    if (node->methods.empty()) return nullptr;
    if (node->methods.find(method) != node->methods.end() || (method == "HEAD" && node->methods.count("GET"))) return node;
    if (!*path_only) {
      *path_only = node;
      *path_only_params = params;
    }
    return nullptr;
  }
  if (auto it = node->literal.find(segs[i]); it != node->literal.end()) {
    if (const Node* found = Walk(it->second.get(), segs, i + 1, method, params, path_only, path_only_params)) return found;
  }
  if (node->param) {
    params.emplace_back(node, segs[i]);
    if (const Node* found = Walk(node->param.get(), segs, i + 1, method, params, path_only, path_only_params)) return found;
    params.pop_back();
  }
  return nullptr;
}

}  // namespace

RouteMatch Router::Match(std::string_view method, std::string_view path) const {
  RouteMatch match;
  // A trailing slash is not the same resource; Okta answers 404 for it too.
  if (path.empty() || (path.size() > 1 && path.back() == '/')) return match;
  const std::vector<std::string_view> segs = Segments(path);
  std::vector<std::pair<const Node*, std::string_view>> params, path_only_params;
  const Node* path_only = nullptr;
  const Node* node = Walk(root_.get(), segs, 0, method, params, &path_only, &path_only_params);
  auto decode = [&match](const std::vector<std::pair<const Node*, std::string_view>>& raw) {
    for (const auto& [owner, value] : raw) {
      auto decoded = PercentDecode(value, /*plus_is_space=*/false);
      if (!decoded) return false;
      match.params[owner->param_name] = std::move(*decoded);
    }
    return true;
  };
  if (node == nullptr) {
    if (path_only == nullptr || !decode(path_only_params)) return RouteMatch{};
    match.path_known = true;
    for (const auto& [m, h] : path_only->methods) {
      if (!match.allow.empty()) match.allow += ", ";
      match.allow += m;
    }
    match.params.clear();
    return match;
  }
  if (!decode(params)) return RouteMatch{};
  auto it = node->methods.find(method);
  if (it == node->methods.end()) it = node->methods.find("GET");  // HEAD
  match.handler = &it->second.first;
  match.route_id = it->second.second;
  match.route = &routes_[match.route_id];
  return match;
}

}  // namespace keyhole::coord
