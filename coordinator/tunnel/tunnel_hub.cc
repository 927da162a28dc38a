#include "coordinator/tunnel/tunnel_hub.h"

#include <algorithm>
#include <unordered_set>

#include "shared/log/log.h"

namespace keyhole::coord {

TunnelHub::TunnelHub(const Clock& clock, TunnelOptions options) : clock_(clock), options_(options) {}

TunnelHub::~TunnelHub() { StopSweeper(); }

int64_t TunnelHub::MonoMillis() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Monotonic().time_since_epoch()).count();
}

void TunnelHub::Add(const std::shared_ptr<TunnelLink>& link) {
  const int64_t now = MonoMillis();
  if (link->last_frame_ms.load() == 0) link->last_frame_ms.store(now);
  link->last_heartbeat_ms.store(now);
  std::vector<std::shared_ptr<TunnelLink>> replaced;
  bool surplus = false;
  {
    std::lock_guard lock(mu_);
    AgentEntry& agent = by_agent_[link->agent_id];
    const bool joins = !agent.links.empty() && !link->session.empty() && agent.session == link->session &&
                       agent.pool_id == link->pool_id;
    if (!agent.links.empty() && !joins) {
      for (const Entry& e : agent.links) {
        if (auto old = e.link.lock()) replaced.push_back(std::move(old));
      }
      agent.links.clear();
      ErasePoolMember(agent.pool_id, &agent);
    }
    if (joins && agent.links.size() >= options_.max_connections_per_agent) {
      surplus = true;
    } else {
      if (agent.links.empty()) {
        agent.pool_id = link->pool_id;
        agent.session = link->session;
        by_pool_[link->pool_id].push_back(&agent);
      }
      agent.links.push_back(Entry{link.get(), link});
    }
  }
  for (const auto& old : replaced) {
    old->retiring.store(true);
    old->Drain(protocol::CloseCode::kReplaced, "the agent connected again");
  }
  if (surplus) {
    link->retiring.store(true);
    link->Close(protocol::CloseCode::kReplaced, "the agent has " + std::to_string(options_.max_connections_per_agent) +
                                                    " connections already");
    return;
  }
  if (heartbeat_) heartbeat_(link->agent_id);  // connected: alive, and lastConnection says so
}

void TunnelHub::ErasePoolMember(const std::string& pool_id, const AgentEntry* agent) {
  auto pool = by_pool_.find(pool_id);
  if (pool == by_pool_.end()) return;
  std::erase(pool->second, agent);
  if (pool->second.empty()) by_pool_.erase(pool);
}

void TunnelHub::Remove(const TunnelLink* link) {
  std::lock_guard lock(mu_);
  auto it = by_agent_.find(link->agent_id);
  if (it == by_agent_.end()) return;
  AgentEntry& agent = it->second;
  if (std::erase_if(agent.links, [&](const Entry& e) { return e.raw == link; }) == 0) return;
  if (!agent.links.empty()) return;
  ErasePoolMember(agent.pool_id, &agent);
  by_agent_.erase(it);
}

LinkPick TunnelHub::Pick(const std::string& pool_id, std::string_view upstream,
                         const std::vector<const TunnelLink*>& exclude, const void* home) {
  std::lock_guard lock(mu_);
  if (shutting_down_) return {PickOutcome::kShuttingDown, nullptr};
  auto pool = by_pool_.find(pool_id);
  if (pool == by_pool_.end()) return {PickOutcome::kNoAgent, nullptr};
  std::shared_ptr<TunnelLink> best;
  uint32_t best_load = 0;
  bool busy = false;
  // Ties go round: the scan starts one further each time.
  const std::vector<AgentEntry*>& agents = pool->second;
  const size_t start = agents.empty() ? 0 : rotation_++ % agents.size();
  for (size_t i = 0; i < agents.size(); ++i) {
    const AgentEntry& agent = *agents[(start + i) % agents.size()];
    // Pick() and Release() change in_flight; Pick under mu_, so the loads read here are stable
    // against other Picks (a concurrent Release only makes them smaller).
    uint32_t load = 0;
    uint32_t cap = 0;
    std::shared_ptr<TunnelLink> lane;  // the caller's worker first, then the least busy
    uint32_t lane_load = 0;
    bool lane_home = false;
    for (const Entry& e : agent.links) {
      std::shared_ptr<TunnelLink> link = e.link.lock();
      if (!link || link->retiring.load(std::memory_order_relaxed) || !link->Offers(upstream)) continue;
      const uint32_t n = link->in_flight.load(std::memory_order_relaxed);
      load += n;
      cap = std::max(cap, link->max_streams);
      if (std::find(exclude.begin(), exclude.end(), e.raw) != exclude.end()) continue;
      const bool at_home = home != nullptr && link->home == home;
      if (!lane || (at_home != lane_home ? at_home : n < lane_load)) {
        lane = std::move(link);
        lane_load = n;
        lane_home = at_home;
      }
    }
    if (!lane) continue;
    if (load >= cap) {
      busy = true;
      continue;
    }
    if (!best || load < best_load) {
      best = std::move(lane);
      best_load = load;
    }
  }
  if (!best) return {busy ? PickOutcome::kBusy : PickOutcome::kNoAgent, nullptr};
  best->in_flight.fetch_add(1, std::memory_order_relaxed);
  return {PickOutcome::kPicked, std::move(best)};
}

