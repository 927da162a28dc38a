#include "coordinator/store/sqlite_agents.h"

namespace keyhole::coord {
namespace {

std::optional<int64_t> OptMillis(const std::optional<WallTime>& t) {
  return t ? std::optional<int64_t>(ToEpochMillis(*t)) : std::nullopt;
}

std::optional<WallTime> OptTime(std::optional<int64_t> ms) {
  return ms ? std::optional<WallTime>(FromEpochMillis(*ms)) : std::nullopt;
}

const char* AgentStatusText(AgentStatus s) { return s == AgentStatus::kActive ? "ACTIVE" : "INACTIVE"; }


}  // namespace

StatusOr<std::vector<AgentPoolRecord>> LoadAgentPoolRows(SqliteDb& db) {
  Statement q(db.handle(), "SELECT seq,id,name,type,created,last_updated,created_by FROM agent_pools ORDER BY seq");
  std::vector<AgentPoolRecord> out;
  while (q.Step()) {
    AgentPoolRecord p;
    p.seq = q.Int(0);
    p.id = q.Text(1);
    p.name = q.Text(2);
    auto type = ParseAgentType(q.Text(3));
    if (!type) return InternalError("corrupt type for agent pool " + p.id);
    p.type = *type;
    p.created = FromEpochMillis(q.Int(4));
    p.last_updated = FromEpochMillis(q.Int(5));
    p.created_by = q.Text(6);
    out.push_back(std::move(p));
  }
  if (!q.status().ok()) return q.status();
  return out;
}

StatusOr<std::vector<AgentRecord>> LoadAgentRows(SqliteDb& db) {
  Statement q(db.handle(),
              "SELECT seq,id,pool_id,name,host,version,os,status,created,activated,status_changed,last_updated,"
              "last_connection FROM agents ORDER BY seq");
  std::vector<AgentRecord> out;
  while (q.Step()) {
    AgentRecord a;
    a.seq = q.Int(0);
    a.id = q.Text(1);
    a.pool_id = q.Text(2);
    a.name = q.Text(3);
    a.host = q.Text(4);
    a.version = q.Text(5);
    a.os = q.Text(6);
    a.status = q.Text(7) == "ACTIVE" ? AgentStatus::kActive : AgentStatus::kInactive;
    a.created = FromEpochMillis(q.Int(8));
    a.activated = FromEpochMillis(q.Int(9));
    a.status_changed = FromEpochMillis(q.Int(10));
    a.last_updated = FromEpochMillis(q.Int(11));
    a.last_connection_ms = q.Int(12);
    out.push_back(std::move(a));
  }
  if (!q.status().ok()) return q.status();
  return out;
}

StatusOr<std::vector<ActivationCodeRecord>> LoadActivationCodeRows(SqliteDb& db) {
  Statement q(db.handle(),
              "SELECT seq,id,pool_id,digest,created,created_by,expires_at,used_at,agent_id,revoked_at "
              "FROM activation_codes ORDER BY seq");
  std::vector<ActivationCodeRecord> out;
  while (q.Step()) {
    ActivationCodeRecord c;
    c.seq = q.Int(0);
    c.id = q.Text(1);
    c.pool_id = q.Text(2);
    auto digest = TokenCodec::DigestFromHex(q.Text(3));
    if (!digest) return InternalError("corrupt digest for activation code " + c.id);
    c.digest = *digest;
    c.created = FromEpochMillis(q.Int(4));
    c.created_by = q.Text(5);
    c.expires_at = FromEpochMillis(q.Int(6));
    c.used_at = OptTime(q.OptionalInt(7));
    c.agent_id = q.Text(8);
    c.revoked_at = OptTime(q.OptionalInt(9));
    out.push_back(std::move(c));
  }
  if (!q.status().ok()) return q.status();
  return out;
}

Status InsertAgentPoolRow(SqliteDb& db, AgentPoolRecord& p) {
  Statement q(db.handle(), "INSERT INTO agent_pools(id,name,type,created,last_updated,created_by) VALUES(?,?,?,?,?,?)");
  q.Bind(1, p.id).Bind(2, p.name).Bind(3, AgentTypeName(p.type)).Bind(4, ToEpochMillis(p.created))
      .Bind(5, ToEpochMillis(p.last_updated)).Bind(6, p.created_by);
  Status s = q.Run();
  if (!s.ok()) return s;
  p.seq = sqlite3_last_insert_rowid(db.handle());
  return Status::Ok();
}

Status UpdateAgentPoolRow(SqliteDb& db, const AgentPoolRecord& p) {
  Statement q(db.handle(), "UPDATE agent_pools SET name=?1, last_updated=?2 WHERE id=?3");
  q.Bind(1, p.name).Bind(2, ToEpochMillis(p.last_updated)).Bind(3, p.id);
  Status s = q.Run();
  if (s.ok() && sqlite3_changes(db.handle()) == 0) return NotFoundError(p.id);
  return s;
}

Status DeleteAgentPoolRow(SqliteDb& db, const std::string& id) {
  Transaction tx(db);
  if (!tx.status().ok()) return tx.status();
  // A deleted pool's codes can never activate anything: drop them with it.
  Statement codes(db.handle(), "DELETE FROM activation_codes WHERE pool_id=?1");
  codes.Bind(1, id);
  if (Status s = codes.Run(); !s.ok()) return s;
  Statement q(db.handle(), "DELETE FROM agent_pools WHERE id=?1");
  q.Bind(1, id);
  if (Status s = q.Run(); !s.ok()) return s;
  return tx.Commit();
}

Status InsertActivationCodeRow(SqliteDb& db, ActivationCodeRecord& c) {
  Statement q(db.handle(),
              "INSERT INTO activation_codes(id,pool_id,digest,created,created_by,expires_at,used_at,agent_id,revoked_at) "
              "VALUES(?,?,?,?,?,?,?,?,?)");
  q.Bind(1, c.id).Bind(2, c.pool_id).Bind(3, TokenCodec::DigestHex(c.digest)).Bind(4, ToEpochMillis(c.created))
      .Bind(5, c.created_by).Bind(6, ToEpochMillis(c.expires_at)).Bind(7, OptMillis(c.used_at)).Bind(8, c.agent_id)
      .Bind(9, OptMillis(c.revoked_at));
  Status s = q.Run();
  if (!s.ok()) return s;
  c.seq = sqlite3_last_insert_rowid(db.handle());
  return Status::Ok();
}

Status UpdateActivationCodeRow(SqliteDb& db, const ActivationCodeRecord& c) {
  Statement q(db.handle(), "UPDATE activation_codes SET used_at=?1, agent_id=?2, revoked_at=?3 WHERE id=?4");
  q.Bind(1, OptMillis(c.used_at)).Bind(2, c.agent_id).Bind(3, OptMillis(c.revoked_at)).Bind(4, c.id);
  Status s = q.Run();
  if (s.ok() && sqlite3_changes(db.handle()) == 0) return NotFoundError(c.id);
  return s;
}

Status MarkActivationCodeUsedRow(SqliteDb& db, const ActivationCodeRecord& c) {
  Statement q(db.handle(),
              "UPDATE activation_codes SET used_at=?1, agent_id=?2 WHERE id=?3 AND used_at IS NULL AND revoked_at IS NULL");
  q.Bind(1, OptMillis(c.used_at)).Bind(2, c.agent_id).Bind(3, c.id);
  Status s = q.Run();
  if (s.ok() && sqlite3_changes(db.handle()) == 0) return FailedPreconditionError("activation code already used");
  return s;
}

namespace {
void BindAgent(Statement& q, const AgentRecord& a) {
  q.Bind(1, a.id).Bind(2, a.pool_id).Bind(3, a.name).Bind(4, a.host).Bind(5, a.version).Bind(6, a.os)
      .Bind(7, AgentStatusText(a.status)).Bind(8, ToEpochMillis(a.created)).Bind(9, ToEpochMillis(a.activated))
      .Bind(10, ToEpochMillis(a.status_changed)).Bind(11, ToEpochMillis(a.last_updated)).Bind(12, a.last_connection_ms);
}
}  // namespace

Status InsertAgentRow(SqliteDb& db, AgentRecord& a) {
  Statement q(db.handle(),
              "INSERT INTO agents(id,pool_id,name,host,version,os,status,created,activated,status_changed,last_updated,"
              "last_connection) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)");
  BindAgent(q, a);
  Status s = q.Run();
  if (!s.ok()) return s;
  a.seq = sqlite3_last_insert_rowid(db.handle());
  return Status::Ok();
}

Status UpdateAgentRow(SqliteDb& db, const AgentRecord& a) {
  Statement q(db.handle(),
              "UPDATE agents SET pool_id=?2,name=?3,host=?4,version=?5,os=?6,status=?7,created=?8,activated=?9,"
              "status_changed=?10,last_updated=?11,last_connection=MAX(last_connection,?12) WHERE id=?1");
  BindAgent(q, a);
  Status s = q.Run();
  if (s.ok() && sqlite3_changes(db.handle()) == 0) return NotFoundError(a.id);
  return s;
}

Status DeleteAgentRow(SqliteDb& db, const std::string& id) {
  Statement q(db.handle(), "DELETE FROM agents WHERE id=?1");
  q.Bind(1, id);
  return q.Run();
}

Status RecordAgentConnectionRows(SqliteDb& db, const std::vector<std::pair<std::string, int64_t>>& rows) {
  if (rows.empty()) return Status::Ok();
  Transaction tx(db);
  if (!tx.status().ok()) return tx.status();
  Statement q(db.handle(), "UPDATE agents SET last_connection=?1 WHERE id=?2 AND last_connection < ?1");
  for (const auto& [id, ms] : rows) {
    q.Bind(1, ms).Bind(2, id);
    if (Status s = q.Run(); !s.ok()) return s;
    q.Reset();
  }
  return tx.Commit();
}

}  // namespace keyhole::coord
