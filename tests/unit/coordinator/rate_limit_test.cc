// The limit arithmetic, with an injected clock, and its exactness under contention.
#include <gtest/gtest.h>

#include <thread>

#include "coordinator/ratelimit/client_address.h"
#include "coordinator/ratelimit/ip_throttle.h"
#include "coordinator/ratelimit/window_counter.h"

namespace keyhole::coord {
namespace {

constexpr int64_t kMinute = 60'000;
constexpr int64_t kT0 = 1795824000000;  // a minute boundary

TEST(WindowCounter, CountsDownThenRefusesUntilTheNextMinute) {
  WindowCounter c;
  for (uint32_t i = 0; i < 3; ++i) {
    WindowDecision d = c.Acquire(3, kT0 + 1000 * i);
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.remaining, 2 - i);
    EXPECT_EQ(d.reset_epoch_seconds, kT0 / 1000 + 60);
  }
  EXPECT_FALSE(c.Acquire(3, kT0 + 59'999).allowed);
  EXPECT_EQ(c.Used(kT0 + 59'999), 3u);
  // The window is the UTC minute: at its edge everything is available again.
  WindowDecision next = c.Acquire(3, kT0 + kMinute);
  EXPECT_TRUE(next.allowed);
  EXPECT_EQ(next.remaining, 2u);
  EXPECT_EQ(next.reset_epoch_seconds, kT0 / 1000 + 120);
}

TEST(WindowCounter, AClockSteppingBackDoesNotReopenAWindow) {
  WindowCounter c;
  c.Acquire(1, kT0 + kMinute);
  EXPECT_FALSE(c.Acquire(1, kT0).allowed);
}

TEST(WindowCounter, ZeroLimitRefusesEverything) {
  WindowCounter c;
  EXPECT_FALSE(c.Acquire(0, kT0).allowed);
}

TEST(WindowCounter, ExactUnderContention) {
  // 16 threads hammering one counter with a limit of 1000: exactly 1000 get through.
  WindowCounter c;
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) allowed += c.Acquire(1000, kT0 + 5).allowed;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(allowed.load(), 1000);
}

TEST(WindowCounter, OneViolationEventPerWindow) {
  WindowCounter c;
  EXPECT_TRUE(c.FirstViolationIn(5));
  EXPECT_FALSE(c.FirstViolationIn(5));
  EXPECT_TRUE(c.FirstViolationIn(6));
}

TEST(IpThrottle, AddressesHaveTheirOwnBudgets) {
  IpThrottle t(2);
  WallTime now = FromEpochMillis(kT0);
  EXPECT_TRUE(t.Acquire("a", now).allowed);
  EXPECT_TRUE(t.Acquire("a", now).allowed);
  EXPECT_FALSE(t.Acquire("a", now).allowed);
  EXPECT_TRUE(t.Exhausted("a", now));
  EXPECT_FALSE(t.Exhausted("b", now));
  EXPECT_TRUE(t.Acquire("b", now).allowed);
  EXPECT_FALSE(t.Exhausted("a", now + std::chrono::minutes(1)));
}

TEST(IpThrottle, MemoryIsBoundedUnderAnAddressSpray) {
  IpThrottle t(1);
  WallTime now = FromEpochMillis(kT0);
  size_t allowed = 0;
  const size_t sprayed = IpThrottle::kShards * IpThrottle::kMaxPerShard * 2;
  for (size_t i = 0; i < sprayed; ++i) allowed += t.Acquire("10." + std::to_string(i), now).allowed;
  // At most one request per remembered address plus one per shard's shared overflow budget.
  EXPECT_LE(allowed, IpThrottle::kShards * IpThrottle::kMaxPerShard + IpThrottle::kShards);
  // The shared overflow budget never refuses anyone before a token lookup.
  EXPECT_FALSE(t.Exhausted("someone-else", now));
  // A new window forgets the old addresses and admits again.
  EXPECT_TRUE(t.Acquire("fresh", now + std::chrono::minutes(1)).allowed);
}

TEST(ClientAddress, ThrottleKeys) {
  EXPECT_EQ(ClientAddress::ThrottleKey("192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(ClientAddress::ThrottleKey("::ffff:192.0.2.1"), "192.0.2.1");
  EXPECT_EQ(ClientAddress::ThrottleKey("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  EXPECT_EQ(ClientAddress::ThrottleKey("2001:db8:1:2:ffff::1"), "2001:db8:1:2::/64");
}

TEST(ClientAddress, TrustedProxiesAndForwardedFor) {
  std::string error;
  auto a = ClientAddress::Create({"10.0.0.0/8", "2001:db8::1"}, &error);
  ASSERT_TRUE(a.has_value()) << error;
  std::string xff = "198.51.100.1, 203.0.113.9, 10.2.3.4";
  EXPECT_EQ(a->Resolve("10.0.0.1", &xff), "203.0.113.9");       // rightmost untrusted hop
  EXPECT_EQ(a->Resolve("192.0.2.5", &xff), "192.0.2.5");        // peer not trusted: header ignored
  EXPECT_EQ(a->Resolve("2001:db8::1", &xff), "203.0.113.9");
  std::string garbage = "not-an-ip";
  EXPECT_EQ(a->Resolve("10.0.0.1", &garbage), "10.0.0.1");
  std::string all_trusted = "10.9.9.9";
  EXPECT_EQ(a->Resolve("10.0.0.1", &all_trusted), "10.0.0.1");
  EXPECT_EQ(a->Resolve("10.0.0.1", nullptr), "10.0.0.1");
  EXPECT_FALSE(ClientAddress::Create({"10.0.0.0/33"}, &error).has_value());
  EXPECT_FALSE(ClientAddress::Create({"10.0.0.0/-1"}, &error).has_value());
  EXPECT_FALSE(ClientAddress::Create({"proxy.example.com"}, &error).has_value());
}

}  // namespace
}  // namespace keyhole::coord
