// TokenService: every API token the coordinator knows, users' and agents' alike, and the one
// place that decides whether a presented secret authenticates (TokenPolicy).
//
// Hot path: Authenticate() hashes the secret, looks it up under a shared lock and slides the
// expiry with atomics; it touches the disk only in the rare event that a token must be revoked
// for inactivity. Last use is kept in memory and written in batches by FlushUsage() (called about
// once a second and at shutdown). Creations and revocations are durable before they return.
// Thread-safe.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "coordinator/audit/system_log.h"
#include "coordinator/auth/principal.h"
#include "coordinator/store/store.h"
#include "shared/clock/clock.h"
#include "shared/token/token_policy.h"

namespace keyhole::coord {

struct CreatedToken {
  TokenRecord record;
  std::string secret;  // shown once, never stored
};

struct TokenQuery {
  std::optional<std::string> owner_id;  // only this owner's tokens
  std::optional<OwnerKind> owner_kind;  // only users' or only agents' tokens
  std::string q;                        // prefix of name or clientName (any case)
  bool include_revoked = false;
  int64_t after_seq = 0;
  size_t limit = 20;
};

struct TokenPage {
  std::vector<TokenRecord> tokens;
  std::optional<int64_t> next_after;
};

// Where a request came from, for the System Log events authentication may record.
struct ClientInfo {
  // Views into the request, valid for the Authenticate() call only: nothing copied per request.
  std::string_view ip;
  std::string_view user_agent;
};

// Why an authentication failed; all of them answer the same 401 to the caller.
enum class AuthFailure { kMalformed, kUnknown, kRevoked, kExpired, kOwnerInactive, kOwnerMissing };

class TokenService {
 public:
  // `log` (optional, not owned) receives revocations for inactivity and owner-inactive refusals.
  TokenService(Store& store, const Clock& clock, const OwnerDirectory& owners, TokenPolicy policy = TokenPolicy(),
               SystemLog* log = nullptr)
      : store_(store), clock_(clock), owners_(owners), policy_(policy), log_(log) {}

  Status Load();

  // `secret` is the raw token from "SSWS <token>". On failure, *why (if given) says which rule refused.
  // `client` (optional) names the caller in the System Log events a refusal records.
  StatusOr<Principal> Authenticate(std::string_view secret, AuthFailure* why = nullptr,
                                   const ClientInfo* client = nullptr, bool record_use = true);
  // Counts an accepted request as a use: slides the window, records the last use. The pipeline
  // authenticates with record_use = false and calls this only once the rate limit admits the
  // request, so that a refused request changes nothing.
  void RecordUse(const Principal& principal);

  StatusOr<CreatedToken> Create(OwnerKind kind, const std::string& owner_id, std::string name, std::string client_name);
  // Create() in two halves, for callers that write the token in a transaction of their own
  // (agent activation): Prepare draws the secret and fills the record without storing it;
  // Adopt makes a record the store has committed known.
  CreatedToken Prepare(OwnerKind kind, const std::string& owner_id, std::string name, std::string client_name) const;
  void Adopt(const TokenRecord& stored);
  // Rotation (docs/AGENTS.md): registers `successor_secret` (drawn by the owner) as the successor
  // of the principal's token, which stays valid until the successor's first use or until `grace`
  // ends. Idempotent for the same successor; replaces an unused earlier successor.
  StatusOr<TokenRecord> Rotate(const Principal& current, std::string_view successor_secret,
                               std::chrono::milliseconds grace);
  // Active tokens only: a revoked token answers NotFound, as Okta's does.
  StatusOr<TokenRecord> Get(const std::string& id) const;
  TokenPage List(const TokenQuery& query) const;
  Status Revoke(const std::string& id, std::string_view reason = kRevokedExplicitly);
  // Mirrors in memory a revocation of all the owner's tokens that the store already made durable
  // (Store::DeleteUser, DeleteAgent, DeactivateAgentRevokingTokens).
  void ForgetOwner(const std::string& owner_id, std::string_view reason = kRevokedOwnerDeleted);
  size_t CountActive(const std::string& owner_id) const;

  // Writes pending last-use times; returns how many tokens were written.
  StatusOr<size_t> FlushUsage();
  // Revokes (reason INACTIVITY) every active token idle past its expiry, and (reason ROTATED)
  // every rotated token past its grace period; returns how many.
  size_t RevokeIdle();

  const TokenPolicy& policy() const { return policy_; }

 private:
  struct Entry;
  using EntryPtr = std::shared_ptr<Entry>;

  TokenRecord Snapshot(const Entry& e) const;  // REQUIRES: mu_ held
  // A rotated token past its grace period (refused, if not yet revoked on disk).
  static bool Retired(const Entry& e, WallTime now);
  // Revoked, or retired.
  static bool Dead(const Entry& e, WallTime now);
  void Insert(TokenRecord record);             // REQUIRES: mu_ held exclusively
  // *revoked_now (if given) tells whether this call did revoke, rather than a racing one.
  Status RevokeEntry(const EntryPtr& e, std::string_view reason, bool* revoked_now = nullptr);
  void LogInactivityRevocation(const Entry& e, const ClientInfo* client);
  void LogRotationRetirement(const Entry& e, const char* why);
  // The successor `e` is in use: retire the token it replaces.
  void RetirePredecessor(Entry& e);

  Store& store_;
  const Clock& clock_;
  const OwnerDirectory& owners_;
  const TokenPolicy policy_;
  SystemLog* const log_;

  std::mutex write_mu_;  // serializes creations and revocations, with their disk writes
  mutable std::shared_mutex mu_;
  std::map<int64_t, EntryPtr> by_seq_;                          // GUARDED_BY(mu_)
  std::unordered_map<std::string, EntryPtr> by_id_;             // GUARDED_BY(mu_)
  std::unordered_map<TokenDigest, EntryPtr, TokenDigestHash> by_digest_;  // GUARDED_BY(mu_)

  std::mutex dirty_mu_;
  std::vector<EntryPtr> dirty_;  // GUARDED_BY(dirty_mu_): used since the last flush
};

}  // namespace keyhole::coord
