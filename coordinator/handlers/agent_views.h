// How agents look on the wire: Okta's AgentPool and Agent shapes (../shared/okta-contract), plus
// Keyhole's fields (status, host, os, dates, the tunnel) and its ActivationCode (docs/AGENTS.md).
// `hub` (optional) tells whether the agent's tunnel is connected.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "coordinator/agents/agent_registry.h"
#include "coordinator/tunnel/tunnel_hub.h"

namespace keyhole::coord {

nlohmann::json AgentView(const AgentRecord& a, const AgentPoolRecord* pool, const AgentRegistry& registry,
                         const std::string& base_url, const TunnelHub* hub = nullptr);
nlohmann::json PoolView(const AgentPoolRecord& p, const std::vector<AgentRecord>& agents,
                        const AgentRegistry& registry, const std::string& base_url, const TunnelHub* hub = nullptr);
// {"connected", "connectedSince", "requestsInFlight", "upstreams"}.
nlohmann::json TunnelView(const std::string& agent_id, const TunnelHub* hub);
nlohmann::json ActivationCodeView(const ActivationCodeRecord& c, const AgentRegistry& registry,
                                  const std::string& base_url);
// Adds to an ApiToken view what names the agent that owns the token.
void AddAgentToTokenView(nlohmann::json& token_view, const AgentRegistry& registry, const std::string& agent_id,
                         const std::string& base_url);

}  // namespace keyhole::coord
