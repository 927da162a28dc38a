#include "agent/activation/activation.h"

#include <algorithm>

#include "shared/token/token_codec.h"

namespace keyhole::agent {
namespace {

// An id the agent keeps in its state, prints and logs: short, and nothing that needs escaping.
bool IsPlainId(const std::string& id) {
  return !id.empty() && id.size() <= Activation::kMaxIdLength &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
         });
}

Status CheckGrant(const ActivationGrant& grant) {
  if (TokenCodec::Parse(grant.token) != TokenKind::kAgent) return InvalidArgumentError("the token is not an agent token");
  if (!IsPlainId(grant.agent.id)) return InvalidArgumentError("the agent id is not a plain id ([A-Za-z0-9_-], 1 to 64)");
  if (!IsPlainId(grant.agent.pool_id)) return InvalidArgumentError("the pool id is not a plain id ([A-Za-z0-9_-], 1 to 64)");
  if (!grant.token_id.empty() && !IsPlainId(grant.token_id)) {
    return InvalidArgumentError("the token id is not a plain id ([A-Za-z0-9_-], 1 to 64)");
  }
  return Status::Ok();
}

}  // namespace

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
  if (Status s = CheckGrant(*grant); !s.ok()) {
    const std::string who = IsPlainId(grant->agent.id) ? "agent " + grant->agent.id : "the agent";
    return InvalidArgumentError("the coordinator's activation answer is not usable: " + s.message() +
                                "; no state was written. The code is spent and " + who +
                                " may be ACTIVE at the coordinator: an admin should deactivate and delete it, "
                                "then make a new code");
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
