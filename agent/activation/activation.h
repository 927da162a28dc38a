// Activation: `keyhole-agent activate`'s work: refuse to overwrite an existing state, exchange the
// one-time code for the agent's token, and save the state (0600, atomically). Borrows the store and
// clock; one thread.
#pragma once

#include <string>

#include "agent/activation/coordinator_client.h"
#include "agent/state/state_store.h"
#include "shared/clock/clock.h"

namespace keyhole::agent {

struct ActivateRequest {
  std::string coordinator;  // base URL
  std::string code;         // khc_…: a secret
  std::string name;
  TrustAnchor trust;
};

// What a refused code means to an operator (the coordinator does not say which).
inline constexpr char kRefusedCodeMessage[] = "the activation code is invalid, used, revoked or expired";

class Activation {
 public:
  // The longest agent, pool or token id accepted from the coordinator.
  static constexpr size_t kMaxIdLength = 64;

  Activation(StateStore& store, const Clock& clock) : store_(store), clock_(clock) {}

  // kFailedPrecondition when a state exists already; kUnauthenticated (kRefusedCodeMessage) for a
  // refused code; kUnavailable when the coordinator was not reached; kInvalidArgument when its
  // answer is not usable (the token is not an agent token; the agent, pool or token id is not a
  // plain id: [A-Za-z0-9_-], 1 to kMaxIdLength) and no state is written; kInternal when the agent
  // was activated but its state could not be saved (the message says what to do).
  StatusOr<AgentState> Activate(CoordinatorClient& client, const ActivateRequest& request, const HostInfo& host);

 private:
  StateStore& store_;
  const Clock& clock_;
};

}  // namespace keyhole::agent
