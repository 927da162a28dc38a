#include "coordinator/handlers/tunnel_handler.h"

#include <strings.h>

#include "coordinator/handlers/access.h"
#include "coordinator/http/api_error.h"
#include "shared/protocol/frame.h"

namespace keyhole::coord {
namespace {

Response Proceed() { return Response{kStreamProceed, {}, {}}; }

bool ListContains(const std::string* list, std::string_view token) {
  if (list == nullptr) return false;
  size_t i = 0;
  while (i <= list->size()) {
    size_t j = list->find(',', i);
    if (j == std::string::npos) j = list->size();
    std::string_view t(list->data() + i, j - i);
    while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
    while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
    if (t.size() == token.size() && strncasecmp(t.data(), token.data(), t.size()) == 0) return true;
    i = j + 1;
  }
  return false;
}

}  // namespace

void TunnelHandler::Register(Router& r) {
  for (const char* method : kMethods) {
    r.Add(method, kCallerRoute, [this](Request& q) { return Caller(q); }, {.stream = StreamKind::kTunnel});
  }
  r.Add("GET", kAgentRoute, [this](Request& q) { return AgentUpgrade(q); },
        {.agent = true, .stream = StreamKind::kAgentLink});
}

Response TunnelHandler::Caller(Request& req) {
  if (Status s = RequireSuperAdmin(req); !s.ok()) return ErrorResponse(s);
  const std::string& pool = req.Param("poolId");
  if (!registry_.HasPool(pool)) return ErrorResponse(NotFoundError("Resource not found: " + pool + " (AgentPool)"));
  if (hub_.shutting_down()) return TunnelShuttingDown();
  return Proceed();
}

Response TunnelHandler::AgentUpgrade(Request& req) {
  auto agent = registry_.GetAgent(req.principal->owner_id);
  if (!agent) return ErrorResponse(NotFoundError("Resource not found: " + req.principal->owner_id + " (Agent)"));
  if (!ListContains(req.Header("Upgrade"), "websocket") || !ListContains(req.Header("Connection"), "upgrade")) {
    return ErrorResponse(InvalidArgumentError("Upgrade").AddCause("Upgrade: this endpoint is a WebSocket"));
  }
  if (!ListContains(req.Header("Sec-WebSocket-Protocol"), protocol::kWebSocketSubprotocol)) {
    return ErrorResponse(InvalidArgumentError("Sec-WebSocket-Protocol")
                             .AddCause(std::string("Sec-WebSocket-Protocol: must offer ") + protocol::kWebSocketSubprotocol));
  }
  if (hub_.shutting_down()) return TunnelShuttingDown();
  // The link files itself under the agent's pool.
  req.params["poolId"] = agent->pool_id;
  return Proceed();
}

}  // namespace keyhole::coord
