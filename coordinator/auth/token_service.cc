#include "coordinator/auth/token_service.h"

#include <cstring>

#include "coordinator/auth/user_directory.h"
#include "shared/log/log.h"
#include "shared/token/random.h"
#include "shared/sync/atomic_max.h"

namespace keyhole::coord {

// Immutable fields live in `base`; what changes on use is atomic, what changes on revocation is
// written under mu_ held exclusively.
struct TokenService::Entry {
  explicit Entry(TokenRecord r)
      : base(std::move(r)),
        expires_ms(ToEpochMillis(base.expires_at)),
        last_used_ms(base.last_used ? ToEpochMillis(*base.last_used) : 0),
        revoked(base.revoked_at.has_value()),
        retire_ms(base.retire_at ? ToEpochMillis(*base.retire_at) : 0) {}
  TokenRecord base;
  std::atomic<int64_t> expires_ms;
  std::atomic<int64_t> last_used_ms;  // 0: never used
  std::atomic<bool> revoked;
  std::atomic<bool> dirty{false};
  std::atomic<int64_t> retire_ms;             // rotated: revoked at this time at the latest; 0: not rotated
  std::atomic<bool> predecessor_live{false};  // a successor whose predecessor is not yet retired
};

Status TokenService::Load() {
  auto tokens = store_.LoadTokens();
  if (!tokens.ok()) return tokens.status();
  std::unique_lock lock(mu_);
  for (TokenRecord& t : *tokens) Insert(std::move(t));
  for (auto& [id, e] : by_id_) {
    if (e->base.replaces.empty() || e->revoked.load()) continue;
    auto prev = by_id_.find(e->base.replaces);
    e->predecessor_live.store(prev != by_id_.end() && !prev->second->revoked.load());
  }
  return Status::Ok();
}

void TokenService::Insert(TokenRecord record) {
  auto e = std::make_shared<Entry>(std::move(record));
  by_seq_[e->base.seq] = e;
  by_id_[e->base.id] = e;
  by_digest_[e->base.digest] = e;
}

bool TokenService::Retired(const Entry& e, WallTime now) {
  int64_t retire = e.retire_ms.load(std::memory_order_acquire);
  return retire != 0 && ToEpochMillis(now) >= retire;
}

bool TokenService::Dead(const Entry& e, WallTime now) { return e.revoked.load() || Retired(e, now); }

TokenRecord TokenService::Snapshot(const Entry& e) const {
  TokenRecord r = e.base;
  r.expires_at = FromEpochMillis(e.expires_ms.load(std::memory_order_relaxed));
  int64_t used = e.last_used_ms.load(std::memory_order_relaxed);
  r.last_used = used ? std::optional(FromEpochMillis(used)) : std::nullopt;
  // Past its grace period a rotated token is refused already; the store catches up at its next
  // presentation or the minute sweep. Show it as what it is.
  if (!r.revoked_at && Retired(e, clock_.Now())) {
    r.revoked_at = r.retire_at;
    r.revoked_reason = std::string(kRevokedRotated);
  }
  return r;
}

StatusOr<Principal> TokenService::Authenticate(std::string_view secret, AuthFailure* why, const ClientInfo* client,
                                               bool record_use) {
  auto fail = [why](AuthFailure f) {
    if (why) *why = f;
    return UnauthenticatedError("Invalid token provided");
  };
  auto kind = TokenCodec::Parse(secret);
  if (!kind || *kind == TokenKind::kActivationCode) return fail(AuthFailure::kMalformed);
  const TokenDigest digest = TokenCodec::Digest(secret);
  EntryPtr e;
  {
    std::shared_lock lock(mu_);
    auto it = by_digest_.find(digest);
    if (it == by_digest_.end()) return fail(AuthFailure::kUnknown);
    e = it->second;
  }
  if (!TokenCodec::Equal(e->base.digest, digest)) return fail(AuthFailure::kUnknown);

  const WallTime now = clock_.Now();
  if (int64_t retire = e->retire_ms.load(std::memory_order_acquire);
      retire != 0 && ToEpochMillis(now) >= retire && !e->revoked.load(std::memory_order_acquire)) {
    bool revoked_now = false;
    if (Status s = RevokeEntry(e, kRevokedRotated, &revoked_now); !s.ok()) LogError("retiring a rotated token: " + s.message());
    if (revoked_now) LogRotationRetirement(*e, "grace period over");
    return fail(AuthFailure::kRevoked);
  }
  std::optional<OwnerInfo> owner = owners_.LookupOwner(e->base.owner_kind, e->base.owner_id);
  TokenState state{FromEpochMillis(e->expires_ms.load(std::memory_order_relaxed)),
                   e->revoked.load(std::memory_order_acquire)};
  switch (policy_.Evaluate(state, owner && owner->active, now)) {
    case TokenVerdict::kRevoked:
      return fail(AuthFailure::kRevoked);
    case TokenVerdict::kExpired: {
      bool revoked_now = false;
      if (Status s = RevokeEntry(e, kRevokedInactivity, &revoked_now); !s.ok()) {
        LogError("revoking an idle token: " + s.message());
      }
      if (revoked_now) LogInactivityRevocation(*e, client);
      return fail(AuthFailure::kExpired);
    }
    case TokenVerdict::kOwnerInactive:
      if (owner && log_) {
        LogActor actor{e->base.owner_id, e->base.owner_kind == OwnerKind::kUser ? "User" : "Agent", "", ""};
        log_->RecordOwnerInactiveRefusal(e->base.id, actor, client ? std::string(client->ip) : "", client ? std::string(client->user_agent) : "");
      }
      return fail(owner ? AuthFailure::kOwnerInactive : AuthFailure::kOwnerMissing);
    case TokenVerdict::kAccept:
      break;
  }
  Principal p{e->base.owner_kind, e->base.owner_id, e->base.id, owner->super_admin, e};
  if (record_use) RecordUse(p);
  return p;
}

void TokenService::RecordUse(const Principal& principal) {
  auto* e = static_cast<Entry*>(principal.token_handle.get());
  if (e == nullptr) return;
  const WallTime now = clock_.Now();
  // Concurrent uses may finish out of order: only ever move the expiry and last use forward.
  AtomicRaiseTo(e->expires_ms, ToEpochMillis(policy_.ExpiryAfterUse(now)));
  AtomicRaiseTo(e->last_used_ms, ToEpochMillis(now));
  if (!e->dirty.exchange(true, std::memory_order_acq_rel)) {
    std::lock_guard lock(dirty_mu_);
    dirty_.push_back(std::static_pointer_cast<Entry>(principal.token_handle));
  }
  if (e->predecessor_live.load(std::memory_order_acquire)) RetirePredecessor(*e);
}

void TokenService::RetirePredecessor(Entry& e) {
  if (!e.predecessor_live.exchange(false)) return;
  EntryPtr prev;
  {
    std::shared_lock lock(mu_);
    auto it = by_id_.find(e.base.replaces);
    if (it == by_id_.end()) return;
    prev = it->second;
  }
  bool revoked_now = false;
  if (Status s = RevokeEntry(prev, kRevokedRotated, &revoked_now); !s.ok()) {
    LogError("retiring a rotated token: " + s.message());
    e.predecessor_live.store(true);  // try again at the next use
    return;
  }
  if (revoked_now) LogRotationRetirement(*prev, "successor in use");
}

void TokenService::LogRotationRetirement(const Entry& e, const char* why) {
  if (!log_) return;
  LogEvent ev;
  ev.event_type = event_type::kTokenRevokeRotated;
  ev.display_message = std::string("Revoke rotated API token: ") + why;
  ev.actor = {"keyhole", "SystemPrincipal", "system@keyhole", "Keyhole"};
  ev.outcome_reason = std::string(kRevokedRotated);
  ev.targets.push_back({e.base.id, "Token", e.base.name, e.base.name});
  ev.targets.push_back({e.base.owner_id, e.base.owner_kind == OwnerKind::kUser ? "User" : "Agent", "", ""});
  log_->Record(std::move(ev));
}

CreatedToken TokenService::Prepare(OwnerKind kind, const std::string& owner_id, std::string name,
                                   std::string client_name) const {
  CreatedToken out;
  out.secret = TokenCodec::Generate(kind == OwnerKind::kUser ? TokenKind::kUser : TokenKind::kAgent);
  TokenRecord& r = out.record;
  r.id = NewId("00T");
  r.name = std::move(name);
  r.owner_kind = kind;
  r.owner_id = owner_id;
  r.client_name = std::move(client_name);
  r.digest = TokenCodec::Digest(out.secret);
  r.created = clock_.Now();
  r.expires_at = policy_.ExpiryAfterUse(r.created);
  return out;
}

void TokenService::Adopt(const TokenRecord& stored) {
  std::unique_lock lock(mu_);
  Insert(stored);
}

StatusOr<TokenRecord> TokenService::Rotate(const Principal& current, std::string_view successor_secret,
                                           std::chrono::milliseconds grace) {
  const std::optional<TokenKind> kind = TokenCodec::Parse(successor_secret);
  if (kind != TokenKind::kAgent && kind != TokenKind::kUser) {
    return InvalidArgumentError("token").AddCause("token: not a well-formed Keyhole API token");
  }
  const TokenKind expected = current.kind == OwnerKind::kUser ? TokenKind::kUser : TokenKind::kAgent;
  if (kind != expected) {
    return InvalidArgumentError("token").AddCause("token: wrong kind of token for this owner");
  }
  const TokenDigest digest = TokenCodec::Digest(successor_secret);
  std::lock_guard w(write_mu_);
  EntryPtr old, superseded;
  {
    std::shared_lock lock(mu_);
    auto it = by_id_.find(current.token_id);
    if (it == by_id_.end() || it->second->revoked.load()) return UnauthenticatedError("Invalid token provided");
    old = it->second;
    if (auto known = by_digest_.find(digest); known != by_digest_.end()) {
      const Entry& k = *known->second;
      // The same request again (the answer was lost): nothing to do.
      if (k.base.replaces == old->base.id && !k.revoked.load()) return Snapshot(k);
      return InvalidArgumentError("token").AddCause("token: already in use; draw a new secret");
    }
    for (const auto& [id, e] : by_id_) {
      if (e->base.replaces == old->base.id && !e->revoked.load()) superseded = e;
    }
  }
  TokenRecord r;
  r.id = NewId("00T");
  r.name = old->base.name;
  r.owner_kind = old->base.owner_kind;
  r.owner_id = old->base.owner_id;
  r.client_name = old->base.client_name;
  r.digest = digest;
  r.created = clock_.Now();
  r.expires_at = policy_.ExpiryAfterUse(r.created);
  r.replaces = old->base.id;
  // A second rotation does not extend the first one's grace.
  int64_t retire = old->retire_ms.load();
  if (retire == 0) retire = ToEpochMillis(r.created + grace);
  Status s = store_.RotateToken(r, FromEpochMillis(retire), superseded ? superseded->base.id : std::string(), r.created);
  if (!s.ok()) return s;
  std::unique_lock lock(mu_);
  if (superseded) {
    superseded->base.revoked_at = r.created;
    superseded->base.revoked_reason = std::string(kRevokedSuperseded);
    superseded->predecessor_live.store(false);
    superseded->revoked.store(true, std::memory_order_release);
  }
  old->base.retire_at = FromEpochMillis(retire);
  old->retire_ms.store(retire, std::memory_order_release);
  Insert(r);
  by_id_[r.id]->predecessor_live.store(true, std::memory_order_release);
  return r;
}

StatusOr<CreatedToken> TokenService::Create(OwnerKind kind, const std::string& owner_id, std::string name,
                                            std::string client_name) {
  std::lock_guard w(write_mu_);
  CreatedToken out = Prepare(kind, owner_id, std::move(name), std::move(client_name));
  Status s = store_.InsertToken(out.record);
  if (!s.ok()) return s;
  std::unique_lock lock(mu_);
  Insert(out.record);
  return out;
}

StatusOr<TokenRecord> TokenService::Get(const std::string& id) const {
  std::shared_lock lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end() || Dead(*it->second, clock_.Now())) return NotFoundError(id);
  return Snapshot(*it->second);
}

