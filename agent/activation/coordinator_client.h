// CoordinatorClient: the agent's calls to the coordinator (docs/AGENTS.md), behind an interface so
// that tests script the coordinator. Every call gives kUnauthenticated for a refused token or code
// (HTTP 401), kUnavailable when no answer came (network, TLS, timeout, abandoned on shutdown) or the
// coordinator is overloaded (5xx), kRateLimited for 429, other codes for other 4xx. Implementations
// are used from one thread at a time.
#pragma once

#include <cstdint>
#include <string>

#include "shared/errors/status.h"

namespace keyhole::agent {

// What the agent says about its host.
struct HostInfo {
  std::string host;     // gethostname()
  std::string version;  // the agent's version
  std::string os;       // PRETTY_NAME from /etc/os-release
};

// The coordinator's Agent object, as much as the agent uses of it.
struct AgentView {
  std::string id;
  std::string name;
  std::string pool_id;
  std::string type;
  std::string status;              // ACTIVE | INACTIVE
  std::string operational_status;  // OPERATIONAL | DISRUPTED | INACTIVE
  int64_t last_connection = 0;     // epoch ms, 0: never
};

struct ActivationGrant {
  AgentView agent;
  std::string token;     // kha_…: a secret
  std::string token_id;  // its ApiToken id
};

class CoordinatorClient {
 public:
  virtual ~CoordinatorClient() = default;

  // POST /api/v1/agents/activate. kUnauthenticated: the code is wrong, used, revoked or expired.
  virtual StatusOr<ActivationGrant> Activate(const std::string& code, const std::string& name, const HostInfo& host) = 0;
  // GET /api/v1/agents/me with `token`.
  virtual StatusOr<AgentView> Me(const std::string& token) = 0;
  // POST /api/v1/agents/me/heartbeat with `token`.
  virtual StatusOr<AgentView> Heartbeat(const std::string& token, const HostInfo& host) = 0;
  // POST /api/v1/agents/me/token/rotate {"token": new_token} with `token`; the new token's ApiToken id.
  virtual StatusOr<std::string> Rotate(const std::string& token, const std::string& new_token) = 0;
  // POST /api/v1/agents/me/lifecycle/deactivate with `token`.
  virtual StatusOr<AgentView> DeactivateSelf(const std::string& token) = 0;
};

}  // namespace keyhole::agent
