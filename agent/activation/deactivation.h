// Deactivation: `keyhole-agent deactivate`'s work: ask the coordinator to deactivate this agent
// (which revokes its tokens), then remove the local state whatever the coordinator said. Borrows
// the store; one thread.
#pragma once

#include "agent/activation/coordinator_client.h"
#include "agent/state/state_store.h"

namespace keyhole::agent {

class Deactivation {
 public:
  explicit Deactivation(StateStore& store) : store_(store) {}

  struct Outcome {
    Status coordinator;  // Ok when the coordinator deactivated the agent
    Status local;        // Ok when the state file is gone
  };
  // `client` may be null (the coordinator could not even be addressed); `why_no_client` then says why.
  Outcome Deactivate(CoordinatorClient* client, const AgentState& state, const Status& why_no_client = Status());

 private:
  StateStore& store_;
};

}  // namespace keyhole::agent
