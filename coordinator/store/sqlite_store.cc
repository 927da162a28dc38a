// SqliteStore: Store on an embedded SQLite database (WAL, synchronous=FULL), one connection
// behind a mutex. Writes are rare (creations, revocations, lifecycle, batched token use), so a
// single connection is plenty; reads happen at start-up, when services load their working set.
#include <mutex>

#include "coordinator/store/sqlite_agents.h"
#include "coordinator/store/sqlite_db.h"
#include "coordinator/store/sqlite_log_events.h"
#include "coordinator/store/store.h"

namespace keyhole::coord {
namespace {

// Each entry migrates from user_version == index to index + 1. Append only.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE users (
  seq            INTEGER PRIMARY KEY AUTOINCREMENT,
  id             TEXT NOT NULL UNIQUE,
  login_key      TEXT NOT NULL UNIQUE,   -- lower-cased login
  status         TEXT NOT NULL,
  created        INTEGER NOT NULL,       -- epoch milliseconds, UTC
  activated      INTEGER,
  status_changed INTEGER NOT NULL,
  last_updated   INTEGER NOT NULL,
  profile        TEXT NOT NULL,          -- JSON object
  super_admin    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE api_tokens (
  seq            INTEGER PRIMARY KEY AUTOINCREMENT,
  id             TEXT NOT NULL UNIQUE,
  digest         TEXT NOT NULL UNIQUE,   -- SHA-256 of the secret, hex; the secret is never stored
  name           TEXT NOT NULL,
  owner_kind     TEXT NOT NULL,
  owner_id       TEXT NOT NULL,
  client_name    TEXT NOT NULL,
  created        INTEGER NOT NULL,
  expires_at     INTEGER NOT NULL,
  last_used      INTEGER,
  revoked_at     INTEGER,
  revoked_reason TEXT
);
CREATE INDEX api_tokens_owner ON api_tokens(owner_id);
)sql",
    // 1 → 2: the System Log (queries in sqlite_log_events.cc).
    R"sql(
CREATE TABLE log_events (
  seq            INTEGER PRIMARY KEY AUTOINCREMENT,  -- the cursor and the sort order
  uuid           TEXT NOT NULL,
  published      INTEGER NOT NULL,                   -- epoch milliseconds, UTC
  event_type     TEXT NOT NULL,
  severity       TEXT NOT NULL,
  actor_id       TEXT NOT NULL,
  outcome_result TEXT NOT NULL,
  search_text    TEXT NOT NULL,                      -- lower-cased text for q keywords
  event          TEXT NOT NULL                       -- the whole LogEvent, Okta's JSON
);
CREATE INDEX log_events_published ON log_events(published);
CREATE INDEX log_events_type ON log_events(event_type, published);
CREATE TABLE log_event_targets (                     -- target.id eq "…", exactly
  target_id      TEXT NOT NULL,
  seq            INTEGER NOT NULL,                   -- log_events.seq
  PRIMARY KEY (target_id, seq)
) WITHOUT ROWID;
CREATE INDEX log_event_targets_seq ON log_event_targets(seq);
)sql",
    // 2 → 3: temporary rate-limit exceptions, each kept whole as JSON (they are few).
    R"sql(
CREATE TABLE rate_limit_exceptions (
  id        TEXT PRIMARY KEY,
  status    TEXT NOT NULL,
  record    TEXT NOT NULL
);
)sql",
    // 3 → 4: agents (queries in sqlite_agents.cc) and token rotation.
    R"sql(
