#include "agent/activation/token_rotation.h"

#include <cassert>

#include "shared/log/log.h"
#include "shared/token/token_codec.h"

namespace keyhole::agent {

Status TokenRotation::Rotate(AgentState& state) {
  if (!state.pending_token) {
    if (Status s = SaveNewPending(state); !s.ok()) return s;
  }
  return ResolvePending(state);
}

Status TokenRotation::ResolvePending(AgentState& state) {
  assert(state.pending_token);
  bool redrawn = false;
  for (;;) {
    const std::string pending = *state.pending_token;
    // The same secret again: stored now if the coordinator never got it, no change if it did.
    auto rotated = client_.Rotate(state.token, pending);
    Fault("after_rotate_sent");
    if (rotated.ok()) {
      Fault("after_rotate_answered");
      return Promote(state, *rotated);
    }
    const StatusCode code = rotated.status().code();
    if (code == StatusCode::kUnavailable || code == StatusCode::kRateLimited) return rotated.status();
    // The current token is refused: retired (the pending one was used, or the grace period is over),
    // or the agent is deactivated. The pending one may be what the coordinator accepts now.
    auto me = client_.Me(pending);
    if (me.ok()) {
      LogInfo("the coordinator accepts the pending token: completing the interrupted rotation");
      return Promote(state, "");
    }
    if (me.status().code() == StatusCode::kUnauthenticated && code == StatusCode::kUnauthenticated) {
      return UnauthenticatedError("the coordinator refuses both the current and the pending token: " +
                                  rotated.status().message());
    }
    if (me.status().code() != StatusCode::kUnauthenticated) return me.status();
    if (code != StatusCode::kInvalidArgument || redrawn) return rotated.status();
    // 400 ("already in use") with the pending token refused: another rotation from the current
    // token superseded it, and it is revoked. Kept, it would be re-sent for ever while the current
    // token's grace period runs out. If the current token still works, draw a new secret, once.
    auto current = client_.Me(state.token);
    if (!current.ok()) return current.status().code() == StatusCode::kUnauthenticated ? rotated.status() : current.status();
    LogWarning("the coordinator no longer has the pending token (" + rotated.status().message() +
               "): drawing a new one");
    if (Status s = SaveNewPending(state); !s.ok()) return s;
    redrawn = true;
  }
}

Status TokenRotation::SaveNewPending(AgentState& state) {
  AgentState next = state;
  next.pending_token = TokenCodec::Generate(TokenKind::kAgent);
  // Saved before it is sent: whatever happens next, the agent still holds every token the
  // coordinator may accept.
  if (Status s = store_.Save(next); !s.ok()) return InternalError("cannot save the new token before rotating: " + s.message());
  state = std::move(next);
  Fault("after_pending_saved");
  return Status::Ok();
}

Status TokenRotation::Promote(AgentState& state, const std::string& token_id) {
  AgentState next = state;
  next.token = *state.pending_token;
  next.token_id = token_id;
  next.token_issued = clock_.Now();
  next.pending_token.reset();
  if (Status s = store_.Save(next); !s.ok()) {
    // The saved state still has the new token as pending: the next attempt promotes it.
    return InternalError("the coordinator has the new token, but saving it failed: " + s.message());
  }
  state = std::move(next);
  Fault("after_state_saved");
  LogInfo("rotated the agent token" + (token_id.empty() ? std::string() : " (new token id " + token_id + ")"));
  return Status::Ok();
}

}  // namespace keyhole::agent
