// Temporary rate-limit exceptions: validation, lead time in business days, the approval
// lifecycle, and their effect on the table exactly between start and end (injected clock).
#include "coordinator/ratelimit/rate_limit_exceptions.h"

#include <gtest/gtest.h>

#include "tests/support/fake_clock.h"
#include "tests/support/temp_dir.h"

namespace keyhole::coord {
namespace {

using keyhole::testing::FakeClock;
using keyhole::testing::TempDir;
using std::chrono::hours;
constexpr auto kDay = hours(24);
const std::string kUsers = "GET /api/v1/users";

class RateLimitExceptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store = std::move(OpenSqliteStore(dir.File("keyhole.db"))).value();
    Response ok{200, {}, {}};
    router.Add("GET", "/api/v1/users", [ok](Request&) { return ok; });
    router.Add("GET", "/api/v1/logs", [ok](Request&) { return ok; });
    Reopen();
  }
  void Reopen() {
    table = std::make_unique<RateLimitTable>(RateLimitConfig{.default_per_minute = 100});
    ASSERT_TRUE(table->Bind(router).ok());
    exceptions = std::make_unique<RateLimitExceptions>(
        *store, clock, *table, ExceptionOptions{}, [this](const RateLimitException&, const std::string& what) { changes.push_back(what); });
    ASSERT_TRUE(exceptions->Load().ok());
  }
  ExceptionRequest Valid(WallTime start, hours length = kDay) {
    return {"acme", {{kUsers, 500}}, start, start + length, "Black Friday traffic from the web shop", ""};
  }
  uint32_t LimitNow() { return table->Acquire(table->Find(kUsers), clock.Now()).limit; }

  TempDir dir;
  FakeClock clock;  // Saturday 2026-11-28 00:00 UTC
  std::unique_ptr<Store> store;
  Router router;
  std::unique_ptr<RateLimitTable> table;
  std::unique_ptr<RateLimitExceptions> exceptions;
  std::vector<std::string> changes;
};

TEST_F(RateLimitExceptionsTest, LeadTimeCountsBusinessDays) {
  // From Saturday 28 November: Mon 30 … Fri 4 (5), Mon 7 … Fri 11 (10).
  EXPECT_EQ(RateLimitExceptions::EarliestStart(clock.Now(), 10), clock.Now() + kDay * 13);
  // From a Monday, ten business days is exactly two weeks.
  WallTime monday = clock.Now() + kDay * 2;
  EXPECT_EQ(RateLimitExceptions::EarliestStart(monday, 10), monday + kDay * 14);
  EXPECT_EQ(RateLimitExceptions::EarliestStart(monday, 0), monday);
}

TEST_F(RateLimitExceptionsTest, TooLateWithoutAnOverride) {
  auto r = exceptions->Request(Valid(clock.Now() + kDay * 12), "00uadmin");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "start");
  ASSERT_FALSE(r.status().causes().empty());
  EXPECT_NE(r.status().causes()[0].find("10 business days"), std::string::npos);
  EXPECT_TRUE(exceptions->Request(Valid(clock.Now() + kDay * 13), "00uadmin").ok());
  ExceptionRequest urgent = Valid(clock.Now() + hours(1));
  urgent.lead_time_override = "Incident 4711: partner sync backlog";
  auto x = exceptions->Request(urgent, "00uadmin");
  ASSERT_TRUE(x.ok()) << x.status().message();
  EXPECT_EQ(x->status, ExceptionStatus::kPending);
  EXPECT_EQ(x->lead_time_override, "Incident 4711: partner sync backlog");
}

TEST_F(RateLimitExceptionsTest, ValidatesEveryField) {
  ExceptionRequest r = Valid(clock.Now() + kDay * 20);
  r.org = "";
  r.justification = "short";
  r.endpoints = {{"GET /api/v1/nope", 500}, {kUsers, 100}, {kUsers, 200}};
  r.end = r.start;
  auto x = exceptions->Request(r, "00uadmin");
  ASSERT_FALSE(x.ok());
  std::string all;
  for (const auto& c : x.status().causes()) all += c + "\n";
  for (const char* want : {"org:", "justification:", "no such endpoint", "must exceed its limit of 100", "named twice", "end: must be after start"}) {
    EXPECT_NE(all.find(want), std::string::npos) << want << " in\n" << all;
  }
  r = Valid(clock.Now() + kDay * 20, kDay * 91);
  EXPECT_FALSE(exceptions->Request(r, "00uadmin").ok());  // at most 90 days
}

