#include "coordinator/auth/user_directory.h"

#include "shared/token/random.h"

namespace keyhole::coord {
namespace {

bool StartsWithNoCase(const nlohmann::json& profile, const char* key, std::string_view lower_prefix) {
  auto it = profile.find(key);
  if (it == profile.end() || !it->is_string()) return false;
  const std::string& v = it->get_ref<const std::string&>();
  return v.size() >= lower_prefix.size() && LowerAscii(std::string_view(v).substr(0, lower_prefix.size())) == lower_prefix;
}

Status NotAllowedInStatus() {
  return FailedPreconditionError("This operation is not allowed in the user's current status.");
}

}  // namespace

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Status UserDirectory::Load() {
  auto users = store_.LoadUsers();
  if (!users.ok()) return users.status();
  std::lock_guard w(write_mu_);
  for (UserRecord& u : *users) Publish(std::move(u));
  return Status::Ok();
}

size_t UserDirectory::size() const {
  std::shared_lock lock(mu_);
  return by_id_.size();
}

UserDirectory::Ptr UserDirectory::Find(std::string_view id_or_login) const {
  if (auto it = by_id_.find(std::string(id_or_login)); it != by_id_.end()) return it->second;
  if (auto it = by_login_.find(LowerAscii(id_or_login)); it != by_login_.end()) return it->second;
  return nullptr;
}

StatusOr<UserRecord> UserDirectory::Get(std::string_view id_or_login) const {
  Ptr p = Lookup(id_or_login);
  if (!p) return NotFoundError(std::string(id_or_login));
  return *p;
}

std::shared_ptr<const UserRecord> UserDirectory::Lookup(std::string_view id_or_login) const {
  std::shared_lock lock(mu_);
  return Find(id_or_login);
}

std::optional<OwnerInfo> UserDirectory::LookupOwner(OwnerKind kind, const std::string& id) const {
  if (kind != OwnerKind::kUser) return std::nullopt;
  std::shared_lock lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return OwnerInfo{it->second->status == UserStatus::kActive, it->second->super_admin};
}

UserPage UserDirectory::List(const UserQuery& query) const {
  UserPage page;
  std::string q = LowerAscii(query.q);
  std::optional<std::string> login = query.login ? std::optional(LowerAscii(*query.login)) : std::nullopt;
  std::shared_lock lock(mu_);
  for (auto it = by_seq_.upper_bound(query.after_seq); it != by_seq_.end(); ++it) {
    const UserRecord& u = *it->second;
    if (query.status && u.status != *query.status) continue;
    if (!query.include_deprovisioned && !query.status && u.status == UserStatus::kDeprovisioned) continue;
    if (login && LowerAscii(u.login()) != *login) continue;
    if (!q.empty() && !StartsWithNoCase(u.profile, "login", q) && !StartsWithNoCase(u.profile, "email", q) &&
        !StartsWithNoCase(u.profile, "firstName", q) && !StartsWithNoCase(u.profile, "lastName", q)) {
      continue;
    }
    if (page.users.size() == query.limit) {
      page.next_after = page.users.back().seq;
      break;
    }
    page.users.push_back(u);
  }
  return page;
}

void UserDirectory::Publish(UserRecord next) {
  auto ptr = std::make_shared<const UserRecord>(std::move(next));
  std::unique_lock lock(mu_);
  if (auto old = by_id_.find(ptr->id); old != by_id_.end()) by_login_.erase(LowerAscii(old->second->login()));
  by_seq_[ptr->seq] = ptr;
  by_id_[ptr->id] = ptr;
  by_login_[LowerAscii(ptr->login())] = ptr;
}

StatusOr<UserRecord> UserDirectory::Create(nlohmann::json profile, bool activate, bool super_admin) {
  std::lock_guard w(write_mu_);
  UserRecord u;
  u.id = NewId("00u");
  u.created = clock_.Now();
  u.status = activate ? UserStatus::kActive : UserStatus::kStaged;
  if (activate) u.activated = u.created;
  u.status_changed = u.created;
  u.last_updated = u.created;
  u.profile = std::move(profile);
  u.super_admin = super_admin;
  {
    std::shared_lock lock(mu_);
    if (by_login_.count(LowerAscii(u.login()))) {
      return AlreadyExistsError("login").AddCause(
          "login: An object with this field already exists in the current organization");
    }
  }
  Status s = store_.InsertUser(u);
  if (s.code() == StatusCode::kAlreadyExists) {
    return AlreadyExistsError("login").AddCause("login: An object with this field already exists in the current organization");
  }
  if (!s.ok()) return s;
  Publish(u);
  return u;
}

StatusOr<UserRecord> UserDirectory::Mutate(const std::string& id, const std::function<Status(UserRecord&)>& change) {
  std::lock_guard w(write_mu_);
  return MutateLocked(id, change);
}

StatusOr<UserRecord> UserDirectory::MutateLocked(const std::string& id, const std::function<Status(UserRecord&)>& change) {
  UserRecord next;
  {
    std::shared_lock lock(mu_);
    Ptr cur = Find(id);
    if (!cur || cur->id != id) return NotFoundError(id);
    next = *cur;
  }
  if (Status s = change(next); !s.ok()) return s;
  next.last_updated = clock_.Now();
  if (Status s = store_.UpdateUser(next); !s.ok()) return s;
  Publish(next);
  return next;
}

StatusOr<UserRecord> UserDirectory::ReplaceProfile(const std::string& id, nlohmann::json profile) {
  return Mutate(id, [&](UserRecord& next) {
    std::string new_login = LowerAscii(profile.value("login", ""));
    {
      std::shared_lock lock(mu_);
      if (auto other = by_login_.find(new_login); other != by_login_.end() && other->second->id != id) {
        return AlreadyExistsError("login").AddCause("login: An object with this field already exists in the current organization");
      }
    }
    next.profile = std::move(profile);
    return Status::Ok();
  });
}

bool UserDirectory::IsLastActiveAdmin(const UserRecord& u) const {
  if (!u.super_admin || u.status != UserStatus::kActive) return false;
  std::shared_lock lock(mu_);
  for (const auto& [id, other] : by_id_) {
    if (id != u.id && other->super_admin && other->status == UserStatus::kActive) return false;
  }
  return true;
}

StatusOr<UserRecord> UserDirectory::Apply(const std::string& id, LifecycleOp op) {
  return Mutate(id, [&](UserRecord& next) { return ApplyTransition(next, op); });
}

Status UserDirectory::ApplyTransition(UserRecord& next, LifecycleOp op) const {
  const UserStatus from = next.status;
  UserStatus to = from;
  switch (op) {
    case LifecycleOp::kActivate:
      if (from == UserStatus::kActive) {
        return FailedPreconditionError("Activation failed because the user is already active").WithDetail("already_active");
      }
      if (from != UserStatus::kStaged && from != UserStatus::kDeprovisioned) return NotAllowedInStatus();
      to = UserStatus::kActive;
      break;
    case LifecycleOp::kReactivate:
      if (from != UserStatus::kProvisioned && from != UserStatus::kRecovery) return NotAllowedInStatus();
      to = UserStatus::kActive;
      break;
    case LifecycleOp::kDeactivate:
      if (from == UserStatus::kDeprovisioned) return NotAllowedInStatus();
      to = UserStatus::kDeprovisioned;
      break;
    case LifecycleOp::kSuspend:
      if (from != UserStatus::kActive) {
        return InvalidArgumentError("status").AddCause("status: Only an ACTIVE user can be suspended");
      }
      to = UserStatus::kSuspended;
      break;
    case LifecycleOp::kUnsuspend:
      if (from != UserStatus::kSuspended) {
        return InvalidArgumentError("status").AddCause("status: Only a SUSPENDED user can be unsuspended");
      }
      to = UserStatus::kActive;
      break;
  }
  if (to != UserStatus::kActive && IsLastActiveAdmin(next)) {
    return NotAllowedInStatus().AddCause("status: The last active SUPER_ADMIN cannot be deactivated or suspended");
  }
  next.status = to;
  next.status_changed = clock_.Now();
  if (op == LifecycleOp::kActivate || op == LifecycleOp::kReactivate) next.activated = next.status_changed;
  return Status::Ok();
}

StatusOr<UserRecord> UserDirectory::SetSuperAdmin(const std::string& id, bool super_admin) {
  return Mutate(id, [&](UserRecord& next) {
    if (!super_admin && next.super_admin && IsLastActiveAdmin(next)) {
      return NotAllowedInStatus().AddCause("role: The last active SUPER_ADMIN cannot lose the role");
    }
    next.super_admin = super_admin;
    return Status::Ok();
  });
}

StatusOr<bool> UserDirectory::Delete(const std::string& id) {
  // One decision under the write lock: a concurrent activate cannot slip in between the status
  // check and the deletion, and a concurrent deactivate makes this a plain 204, as in Okta.
  std::lock_guard w(write_mu_);
  Ptr cur;
  {
    std::shared_lock lock(mu_);
    cur = Find(id);
    if (!cur || cur->id != id) return NotFoundError(id);
  }
  if (cur->status != UserStatus::kDeprovisioned) {
    auto r = MutateLocked(id, [&](UserRecord& next) { return ApplyTransition(next, LifecycleOp::kDeactivate); });
    if (!r.ok()) return r.status();
    return false;
  }
  Status s = store_.DeleteUser(id, clock_.Now());
  if (!s.ok()) return s;
  std::unique_lock lock(mu_);
  by_seq_.erase(cur->seq);
  by_id_.erase(cur->id);
  by_login_.erase(LowerAscii(cur->login()));
  return true;
}

}  // namespace keyhole::coord