TokenPage TokenService::List(const TokenQuery& query) const {
  TokenPage page;
  std::string q = LowerAscii(query.q);
  auto matches = [&q](const std::string& field) {
    return field.size() >= q.size() && LowerAscii(std::string_view(field).substr(0, q.size())) == q;
  };
  const WallTime now = clock_.Now();
  std::shared_lock lock(mu_);
  for (auto it = by_seq_.upper_bound(query.after_seq); it != by_seq_.end(); ++it) {
    const Entry& e = *it->second;
    if (!query.include_revoked && Dead(e, now)) continue;
    if (query.owner_id && e.base.owner_id != *query.owner_id) continue;
    if (query.owner_kind && e.base.owner_kind != *query.owner_kind) continue;
    if (!q.empty() && !matches(e.base.name) && !matches(e.base.client_name)) continue;
    if (page.tokens.size() == query.limit) {
      page.next_after = page.tokens.back().seq;
      break;
    }
    page.tokens.push_back(Snapshot(e));
  }
  return page;
}

size_t TokenService::CountActive(const std::string& owner_id) const {
  std::shared_lock lock(mu_);
  size_t n = 0;
  for (const auto& [id, e] : by_id_) n += (e->base.owner_id == owner_id && !e->revoked.load());
  return n;
}

