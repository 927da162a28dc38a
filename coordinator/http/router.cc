#include "coordinator/http/router.h"

#include <boost/container/small_vector.hpp>
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
  std::unique_ptr<Node> catch_all;  // "{name...}": the rest of the path
  std::string catch_all_name;
  std::map<std::string, std::pair<Handler, size_t>, std::less<>> methods;  // → handler, route id; ordered for Allow
};

namespace {

// Inline room for the paths the API has (the tunnel's are 6 segments and its catch-all): matching
// a request allocates nothing until it builds the parameters.
using SegmentList = boost::container::small_vector<std::string_view, 16>;

SegmentList Segments(std::string_view path) {
  SegmentList out;
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

bool IsParam(std::string_view seg) { return seg.size() > 2 && seg.front() == '{' && seg.back() == '}'; }

// "{path...}" → "path"; anything else → empty.
std::string_view CatchAllName(std::string_view seg) {
  constexpr std::string_view kDots = "...}";
  if (!IsParam(seg) || seg.size() <= kDots.size() + 1 || seg.substr(seg.size() - kDots.size()) != kDots) return {};
  return seg.substr(1, seg.size() - 1 - kDots.size());
}

}  // namespace

Router::Router() : root_(std::make_unique<Node>()) {}
Router::~Router() = default;

void Router::Add(std::string method, std::string_view pattern, Handler handler, RouteOptions options) {
  Node* node = root_.get();
  std::string shown;  // the pattern as rate limits and logs name it
  for (std::string_view seg : Segments(pattern)) {
    shown += '/';
    if (std::string_view name = CatchAllName(seg); !name.empty()) {
      if (!node->catch_all) node->catch_all = std::make_unique<Node>();
      node->catch_all_name = std::string(name);
      node = node->catch_all.get();
      shown += "{" + std::string(name) + "}";
      break;  // REQUIRES: the catch-all is the last segment
    }
    shown += seg;
    if (IsParam(seg)) {
      if (!node->param) node->param = std::make_unique<Node>();
      node->param_name = std::string(seg.substr(1, seg.size() - 2));
      node = node->param.get();
    } else {
      auto& child = node->literal[std::string(seg)];
      if (!child) child = std::make_unique<Node>();
      node = child.get();
    }
  }
  if (shown.empty()) shown = "/";
  routes_.push_back(Route{method, shown, options.is_public, options.unthrottled, options.agent, options.stream});
  node->methods[std::move(method)] = {std::move(handler), routes_.size() - 1};
}

namespace {

struct RawParam {
  const std::string* name;
  std::string_view value;
  bool raw;  // a catch-all: not percent-decoded
};
using RawParams = boost::container::small_vector<RawParam, 4>;

template <class Node>
bool HasMethod(const Node* node, std::string_view method) {
  return node->methods.find(method) != node->methods.end() || (method == "HEAD" && node->methods.count("GET"));
}

// Depth-first: a literal segment is tried before a parameter, a parameter before a catch-all, and
// the search backtracks, so "GET /users/me" (literal) and "POST /users/{userId}" both match their
// own requests. The first node that completes the path is remembered for a 405 if no node has the
// method. A path with a trailing slash completes only through a catch-all.
template <class Node>
const Node* Walk(const Node* node, std::string_view path, bool trailing_slash, const SegmentList& segs, size_t i,
                 std::string_view method, RawParams& params, const Node** path_only, RawParams* path_only_params) {
  auto complete = [&](const Node* n) -> const Node* {
    if (n->methods.empty()) return nullptr;
    if (HasMethod(n, method)) return n;
    if (!*path_only) {
      *path_only = n;
      *path_only_params = params;
    }
    return nullptr;
  };
  if (i == segs.size() && !trailing_slash) {
    if (const Node* found = complete(node)) return found;
  }
  if (i < segs.size()) {
    if (auto it = node->literal.find(segs[i]); it != node->literal.end()) {
      if (const Node* found = Walk(it->second.get(), path, trailing_slash, segs, i + 1, method, params, path_only,
                                   path_only_params)) {
        return found;
      }
    }
    if (node->param) {
      params.push_back({&node->param_name, segs[i], false});
      if (const Node* found = Walk(node->param.get(), path, trailing_slash, segs, i + 1, method, params, path_only,
                                   path_only_params)) {
        return found;
      }
      params.pop_back();
    }
  }
  if (node->catch_all) {
    std::string_view rest;
    if (i < segs.size()) rest = path.substr(static_cast<size_t>(segs[i].data() - path.data()));
    params.push_back({&node->catch_all_name, rest, true});
    if (const Node* found = complete(node->catch_all.get())) return found;
    params.pop_back();
  }
  return nullptr;
}

// What Match and RouteOf share: the walk of `path` (not empty). The parameters' values view
// `path`.
template <class Node>
struct Walked {
  const Node* node = nullptr;       // the route's node, or null
  const Node* path_only = nullptr;  // a node that has the path but not the method (405)
  RawParams params, path_only_params;
};

template <class Node>
Walked<Node> WalkPath(const Node* root, std::string_view method, std::string_view path) {
  Walked<Node> w;
  // A trailing slash is not the same resource; Okta answers 404 for it too (catch-alls aside).
  const bool trailing_slash = path.size() > 1 && path.back() == '/';
  const SegmentList segs = Segments(path);
  w.node = Walk(root, path, trailing_slash, segs, 0, method, w.params, &w.path_only, &w.path_only_params);
  return w;
}

}  // namespace

RouteMatch Router::Match(std::string_view method, std::string_view path) const {
  RouteMatch match;
  if (path.empty()) return match;
  const auto [node, path_only, params, path_only_params] = WalkPath(root_.get(), method, path);
  auto decode = [&match](const RawParams& raw) {
    for (const RawParam& p : raw) {
      if (p.raw) {
        match.params[*p.name] = std::string(p.value);
        continue;
      }
      auto decoded = PercentDecode(p.value, /*plus_is_space=*/false);
      if (!decoded) return false;
      match.params[*p.name] = std::move(*decoded);
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

const Route* Router::RouteOf(std::string_view method, std::string_view path) const {
  // Match's walk, without building the parameters: it only needs to know they would decode.
  if (path.empty()) return nullptr;
  const Walked<Node> w = WalkPath(root_.get(), method, path);
  const Node* node = w.node;
  if (node == nullptr) return nullptr;
  for (const RawParam& p : w.params) {
    if (!p.raw && !IsPercentDecodable(p.value)) return nullptr;
  }
  auto it = node->methods.find(method);
  if (it == node->methods.end()) it = node->methods.find("GET");  // HEAD
  return &routes_[it->second.second];
}

}  // namespace keyhole::coord
