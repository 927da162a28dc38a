// Router: maps (method, path) to a handler by path templates such as
// "/api/v1/users/{userId}/lifecycle/{op}". Literal segments win over parameters, so
// "/api/v1/api-tokens/current" is matched ahead of "/api/v1/api-tokens/{apiTokenId}". A last
// segment "{name...}" is a catch-all: it takes the rest of the path (zero or more segments, a
// trailing slash included) undecoded, as the tunnel forwards it; the route's pattern records it
// as "{name}" (so rate limits name it "…/{path}").
// Built once at start-up, then read-only: safe to share between threads.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "coordinator/http/request.h"

namespace keyhole::coord {

using Handler = std::function<Response(Request&)>;

// Routes whose body is not read up front: the server runs the pipeline on the request head, and
// when the handler answers kStreamProceed it hands the connection to the tunnel.
enum class StreamKind { kNone, kTunnel, kAgentLink };
inline constexpr int kStreamProceed = 0;  // a handler's Response::status for "go ahead, stream"

// One registered route. Its index in Router::routes() is its id (rate limits count by it).
struct Route {
  std::string method;
  std::string pattern;
  bool is_public = false;    // served without a token (health, agent activation)
  bool unthrottled = false;  // public and exempt from the per-IP limit (health probes)
  bool agent = false;        // for agent tokens only; every other route refuses them (least privilege)
  StreamKind stream = StreamKind::kNone;
};

struct RouteMatch {
  const Handler* handler = nullptr;  // null: see path_known
  const Route* route = nullptr;      // with handler
  size_t route_id = 0;               // with handler: the index in Router::routes()
  bool path_known = false;           // the path exists with other methods (405)
  std::string allow;                 // "GET, POST" when path_known
  PathParams params;
};

struct RouteOptions {
  bool is_public = false;
  bool unthrottled = false;
  bool agent = false;
  StreamKind stream = StreamKind::kNone;
};

class Router {
 public:
  Router();
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // REQUIRES: no two routes with the same method and template.
  void Add(std::string method, std::string_view pattern, Handler handler, RouteOptions options = {});
  RouteMatch Match(std::string_view method, std::string_view path) const;
  // Match(method, path).route, without building the match (no allocation): for the server's look
  // at every request head.
  const Route* RouteOf(std::string_view method, std::string_view path) const;
  const std::vector<Route>& routes() const { return routes_; }

 private:
  struct Node;
  std::unique_ptr<Node> root_;
  std::vector<Route> routes_;
};

}  // namespace keyhole::coord
