// Agents' tables in the coordinator's SQLite database (agent_pools, agents, activation_codes;
// schema in sqlite_store.cc's kMigrations). Used only by SqliteStore, which holds its connection
// mutex around every call.
#pragma once

#include <vector>

#include "coordinator/store/records.h"
#include "coordinator/store/sqlite_db.h"

namespace keyhole::coord {

StatusOr<std::vector<AgentPoolRecord>> LoadAgentPoolRows(SqliteDb& db);
StatusOr<std::vector<AgentRecord>> LoadAgentRows(SqliteDb& db);
StatusOr<std::vector<ActivationCodeRecord>> LoadActivationCodeRows(SqliteDb& db);
Status InsertAgentPoolRow(SqliteDb& db, AgentPoolRecord& pool);
Status UpdateAgentPoolRow(SqliteDb& db, const AgentPoolRecord& pool);
Status DeleteAgentPoolRow(SqliteDb& db, const std::string& id);
Status InsertActivationCodeRow(SqliteDb& db, ActivationCodeRecord& code);
Status UpdateActivationCodeRow(SqliteDb& db, const ActivationCodeRecord& code);
// kFailedPrecondition when the stored code is no longer unused (used or revoked).
Status MarkActivationCodeUsedRow(SqliteDb& db, const ActivationCodeRecord& code);
Status InsertAgentRow(SqliteDb& db, AgentRecord& agent);
Status UpdateAgentRow(SqliteDb& db, const AgentRecord& agent);
Status DeleteAgentRow(SqliteDb& db, const std::string& id);
Status RecordAgentConnectionRows(SqliteDb& db, const std::vector<std::pair<std::string, int64_t>>& last_connection_ms);

// Defined in sqlite_store.cc: shared by token creation, rotation and activation.
Status InsertTokenRow(SqliteDb& db, TokenRecord& token);
Status RevokeTokenRow(SqliteDb& db, const std::string& id, WallTime at, std::string_view reason);
// Revokes every active token of one owner (user or agent).
Status RevokeOwnerTokenRows(SqliteDb& db, const std::string& owner_id, WallTime at, std::string_view reason);

}  // namespace keyhole::coord
