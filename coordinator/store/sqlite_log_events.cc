#include "coordinator/store/sqlite_log_events.h"

#include <variant>

namespace keyhole::coord {
namespace {

using Param = std::variant<int64_t, std::string>;

const char* Column(LogFilter::Field f) {
  switch (f) {
    case LogFilter::Field::kEventType: return "event_type";
    case LogFilter::Field::kOutcomeResult: return "outcome_result";
    case LogFilter::Field::kActorId: return "actor_id";
    case LogFilter::Field::kTargetId: break;
  }
  return nullptr;
}

// Appends the filter as SQL with `?` placeholders; values go to `params`, never into the text.
void CompileFilter(const LogFilter& f, std::string& sql, std::vector<Param>& params) {
  if (f.op == LogFilter::Op::kEq) {
    if (f.field == LogFilter::Field::kTargetId) {
      sql += "seq IN (SELECT seq FROM log_event_targets WHERE target_id = ?)";
    } else {
      sql += Column(f.field);
      sql += " = ?";
    }
    params.emplace_back(f.value);
    return;
  }
  const char* glue = f.op == LogFilter::Op::kAnd ? " AND " : " OR ";
  sql += "(";
  for (size_t i = 0; i < f.operands.size(); ++i) {
    if (i) sql += glue;
    CompileFilter(f.operands[i], sql, params);
  }
  sql += ")";
}

}  // namespace

Status AppendLogEventRows(SqliteDb& db, std::vector<LogEvent>& events) {
  if (events.empty()) return Status::Ok();
  Transaction tx(db);
  if (!tx.status().ok()) return tx.status();
  Statement ins(db.handle(),
                "INSERT INTO log_events(uuid,published,event_type,severity,actor_id,outcome_result,search_text,event) "
                "VALUES(?,?,?,?,?,?,?,?)");
  Statement target(db.handle(), "INSERT OR IGNORE INTO log_event_targets(target_id,seq) VALUES(?,?)");
  for (LogEvent& e : events) {
    ins.Bind(1, e.uuid)
        .Bind(2, ToEpochMillis(e.published))
        .Bind(3, e.event_type)
        .Bind(4, e.severity)
        .Bind(5, e.actor.id)
        .Bind(6, e.outcome_result)
        .Bind(7, LogSearchText(e))
        .Bind(8, LogEventToJson(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    if (Status s = ins.Run(); !s.ok()) return s;
    ins.Reset();
    e.seq = sqlite3_last_insert_rowid(db.handle());
    for (const LogTarget& t : e.targets) {
      if (t.id.empty()) continue;
      target.Bind(1, t.id).Bind(2, e.seq);
      if (Status s = target.Run(); !s.ok()) return s;
      target.Reset();
    }
  }
  return tx.Commit();
}

StatusOr<std::vector<LogEvent>> QueryLogEventRows(SqliteDb& db, const LogQuery& q) {
  std::vector<LogEvent> out;
  if (q.limit == 0) return out;
  std::string sql = "SELECT seq, event FROM log_events WHERE published >= ? AND published < ?";
  std::vector<Param> params{ToEpochMillis(q.since), ToEpochMillis(q.until)};
  if (q.after_seq > 0) {
    sql += q.descending ? " AND seq < ?" : " AND seq > ?";
    params.emplace_back(q.after_seq);
  }
  if (q.filter) {
    sql += " AND ";
    CompileFilter(*q.filter, sql, params);
  }
  for (const std::string& k : q.keywords) {
    sql += " AND instr(search_text, ?) > 0";
    params.emplace_back(k);
  }
  sql += q.descending ? " ORDER BY seq DESC LIMIT ?" : " ORDER BY seq LIMIT ?";
  params.emplace_back(static_cast<int64_t>(q.limit));

  Statement stmt(db.handle(), sql);
  for (size_t i = 0; i < params.size(); ++i) {
    int index = static_cast<int>(i + 1);
    if (auto* n = std::get_if<int64_t>(&params[i])) stmt.Bind(index, *n);
    else stmt.Bind(index, std::get<std::string>(params[i]));
  }
  while (stmt.Step()) {
    auto e = LogEventFromJson(nlohmann::json::parse(stmt.Text(1), nullptr, false));
    if (!e) return InternalError("corrupt log event " + std::to_string(stmt.Int(0)));
    e->seq = stmt.Int(0);
    out.push_back(std::move(*e));
  }
  if (!stmt.status().ok()) return stmt.status();
  return out;
}

StatusOr<size_t> PruneLogEventRows(SqliteDb& db, WallTime before, size_t max_rows) {
  Transaction tx(db);
  if (!tx.status().ok()) return tx.status();
  // seq follows published (SystemLog stamps events in queue order), so the oldest rows are the
  // lowest seqs; the bound keeps each transaction, and the store's lock, short.
  Statement last(db.handle(),
                 "SELECT max(seq) FROM (SELECT seq FROM log_events WHERE published < ? ORDER BY seq LIMIT ?)");
  last.Bind(1, ToEpochMillis(before)).Bind(2, static_cast<int64_t>(max_rows));
  if (!last.Step()) return last.status().ok() ? InternalError("sqlite: max() returned no row") : last.status();
  std::optional<int64_t> upto = last.OptionalInt(0);
  last.Reset();
  if (!upto) return size_t{0};
  Statement targets(db.handle(),
                    "DELETE FROM log_event_targets WHERE seq IN (SELECT seq FROM log_events WHERE seq <= ?1 AND published < ?2)");
  targets.Bind(1, *upto).Bind(2, ToEpochMillis(before));
  if (Status s = targets.Run(); !s.ok()) return s;
  Statement events(db.handle(), "DELETE FROM log_events WHERE seq <= ?1 AND published < ?2");
  events.Bind(1, *upto).Bind(2, ToEpochMillis(before));
  if (Status s = events.Run(); !s.ok()) return s;
  size_t n = static_cast<size_t>(sqlite3_changes(db.handle()));
  if (Status s = tx.Commit(); !s.ok()) return s;
  return n;
}

}  // namespace keyhole::coord
