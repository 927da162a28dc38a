// TunnelHub: the agents connected right now, by agent and by pool — Beast's chat-multi shared
// state with bounds. Callers pick a link (the agent with the fewest streams in flight among the
// pool's agents that offer the upstream; of its connections, the one on the caller's own worker
// thread), the links register and unregister themselves, and a sweeper thread closes the links
// whose token or agent went bad or that fell silent, and refreshes lastConnection of the others.
// Thread-safe: one mutex over maps of weak_ptrs; copy under the lock, act outside it.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "coordinator/tunnel/tunnel_link.h"
#include "coordinator/tunnel/tunnel_options.h"
#include "shared/clock/clock.h"

namespace keyhole::coord {

// What the agent views show of an agent's tunnel.
struct TunnelStatus {
  WallTime connected_since{};  // of its oldest connection
  uint32_t in_flight = 0;      // over all its connections
  uint32_t connections = 0;
  std::vector<std::string> upstreams;
};

enum class PickOutcome {
  kPicked,
  kNoAgent,       // no connected agent of the pool offers the upstream
  kBusy,          // some do, but all are at their stream cap
  kShuttingDown,  // the coordinator takes no new tunnel requests
};

struct LinkPick {
  PickOutcome outcome = PickOutcome::kNoAgent;
  std::shared_ptr<TunnelLink> link;  // with kPicked: one stream reserved on it; Release() it
};

// Why the sweep closes a link.
struct LinkVerdict {
  protocol::CloseCode code = protocol::CloseCode::kNormal;
  std::string reason;
};
// Judges one link (token still valid, agent still active); nullopt keeps it. Thread-safe.
using LinkCheck = std::function<std::optional<LinkVerdict>(const TunnelLink&)>;
// Records that an agent is alive (AgentRegistry::Heartbeat). Thread-safe.
using AgentHeartbeat = std::function<void(const std::string& agent_id)>;

class TunnelHub {
 public:
  TunnelHub(const Clock& clock, TunnelOptions options);
  ~TunnelHub();
  TunnelHub(const TunnelHub&) = delete;
  TunnelHub& operator=(const TunnelHub&) = delete;

  const TunnelOptions& options() const { return options_; }
  const Clock& clock() const { return clock_; }

  // Registers a link whose identity fields are set. The agent's links of another session (or
  // all of them, when `link->session` is empty) are drained with kReplaced: their streams finish,
  // new ones go to this one. A link of the same session joins them, up to
  // max_connections_per_agent; past that it is closed with kReplaced at once.
  void Add(const std::shared_ptr<TunnelLink>& link);
  // Unregisters (a closing or draining link). Unknown links are ignored.
  void Remove(const TunnelLink* link);

  // Reserves a stream on the least busy agent of `pool_id` that offers `upstream`, skipping
  // `exclude` (links already tried for this request): on its link whose `home` is `home` (the
  // caller's worker) if it has one, else on its least busy link. An agent's streams in flight
  // and its cap (its HELLO's max_streams) count over all its links.
  LinkPick Pick(const std::string& pool_id, std::string_view upstream, const std::vector<const TunnelLink*>& exclude = {},
                const void* home = nullptr);
  // Gives back a stream reserved by Pick().
  static void Release(TunnelLink& link);

  std::optional<TunnelStatus> StatusOf(const std::string& agent_id) const;
  // Closes the agent's links at once (deactivation, deletion); a no-op if it has none.
  void CloseAgent(const std::string& agent_id, protocol::CloseCode code, const std::string& reason);

  // One pass: closes links `check` condemns and links silent past ping_timeout; heartbeats the
  // others every heartbeat_interval. Runs on the sweeper thread, or in tests directly.
  void Sweep(const LinkCheck& check, const AgentHeartbeat& heartbeat);
  // Runs Sweep every sweep_interval on a thread of its own until StopSweeper() (or destruction);
  // from now on Add() heartbeats a newly connected agent too. REQUIRES: before links are added.
  void StartSweeper(LinkCheck check, AgentHeartbeat heartbeat);
  void StopSweeper();

  // Shutdown: Pick() answers kShuttingDown from now on.
  void BeginShutdown();
  bool shutting_down() const;
  // Streams reserved on all registered links.
  uint32_t InFlight() const;
  // Closes every registered link with `code`.
  void CloseAll(protocol::CloseCode code, const std::string& reason);
  // Agents with at least one registered link.
  size_t size() const;

 private:
  struct Entry {
    const TunnelLink* raw;
    std::weak_ptr<TunnelLink> link;
  };
  // One agent's registered links: all of one session, in one pool.
  struct AgentEntry {
    std::string pool_id;
    std::string session;
    std::vector<Entry> links;
  };
  std::vector<std::shared_ptr<TunnelLink>> All() const;
  std::vector<std::shared_ptr<TunnelLink>> LinksOf(const std::string& agent_id) const;
  void ErasePoolMember(const std::string& pool_id, const AgentEntry* agent);  // REQUIRES(mu_)
  int64_t MonoMillis() const;

  const Clock& clock_;
  const TunnelOptions options_;

  mutable std::mutex mu_;
  std::unordered_map<std::string, AgentEntry> by_agent_;                   // GUARDED_BY(mu_)
  std::unordered_map<std::string, std::vector<AgentEntry*>> by_pool_;      // GUARDED_BY(mu_); into by_agent_
  bool shutting_down_ = false;                                   // GUARDED_BY(mu_)
  size_t rotation_ = 0;                                          // GUARDED_BY(mu_)

  LinkCheck check_;          // set by StartSweeper, then read-only
  AgentHeartbeat heartbeat_;  // set by StartSweeper, then read-only
  std::mutex sweeper_mu_;
  std::condition_variable sweeper_cv_;
  bool sweeper_stop_ = false;  // GUARDED_BY(sweeper_mu_)
  std::thread sweeper_;
};

}  // namespace keyhole::coord
