#include "shared/token/token_policy.h"

#include <gtest/gtest.h>

namespace keyhole {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;

constexpr auto kDay = hours(24);
const WallTime kT0 = FromEpochMillis(1795824000000);

TEST(TokenPolicy, WindowIsThirtyDays) {
  TokenPolicy p;
  EXPECT_EQ(p.window(), kDay * 30);
  EXPECT_EQ(p.WindowIso8601(), "P30D");
  EXPECT_EQ(p.ExpiryAfterUse(kT0), kT0 + kDay * 30);
}

TEST(TokenPolicy, AcceptsWithinWindowAndAtItsLastMillisecond) {
  TokenPolicy p;
  TokenState t{p.ExpiryAfterUse(kT0)};
  EXPECT_EQ(p.Evaluate(t, true, kT0 + kDay * 29), TokenVerdict::kAccept);
  EXPECT_EQ(p.Evaluate(t, true, kT0 + kDay * 30), TokenVerdict::kAccept);
  EXPECT_EQ(p.Evaluate(t, true, kT0 + kDay * 30 + milliseconds(1)), TokenVerdict::kExpired);
}

TEST(TokenPolicy, UseSlidesTheWindow) {
  TokenPolicy p;
  TokenState t{p.ExpiryAfterUse(kT0)};
  // Used every 20 days, a token lives on well past its first 30 days.
  WallTime now = kT0;
  for (int i = 0; i < 5; ++i) {
    now += kDay * 20;
    ASSERT_EQ(p.Evaluate(t, true, now), TokenVerdict::kAccept);
    t.expires_at = p.ExpiryAfterUse(now);
  }
  EXPECT_EQ(t.expires_at, kT0 + kDay * 130);
}

TEST(TokenPolicy, IdleThirtyOneDaysExpires) {
  TokenPolicy p;
  TokenState t{p.ExpiryAfterUse(kT0)};
  EXPECT_EQ(p.Evaluate(t, true, kT0 + kDay * 31), TokenVerdict::kExpired);
}

TEST(TokenPolicy, OwnerInactiveRefusesWithoutRevoking) {
  TokenPolicy p;
  TokenState t{p.ExpiryAfterUse(kT0)};
  EXPECT_EQ(p.Evaluate(t, false, kT0 + kDay), TokenVerdict::kOwnerInactive);
  EXPECT_EQ(p.Evaluate(t, true, kT0 + kDay), TokenVerdict::kAccept);  // reactivated: works again
}

TEST(TokenPolicy, RevokedStaysRevoked) {
  TokenPolicy p;
  TokenState t{p.ExpiryAfterUse(kT0), /*revoked=*/true};
  EXPECT_EQ(p.Evaluate(t, true, kT0), TokenVerdict::kRevoked);
  EXPECT_EQ(p.Evaluate(t, true, kT0 + kDay * 100), TokenVerdict::kRevoked);
}

TEST(TokenPolicy, IdlenessIsJudgedBeforeTheOwner) {
  // An owner inactive past the window does not revive its token on reactivation.
  TokenPolicy p;
  TokenState t{p.ExpiryAfterUse(kT0)};
  EXPECT_EQ(p.Evaluate(t, false, kT0 + kDay * 31), TokenVerdict::kExpired);
}

}  // namespace
}  // namespace keyhole
