// Router: maps (method, path) to a handler by path templates such as
// "/api/v1/users/{userId}/lifecycle/{op}". Literal segments win over parameters, so
// "/api/v1/api-tokens/current" is matched ahead of "/api/v1/api-tokens/{apiTokenId}".
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

struct RouteMatch {
  const Handler* handler = nullptr;  // null: see path_known
  bool path_known = false;           // the path exists with other methods (405)
  std::string allow;                 // "GET, POST" when path_known
  std::string pattern;               // the template matched (for rate limits and logs)
  std::unordered_map<std::string, std::string> params;
};

class Router {
 public:
  Router();
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // REQUIRES: no two routes with the same method and template.
  void Add(std::string method, std::string_view pattern, Handler handler);
  RouteMatch Match(std::string_view method, std::string_view path) const;

 private:
  struct Node;
  std::unique_ptr<Node> root_;
};

}  // namespace keyhole::coord