ALTER TABLE api_tokens ADD COLUMN replaces TEXT;      -- the token this one succeeds (rotation)
ALTER TABLE api_tokens ADD COLUMN retire_at INTEGER;  -- end of the grace period of a rotated token
CREATE TABLE agent_pools (
  seq            INTEGER PRIMARY KEY AUTOINCREMENT,
  id             TEXT NOT NULL UNIQUE,
  name           TEXT NOT NULL,
  type           TEXT NOT NULL,          -- Okta's AgentType spelling
  created        INTEGER NOT NULL,
  last_updated   INTEGER NOT NULL,
  created_by     TEXT NOT NULL
);
CREATE TABLE agents (
  seq            INTEGER PRIMARY KEY AUTOINCREMENT,
  id             TEXT NOT NULL UNIQUE,
  pool_id        TEXT NOT NULL REFERENCES agent_pools(id),
  name           TEXT NOT NULL,
  host           TEXT NOT NULL,
  version        TEXT NOT NULL,
  os             TEXT NOT NULL,
  status         TEXT NOT NULL,          -- ACTIVE | INACTIVE
  created        INTEGER NOT NULL,
  activated      INTEGER NOT NULL,
  status_changed INTEGER NOT NULL,
  last_updated   INTEGER NOT NULL,
  last_connection INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX agents_pool ON agents(pool_id);
CREATE TABLE activation_codes (
  seq            INTEGER PRIMARY KEY AUTOINCREMENT,
  id             TEXT NOT NULL UNIQUE,
  pool_id        TEXT NOT NULL REFERENCES agent_pools(id),
  digest         TEXT NOT NULL UNIQUE,   -- SHA-256 of the code, hex; the code is never stored
  created        INTEGER NOT NULL,
  created_by     TEXT NOT NULL,
  expires_at     INTEGER NOT NULL,
  used_at        INTEGER,
  agent_id       TEXT NOT NULL DEFAULT '',
  revoked_at     INTEGER
);
CREATE INDEX activation_codes_pool ON activation_codes(pool_id);
)sql",
};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<int64_t> OptMillis(const std::optional<WallTime>& t) {
  return t ? std::optional<int64_t>(ToEpochMillis(*t)) : std::nullopt;
}

