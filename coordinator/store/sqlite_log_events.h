// The System Log's tables in the coordinator's SQLite database (log_events and its target index
// log_event_targets; schema in sqlite_store.cc's kMigrations). Used only by SqliteStore, which
// holds its connection mutex around every call. Every filter value is a bound parameter.
#pragma once

#include <vector>

#include "coordinator/audit/log_event.h"
#include "coordinator/store/sqlite_db.h"

namespace keyhole::coord {

Status AppendLogEventRows(SqliteDb& db, std::vector<LogEvent>& events);
StatusOr<std::vector<LogEvent>> QueryLogEventRows(SqliteDb& db, const LogQuery& query);
StatusOr<size_t> PruneLogEventRows(SqliteDb& db, WallTime before, size_t max_rows);

}  // namespace keyhole::coord
