// Store: the coordinator's durable persistence. Every mutating call is durable (committed and
// synced) when it returns OK; callers acknowledge a change to a client only after that.
// Services keep their working set in memory and write through this interface, so swapping
// SQLite for another database touches store/ only. Implementations are thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "coordinator/audit/log_event.h"
#include "coordinator/ratelimit/rate_limit_exception.h"
#include "coordinator/store/records.h"
#include "shared/errors/status.h"

namespace keyhole::coord {

class Store {
 public:
  virtual ~Store() = default;

  virtual StatusOr<std::vector<UserRecord>> LoadUsers() = 0;
  virtual StatusOr<std::vector<TokenRecord>> LoadTokens() = 0;

  // Assigns record.seq. A login that collides (case-insensitively) gives kAlreadyExists.
  virtual Status InsertUser(UserRecord& record) = 0;
  virtual Status UpdateUser(const UserRecord& record) = 0;
  // Deletes the user and revokes its tokens (reason OWNER_DELETED) in one transaction.
  virtual Status DeleteUser(const std::string& id, WallTime at) = 0;

  virtual Status InsertToken(TokenRecord& record) = 0;
  virtual Status RevokeToken(const std::string& id, WallTime at, std::string_view reason) = 0;
  // Best-effort bookkeeping: last use and sliding expiry, many tokens in one transaction.
  virtual Status RecordTokenUses(const std::vector<TokenUse>& uses) = 0;

  // Rotation, in one transaction: inserts `successor` (its `replaces` names the old token), sets
  // the old token's retire_at, and revokes `superseded` (an unused earlier successor) if not empty.
  virtual Status RotateToken(TokenRecord& successor, WallTime retire_at, const std::string& superseded,
                             WallTime at) = 0;

  // Agents (docs/AGENTS.md): pools, agents, one-time activation codes.
  virtual StatusOr<std::vector<AgentPoolRecord>> LoadAgentPools() = 0;
  virtual StatusOr<std::vector<AgentRecord>> LoadAgents() = 0;
  virtual StatusOr<std::vector<ActivationCodeRecord>> LoadActivationCodes() = 0;
  virtual Status InsertAgentPool(AgentPoolRecord& pool) = 0;
  virtual Status UpdateAgentPool(const AgentPoolRecord& pool) = 0;
  // Deletes the pool and its activation codes. REQUIRES: the pool has no agents.
  virtual Status DeleteAgentPool(const std::string& id, WallTime at) = 0;
  virtual Status InsertActivationCode(ActivationCodeRecord& code) = 0;
  virtual Status UpdateActivationCode(const ActivationCodeRecord& code) = 0;
  // Activation, in one transaction: marks the code used (kFailedPrecondition if it no longer is
  // unused), inserts the agent and its first token.
  virtual Status ActivateAgent(const ActivationCodeRecord& used_code, AgentRecord& agent, TokenRecord& token) = 0;
  virtual Status UpdateAgent(const AgentRecord& agent) = 0;
  // An agent deactivating itself, in one transaction: writes `agent` (INACTIVE) and revokes every
  // active token of it with `reason`.
  virtual Status DeactivateAgentRevokingTokens(const AgentRecord& agent, WallTime at, std::string_view reason) = 0;
  // Deletes the agent and revokes its tokens (reason OWNER_DELETED) in one transaction.
  virtual Status DeleteAgent(const std::string& id, WallTime at) = 0;
  // Best-effort bookkeeping: last heartbeat of many agents in one transaction.
  virtual Status RecordAgentConnections(const std::vector<std::pair<std::string, int64_t>>& last_connection_ms) = 0;

  // System Log: appends the events in one transaction and assigns each its seq (ascending).
  virtual Status AppendLogEvents(std::vector<LogEvent>& events) = 0;
  // At most query.limit events matching the query, in seq order (descending if asked).
  virtual StatusOr<std::vector<LogEvent>> QueryLogEvents(const LogQuery& query) = 0;
  // Deletes up to `max_rows` of the oldest events published before `before`; returns how many.
  virtual StatusOr<size_t> PruneLogEvents(WallTime before, size_t max_rows) = 0;

  // Temporary rate-limit exceptions: insert or replace one; load them all.
  virtual Status SaveRateLimitException(const RateLimitException& exception) = 0;
  virtual StatusOr<std::vector<RateLimitException>> LoadRateLimitExceptions() = 0;
};

// Opens (creating if needed) the SQLite database at `path` in WAL mode with full sync.
StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path);

}  // namespace keyhole::coord
