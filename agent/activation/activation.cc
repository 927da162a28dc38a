#include "agent/activation/activation.h"

namespace keyhole::agent {

StatusOr<AgentState> Activation::Activate(CoordinatorClient& client, const ActivateRequest& request,
                                          const HostInfo& host) {
  auto existing = store_.Load();
  if (!existing.ok() || existing->has_value()) {
    std::string who = existing.ok() ? " as agent " + (*existing)->agent_id : "";
    return FailedPreconditionError("this agent is already activated" + who + " (state in " + store_.path() +
                                   "); to activate it again, first run: keyhole-agent deactivate --state-dir " +
                                   store_.dir());
  }
  // Fail before spending the code if the state cannot be written.
  if (Status s = store_.CheckWritable(); !s.ok()) {
    return InternalError("cannot write the agent state in " + store_.dir() + ": " + s.message());
  }

  auto grant = client.Activate(request.code, request.name, host);
  if (!grant.ok()) {
    if (grant.status().code() == StatusCode::kUnauthenticated) {
      return UnauthenticatedError(std::string(kRefusedCodeMessage) + " (" + grant.status().message() + ")");
    }
    return grant.status();
  }
  AgentState state;
  state.agent_id = grant->agent.id;
  state.pool_id = grant->agent.pool_id;
  state.coordinator = request.coordinator;
  state.token = grant->token;
  state.token_id = grant->token_id;
  state.token_issued = clock_.Now();
  state.trust = request.trust;
  if (Status s = store_.Save(state); !s.ok()) {
    return InternalError("activated as agent " + state.agent_id + ", but saving its state failed: " + s.message() +
                         "; an admin should deactivate and delete agent " + state.agent_id +
                         ", then activate again with a new code");
  }
  return state;
}

}  // namespace keyhole::agent
