#include "agent/activation/deactivation.h"

namespace keyhole::agent {

Deactivation::Outcome Deactivation::Deactivate(CoordinatorClient* client, const AgentState& state,
                                               const Status& why_no_client) {
  Outcome out;
  if (client == nullptr) {
    out.coordinator = why_no_client.ok() ? UnavailableError("no client") : why_no_client;
  } else {
    auto r = client->DeactivateSelf(state.token);
    if (!r.ok() && r.status().code() == StatusCode::kUnauthenticated && state.pending_token) {
      // An interrupted rotation may have left the coordinator accepting only the pending token.
      r = client->DeactivateSelf(*state.pending_token);
    }
    out.coordinator = r.status();
  }
  out.local = store_.Remove();
  return out;
}

}  // namespace keyhole::agent
