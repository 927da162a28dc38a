// StateStore: the agent's state file, STATE_DIR/state.json, over the FileSystem seam: written
// atomically (temporary file, fsync, rename) with mode 0600, in a directory created 0700. A crash
// or a failed write leaves the previous state. Borrows the FileSystem; one per process, one thread.
#pragma once

#include <optional>
#include <string>

#include "agent/state/agent_state.h"
#include "shared/fs/file_system.h"

namespace keyhole::agent {

inline constexpr char kDefaultStateDir[] = "/var/lib/keyhole-agent";

class StateStore {
 public:
  StateStore(FileSystem& fs, std::string dir) : fs_(fs), dir_(std::move(dir)) {}

  // nullopt when there is no state (not activated); kInternal, with the path and how to recover,
  // when the file cannot be read or is not a valid state.
  StatusOr<std::optional<AgentState>> Load();
  Status Save(const AgentState& state);
  Status Remove();
  // Creates the directory (0700) and writes and removes a probe file there.
  Status CheckWritable();
  bool Exists() { return fs_.Exists(path()); }

  static constexpr const char* kFileName = "state.json";
  std::string path() const { return dir_ + "/" + kFileName; }
  const std::string& dir() const { return dir_; }

 private:
  FileSystem& fs_;
  const std::string dir_;
};

}  // namespace keyhole::agent