TEST_F(RateLimitExceptionsTest, Lifecycle) {
  auto a = *exceptions->Request(Valid(clock.Now() + kDay * 20), "00uadmin");
  auto b = *exceptions->Request(Valid(clock.Now() + kDay * 20), "00uadmin");
  EXPECT_EQ(exceptions->Decide(a.id, ExceptionDecision::kApprove, "00uboss", "ok")->status, ExceptionStatus::kApproved);
  EXPECT_FALSE(exceptions->Decide(a.id, ExceptionDecision::kApprove, "00uboss", "").ok());
  EXPECT_FALSE(exceptions->Decide(a.id, ExceptionDecision::kDeny, "00uboss", "").ok());
  auto canceled = exceptions->Decide(a.id, ExceptionDecision::kCancel, "00uboss", "event moved");
  EXPECT_EQ(canceled->status, ExceptionStatus::kCanceled);
  EXPECT_EQ(canceled->decision_reason, "event moved");
  EXPECT_FALSE(exceptions->Decide(a.id, ExceptionDecision::kCancel, "00uboss", "").ok());
  EXPECT_EQ(exceptions->Decide(b.id, ExceptionDecision::kDeny, "00uboss", "no")->status, ExceptionStatus::kDenied);
  EXPECT_FALSE(exceptions->Decide(b.id, ExceptionDecision::kCancel, "00uboss", "").ok());
  EXPECT_EQ(exceptions->Decide("rlenope", ExceptionDecision::kApprove, "x", "").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(changes, (std::vector<std::string>{"request", "request", "approve", "cancel", "deny"}));
  EXPECT_EQ(exceptions->List(ExceptionStatus::kDenied).size(), 1u);
  EXPECT_EQ(exceptions->List(std::nullopt).size(), 2u);
}

TEST_F(RateLimitExceptionsTest, RaisesTheLimitOnlyBetweenStartAndEnd) {
  const WallTime start = clock.Now() + kDay * 13;
  auto x = *exceptions->Request(Valid(start, hours(2)), "00uadmin");
  EXPECT_EQ(LimitNow(), 100u);
  ASSERT_TRUE(exceptions->Decide(x.id, ExceptionDecision::kApprove, "00uboss", "").ok());
  EXPECT_EQ(LimitNow(), 100u);  // approved, not yet started
  clock.Advance(start - clock.Now() - std::chrono::milliseconds(1));
  EXPECT_EQ(LimitNow(), 100u);
  clock.Advance(std::chrono::milliseconds(1));
  EXPECT_EQ(LimitNow(), 500u);  // in force at its start, to the millisecond
  EXPECT_EQ(table->Acquire(table->Find("GET /api/v1/logs"), clock.Now()).limit, 60u);  // others untouched
  // It survives a restart.
  Reopen();
  EXPECT_EQ(LimitNow(), 500u);
  EXPECT_TRUE(exceptions->Get(x.id)->InForce(clock.Now()));
  clock.Advance(hours(2));
  EXPECT_EQ(LimitNow(), 100u);  // lapsed on its own
  EXPECT_FALSE(exceptions->Get(x.id)->InForce(clock.Now()));
}

TEST_F(RateLimitExceptionsTest, CancelingAnExceptionInForceEndsItAtOnce) {
  ExceptionRequest r = Valid(clock.Now(), hours(1));
  r.lead_time_override = "outage recovery";
  auto x = *exceptions->Request(r, "00uadmin");
  ASSERT_TRUE(exceptions->Decide(x.id, ExceptionDecision::kApprove, "00uboss", "").ok());
  EXPECT_EQ(LimitNow(), 500u);
  ASSERT_TRUE(exceptions->Decide(x.id, ExceptionDecision::kCancel, "00uboss", "").ok());
  EXPECT_EQ(LimitNow(), 100u);
}

}  // namespace
}  // namespace keyhole::coord
