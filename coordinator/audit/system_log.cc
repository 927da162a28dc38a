#include "coordinator/audit/system_log.h"

#include <openssl/rand.h>

#include <algorithm>

#include <cstdio>
#include <cstdlib>

#include "shared/log/log.h"

namespace keyhole::coord {

std::string NewUuid() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) {
    std::fputs("keyhole: CSPRNG failure, aborting\n", stderr);
    std::abort();
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0xf]);
  }
  return out;
}

SystemLog::SystemLog(Store& store, const Clock& clock, SystemLogOptions options)
    : store_(store), clock_(clock), options_(options), retention_ms_(options.retention.count() * 3600 * 1000) {}

void SystemLog::Record(LogEvent event) {
  if (event.uuid.empty()) event.uuid = NewUuid();
  SanitizeLogEvent(event);
  Enqueue(std::move(event));
}

void SystemLog::Enqueue(LogEvent event) {
  auto droppable = [](const LogEvent& e) { return e.severity == "DEBUG" || e.severity == "INFO"; };
  std::lock_guard lock(queue_mu_);
  // Stamped under the lock, so queue order (and with it seq order) is published order.
  event.published = clock_.Now();
  if (queue_.size() >= options_.queue_capacity) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    auto victim = std::find_if(queue_.begin(), queue_.end(), droppable);
    if (victim != queue_.end()) {
      queue_.erase(victim);
    } else if (droppable(event)) {
      return;  // only warnings and errors are queued: keep them, lose this one
    } else {
      queue_.pop_front();
    }
  }
  queue_.push_back(std::move(event));
}

size_t SystemLog::pending() const {
  std::lock_guard lock(queue_mu_);
  return queue_.size();
}

LogEvent SystemLog::RefusalEvent(const std::string& token_id, const LogActor& owner, const std::string& ip,
                                 const std::string& ua) {
  LogEvent e;
  e.event_type = event_type::kTokenRefusedOwnerInactive;
  e.severity = "WARN";
  e.display_message = "API call refused: the token's owner is not active";
  e.actor = owner;
  e.client_ip = ip;
  e.user_agent = ua;
  e.outcome_result = "FAILURE";
  e.outcome_reason = "Token owner is not active";
  e.targets.push_back({token_id, "Token", "", ""});
  e.token_id = token_id;
  return e;
}

void SystemLog::RecordOwnerInactiveRefusal(const std::string& token_id, const LogActor& owner,
                                           const std::string& client_ip, const std::string& user_agent) {
  const MonoTime now = clock_.Monotonic();
  std::lock_guard lock(refusal_mu_);
  auto [it, inserted] = refusals_.try_emplace(token_id);
  Refusals& r = it->second;
  if (inserted || now >= r.window_end) {
    // Opens a window: this refusal is reported at once, with any still unreported before it.
    LogEvent e = RefusalEvent(token_id, owner, client_ip, user_agent);
    e.debug_data["refusedCount"] = std::to_string(r.suppressed + 1);
    r.suppressed = 0;
    r.window_end = now + options_.refusal_window;
    Record(std::move(e));
    return;
  }
  ++r.suppressed;
  r.last = RefusalEvent(token_id, owner, client_ip, user_agent);
}

void SystemLog::EmitClosedRefusals(bool all) {
  const MonoTime now = clock_.Monotonic();
  std::lock_guard lock(refusal_mu_);
  for (auto it = refusals_.begin(); it != refusals_.end();) {
    Refusals& r = it->second;
    if (!all && now < r.window_end) {
      ++it;
      continue;
    }
    if (r.suppressed == 0) {
      it = refusals_.erase(it);
      continue;
    }
    LogEvent e = std::move(r.last);
    e.debug_data["refusedCount"] = std::to_string(r.suppressed);
    Record(std::move(e));
    // A new window starts with this summary, so a token refused without pause yields one event
    // per window.
    r.suppressed = 0;
    r.window_end = now + options_.refusal_window;
    ++it;
  }
}

StatusOr<size_t> SystemLog::Flush(bool final) {
  std::lock_guard flush(flush_mu_);
  EmitClosedRefusals(final);
  std::vector<LogEvent> batch;
  {
    std::lock_guard lock(queue_mu_);
    batch.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
  }
  if (uint64_t d = dropped_.load(); d != dropped_reported_) {
    LogWarning("system log queue full: dropped " + std::to_string(d - dropped_reported_) + " event(s)");
    dropped_reported_ = d;
  }
  if (batch.empty()) return size_t{0};
  Status s = store_.AppendLogEvents(batch);
  if (!s.ok()) {
    // Put them back in front, in order; beyond capacity the oldest go.
    std::lock_guard lock(queue_mu_);
    queue_.insert(queue_.begin(), std::make_move_iterator(batch.begin()), std::make_move_iterator(batch.end()));
    while (queue_.size() > options_.queue_capacity) {
      queue_.pop_front();
      dropped_.fetch_add(1, std::memory_order_relaxed);
    }
    return s;
  }
  return batch.size();
}

void SystemLog::RunMaintenance() {
  if (auto n = Flush(); !n.ok()) LogError("writing the system log: " + n.status().message());
  {
    std::lock_guard flush(flush_mu_);
    if (clock_.Monotonic() < next_prune_) return;
    next_prune_ = clock_.Monotonic() + options_.prune_interval;
  }
  auto pruned = Prune();
  if (!pruned.ok()) LogError("pruning the system log: " + pruned.status().message());
  else if (*pruned > 0) LogInfo("pruned " + std::to_string(*pruned) + " system log event(s) past retention");
}

StatusOr<size_t> SystemLog::Prune() {
  const WallTime before = clock_.Now() - std::chrono::milliseconds(retention_ms_.load());
  size_t total = 0;
  for (;;) {
    auto n = store_.PruneLogEvents(before, options_.prune_batch);
    if (!n.ok()) return n.status();
    total += *n;
    if (*n < options_.prune_batch) return total;
  }
}

StatusOr<std::vector<LogEvent>> SystemLog::Query(const LogQuery& query) {
  if (auto n = Flush(); !n.ok()) LogError("writing the system log: " + n.status().message());
  return store_.QueryLogEvents(query);
}

}  // namespace keyhole::coord