std::optional<WallTime> OptTime(std::optional<int64_t> ms) {
  return ms ? std::optional<WallTime>(FromEpochMillis(*ms)) : std::nullopt;
}

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}

  Status Migrate() {
    std::lock_guard lock(mu_);
    for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON"}) {
      Status s = db_->Exec(pragma);
      if (!s.ok()) return s;
    }
    Statement v(db_->handle(), "PRAGMA user_version");
    int64_t version = v.Step() ? v.Int(0) : 0;
    constexpr int64_t kLatest = std::size(kMigrations);
    if (version > kLatest) {
      return FailedPreconditionError("database schema version " + std::to_string(version) +
                                     " is newer than this coordinator understands (" + std::to_string(kLatest) + ")");
    }
    for (; version < kLatest; ++version) {
      Transaction tx(*db_);
      Status s = db_->Exec(kMigrations[version]);
      if (s.ok()) s = db_->Exec("PRAGMA user_version=" + std::to_string(version + 1));
      if (s.ok()) s = tx.Commit();
      if (!s.ok()) return s;
    }
    return Status::Ok();
  }

  StatusOr<std::vector<UserRecord>> LoadUsers() override {
    std::lock_guard lock(mu_);
    Statement q(db_->handle(),
                "SELECT seq,id,status,created,activated,status_changed,last_updated,profile,super_admin "
                "FROM users ORDER BY seq");
    std::vector<UserRecord> out;
    while (q.Step()) {
      UserRecord u;
      u.seq = q.Int(0);
      u.id = q.Text(1);
      u.status = ParseUserStatus(q.Text(2)).value_or(UserStatus::kDeprovisioned);
      u.created = FromEpochMillis(q.Int(3));
      u.activated = OptTime(q.OptionalInt(4));
      u.status_changed = FromEpochMillis(q.Int(5));
      u.last_updated = FromEpochMillis(q.Int(6));
      u.profile = nlohmann::json::parse(q.Text(7), nullptr, false);
      if (!u.profile.is_object()) return InternalError("corrupt profile for user " + u.id);
      u.super_admin = q.Int(8) != 0;
      out.push_back(std::move(u));
    }
    if (!q.status().ok()) return q.status();
    return out;
  }

  StatusOr<std::vector<TokenRecord>> LoadTokens() override {
    std::lock_guard lock(mu_);
    Statement q(db_->handle(),
                "SELECT seq,id,digest,name,owner_kind,owner_id,client_name,created,expires_at,last_used,"
                "revoked_at,revoked_reason,replaces,retire_at FROM api_tokens ORDER BY seq");
    std::vector<TokenRecord> out;
    while (q.Step()) {
      TokenRecord t;
      t.seq = q.Int(0);
      t.id = q.Text(1);
      auto digest = TokenCodec::DigestFromHex(q.Text(2));
      if (!digest) return InternalError("corrupt digest for token " + t.id);
      t.digest = *digest;
      t.name = q.Text(3);
      t.owner_kind = q.Text(4) == "AGENT" ? OwnerKind::kAgent : OwnerKind::kUser;
      t.owner_id = q.Text(5);
      t.client_name = q.Text(6);
      t.created = FromEpochMillis(q.Int(7));
      t.expires_at = FromEpochMillis(q.Int(8));
      t.last_used = OptTime(q.OptionalInt(9));
      t.revoked_at = OptTime(q.OptionalInt(10));
      t.revoked_reason = q.Text(11);
      t.replaces = q.Text(12);
      t.retire_at = OptTime(q.OptionalInt(13));
      out.push_back(std::move(t));
    }
    if (!q.status().ok()) return q.status();
    return out;
  }

  Status InsertUser(UserRecord& u) override {
    std::lock_guard lock(mu_);
    Statement q(db_->handle(),
                "INSERT INTO users(id,login_key,status,created,activated,status_changed,last_updated,profile,"
                "super_admin) VALUES(?,?,?,?,?,?,?,?,?)");
    BindUser(q, u);
    Status s = q.Run();
    if (s.code() == StatusCode::kAlreadyExists) return AlreadyExistsError("login");
    if (!s.ok()) return s;
    u.seq = sqlite3_last_insert_rowid(db_->handle());
    return Status::Ok();
  }

  Status UpdateUser(const UserRecord& u) override {
    std::lock_guard lock(mu_);
    Statement q(db_->handle(),
                "UPDATE users SET id=?1,login_key=?2,status=?3,created=?4,activated=?5,status_changed=?6,"
                "last_updated=?7,profile=?8,super_admin=?9 WHERE id=?1");
    BindUser(q, u);
    Status s = q.Run();
    if (s.code() == StatusCode::kAlreadyExists) return AlreadyExistsError("login");
    if (s.ok() && sqlite3_changes(db_->handle()) == 0) return NotFoundError(u.id);
    return s;
  }

  Status DeleteUser(const std::string& id, WallTime at) override {
    std::lock_guard lock(mu_);
    Transaction tx(*db_);
    if (!tx.status().ok()) return tx.status();
    Status s = RevokeOwnerTokenRows(*db_, id, at, kRevokedOwnerDeleted);
    if (!s.ok()) return s;
    Statement del(db_->handle(), "DELETE FROM users WHERE id=?1");
    del.Bind(1, id);
    s = del.Run();
    if (!s.ok()) return s;
    return tx.Commit();
  }

  Status InsertToken(TokenRecord& t) override {
    std::lock_guard lock(mu_);
    return InsertTokenRow(*db_, t);
  }

  Status RevokeToken(const std::string& id, WallTime at, std::string_view reason) override {
    std::lock_guard lock(mu_);
    return RevokeTokenRow(*db_, id, at, reason);
  }

  Status RotateToken(TokenRecord& successor, WallTime retire_at, const std::string& superseded, WallTime at) override {
    std::lock_guard lock(mu_);
    Transaction tx(*db_);
    if (!tx.status().ok()) return tx.status();
    if (!superseded.empty()) {
      if (Status s = RevokeTokenRow(*db_, superseded, at, kRevokedSuperseded); !s.ok()) return s;
    }
    Statement retire(db_->handle(), "UPDATE api_tokens SET retire_at=?1 WHERE id=?2 AND revoked_at IS NULL");
    retire.Bind(1, ToEpochMillis(retire_at)).Bind(2, successor.replaces);
    if (Status s = retire.Run(); !s.ok()) return s;
    if (sqlite3_changes(db_->handle()) == 0) return NotFoundError(successor.replaces);
    if (Status s = InsertTokenRow(*db_, successor); !s.ok()) return s;
    return tx.Commit();
  }

  StatusOr<std::vector<AgentPoolRecord>> LoadAgentPools() override {
    std::lock_guard lock(mu_);
    return LoadAgentPoolRows(*db_);
  }
  StatusOr<std::vector<AgentRecord>> LoadAgents() override {
    std::lock_guard lock(mu_);
    return LoadAgentRows(*db_);
  }
  StatusOr<std::vector<ActivationCodeRecord>> LoadActivationCodes() override {
    std::lock_guard lock(mu_);
    return LoadActivationCodeRows(*db_);
  }
  Status InsertAgentPool(AgentPoolRecord& pool) override {
    std::lock_guard lock(mu_);
    return InsertAgentPoolRow(*db_, pool);
  }
  Status UpdateAgentPool(const AgentPoolRecord& pool) override {
    std::lock_guard lock(mu_);
    return UpdateAgentPoolRow(*db_, pool);
  }
  Status DeleteAgentPool(const std::string& id, WallTime) override {
    std::lock_guard lock(mu_);
    return DeleteAgentPoolRow(*db_, id);
  }
  Status InsertActivationCode(ActivationCodeRecord& code) override {
    std::lock_guard lock(mu_);
    return InsertActivationCodeRow(*db_, code);
  }
  Status UpdateActivationCode(const ActivationCodeRecord& code) override {
    std::lock_guard lock(mu_);
    return UpdateActivationCodeRow(*db_, code);
  }
  Status ActivateAgent(const ActivationCodeRecord& used_code, AgentRecord& agent, TokenRecord& token) override {
    std::lock_guard lock(mu_);
    Transaction tx(*db_);
    if (!tx.status().ok()) return tx.status();
    if (Status s = MarkActivationCodeUsedRow(*db_, used_code); !s.ok()) return s;
    if (Status s = InsertAgentRow(*db_, agent); !s.ok()) return s;
    if (Status s = InsertTokenRow(*db_, token); !s.ok()) return s;
    return tx.Commit();
  }
  Status UpdateAgent(const AgentRecord& agent) override {
    std::lock_guard lock(mu_);
    return UpdateAgentRow(*db_, agent);
  }
  Status DeactivateAgentRevokingTokens(const AgentRecord& agent, WallTime at, std::string_view reason) override {
    std::lock_guard lock(mu_);
    Transaction tx(*db_);
    if (!tx.status().ok()) return tx.status();
    if (Status s = UpdateAgentRow(*db_, agent); !s.ok()) return s;
    if (Status s = RevokeOwnerTokenRows(*db_, agent.id, at, reason); !s.ok()) return s;
    return tx.Commit();
  }
  Status DeleteAgent(const std::string& id, WallTime at) override {
    std::lock_guard lock(mu_);
    Transaction tx(*db_);
    if (!tx.status().ok()) return tx.status();
    if (Status s = RevokeOwnerTokenRows(*db_, id, at, kRevokedOwnerDeleted); !s.ok()) return s;
    if (Status s = DeleteAgentRow(*db_, id); !s.ok()) return s;
    return tx.Commit();
  }
  Status RecordAgentConnections(const std::vector<std::pair<std::string, int64_t>>& rows) override {
    std::lock_guard lock(mu_);
    return RecordAgentConnectionRows(*db_, rows);
  }

  Status RecordTokenUses(const std::vector<TokenUse>& uses) override {
    if (uses.empty()) return Status::Ok();
    std::lock_guard lock(mu_);
    Transaction tx(*db_);
    if (!tx.status().ok()) return tx.status();
    Statement q(db_->handle(),
                "UPDATE api_tokens SET last_used=?1, expires_at=?2 WHERE id=?3 AND revoked_at IS NULL");
    for (const TokenUse& use : uses) {
      q.Bind(1, ToEpochMillis(use.last_used)).Bind(2, ToEpochMillis(use.expires_at)).Bind(3, use.id);
      Status s = q.Run();
      if (!s.ok()) return s;
      q.Reset();
    }
    return tx.Commit();
  }

  Status AppendLogEvents(std::vector<LogEvent>& events) override {
    std::lock_guard lock(mu_);
    return AppendLogEventRows(*db_, events);
  }

  // On a connection of its own: in WAL mode a long scan of the log blocks no writer, so token
  // revocations, user changes and the log's own flushes never wait behind a reader.
  StatusOr<std::vector<LogEvent>> QueryLogEvents(const LogQuery& query) override {
    std::lock_guard lock(read_mu_);
    return QueryLogEventRows(*reader_, query);
  }

  Status OpenReader(const std::string& path) {
    auto reader = SqliteDb::Open(path);
    if (!reader.ok()) return reader.status();
    if (Status s = (*reader)->Exec("PRAGMA query_only=ON"); !s.ok()) return s;
    reader_ = std::move(reader).value();
    return Status::Ok();
  }

  StatusOr<size_t> PruneLogEvents(WallTime before, size_t max_rows) override {
    std::lock_guard lock(mu_);
    return PruneLogEventRows(*db_, before, max_rows);
  }

  Status SaveRateLimitException(const RateLimitException& x) override {
    std::lock_guard lock(mu_);
    Statement q(db_->handle(),
                "INSERT INTO rate_limit_exceptions(id,status,record) VALUES(?1,?2,?3) "
                "ON CONFLICT(id) DO UPDATE SET status=?2, record=?3");
    q.Bind(1, x.id).Bind(2, ExceptionStatusName(x.status)).Bind(3, x.ToStored().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    return q.Run();
  }

  StatusOr<std::vector<RateLimitException>> LoadRateLimitExceptions() override {
    std::lock_guard lock(mu_);
    Statement q(db_->handle(), "SELECT id, record FROM rate_limit_exceptions ORDER BY id");
    std::vector<RateLimitException> out;
    while (q.Step()) {
      auto x = RateLimitException::FromStored(nlohmann::json::parse(q.Text(1), nullptr, false));
      if (!x) return InternalError("corrupt rate-limit exception " + q.Text(0));
      out.push_back(std::move(*x));
    }
    if (!q.status().ok()) return q.status();
    return out;
  }

 private:
  static void BindUser(Statement& q, const UserRecord& u) {
    q.Bind(1, u.id)
        .Bind(2, Lower(u.login()))
        .Bind(3, UserStatusName(u.status))
        .Bind(4, ToEpochMillis(u.created))
        .Bind(5, OptMillis(u.activated))
        .Bind(6, ToEpochMillis(u.status_changed))
        .Bind(7, ToEpochMillis(u.last_updated))
        .Bind(8, u.profile.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
        .Bind(9, int64_t{u.super_admin ? 1 : 0});
  }

  std::mutex mu_;
  std::unique_ptr<SqliteDb> db_;
  std::mutex read_mu_;
  std::unique_ptr<SqliteDb> reader_;  // GUARDED_BY(read_mu_): system log queries only
};

}  // namespace

