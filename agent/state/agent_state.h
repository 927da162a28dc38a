// AgentState: what an activated agent keeps in STATE_DIR/state.json (docs/AGENTS.md): its ids, the
// coordinator and whom to trust there, its token and, during a rotation, the pending token. Holds
// secrets: never log it or print it. Value type; ToJson/FromJson are pure.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "shared/clock/clock.h"
#include "shared/errors/status.h"

namespace keyhole::agent {

// Whom the agent trusts at its coordinator: at most one of pin and ca_pem; neither: the system's CAs.
struct TrustAnchor {
  std::string pin;     // "sha256:<64 hex>"
  std::string ca_pem;  // the CA file's PEM text, copied at activation (the file may move)
  bool operator==(const TrustAnchor&) const = default;
};

struct AgentState {
  static constexpr int kVersion = 1;

  std::string agent_id;
  std::string pool_id;
  std::string coordinator;  // base URL
  std::string token;        // kha_…
  std::string token_id;     // the ApiToken id; empty when unknown (a rotation resolved through GET me)
  WallTime token_issued{};  // when the agent started using `token`: the rotation schedule's origin
  std::optional<std::string> pending_token;  // drawn and saved before POST …/token/rotate
  TrustAnchor trust;

  bool operator==(const AgentState&) const = default;

  nlohmann::json ToJson() const;
  // kInvalidArgument naming the first missing or malformed field.
  static StatusOr<AgentState> FromJson(const nlohmann::json& json);
};

}  // namespace keyhole::agent