void TokenService::LogInactivityRevocation(const Entry& e, const ClientInfo* client) {
  if (!log_) return;
  LogEvent ev;
  ev.event_type = event_type::kTokenRevokeInactivity;
  ev.display_message = "Revoke API token: unused for longer than its window";
  ev.actor = {"keyhole", "SystemPrincipal", "system@keyhole", "Keyhole"};
  if (client) {
    ev.client_ip = std::string(client->ip);
    ev.user_agent = std::string(client->user_agent);
  }
  ev.outcome_reason = std::string(kRevokedInactivity);
  ev.targets.push_back({e.base.id, "Token", e.base.name, e.base.name});
  ev.targets.push_back({e.base.owner_id, e.base.owner_kind == OwnerKind::kUser ? "User" : "Agent", "", ""});
  log_->Record(std::move(ev));
}

Status TokenService::RevokeEntry(const EntryPtr& e, std::string_view reason, bool* revoked_now) {
  std::lock_guard w(write_mu_);
  if (e->revoked.load()) return Status::Ok();
  WallTime now = clock_.Now();
  // Idleness is re-judged here: a use accepted since the caller looked has slid the window.
  if (reason == kRevokedInactivity && e->expires_ms.load(std::memory_order_acquire) >= ToEpochMillis(now)) {
    return Status::Ok();
  }
  Status s = store_.RevokeToken(e->base.id, now, reason);
  if (!s.ok()) return s;
  std::unique_lock lock(mu_);
  e->base.revoked_at = now;
  e->base.revoked_reason = std::string(reason);
  e->revoked.store(true, std::memory_order_release);
  if (revoked_now) *revoked_now = true;
  LogInfo("token " + e->base.id + " revoked (" + std::string(reason) + ")");
  return Status::Ok();
}