Status InsertTokenRow(SqliteDb& db, TokenRecord& t) {
  Statement q(db.handle(),
              "INSERT INTO api_tokens(id,digest,name,owner_kind,owner_id,client_name,created,expires_at,last_used,"
              "revoked_at,revoked_reason,replaces,retire_at) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)");
  q.Bind(1, t.id)
      .Bind(2, TokenCodec::DigestHex(t.digest))
      .Bind(3, t.name)
      .Bind(4, OwnerKindName(t.owner_kind))
      .Bind(5, t.owner_id)
      .Bind(6, t.client_name)
      .Bind(7, ToEpochMillis(t.created))
      .Bind(8, ToEpochMillis(t.expires_at))
      .Bind(9, OptMillis(t.last_used))
      .Bind(10, OptMillis(t.revoked_at));
  if (t.revoked_reason.empty()) q.BindNull(11); else q.Bind(11, t.revoked_reason);
  if (t.replaces.empty()) q.BindNull(12); else q.Bind(12, t.replaces);
  q.Bind(13, OptMillis(t.retire_at));
  Status s = q.Run();
  if (!s.ok()) return s;
  t.seq = sqlite3_last_insert_rowid(db.handle());
  return Status::Ok();
}

Status RevokeOwnerTokenRows(SqliteDb& db, const std::string& owner_id, WallTime at, std::string_view reason) {
  Statement q(db.handle(),
              "UPDATE api_tokens SET revoked_at=?1, revoked_reason=?2 WHERE owner_id=?3 AND revoked_at IS NULL");
  q.Bind(1, ToEpochMillis(at)).Bind(2, reason).Bind(3, owner_id);
  return q.Run();
}

Status RevokeTokenRow(SqliteDb& db, const std::string& id, WallTime at, std::string_view reason) {
  Statement q(db.handle(), "UPDATE api_tokens SET revoked_at=?1, revoked_reason=?2 WHERE id=?3 AND revoked_at IS NULL");
  q.Bind(1, ToEpochMillis(at)).Bind(2, reason).Bind(3, id);
  return q.Run();
}

StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path) {
  auto db = SqliteDb::Open(path);
  if (!db.ok()) return db.status();
  auto store = std::make_unique<SqliteStore>(std::move(db).value());
  Status s = store->Migrate();
  if (s.ok()) s = store->OpenReader(path);
  if (!s.ok()) return s;
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace keyhole::coord
