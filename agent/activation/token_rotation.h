// TokenRotation: the crash-safe token rotation of docs/AGENTS.md. The agent draws the new secret,
// saves it as pending_token before sending it, and promotes it only once the coordinator has it;
// an interrupted rotation is resolved by re-sending the same secret (idempotent) or, if the current
// token is refused by then, by trying the pending one. Used by the daemon and by `rotate`. Borrows
// the client, the store and the clock; one thread.
#pragma once

#include <chrono>
#include <functional>
#include <string_view>

#include "agent/activation/coordinator_client.h"
#include "agent/state/state_store.h"
#include "shared/clock/clock.h"

namespace keyhole::agent {

// Called at each step with its name (after_pending_saved, after_rotate_sent, after_rotate_answered,
// after_state_saved); the test hook KEYHOLE_AGENT_TEST_KILL_AT kills the process there.
using FaultHook = std::function<void(std::string_view point)>;

class TokenRotation {
 public:
  TokenRotation(CoordinatorClient& client, StateStore& store, const Clock& clock, FaultHook fault = {})
      : client_(client), store_(store), clock_(clock), fault_(std::move(fault)) {}

  // Rotates now: a new secret, or, with one pending already, that one. On return `state` is what
  // the store holds. kUnauthenticated when the coordinator refuses the agent's tokens,
  // kUnavailable when it cannot be reached (the pending secret is kept for the next attempt).
  Status Rotate(AgentState& state);
  // Completes an interrupted rotation. REQUIRES: state.pending_token. When the coordinator answers
  // 400 (the pending secret is no longer the current token's successor: another rotation
  // superseded it) and the current token is still accepted, the pending secret is dropped and a new
  // one drawn, saved and sent, once per call.
  Status ResolvePending(AgentState& state);
  // Whether the token is `every` old or older.
  bool Due(const AgentState& state, std::chrono::milliseconds every) const {
    return clock_.Now() - state.token_issued >= every;
  }

 private:
  Status Promote(AgentState& state, const std::string& token_id);
  // Draws a new pending secret and saves it (before it is ever sent).
  Status SaveNewPending(AgentState& state);
  void Fault(std::string_view point) {
    if (fault_) fault_(point);
  }

  CoordinatorClient& client_;
  StateStore& store_;
  const Clock& clock_;
  FaultHook fault_;
};

}  // namespace keyhole::agent