void TunnelHub::Release(TunnelLink& link) { link.in_flight.fetch_sub(1, std::memory_order_relaxed); }

std::vector<std::shared_ptr<TunnelLink>> TunnelHub::LinksOf(const std::string& agent_id) const {
  std::vector<std::shared_ptr<TunnelLink>> out;
  std::lock_guard lock(mu_);
  auto it = by_agent_.find(agent_id);
  if (it == by_agent_.end()) return out;
  for (const Entry& e : it->second.links) {
    if (auto link = e.link.lock()) out.push_back(std::move(link));
  }
  return out;
}

std::optional<TunnelStatus> TunnelHub::StatusOf(const std::string& agent_id) const {
  const std::vector<std::shared_ptr<TunnelLink>> links = LinksOf(agent_id);
  if (links.empty()) return std::nullopt;
  TunnelStatus status{links.front()->connected_since, 0, static_cast<uint32_t>(links.size()), links.front()->upstreams};
  for (const auto& link : links) {
    status.connected_since = std::min(status.connected_since, link->connected_since);
    status.in_flight += link->in_flight.load(std::memory_order_relaxed);
  }
  return status;
}

void TunnelHub::CloseAgent(const std::string& agent_id, protocol::CloseCode code, const std::string& reason) {
  for (const auto& link : LinksOf(agent_id)) {
    Remove(link.get());
    link->retiring.store(true);
    link->Close(code, reason);
  }
}

std::vector<std::shared_ptr<TunnelLink>> TunnelHub::All() const {
  std::vector<std::shared_ptr<TunnelLink>> out;
  std::lock_guard lock(mu_);
  out.reserve(by_agent_.size());
  for (const auto& [id, agent] : by_agent_) {
    for (const Entry& e : agent.links) {
      if (auto link = e.link.lock()) out.push_back(std::move(link));
    }
  }
  return out;
}

void TunnelHub::Sweep(const LinkCheck& check, const AgentHeartbeat& heartbeat) {
  const int64_t now = MonoMillis();
  const int64_t idle_ms = options_.ping_timeout.count();
  const int64_t heartbeat_ms = options_.heartbeat_interval.count();
  // An agent's links (lanes) share its token and its status: judged and heartbeaten once a pass.
  std::unordered_map<std::string, std::optional<LinkVerdict>> verdicts;  // by agent id + token id
  std::unordered_set<std::string> beaten;
  for (const std::shared_ptr<TunnelLink>& link : All()) {
    std::optional<LinkVerdict> verdict;
    if (check) {
      auto [it, fresh] = verdicts.try_emplace(link->agent_id + '\n' + link->token_id);
      if (fresh) it->second = check(*link);
      verdict = it->second;
    }
    if (!verdict && now - link->last_frame_ms.load(std::memory_order_relaxed) > idle_ms) {
      verdict = LinkVerdict{protocol::CloseCode::kIdleTimeout, "no frame for " + std::to_string(idle_ms / 1000) + " s"};
    }
    if (verdict) {
      Remove(link.get());
      link->retiring.store(true);
      link->Close(verdict->code, verdict->reason);
      continue;
    }
    if (heartbeat && now - link->last_heartbeat_ms.load(std::memory_order_relaxed) >= heartbeat_ms) {
      link->last_heartbeat_ms.store(now, std::memory_order_relaxed);
      if (beaten.insert(link->agent_id).second) heartbeat(link->agent_id);
    }
  }
}

void TunnelHub::StartSweeper(LinkCheck check, AgentHeartbeat heartbeat) {
  check_ = std::move(check);
  heartbeat_ = std::move(heartbeat);
  sweeper_ = std::thread([this, check = check_, heartbeat = heartbeat_] {
    std::unique_lock lock(sweeper_mu_);
    while (!sweeper_stop_) {
      sweeper_cv_.wait_for(lock, options_.sweep_interval, [this] { return sweeper_stop_; });
      if (sweeper_stop_) break;
      lock.unlock();
      try {
        Sweep(check, heartbeat);
      } catch (const std::exception& e) {
        LogError(std::string("tunnel sweep: unexpected exception: ") + e.what());
      }
      lock.lock();
    }
  });
}

void TunnelHub::StopSweeper() {
  {
    std::lock_guard lock(sweeper_mu_);
    sweeper_stop_ = true;
  }
  sweeper_cv_.notify_all();
  if (sweeper_.joinable()) sweeper_.join();
}

void TunnelHub::BeginShutdown() {
  std::lock_guard lock(mu_);
  shutting_down_ = true;
}

bool TunnelHub::shutting_down() const {
  std::lock_guard lock(mu_);
  return shutting_down_;
}

uint32_t TunnelHub::InFlight() const {
  uint32_t n = 0;
  for (const auto& link : All()) n += link->in_flight.load(std::memory_order_relaxed);
  return n;
}

void TunnelHub::CloseAll(protocol::CloseCode code, const std::string& reason) {
  for (const auto& link : All()) {
    Remove(link.get());
    link->retiring.store(true);
    link->Close(code, reason);
  }
}

size_t TunnelHub::size() const {
  std::lock_guard lock(mu_);
  return by_agent_.size();
}

}  // namespace keyhole::coord
