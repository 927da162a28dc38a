// Backoff: the ceiling doubles from the initial delay to the cap, each delay is the ceiling times
// the injected random number (full jitter) but at least the floor, and Reset starts over.
#include "agent/daemon/backoff.h"

#include <gtest/gtest.h>

namespace keyhole::agent {
namespace {

using std::chrono::milliseconds;

TEST(BackoffTest, GrowsToTheCapWithFullJitter) {
  double r = 0.999999;
  Backoff b(milliseconds(1000), milliseconds(60000), [&r] { return r; });
  std::vector<int64_t> ceilings;
  for (int i = 0; i < 9; ++i) {
    ceilings.push_back(b.Ceiling().count());
    milliseconds d = b.Next();
    EXPECT_LE(d.count(), ceilings.back());
    EXPECT_GE(d.count(), ceilings.back() - 1);
  }
  EXPECT_EQ(ceilings, (std::vector<int64_t>{1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000}));
  r = 0.5;
  EXPECT_EQ(b.Next(), milliseconds(30000));
  r = 0.0;
  EXPECT_EQ(b.Next(), milliseconds(100));  // the floor
  for (int i = 0; i < 100; ++i) b.Next();   // no overflow after many attempts
  EXPECT_EQ(b.Ceiling(), milliseconds(60000));
}

TEST(BackoffTest, ResetStartsOver) {
  Backoff b(milliseconds(5000), milliseconds(300000), [] { return 0.5; });
  b.Next();
  b.Next();
  EXPECT_EQ(b.Ceiling(), milliseconds(20000));
  b.Reset();
  EXPECT_EQ(b.Ceiling(), milliseconds(5000));
  EXPECT_EQ(b.Next(), milliseconds(2500));
}

TEST(BackoffTest, SystemRandomIsUniformEnough) {
  Backoff::Random r = Backoff::SystemRandom();
  double sum = 0;
  for (int i = 0; i < 10000; ++i) {
    double x = r();
    ASSERT_GE(x, 0.0);
    ASSERT_LT(x, 1.0);
    sum += x;
  }
  EXPECT_NEAR(sum / 10000, 0.5, 0.05);
}

}  // namespace
}  // namespace keyhole::agent
