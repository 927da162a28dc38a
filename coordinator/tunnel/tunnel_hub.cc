#include "coordinator/tunnel/tunnel_hub.h"

#include <algorithm>

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
  std::shared_ptr<TunnelLink> replaced;
  {
    std::lock_guard lock(mu_);
    auto& slot = by_agent_[link->agent_id];
    if (slot.raw != nullptr) {
      replaced = slot.link.lock();
      auto& old_pool = by_pool_[replaced ? replaced->pool_id : link->pool_id];
      std::erase_if(old_pool, [&](const Entry& e) { return e.raw == slot.raw; });
    }
    slot = Entry{link.get(), link};
    by_pool_[link->pool_id].push_back(Entry{link.get(), link});
  }
  if (replaced) {
    replaced->retiring.store(true);
    replaced->Drain(protocol::CloseCode::kReplaced, "the agent connected again");
  }
  if (heartbeat_) heartbeat_(link->agent_id);  // connected: alive, and lastConnection says so
}

void TunnelHub::Remove(const TunnelLink* link) {
  std::lock_guard lock(mu_);
  auto it = by_agent_.find(link->agent_id);
  if (it == by_agent_.end() || it->second.raw != link) return;
  by_agent_.erase(it);
  auto pool = by_pool_.find(link->pool_id);
  if (pool == by_pool_.end()) return;
  std::erase_if(pool->second, [&](const Entry& e) { return e.raw == link; });
  if (pool->second.empty()) by_pool_.erase(pool);
}

LinkPick TunnelHub::Pick(const std::string& pool_id, std::string_view upstream,
                         const std::vector<const TunnelLink*>& exclude) {
  std::lock_guard lock(mu_);
  if (shutting_down_) return {PickOutcome::kShuttingDown, nullptr};
  auto pool = by_pool_.find(pool_id);
  if (pool == by_pool_.end()) return {PickOutcome::kNoAgent, nullptr};
  std::shared_ptr<TunnelLink> best;
  uint32_t best_load = 0;
  bool busy = false;
  // Ties go round: the scan starts one further each time.
  const std::vector<Entry>& entries = pool->second;
  const size_t start = entries.empty() ? 0 : rotation_++ % entries.size();
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[(start + i) % entries.size()];
    if (std::find(exclude.begin(), exclude.end(), e.raw) != exclude.end()) continue;
    std::shared_ptr<TunnelLink> link = e.link.lock();
    if (!link || link->retiring.load(std::memory_order_relaxed) || !link->Offers(upstream)) continue;
    // Pick() and Release() change in_flight; Pick under mu_, so the load read here is stable
    // against other Picks (a concurrent Release only makes it smaller).
    const uint32_t load = link->in_flight.load(std::memory_order_relaxed);
    if (load >= link->max_streams) {
      busy = true;
      continue;
    }
    if (!best || load < best_load) {
      best = std::move(link);
      best_load = load;
    }
  }
  if (!best) return {busy ? PickOutcome::kBusy : PickOutcome::kNoAgent, nullptr};
  best->in_flight.fetch_add(1, std::memory_order_relaxed);
  return {PickOutcome::kPicked, std::move(best)};
}

void TunnelHub::Release(TunnelLink& link) { link.in_flight.fetch_sub(1, std::memory_order_relaxed); }

std::optional<TunnelStatus> TunnelHub::StatusOf(const std::string& agent_id) const {
  std::shared_ptr<TunnelLink> link;
  {
    std::lock_guard lock(mu_);
    auto it = by_agent_.find(agent_id);
    if (it == by_agent_.end()) return std::nullopt;
    link = it->second.link.lock();
  }
  if (!link) return std::nullopt;
  return TunnelStatus{link->connected_since, link->in_flight.load(std::memory_order_relaxed), link->upstreams};
}

void TunnelHub::CloseAgent(const std::string& agent_id, protocol::CloseCode code, const std::string& reason) {
  std::shared_ptr<TunnelLink> link;
  {
    std::lock_guard lock(mu_);
    auto it = by_agent_.find(agent_id);
    if (it == by_agent_.end()) return;
    link = it->second.link.lock();
  }
  if (!link) return;
  Remove(link.get());
  link->retiring.store(true);
  link->Close(code, reason);
}

std::vector<std::shared_ptr<TunnelLink>> TunnelHub::All() const {
  std::vector<std::shared_ptr<TunnelLink>> out;
  std::lock_guard lock(mu_);
  out.reserve(by_agent_.size());
  for (const auto& [id, e] : by_agent_) {
    if (auto link = e.link.lock()) out.push_back(std::move(link));
  }
  return out;
}

void TunnelHub::Sweep(const LinkCheck& check, const AgentHeartbeat& heartbeat) {
  const int64_t now = MonoMillis();
  const int64_t idle_ms = options_.ping_timeout.count();
  const int64_t heartbeat_ms = options_.heartbeat_interval.count();
  for (const std::shared_ptr<TunnelLink>& link : All()) {
    std::optional<LinkVerdict> verdict;
    if (check) verdict = check(*link);
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
      heartbeat(link->agent_id);
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
