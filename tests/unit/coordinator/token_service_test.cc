#include "coordinator/auth/token_service.h"

#include <gtest/gtest.h>

#include "tests/support/coordinator_services.h"

namespace keyhole::coord {
namespace {

using std::chrono::hours;
constexpr auto kDay = hours(24);

// Reopen() is a fresh stack over the same database, as after a restart.
class TokenServiceTest : public ::testing::Test, protected testing::CoordinatorServices {
 protected:
  void SetUp() override { Reopen(); }
};

TEST_F(TokenServiceTest, AuthenticatesAndNamesTheOwner) {
  std::string admin = MakeUser("admin@example.com", true);
  CreatedToken t = MakeToken(admin);
  auto p = tokens->Authenticate(t.secret);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->owner_id, admin);
  EXPECT_EQ(p->token_id, t.record.id);
  EXPECT_TRUE(p->super_admin);
}

TEST_F(TokenServiceTest, RejectsMalformedAndUnknownSecrets) {
  MakeToken(MakeUser("a@example.com"));
  EXPECT_EQ(FailureOf("not-a-token"), AuthFailure::kMalformed);
  EXPECT_EQ(FailureOf(TokenCodec::Generate(TokenKind::kUser)), AuthFailure::kUnknown);
}

TEST_F(TokenServiceTest, EveryUseSlidesTheWindow) {
  CreatedToken t = MakeToken(MakeUser("a@example.com"));
  for (int i = 0; i < 4; ++i) {
    clock.Advance(kDay * 20);
    ASSERT_TRUE(tokens->Authenticate(t.secret).ok()) << "use " << i;
  }
  auto rec = tokens->Get(t.record.id);
  EXPECT_EQ(rec->expires_at, clock.Now() + kDay * 30);
  EXPECT_EQ(rec->last_used, clock.Now());
}

TEST_F(TokenServiceTest, ThirtyOneIdleDaysRevokesForGood) {
  std::string owner = MakeUser("a@example.com");
  CreatedToken t = MakeToken(owner);
  clock.Advance(kDay * 31);
  EXPECT_EQ(FailureOf(t.secret), AuthFailure::kExpired);
  // Revoked, durably, with the reason on its record; never accepted again.
  EXPECT_EQ(FailureOf(t.secret), AuthFailure::kRevoked);
  Reopen();
  EXPECT_EQ(FailureOf(t.secret), AuthFailure::kRevoked);
  TokenPage page = tokens->List({.include_revoked = true});
  ASSERT_EQ(page.tokens.size(), 1u);
  EXPECT_EQ(page.tokens[0].revoked_reason, "INACTIVITY");
}

TEST_F(TokenServiceTest, OwnerDeactivatedThenReactivated) {
  std::string admin = MakeUser("admin@example.com", true);
  std::string owner = MakeUser("a@example.com");
  CreatedToken t = MakeToken(owner);
  ASSERT_TRUE(tokens->Authenticate(t.secret).ok());
  ASSERT_TRUE(users->Apply(owner, LifecycleOp::kDeactivate).ok());
  EXPECT_EQ(FailureOf(t.secret), AuthFailure::kOwnerInactive);
  clock.Advance(kDay * 10);
  ASSERT_TRUE(users->Apply(owner, LifecycleOp::kActivate).ok());
  EXPECT_TRUE(tokens->Authenticate(t.secret).ok());  // the same token, no other action
  (void)admin;
}

TEST_F(TokenServiceTest, SuspendedOwnerIsRefusedToo) {
  std::string owner = MakeUser("a@example.com");
  CreatedToken t = MakeToken(owner);
  ASSERT_TRUE(users->Apply(owner, LifecycleOp::kSuspend).ok());
  EXPECT_EQ(FailureOf(t.secret), AuthFailure::kOwnerInactive);
  ASSERT_TRUE(users->Apply(owner, LifecycleOp::kUnsuspend).ok());
  EXPECT_TRUE(tokens->Authenticate(t.secret).ok());
}

TEST_F(TokenServiceTest, ExplicitRevocationIsFinal) {
  std::string owner = MakeUser("a@example.com");
  CreatedToken t = MakeToken(owner);
  ASSERT_TRUE(tokens->Revoke(t.record.id).ok());
  EXPECT_EQ(FailureOf(t.secret), AuthFailure::kRevoked);
  EXPECT_EQ(tokens->Get(t.record.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(tokens->Revoke(t.record.id).code(), StatusCode::kNotFound);
  Reopen();
  EXPECT_EQ(FailureOf(t.secret), AuthFailure::kRevoked);
}

TEST_F(TokenServiceTest, FlushWritesLastUseInOneBatch) {
  std::string owner = MakeUser("a@example.com");
  CreatedToken a = MakeToken(owner), b = MakeToken(owner);
  clock.Advance(kDay);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(tokens->Authenticate(a.secret).ok());
    ASSERT_TRUE(tokens->Authenticate(b.secret).ok());
  }
  auto flushed = tokens->FlushUsage();
  ASSERT_TRUE(flushed.ok());
  EXPECT_EQ(*flushed, 2u);  // two tokens, however many uses
  EXPECT_EQ(*tokens->FlushUsage(), 0u);
  Reopen();
  EXPECT_EQ(tokens->Get(a.record.id)->last_used, clock.Now());
  EXPECT_EQ(tokens->Get(a.record.id)->expires_at, clock.Now() + kDay * 30);
}

TEST_F(TokenServiceTest, UnflushedUseIsLostOnCrashButNeverAcceptedWrongly) {
  // Use not yet flushed only makes the stored expiry earlier than the real one: a crash can cost
  // at most a second of sliding, never let a token live longer than the policy allows.
  std::string owner = MakeUser("a@example.com");
  CreatedToken a = MakeToken(owner);
  clock.Advance(kDay * 5);
  ASSERT_TRUE(tokens->Authenticate(a.secret).ok());
  Reopen();  // no flush
  EXPECT_EQ(tokens->Get(a.record.id)->expires_at, clock.Now() - kDay * 5 + kDay * 30);
}

TEST_F(TokenServiceTest, SweepRevokesIdleTokensNobodyPresents) {
  std::string owner = MakeUser("a@example.com");
  CreatedToken idle = MakeToken(owner);
  clock.Advance(kDay * 20);
  CreatedToken fresh = MakeToken(owner);
  clock.Advance(kDay * 11);
  EXPECT_EQ(tokens->RevokeIdle(), 1u);
  EXPECT_EQ(tokens->Get(idle.record.id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(tokens->Get(fresh.record.id).ok());
}

TEST_F(TokenServiceTest, DeletedOwnerTokensStopWorking) {
  std::string owner = MakeUser("a@example.com");
  CreatedToken t = MakeToken(owner);
  ASSERT_TRUE(users->Apply(owner, LifecycleOp::kDeactivate).ok());
  auto deleted = users->Delete(owner);
  ASSERT_TRUE(deleted.ok());
  EXPECT_TRUE(*deleted);
  tokens->ForgetOwner(owner);
  EXPECT_EQ(FailureOf(t.secret), AuthFailure::kRevoked);
  Reopen();
  EXPECT_EQ(FailureOf(t.secret), AuthFailure::kRevoked);
}

TEST_F(TokenServiceTest, ListsPagesInCreationOrderAndFilters) {
  std::string a = MakeUser("a@example.com"), b = MakeUser("b@example.com");
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(MakeToken(i % 2 ? b : a).record.id);
  TokenPage p1 = tokens->List({.limit = 2});
  ASSERT_EQ(p1.tokens.size(), 2u);
  ASSERT_TRUE(p1.next_after.has_value());
  TokenPage p2 = tokens->List({.after_seq = *p1.next_after, .limit = 2});
  TokenPage p3 = tokens->List({.after_seq = *p2.next_after, .limit = 2});
  EXPECT_EQ(p3.tokens.size(), 1u);
  EXPECT_FALSE(p3.next_after.has_value());
  EXPECT_EQ(p1.tokens[0].id, ids[0]);
  EXPECT_EQ(p3.tokens[0].id, ids[4]);
  EXPECT_EQ(tokens->List({.owner_id = b}).tokens.size(), 2u);
}

}  // namespace
}  // namespace keyhole::coord