Status TokenService::Revoke(const std::string& id, std::string_view reason) {
  EntryPtr e;
  {
    std::shared_lock lock(mu_);
    auto it = by_id_.find(id);
    if (it == by_id_.end() || it->second->revoked.load()) return NotFoundError(id);
    e = it->second;
  }
  if (Status s = RevokeEntry(e, reason); !s.ok()) return s;
  // A successor registered by a rotation and not yet used would otherwise outlive an explicit
  // revocation of the token it replaces (the agent could still adopt it): revoke it too.
  std::vector<EntryPtr> successors;
  {
    std::shared_lock lock(mu_);
    for (const auto& [sid, candidate] : by_id_) {
      if (candidate->base.replaces == id && !candidate->revoked.load() && candidate->predecessor_live.load()) {
        successors.push_back(candidate);
      }
    }
  }
  for (const EntryPtr& successor : successors) {
    successor->predecessor_live.store(false);
    if (Status s = RevokeEntry(successor, reason); !s.ok()) return s;
  }
  return Status::Ok();
}

void TokenService::ForgetOwner(const std::string& owner_id, std::string_view reason) {
  std::lock_guard w(write_mu_);
  WallTime now = clock_.Now();
  std::unique_lock lock(mu_);
  for (auto& [id, e] : by_id_) {
    if (e->base.owner_id != owner_id || e->revoked.load()) continue;
    e->base.revoked_at = now;
    e->base.revoked_reason = std::string(reason);
    e->predecessor_live.store(false);
    e->revoked.store(true, std::memory_order_release);
  }
}

StatusOr<size_t> TokenService::FlushUsage() {
  std::vector<EntryPtr> batch;
  {
    std::lock_guard lock(dirty_mu_);
    batch.swap(dirty_);
  }
  if (batch.empty()) return size_t{0};
  std::vector<TokenUse> uses;
  uses.reserve(batch.size());
  for (const EntryPtr& e : batch) {
    // Clear first: a use racing with this flush marks the entry dirty again for the next one.
    // acq_rel pairs with Authenticate's exchange: a use that saw dirty == true before this point
    // has its values visible below; a use after it re-queues the entry.
    e->dirty.exchange(false, std::memory_order_acq_rel);
    uses.push_back({e->base.id, FromEpochMillis(e->last_used_ms.load()), FromEpochMillis(e->expires_ms.load())});
  }
  Status s = store_.RecordTokenUses(uses);
  if (!s.ok()) {
    // Keep them for the next attempt.
    std::lock_guard lock(dirty_mu_);
    for (const EntryPtr& e : batch) {
      if (!e->dirty.exchange(true)) dirty_.push_back(e);
    }
    return s;
  }
  return uses.size();
}

size_t TokenService::RevokeIdle() {
  const int64_t now = ToEpochMillis(clock_.Now());
  std::vector<EntryPtr> idle, rotated;
  {
    std::shared_lock lock(mu_);
    for (const auto& [id, e] : by_id_) {
      if (e->revoked.load()) continue;
      if (int64_t retire = e->retire_ms.load(); retire != 0 && retire <= now) rotated.push_back(e);
      else if (e->expires_ms.load() < now) idle.push_back(e);
    }
  }
  size_t n = 0;
  for (const EntryPtr& e : idle) {
    bool revoked_now = false;
    if (RevokeEntry(e, kRevokedInactivity, &revoked_now).ok() && revoked_now) {
      ++n;
      LogInactivityRevocation(*e, nullptr);
    }
  }
  for (const EntryPtr& e : rotated) {
    bool revoked_now = false;
    if (RevokeEntry(e, kRevokedRotated, &revoked_now).ok() && revoked_now) {
      ++n;
      LogRotationRetirement(*e, "grace period over");
    }
  }
  return n;
}

}  // namespace keyhole::coord
