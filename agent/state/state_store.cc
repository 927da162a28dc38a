#include "agent/state/state_store.h"

namespace keyhole::agent {

StatusOr<std::optional<AgentState>> StateStore::Load() {
  if (!fs_.Exists(path())) return std::optional<AgentState>();
  auto text = fs_.ReadFile(path());
  if (!text.ok()) return InternalError("cannot read the agent state " + path() + ": " + text.status().message());
  const std::string recover = " (restore it from a backup, or remove it and activate the agent again)";
  nlohmann::json json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return InternalError("the agent state " + path() + " is not valid JSON" + recover);
  auto state = AgentState::FromJson(json);
  if (!state.ok()) return InternalError("the agent state " + path() + " is corrupt: " + state.status().message() + recover);
  return std::optional<AgentState>(std::move(*state));
}

Status StateStore::Save(const AgentState& state) {
  if (Status s = fs_.MakeDirectories(dir_, 0700); !s.ok()) return s;
  return fs_.WriteFileAtomic(path(), state.ToJson().dump(2) + "\n", 0600);
}

Status StateStore::CheckWritable() {
  if (Status s = fs_.MakeDirectories(dir_, 0700); !s.ok()) return s;
  const std::string probe = dir_ + "/.write-probe";
  if (Status s = fs_.WriteFileAtomic(probe, "", 0600); !s.ok()) return s;
  return fs_.RemoveFile(probe);
}

Status StateStore::Remove() { return fs_.RemoveFile(path()); }

}  // namespace keyhole::agent
