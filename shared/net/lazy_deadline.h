// A deadline that moves with every read and write of a connection, kept without a timer
// operation per move. Owned by one connection object, used on its executor's thread only.
//
// Why: beast::basic_stream arms its timer before every read and write and cancels it after, and
// a cancelled wait still runs its handler. On a keep-alive connection that is a timer-queue
// insert, a removal and a pass through the scheduler per operation: four per tunneled request in
// the coordinator, about 9% of its CPU (docs/BENCHMARKS.md).
//
// How: one wait stays armed. Set() only records the new deadline when it is later than the armed
// one, as a connection's next deadline of the same length always is; the wait, when it fires
// before the deadline of the moment, arms itself again for it. A deadline earlier than the armed
// wait re-arms at once, so a deadline is never late. Clear() leaves the wait armed to find
// nothing. Use one LazyDeadline per length of timeout (a 30 s one and a 75 s one, say), so that
// moving between them does not re-arm.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <utility>

namespace keyhole::net {

class LazyDeadline {
 public:
  using Clock = std::chrono::steady_clock;

  // What a passed deadline calls: at most once, for the latest Set(), on the executor's thread.
  class Target {
   public:
    virtual void OnDeadline() = 0;

   protected:
    ~Target() = default;
  };

  explicit LazyDeadline(const boost::asio::any_io_executor& executor) : state_(std::make_shared<State>(executor)) {}
  LazyDeadline(const LazyDeadline&) = delete;
  LazyDeadline& operator=(const LazyDeadline&) = delete;
  // The armed wait ends (its handler runs with operation_aborted and touches nothing of ours).
  ~LazyDeadline() {
    state_->target = nullptr;
    state_->timer.cancel();
  }

  // `target`.OnDeadline() once `at` passes, unless Set() or Clear() comes first.
  // REQUIRES: `target` stays alive until the deadline passes, Clear(), or this is destroyed.
  void Set(Clock::time_point at, Target& target) {
    State& s = *state_;
    s.at = at;
    s.target = &target;
    if (!s.armed || at < s.armed_at) Arm(state_);
  }
  void SetAfter(Clock::duration timeout, Target& target) { Set(Clock::now() + timeout, target); }

  void Clear() { state_->target = nullptr; }
  bool IsSet() const { return state_->target != nullptr; }

  // How many waits were started so far: the cost this class exists to keep low (for tests).
  uint64_t WaitsStarted() const { return state_->waits_started; }

 private:
  // Shared with the pending wait's handler, so that the handler never touches a destroyed
  // LazyDeadline: its owner may be destroyed while the wait's handler is still queued.
  struct State {
    explicit State(const boost::asio::any_io_executor& executor) : timer(executor) {}
    boost::asio::steady_timer timer;
    Target* target = nullptr;
    Clock::time_point at{};
    Clock::time_point armed_at{};
    bool armed = false;
    uint64_t generation = 0;  // of the latest wait; a superseded wait's handler sees a newer one
    uint64_t waits_started = 0;
  };

  static void Arm(const std::shared_ptr<State>& s) {
    s->armed = true;
    s->armed_at = s->at;
    ++s->waits_started;
    const uint64_t generation = ++s->generation;
    s->timer.expires_at(s->at);  // cancels a wait armed for later; its handler sees it superseded
    s->timer.async_wait([s, generation](const boost::system::error_code& ec) { OnWait(s, generation, ec); });
  }

  static void OnWait(const std::shared_ptr<State>& s, uint64_t generation, const boost::system::error_code& ec) {
    if (generation != s->generation) return;
    s->armed = false;
    if (ec || s->target == nullptr) return;   // destroyed, or nothing to watch: arm at the next Set()
    if (Clock::now() < s->at) return Arm(s);  // moved later meanwhile
    std::exchange(s->target, nullptr)->OnDeadline();
  }

  std::shared_ptr<State> state_;
};

}  // namespace keyhole::net
