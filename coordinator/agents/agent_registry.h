// AgentRegistry: agent pools, the agents in them and the one-time codes that activate agents;
// the OwnerDirectory that tells the token service whether an agent is active. Everything is in
// memory (it is read on every agent request) and written through the Store before a change
// returns. Last heartbeats are kept in memory and written in batches by FlushConnections().
// Thread-safe: reads share a lock; writes are serialized and never hold the lock across I/O.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "coordinator/auth/principal.h"
#include "coordinator/auth/token_service.h"
#include "coordinator/store/store.h"
#include "shared/clock/clock.h"

namespace keyhole::coord {

struct AgentRegistryOptions {
  std::chrono::milliseconds code_lifetime = std::chrono::hours(24);
  std::chrono::milliseconds heartbeat_interval = std::chrono::seconds(30);
};

// What an agent says about itself at activation and in heartbeats.
struct AgentInfo {
  std::string name;
  std::string host;
  std::string version;
  std::string os;
};

struct NewActivationCode {
  ActivationCodeRecord record;
  std::string code;  // shown once, never stored
};

struct Activation {
  AgentRecord agent;
  CreatedToken token;
};

enum class ActivationCodeStatus { kActive, kUsed, kExpired, kRevoked };
const char* ActivationCodeStatusName(ActivationCodeStatus s);

class AgentRegistry final : public OwnerDirectory {
 public:
  AgentRegistry(Store& store, const Clock& clock, AgentRegistryOptions options = {})
      : store_(store), clock_(clock), options_(options) {}

  Status Load();
  // REQUIRES: before the registry is shared between threads (start-up).
  void SetOptions(AgentRegistryOptions options) { options_ = options; }

  // Pools.
  StatusOr<AgentPoolRecord> CreatePool(std::string name, AgentType type, std::string created_by);
  StatusOr<AgentPoolRecord> RenamePool(const std::string& id, std::string name);
  // kFailedPrecondition while the pool has agents.
  Status DeletePool(const std::string& id);
  std::optional<AgentPoolRecord> GetPool(const std::string& id) const;
  bool HasPool(const std::string& id) const;  // GetPool without the copy (the tunnel asks per request)
  std::vector<AgentPoolRecord> Pools() const;  // in creation order

  // Activation codes. `lifetime` nullopt: the configured default.
  StatusOr<NewActivationCode> CreateCode(const std::string& pool_id, std::optional<std::chrono::milliseconds> lifetime,
                                         std::string created_by);
  std::vector<ActivationCodeRecord> CodesOf(const std::string& pool_id) const;
  // kNotFound unless the code exists in that pool and is unused and unrevoked.
  StatusOr<ActivationCodeRecord> RevokeCode(const std::string& pool_id, const std::string& code_id);
  ActivationCodeStatus CodeStatus(const ActivationCodeRecord& c) const;

  // Spends `code` on a new ACTIVE agent and its first token, in one transaction. A code that is
  // wrong, used, revoked or expired gives the same kUnauthenticated.
  StatusOr<Activation> Activate(std::string_view code, AgentInfo info, TokenService& tokens);

  // Agents.
  std::optional<AgentRecord> GetAgent(const std::string& id) const;
  std::vector<AgentRecord> AgentsOf(const std::string& pool_id) const;  // in activation order
  // Every agent, by pool, in one pass (a page of pools would otherwise scan all agents per pool).
  std::unordered_map<std::string, std::vector<AgentRecord>> AgentsByPool() const;
  // kFailedPrecondition when the agent already has that status.
  StatusOr<AgentRecord> SetStatus(const std::string& id, AgentStatus status);
  // The agent deactivating itself before it wipes its state: INACTIVE and every token of it
  // revoked (reason OWNER_DEACTIVATED), in one transaction, so no reactivation can revive them.
  StatusOr<AgentRecord> DeactivateSelf(const std::string& id, TokenService& tokens);
  // kFailedPrecondition unless INACTIVE. Revokes its tokens.
  Status Delete(const std::string& id, TokenService& tokens);
  // Records a heartbeat now; host, version and os are updated (and written) when they change.
  StatusOr<AgentRecord> Heartbeat(const std::string& id, const AgentInfo& info);
  StatusOr<size_t> FlushConnections();

  // Okta's operationalStatus of an agent and of a pool (with its counts).
  const char* OperationalStatus(const AgentRecord& a) const;
  struct PoolHealth {
    const char* operational_status;
    int disrupted = 0;
    int inactive = 0;
  };
  PoolHealth HealthOf(const std::vector<AgentRecord>& agents) const;

  std::optional<OwnerInfo> LookupOwner(OwnerKind kind, const std::string& id) const override;

 private:
  struct AgentEntry;
  using PoolPtr = std::shared_ptr<const AgentPoolRecord>;
  using CodePtr = std::shared_ptr<const ActivationCodeRecord>;
  using AgentPtr = std::shared_ptr<AgentEntry>;

  AgentRecord Snapshot(const AgentEntry& e) const;
  void PublishAgent(AgentRecord next);  // REQUIRES: write_mu_ held
  // Insert or replace a record in both its indexes. REQUIRES: mu_ held exclusively.
  void PublishPool(AgentPoolRecord pool);
  void PublishCode(ActivationCodeRecord code);

  Store& store_;
  const Clock& clock_;
  AgentRegistryOptions options_;

  std::mutex write_mu_;  // serializes changes, with their disk writes
  mutable std::shared_mutex mu_;
  std::map<int64_t, PoolPtr> pools_;                   // GUARDED_BY(mu_), by seq
  std::unordered_map<std::string, PoolPtr> pool_by_id_;  // GUARDED_BY(mu_)
  std::map<int64_t, AgentPtr> agents_;                 // GUARDED_BY(mu_), by seq
  std::unordered_map<std::string, AgentPtr> agent_by_id_;  // GUARDED_BY(mu_)
  std::map<int64_t, CodePtr> codes_;                   // GUARDED_BY(mu_), by seq
  std::unordered_map<TokenDigest, CodePtr, TokenDigestHash> code_by_digest_;  // GUARDED_BY(mu_)

  std::mutex dirty_mu_;
  std::vector<AgentPtr> dirty_;  // GUARDED_BY(dirty_mu_): heartbeats since the last flush
};

}  // namespace keyhole::coord
