// net::LazyDeadline on a real io_context and the steady clock (its timer is Asio's), with
// deadlines tens of milliseconds out: when the target is called, and how many timer waits that
// took. The waits are the point: a deadline moved later on every read and write must not start one.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <memory>
#include <vector>

#include "shared/net/lazy_deadline.h"

namespace keyhole::net {
namespace {

namespace asio = boost::asio;
using Clock = LazyDeadline::Clock;
using namespace std::chrono_literals;

// Records when it was called; optionally sets the deadline again from the call, as a connection
// whose watch found it was not idle after all does.
class Recorder : public LazyDeadline::Target {
 public:
  void OnDeadline() override {
    calls.push_back(Clock::now());
    if (again && calls.size() == 1) again->SetAfter(30ms, *this);
  }
  std::vector<Clock::time_point> calls;
  LazyDeadline* again = nullptr;
};

class LazyDeadlineTest : public ::testing::Test {
 protected:
  // Runs the io_context until `done` or a generous bound (slow CI hosts).
  template <class Pred>
  void RunUntil(Pred done, Clock::duration bound = 5s) {
    const auto until = Clock::now() + bound;
    while (!done() && Clock::now() < until) io_.run_for(5ms);
  }
  void RunFor(Clock::duration d) {
    io_.restart();
    io_.run_for(d);
  }

  asio::io_context io_;
  Recorder target_;
  const Clock::time_point t0_ = Clock::now();
};

TEST_F(LazyDeadlineTest, CallsTheTargetOnceTheDeadlinePasses) {
  LazyDeadline deadline(io_.get_executor());
  deadline.Set(t0_ + 30ms, target_);
  EXPECT_TRUE(deadline.IsSet());
  RunUntil([&] { return !target_.calls.empty(); });
  ASSERT_EQ(target_.calls.size(), 1u);
  EXPECT_GE(target_.calls[0], t0_ + 30ms);
  EXPECT_FALSE(deadline.IsSet());
  RunFor(60ms);
  EXPECT_EQ(target_.calls.size(), 1u);
  EXPECT_EQ(deadline.WaitsStarted(), 1u);
}

TEST_F(LazyDeadlineTest, ALaterDeadlineStartsNoWaitUntilTheArmedOnePasses) {
  LazyDeadline deadline(io_.get_executor());
  deadline.Set(t0_ + 20ms, target_);
  // A keep-alive connection's reads and writes: each moves the deadline a little later.
  for (int i = 1; i <= 1000; ++i) deadline.Set(t0_ + 20ms + i * 50us, target_);
  EXPECT_EQ(deadline.WaitsStarted(), 1u);
  RunUntil([&] { return !target_.calls.empty(); });
  ASSERT_EQ(target_.calls.size(), 1u);
  EXPECT_GE(target_.calls[0], t0_ + 70ms);  // the last deadline, not the first
  // The first wait fired early and started the second, for the deadline of that moment.
  EXPECT_EQ(deadline.WaitsStarted(), 2u);
}

TEST_F(LazyDeadlineTest, AnEarlierDeadlineIsNotLate) {
  LazyDeadline deadline(io_.get_executor());
  deadline.Set(t0_ + 10s, target_);
  deadline.Set(t0_ + 30ms, target_);
  EXPECT_EQ(deadline.WaitsStarted(), 2u);
  RunUntil([&] { return !target_.calls.empty(); }, 3s);
  ASSERT_EQ(target_.calls.size(), 1u);
  EXPECT_GE(target_.calls[0], t0_ + 30ms);
  EXPECT_LT(target_.calls[0], t0_ + 3s);
}

TEST_F(LazyDeadlineTest, ClearedItCallsNothingAndSetAgainItArmsAgain) {
  LazyDeadline deadline(io_.get_executor());
  deadline.Set(t0_ + 20ms, target_);
  deadline.Clear();
  EXPECT_FALSE(deadline.IsSet());
  RunFor(80ms);  // the armed wait fires and finds nothing to do
  EXPECT_TRUE(target_.calls.empty());
  EXPECT_EQ(deadline.WaitsStarted(), 1u);

  const auto t1 = Clock::now();
  deadline.SetAfter(20ms, target_);
  EXPECT_EQ(deadline.WaitsStarted(), 2u);
  io_.restart();
  RunUntil([&] { return !target_.calls.empty(); });
  ASSERT_EQ(target_.calls.size(), 1u);
  EXPECT_GE(target_.calls[0], t1 + 20ms);
}

TEST_F(LazyDeadlineTest, ClearedAndSetAgainBeforeTheWaitFiresItKeepsTheWait) {
  LazyDeadline deadline(io_.get_executor());
  // Request after request: set for its I/O, cleared when the I/O is done.
  for (int i = 0; i < 100; ++i) {
    deadline.Set(t0_ + 30ms + i * 10us, target_);
    deadline.Clear();
  }
  deadline.Set(t0_ + 40ms, target_);
  EXPECT_EQ(deadline.WaitsStarted(), 1u);
  RunUntil([&] { return !target_.calls.empty(); });
  ASSERT_EQ(target_.calls.size(), 1u);
  EXPECT_GE(target_.calls[0], t0_ + 40ms);
}

TEST_F(LazyDeadlineTest, TheTargetMaySetItAgainFromItsCall) {
  LazyDeadline deadline(io_.get_executor());
  target_.again = &deadline;
  deadline.Set(t0_ + 20ms, target_);
  RunUntil([&] { return target_.calls.size() >= 2; });
  ASSERT_EQ(target_.calls.size(), 2u);
  EXPECT_GE(target_.calls[1], target_.calls[0] + 30ms);
}

TEST_F(LazyDeadlineTest, DestroyedWithAWaitArmedItNeverCallsTheTarget) {
  auto deadline = std::make_unique<LazyDeadline>(io_.get_executor());
  deadline->Set(t0_ + 20ms, target_);
  deadline.reset();  // its wait's handler is still queued, and must touch nothing of it
  RunFor(80ms);
  EXPECT_TRUE(target_.calls.empty());
}

TEST_F(LazyDeadlineTest, ItsOwnerMayGoWithTheIoContext) {
  // As a session does when its worker stops: the owner lives in a handler that never runs, and
  // is destroyed with the io_context's pending work, its wait still armed. Nothing is called
  // (and under valgrind nothing is touched after it is gone, nor leaked).
  auto io = std::make_unique<asio::io_context>();
  auto deadline = std::make_shared<LazyDeadline>(io->get_executor());
  deadline->Set(Clock::now() + 10s, target_);
  asio::post(*io, [deadline] { deadline->Clear(); });
  deadline.reset();
  io.reset();
  EXPECT_TRUE(target_.calls.empty());
}

}  // namespace
}  // namespace keyhole::net
