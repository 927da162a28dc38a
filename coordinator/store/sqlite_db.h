// SqliteDb and Statement: thin RAII over the SQLite C API, used only inside store/.
// A SqliteDb is one connection; callers serialize access (SqliteStore holds a mutex).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "shared/errors/status.h"

namespace keyhole::coord {

class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool prepared() const { return stmt_ != nullptr; }
  Statement& Bind(int index, std::string_view text);
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::optional<int64_t> value);
  Statement& BindNull(int index);

  // SQLITE_ROW → true, SQLITE_DONE → false; anything else sets status().
  bool Step();
  const Status& status() const { return status_; }
  Status Run();  // steps to completion
  void Reset();  // ready to bind and run again

  int64_t Int(int col) const;
  std::optional<int64_t> OptionalInt(int col) const;
  std::string Text(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  Status status_;
};

class SqliteDb {
 public:
  static StatusOr<std::unique_ptr<SqliteDb>> Open(const std::string& path);
  ~SqliteDb();

  sqlite3* handle() const { return db_; }
  Status Exec(std::string_view sql);
  Status Error(std::string_view what) const;

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

// Begins a transaction; rolls back on destruction unless Commit() succeeded.
class Transaction {
 public:
  explicit Transaction(SqliteDb& db);
  ~Transaction();
  const Status& status() const { return status_; }
  Status Commit();

 private:
  SqliteDb& db_;
  Status status_;
  bool done_ = false;
};

}  // namespace keyhole::coord
