// SystemLog: the coordinator's audit trail (GET /api/v1/logs). Record() stamps an event and puts
// it on an in-memory queue and returns: it never waits on the disk and never blocks on a full
// queue (the oldest DEBUG/INFO event is dropped and counted instead). Flush() writes the queue in
// one transaction; the coordinator's background loop calls RunMaintenance() (flush, and prune past
// the retention period) about once a second and Flush(true) at shutdown. One per process, owned
// by Coordinator; thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "coordinator/audit/log_event.h"
#include "coordinator/store/store.h"
#include "shared/clock/clock.h"

namespace keyhole::coord {

struct SystemLogOptions {
  std::chrono::hours retention{24 * 90};
  size_t queue_capacity = 10000;
  std::chrono::seconds refusal_window{60};  // at most one owner-inactive event per token per window
  std::chrono::minutes prune_interval{60};
  size_t prune_batch = 5000;  // rows per pruning transaction, so the store's lock is held briefly
};

class SystemLog {
 public:
  SystemLog(Store& store, const Clock& clock, SystemLogOptions options = {});
  SystemLog(const SystemLog&) = delete;
  SystemLog& operator=(const SystemLog&) = delete;

  // Fills uuid (RFC 4122 v4) and published (now), queues the event and returns at once.
  void Record(LogEvent event);

  // A request refused because the token's owner is not active. Aggregated: the first refusal in
  // a window records an event at once; later ones in that window are counted and reported in one
  // event when the window closes (by Flush). Each event's debugData.refusedCount says how many
  // refusals it stands for.
  void RecordOwnerInactiveRefusal(const std::string& token_id, const LogActor& owner, const std::string& client_ip,
                                  const std::string& user_agent);

  // Writes every queued event (and closed refusal windows; all of them with `final`). Returns how
  // many events were written; on failure they stay queued for the next attempt.
  StatusOr<size_t> Flush(bool final = false);
  // Flushes, then prunes when a prune is due. For the background loop.
  void RunMaintenance();
  // Deletes events published more than the retention period ago; returns how many.
  StatusOr<size_t> Prune();
  // Flushes first, so a reader sees every event recorded before its query.
  StatusOr<std::vector<LogEvent>> Query(const LogQuery& query);

  void SetRetention(std::chrono::hours retention) { retention_ms_ = retention.count() * 3600 * 1000; }
  uint64_t dropped() const { return dropped_.load(); }
  size_t pending() const;

 private:
  struct Refusals {
    MonoTime window_end;
    uint64_t suppressed = 0;  // refusals in this window not yet in an event
    LogEvent last;            // the most recent refusal, as the template of the summary event
  };
  void Enqueue(LogEvent event);  // stamps and queues
  void EmitClosedRefusals(bool all);
  static LogEvent RefusalEvent(const std::string& token_id, const LogActor& owner, const std::string& ip,
                               const std::string& ua);

  Store& store_;
  const Clock& clock_;
  const SystemLogOptions options_;
  std::atomic<int64_t> retention_ms_;
  std::atomic<uint64_t> dropped_{0};
  uint64_t dropped_reported_ = 0;  // GUARDED_BY(flush_mu_)

  mutable std::mutex queue_mu_;
  std::deque<LogEvent> queue_;  // GUARDED_BY(queue_mu_), in published order

  std::mutex refusal_mu_;
  std::unordered_map<std::string, Refusals> refusals_;  // GUARDED_BY(refusal_mu_), by token id

  std::mutex flush_mu_;  // one writer at a time, so seq order is queue order
  MonoTime next_prune_{};  // GUARDED_BY(flush_mu_)
};

// A random (version 4) UUID from the CSPRNG, "xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx".
std::string NewUuid();

}  // namespace keyhole::coord
