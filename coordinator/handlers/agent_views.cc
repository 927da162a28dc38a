#include "coordinator/handlers/agent_views.h"

#include "coordinator/handlers/okta_views.h"
#include "shared/clock/iso8601.h"

namespace keyhole::coord {

nlohmann::json TunnelView(const std::string& agent_id, const TunnelHub* hub) {
  std::optional<TunnelStatus> t = hub ? hub->StatusOf(agent_id) : std::nullopt;
  if (!t) {
    return {{"connected", false},
            {"connectedSince", nullptr},
            {"connections", 0},
            {"requestsInFlight", 0},
            {"upstreams", nlohmann::json::array()}};
  }
  return {{"connected", true},
          {"connectedSince", FormatIso8601(t->connected_since)},
          {"connections", t->connections},
          {"requestsInFlight", t->in_flight},
          {"upstreams", t->upstreams}};
}

nlohmann::json AgentView(const AgentRecord& a, const AgentPoolRecord* pool, const AgentRegistry& registry,
                         const std::string& base_url, const TunnelHub* hub) {
  return {
      {"id", a.id},
      {"name", a.name},
      {"type", pool ? AgentTypeName(pool->type) : "HTTP"},
      {"poolId", a.pool_id},
      {"version", a.version},
      {"lastConnection", a.last_connection_ms},
      {"isHidden", false},
      {"isLatestGAedVersion", true},
      {"operationalStatus", registry.OperationalStatus(a)},
      {"updateStatus", "Success"},
      {"updateMessage", ""},
      {"status", a.status == AgentStatus::kActive ? "ACTIVE" : "INACTIVE"},
      {"host", a.host},
      {"os", a.os},
      {"created", FormatIso8601(a.created)},
      {"activated", FormatIso8601(a.activated)},
      {"statusChanged", FormatIso8601(a.status_changed)},
      {"lastUpdated", FormatIso8601(a.last_updated)},
      {"tunnel", TunnelView(a.id, hub)},
      {"_links",
       {{"self", HalLink(base_url + "/api/v1/agents/" + a.id, {"GET", "DELETE"})},
        {"pool", HalLink(base_url + "/api/v1/agentPools/" + a.pool_id, {"GET"})},
        {a.status == AgentStatus::kActive ? "deactivate" : "reactivate",
         HalLink(base_url + "/api/v1/agents/" + a.id + "/lifecycle/" +
                     (a.status == AgentStatus::kActive ? "deactivate" : "reactivate"),
                 {"POST"})}}},
  };
}

nlohmann::json PoolView(const AgentPoolRecord& p, const std::vector<AgentRecord>& agents,
                        const AgentRegistry& registry, const std::string& base_url, const TunnelHub* hub) {
  nlohmann::json list = nlohmann::json::array();
  for (const AgentRecord& a : agents) list.push_back(AgentView(a, &p, registry, base_url, hub));
  AgentRegistry::PoolHealth health = registry.HealthOf(agents);
  const std::string self = base_url + "/api/v1/agentPools/" + p.id;
  return {
      {"id", p.id},
      {"name", p.name},
      {"type", AgentTypeName(p.type)},
      {"operationalStatus", health.operational_status},
      {"disruptedAgents", health.disrupted},
      {"inactiveAgents", health.inactive},
      {"agents", std::move(list)},
      {"created", FormatIso8601(p.created)},
      {"lastUpdated", FormatIso8601(p.last_updated)},
      {"_links",
       {{"self", HalLink(self, {"GET", "PUT", "DELETE"})},
        {"agents", HalLink(self + "/agents", {"GET"})},
        {"activationCodes", HalLink(self + "/activationCodes", {"GET", "POST"})}}},
  };
}

nlohmann::json ActivationCodeView(const ActivationCodeRecord& c, const AgentRegistry& registry,
                                  const std::string& base_url) {
  nlohmann::json links = {{"pool", HalLink(base_url + "/api/v1/agentPools/" + c.pool_id, {"GET"})}};
  const ActivationCodeStatus status = registry.CodeStatus(c);
  links["self"] = HalLink(base_url + "/api/v1/agentPools/" + c.pool_id + "/activationCodes/" + c.id,
                          status == ActivationCodeStatus::kActive ? std::initializer_list<const char*>{"DELETE"}
                                                                  : std::initializer_list<const char*>{});
  if (!c.agent_id.empty()) links["agent"] = HalLink(base_url + "/api/v1/agents/" + c.agent_id, {"GET"});
  return {
      {"id", c.id},
      {"poolId", c.pool_id},
      {"status", ActivationCodeStatusName(status)},
      {"created", FormatIso8601(c.created)},
      {"createdBy", c.created_by},
      {"expiresAt", FormatIso8601(c.expires_at)},
      {"used", OptIso8601(c.used_at)},
      {"revoked", OptIso8601(c.revoked_at)},
      {"agentId", c.agent_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.agent_id)},
      {"_links", std::move(links)},
  };
}

void AddAgentToTokenView(nlohmann::json& v, const AgentRegistry& registry, const std::string& agent_id,
                         const std::string& base_url) {
  auto agent = registry.GetAgent(agent_id);
  if (!agent) {
    v["agent"] = {{"id", agent_id}};
    return;
  }
  auto pool = registry.GetPool(agent->pool_id);
  v["agent"] = {{"id", agent->id},
                {"name", agent->name},
                {"poolId", agent->pool_id},
                {"poolName", pool ? pool->name : ""},
                {"type", pool ? AgentTypeName(pool->type) : "HTTP"}};
  v["_links"]["agent"] = HalLink(base_url + "/api/v1/agents/" + agent->id, {"GET"});
}

}  // namespace keyhole::coord
