// UserDirectory: the coordinator's users and their Okta lifecycle. Keeps every user in memory
// (admins are few) and writes each change through the Store before it returns, so an
// acknowledged change is durable. Thread-safe: reads share a lock; writes are serialized and
// take the exclusive lock only to swap in the new record, never across disk I/O.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "coordinator/auth/principal.h"
#include "coordinator/store/store.h"
#include "shared/clock/clock.h"

namespace keyhole::coord {

enum class LifecycleOp { kActivate, kReactivate, kDeactivate, kSuspend, kUnsuspend };

struct UserQuery {
  std::string q;                          // prefix of login, email, firstName or lastName (any case)
  std::optional<UserStatus> status;       // filter=status eq "…"
  std::optional<std::string> login;       // filter=profile.login eq "…"
  bool include_deprovisioned = false;     // Okta hides them unless a filter asks
  int64_t after_seq = 0;
  size_t limit = 200;
};

struct UserPage {
  std::vector<UserRecord> users;
  std::optional<int64_t> next_after;  // set when more results exist
};

class UserDirectory final : public OwnerDirectory {
 public:
  UserDirectory(Store& store, const Clock& clock) : store_(store), clock_(clock) {}

  Status Load();

  // REQUIRES: `profile` validated (login, email, names present and well-formed).
  StatusOr<UserRecord> Create(nlohmann::json profile, bool activate, bool super_admin);
  // By id or (case-insensitive) login.
  StatusOr<UserRecord> Get(std::string_view id_or_login) const;
  // The same, without a copy: records are immutable and replaced whole on every change, so a
  // pointer identifies one version of a user. Null when there is no such user.
  std::shared_ptr<const UserRecord> Lookup(std::string_view id_or_login) const;
  UserPage List(const UserQuery& query) const;
  // REQUIRES: `profile` validated; it replaces the stored profile whole.
  StatusOr<UserRecord> ReplaceProfile(const std::string& id, nlohmann::json profile);
  StatusOr<UserRecord> Apply(const std::string& id, LifecycleOp op);
  StatusOr<UserRecord> SetSuperAdmin(const std::string& id, bool super_admin);
  // Okta's DELETE: deactivates a user who is not yet DEPROVISIONED (returns false), deletes a
  // DEPROVISIONED one for good and revokes its tokens in the store (returns true).
  StatusOr<bool> Delete(const std::string& id);

  std::optional<OwnerInfo> LookupOwner(OwnerKind kind, const std::string& id) const override;
  size_t size() const;

 private:
  using Ptr = std::shared_ptr<const UserRecord>;

  Ptr Find(std::string_view id_or_login) const;  // REQUIRES: mu_ held (shared)
  // Copies the record, applies `change`, stamps lastUpdated, writes it through and publishes it.
  StatusOr<UserRecord> Mutate(const std::string& id, const std::function<Status(UserRecord&)>& change);
  StatusOr<UserRecord> MutateLocked(const std::string& id, const std::function<Status(UserRecord&)>& change);  // REQUIRES: write_mu_ held
  // Okta's legal lifecycle transitions, applied to a copy of the record.
  Status ApplyTransition(UserRecord& next, LifecycleOp op) const;
  void Publish(UserRecord next);                  // REQUIRES: write_mu_ held
  bool IsLastActiveAdmin(const UserRecord& u) const;

  Store& store_;
  const Clock& clock_;
  std::mutex write_mu_;  // serializes mutations, including their disk writes
  mutable std::shared_mutex mu_;
  std::map<int64_t, Ptr> by_seq_;                   // GUARDED_BY(mu_)
  std::unordered_map<std::string, Ptr> by_id_;      // GUARDED_BY(mu_)
  std::unordered_map<std::string, Ptr> by_login_;   // GUARDED_BY(mu_), lower-cased login
};

std::string LowerAscii(std::string_view s);

}  // namespace keyhole::coord
