#include "coordinator/agents/agent_registry.h"

#include "shared/log/log.h"
#include "shared/token/random.h"

namespace keyhole::coord {

// The record is replaced whole on every change; the last heartbeat changes on its own.
struct AgentRegistry::AgentEntry {
  explicit AgentEntry(AgentRecord r) : record(std::make_shared<const AgentRecord>(std::move(r))),
                                       last_connection_ms(record->last_connection_ms) {}
  std::shared_ptr<const AgentRecord> record;  // GUARDED_BY(AgentRegistry::mu_)
  std::atomic<int64_t> last_connection_ms;
  std::atomic<bool> dirty{false};
};

const char* ActivationCodeStatusName(ActivationCodeStatus s) {
  switch (s) {
    case ActivationCodeStatus::kActive: return "ACTIVE";
    case ActivationCodeStatus::kUsed: return "USED";
    case ActivationCodeStatus::kExpired: return "EXPIRED";
    case ActivationCodeStatus::kRevoked: return "REVOKED";
  }
  return "UNKNOWN";
}

Status AgentRegistry::Load() {
  auto pools = store_.LoadAgentPools();
  if (!pools.ok()) return pools.status();
  auto agents = store_.LoadAgents();
  if (!agents.ok()) return agents.status();
  auto codes = store_.LoadActivationCodes();
  if (!codes.ok()) return codes.status();
  std::unique_lock lock(mu_);
  for (AgentPoolRecord& p : *pools) {
    PublishPool(std::move(p));
  }
  for (AgentRecord& a : *agents) {
    auto e = std::make_shared<AgentEntry>(std::move(a));
    agents_[e->record->seq] = e;
    agent_by_id_[e->record->id] = e;
  }
  for (ActivationCodeRecord& c : *codes) {
    PublishCode(std::move(c));
  }
  return Status::Ok();
}

void AgentRegistry::PublishPool(AgentPoolRecord pool) {
  auto ptr = std::make_shared<const AgentPoolRecord>(std::move(pool));
  pools_[ptr->seq] = ptr;
  pool_by_id_[ptr->id] = ptr;
}

void AgentRegistry::PublishCode(ActivationCodeRecord code) {
  auto ptr = std::make_shared<const ActivationCodeRecord>(std::move(code));
  codes_[ptr->seq] = ptr;
  code_by_digest_[ptr->digest] = ptr;
}

// ---- pools ----

StatusOr<AgentPoolRecord> AgentRegistry::CreatePool(std::string name, AgentType type, std::string created_by) {
  std::lock_guard w(write_mu_);
  AgentPoolRecord p;
  p.id = NewId("0oa");
  p.name = std::move(name);
  p.type = type;
  p.created = p.last_updated = clock_.Now();
  p.created_by = std::move(created_by);
  if (Status s = store_.InsertAgentPool(p); !s.ok()) return s;
  std::unique_lock lock(mu_);
  PublishPool(p);
  return p;
}

StatusOr<AgentPoolRecord> AgentRegistry::RenamePool(const std::string& id, std::string name) {
  std::lock_guard w(write_mu_);
  auto current = GetPool(id);
  if (!current) return NotFoundError("Resource not found: " + id + " (AgentPool)");
  AgentPoolRecord next = *current;
  next.name = std::move(name);
  next.last_updated = clock_.Now();
  if (Status s = store_.UpdateAgentPool(next); !s.ok()) return s;
  std::unique_lock lock(mu_);
  PublishPool(next);
  return next;
}

Status AgentRegistry::DeletePool(const std::string& id) {
  std::lock_guard w(write_mu_);
  auto pool = GetPool(id);
  if (!pool) return NotFoundError("Resource not found: " + id + " (AgentPool)");
  if (size_t n = AgentsOf(id).size(); n > 0) {
    return FailedPreconditionError("the pool has " + std::to_string(n) + " agent(s); delete them first");
  }
  if (Status s = store_.DeleteAgentPool(id, clock_.Now()); !s.ok()) return s;
  std::unique_lock lock(mu_);
  pools_.erase(pool->seq);
  pool_by_id_.erase(id);
  for (auto it = codes_.begin(); it != codes_.end();) {
    if (it->second->pool_id == id) {
      code_by_digest_.erase(it->second->digest);
      it = codes_.erase(it);
    } else {
      ++it;
    }
  }
  return Status::Ok();
}

std::optional<AgentPoolRecord> AgentRegistry::GetPool(const std::string& id) const {
  std::shared_lock lock(mu_);
  auto it = pool_by_id_.find(id);
  if (it == pool_by_id_.end()) return std::nullopt;
  return *it->second;
}

bool AgentRegistry::HasPool(const std::string& id) const {
  std::shared_lock lock(mu_);
  return pool_by_id_.count(id) > 0;
}

std::vector<AgentPoolRecord> AgentRegistry::Pools() const {
  std::shared_lock lock(mu_);
  std::vector<AgentPoolRecord> out;
  out.reserve(pools_.size());
  for (const auto& [seq, p] : pools_) out.push_back(*p);
  return out;
}

// ---- activation codes ----

ActivationCodeStatus AgentRegistry::CodeStatus(const ActivationCodeRecord& c) const {
  if (c.used_at) return ActivationCodeStatus::kUsed;
  if (c.revoked_at) return ActivationCodeStatus::kRevoked;
  if (clock_.Now() >= c.expires_at) return ActivationCodeStatus::kExpired;
  return ActivationCodeStatus::kActive;
}

StatusOr<NewActivationCode> AgentRegistry::CreateCode(const std::string& pool_id,
                                                      std::optional<std::chrono::milliseconds> lifetime,
                                                      std::string created_by) {
  std::lock_guard w(write_mu_);
  if (!HasPool(pool_id)) return NotFoundError("Resource not found: " + pool_id + " (AgentPool)");
  NewActivationCode out;
  out.code = TokenCodec::Generate(TokenKind::kActivationCode);
  ActivationCodeRecord& c = out.record;
  c.id = NewId("kac");
  c.pool_id = pool_id;
  c.digest = TokenCodec::Digest(out.code);
  c.created = clock_.Now();
  c.created_by = std::move(created_by);
  c.expires_at = c.created + lifetime.value_or(options_.code_lifetime);
  if (Status s = store_.InsertActivationCode(c); !s.ok()) return s;
  std::unique_lock lock(mu_);
  PublishCode(c);
  return out;
}

std::vector<ActivationCodeRecord> AgentRegistry::CodesOf(const std::string& pool_id) const {
  std::shared_lock lock(mu_);
  std::vector<ActivationCodeRecord> out;
  for (const auto& [seq, c] : codes_) {
    if (c->pool_id == pool_id) out.push_back(*c);
  }
  return out;
}

StatusOr<ActivationCodeRecord> AgentRegistry::RevokeCode(const std::string& pool_id, const std::string& code_id) {
  std::lock_guard w(write_mu_);
  CodePtr current;
  {
    std::shared_lock lock(mu_);
    for (const auto& [seq, c] : codes_) {
      if (c->id == code_id && c->pool_id == pool_id) current = c;
    }
  }
  if (!current || current->used_at || current->revoked_at) {
    return NotFoundError("Resource not found: " + code_id + " (ActivationCode)");
  }
  ActivationCodeRecord next = *current;
  next.revoked_at = clock_.Now();
  if (Status s = store_.UpdateActivationCode(next); !s.ok()) return s;
  std::unique_lock lock(mu_);
  PublishCode(next);
  return next;
}

StatusOr<Activation> AgentRegistry::Activate(std::string_view code, AgentInfo info, TokenService& tokens) {
  // One answer for every bad code: which of them it was is nobody's business but the log's.
  const Status refused = UnauthenticatedError("Invalid token provided");
  if (TokenCodec::Parse(code) != TokenKind::kActivationCode) return refused;
  const TokenDigest digest = TokenCodec::Digest(code);
  std::lock_guard w(write_mu_);
  CodePtr c;
  PoolPtr pool;
  {
    std::shared_lock lock(mu_);
    auto it = code_by_digest_.find(digest);
    if (it == code_by_digest_.end() || !TokenCodec::Equal(it->second->digest, digest)) return refused;
    c = it->second;
    auto p = pool_by_id_.find(c->pool_id);
    if (p == pool_by_id_.end()) return refused;
    pool = p->second;
  }
  if (CodeStatus(*c) != ActivationCodeStatus::kActive) return refused;

  const WallTime now = clock_.Now();
  Activation out;
  AgentRecord& a = out.agent;
  a.id = NewId("ajd");
  a.pool_id = c->pool_id;
  a.name = std::move(info.name);
  a.host = std::move(info.host);
  a.version = std::move(info.version);
  a.os = std::move(info.os);
  a.status = AgentStatus::kActive;
  a.created = a.activated = a.status_changed = a.last_updated = now;
  a.last_connection_ms = ToEpochMillis(now);
  out.token = tokens.Prepare(OwnerKind::kAgent, a.id, a.name, "keyhole-agent");
  ActivationCodeRecord used = *c;
  used.used_at = now;
  used.agent_id = a.id;
  Status s = store_.ActivateAgent(used, a, out.token.record);
  if (s.code() == StatusCode::kFailedPrecondition) return refused;
  if (!s.ok()) return s;
  tokens.Adopt(out.token.record);
  auto entry = std::make_shared<AgentEntry>(a);
  std::unique_lock lock(mu_);
  PublishCode(used);
  agents_[a.seq] = entry;
  agent_by_id_[a.id] = entry;
  return out;
}

// ---- agents ----

AgentRecord AgentRegistry::Snapshot(const AgentEntry& e) const {
  AgentRecord r = *e.record;
  r.last_connection_ms = e.last_connection_ms.load(std::memory_order_relaxed);
  return r;
}

std::optional<AgentRecord> AgentRegistry::GetAgent(const std::string& id) const {
  std::shared_lock lock(mu_);
  auto it = agent_by_id_.find(id);
  if (it == agent_by_id_.end()) return std::nullopt;
  return Snapshot(*it->second);
}

std::unordered_map<std::string, std::vector<AgentRecord>> AgentRegistry::AgentsByPool() const {
  std::shared_lock lock(mu_);
  std::unordered_map<std::string, std::vector<AgentRecord>> out;
  for (const auto& [seq, e] : agents_) out[e->record->pool_id].push_back(Snapshot(*e));
  return out;
}

std::vector<AgentRecord> AgentRegistry::AgentsOf(const std::string& pool_id) const {
  std::shared_lock lock(mu_);
  std::vector<AgentRecord> out;
  for (const auto& [seq, e] : agents_) {
    if (e->record->pool_id == pool_id) out.push_back(Snapshot(*e));
  }
  return out;
}

void AgentRegistry::PublishAgent(AgentRecord next) {
  std::unique_lock lock(mu_);
  auto it = agent_by_id_.find(next.id);
  if (it == agent_by_id_.end()) return;
  it->second->record = std::make_shared<const AgentRecord>(std::move(next));
}

StatusOr<AgentRecord> AgentRegistry::SetStatus(const std::string& id, AgentStatus status) {
  std::lock_guard w(write_mu_);
  auto current = GetAgent(id);
  if (!current) return NotFoundError("Resource not found: " + id + " (Agent)");
  if (current->status == status) {
    return FailedPreconditionError(status == AgentStatus::kActive ? "the agent is already active"
                                                                  : "the agent is already inactive");
  }
  AgentRecord next = *current;
  next.status = status;
  next.status_changed = next.last_updated = clock_.Now();
  if (Status s = store_.UpdateAgent(next); !s.ok()) return s;
  PublishAgent(next);
  return next;
}

StatusOr<AgentRecord> AgentRegistry::DeactivateSelf(const std::string& id, TokenService& tokens) {
  std::lock_guard w(write_mu_);
  auto current = GetAgent(id);
  if (!current) return NotFoundError("Resource not found: " + id + " (Agent)");
  AgentRecord next = *current;
  next.status = AgentStatus::kInactive;
  next.status_changed = next.last_updated = clock_.Now();
  if (Status s = store_.DeactivateAgentRevokingTokens(next, next.last_updated, kRevokedOwnerDeactivated); !s.ok()) {
    return s;
  }
  tokens.ForgetOwner(id, kRevokedOwnerDeactivated);
  PublishAgent(next);
  return next;
}

Status AgentRegistry::Delete(const std::string& id, TokenService& tokens) {
  std::lock_guard w(write_mu_);
  auto current = GetAgent(id);
  if (!current) return NotFoundError("Resource not found: " + id + " (Agent)");
  if (current->status != AgentStatus::kInactive) return FailedPreconditionError("deactivate the agent before deleting it");
  if (Status s = store_.DeleteAgent(id, clock_.Now()); !s.ok()) return s;
  tokens.ForgetOwner(id);
  std::unique_lock lock(mu_);
  agents_.erase(current->seq);
  agent_by_id_.erase(id);
  return Status::Ok();
}

StatusOr<AgentRecord> AgentRegistry::Heartbeat(const std::string& id, const AgentInfo& info) {
  AgentPtr e;
  {
    std::shared_lock lock(mu_);
    auto it = agent_by_id_.find(id);
    if (it == agent_by_id_.end()) return NotFoundError("Resource not found: " + id + " (Agent)");
    e = it->second;
  }
  e->last_connection_ms.store(ToEpochMillis(clock_.Now()), std::memory_order_relaxed);
  if (!e->dirty.exchange(true)) {
    std::lock_guard lock(dirty_mu_);
    dirty_.push_back(e);
  }
  AgentRecord current = GetAgent(id).value_or(AgentRecord{});
  bool changed = (!info.host.empty() && info.host != current.host) ||
                 (!info.version.empty() && info.version != current.version) || (!info.os.empty() && info.os != current.os);
  if (!changed) return current;
  std::lock_guard w(write_mu_);
  auto fresh = GetAgent(id);
  if (!fresh) return NotFoundError("Resource not found: " + id + " (Agent)");
  AgentRecord next = *fresh;
  if (!info.host.empty()) next.host = info.host;
  if (!info.version.empty()) next.version = info.version;
  if (!info.os.empty()) next.os = info.os;
  next.last_updated = clock_.Now();
  if (Status s = store_.UpdateAgent(next); !s.ok()) return s;
  PublishAgent(next);
  return next;
}

StatusOr<size_t> AgentRegistry::FlushConnections() {
  std::vector<AgentPtr> batch;
  {
    std::lock_guard lock(dirty_mu_);
    batch.swap(dirty_);
  }
  if (batch.empty()) return size_t{0};
  std::vector<std::pair<std::string, int64_t>> rows;
  rows.reserve(batch.size());
  for (const AgentPtr& e : batch) {
    e->dirty.exchange(false, std::memory_order_acq_rel);
    std::shared_lock lock(mu_);
    rows.emplace_back(e->record->id, e->last_connection_ms.load());
  }
  if (Status s = store_.RecordAgentConnections(rows); !s.ok()) {
    std::lock_guard lock(dirty_mu_);
    for (const AgentPtr& e : batch) {
      if (!e->dirty.exchange(true)) dirty_.push_back(e);
    }
    return s;
  }
  return rows.size();
}

const char* AgentRegistry::OperationalStatus(const AgentRecord& a) const {
  if (a.status == AgentStatus::kInactive) return "INACTIVE";
  const int64_t now = ToEpochMillis(clock_.Now());
  const int64_t stale = 3 * std::chrono::duration_cast<std::chrono::milliseconds>(options_.heartbeat_interval).count();
  return a.last_connection_ms != 0 && now - a.last_connection_ms <= stale ? "OPERATIONAL" : "DISRUPTED";
}

AgentRegistry::PoolHealth AgentRegistry::HealthOf(const std::vector<AgentRecord>& agents) const {
  PoolHealth h{"DISRUPTED"};
  int operational = 0;
  for (const AgentRecord& a : agents) {
    std::string_view s = OperationalStatus(a);
    if (s == "INACTIVE") ++h.inactive;
    else if (s == "DISRUPTED") ++h.disrupted;
    else ++operational;
  }
  if (operational > 0) h.operational_status = h.disrupted == 0 ? "OPERATIONAL" : "DEGRADED";
  return h;
}

std::optional<OwnerInfo> AgentRegistry::LookupOwner(OwnerKind kind, const std::string& id) const {
  if (kind != OwnerKind::kAgent) return std::nullopt;
  std::shared_lock lock(mu_);
  auto it = agent_by_id_.find(id);
  if (it == agent_by_id_.end()) return std::nullopt;
  return OwnerInfo{it->second->record->status == AgentStatus::kActive, false};
}

}  // namespace keyhole::coord
