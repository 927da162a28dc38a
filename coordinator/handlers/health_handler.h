// HealthHandler: GET /healthz, public, 200 once the server is ready to serve.
#pragma once

#include "coordinator/http/router.h"

namespace keyhole::coord {

// Public, and exempt from the per-IP limit: load balancers probe it often and it reveals nothing.
inline void RegisterHealth(Router& router) {
  router.Add("GET", "/healthz", [](Request&) { return Response::Json(200, {{"status", "ok"}}); },
             RouteOptions{.is_public = true, .unthrottled = true});
}

}  // namespace keyhole::coord
