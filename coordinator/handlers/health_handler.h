// HealthHandler: GET /healthz, public, 200 once the server is ready to serve.
#pragma once

#include "coordinator/http/api_pipeline.h"
#include "coordinator/http/router.h"

namespace keyhole::coord {

inline void RegisterHealth(Router& router, ApiPipeline& pipeline) {
  router.Add("GET", "/healthz", [](Request&) { return Response::Json(200, {{"status", "ok"}}); });
  pipeline.AddPublicRoute("GET", "/healthz");
}

}  // namespace keyhole::coord
