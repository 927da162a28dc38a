// Token rotation (docs/AGENTS.md, "Rotation, crash-safe"): the agent draws the successor, the
// predecessor retires at the successor's first use or when the grace period ends, whichever
// comes first; the same successor again changes nothing; an unused successor can be replaced.
#include <gtest/gtest.h>

#include <thread>

#include "tests/support/coordinator_services.h"

namespace keyhole::coord {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr milliseconds kGrace = seconds(600);

class TokenRotationTest : public ::testing::Test, protected testing::CoordinatorServices {
 protected:
  void SetUp() override {
    Reopen();
    auto pool = registry->CreatePool("p", AgentType::kHTTP, "00uadmin");
    ASSERT_TRUE(pool.ok());
    auto code = registry->CreateCode(pool->id, {}, "00uadmin");
    ASSERT_TRUE(code.ok());
    auto a = registry->Activate(code->code, {"agent", "", "", ""}, *tokens);
    ASSERT_TRUE(a.ok());
    agent_id = a->agent.id;
    old_secret = a->token.secret;
    old_id = a->token.record.id;
  }

  // Rotates from `current` (authenticated as the pipeline does, the use counted) to `next`.
  StatusOr<TokenRecord> RotateFrom(const std::string& current, const std::string& next, milliseconds grace = kGrace) {
    auto p = tokens->Authenticate(current);
    if (!p.ok()) return p.status();
    return tokens->Rotate(*p, next, grace);
  }

  // How many retirements of rotated tokens the System Log holds.
  size_t RetirementEvents() {
    auto events = log->Query({.until = clock.Now() + std::chrono::hours(1), .limit = 1000});
    EXPECT_TRUE(events.ok());
    size_t n = 0;
    for (const LogEvent& e : *events) n += e.event_type == event_type::kTokenRevokeRotated;
    return n;
  }

  // The stored record, revoked or not.
  TokenRecord Record(const std::string& id) {
    for (const TokenRecord& t : tokens->List({.include_revoked = true, .limit = 1000}).tokens) {
      if (t.id == id) return t;
    }
    ADD_FAILURE() << "no token " << id;
    return {};
  }

  size_t AgentTokens(bool include_revoked) {
    return tokens->List({.owner_id = agent_id, .include_revoked = include_revoked, .limit = 1000}).tokens.size();
  }

  std::string agent_id, old_secret, old_id;
};

TEST_F(TokenRotationTest, SuccessorIsRegisteredAndTheOldTokenStaysValid) {
  const std::string next = TokenCodec::Generate(TokenKind::kAgent);
  auto successor = RotateFrom(old_secret, next);
  ASSERT_TRUE(successor.ok()) << successor.status().message();
  EXPECT_NE(successor->id, old_id);
  EXPECT_EQ(successor->replaces, old_id);
  EXPECT_EQ(successor->owner_kind, OwnerKind::kAgent);
  EXPECT_EQ(successor->owner_id, agent_id);
  EXPECT_EQ(successor->digest, TokenCodec::Digest(next));
  EXPECT_FALSE(successor->revoked_at.has_value());
  EXPECT_EQ(Record(old_id).retire_at, clock.Now() + kGrace);
  EXPECT_EQ(AgentTokens(false), 2u);
  clock.Advance(seconds(60));
  EXPECT_TRUE(tokens->Authenticate(old_secret).ok());  // within the grace period
}

TEST_F(TokenRotationTest, SuccessorsFirstUseRetiresTheOldToken) {
  const std::string next = TokenCodec::Generate(TokenKind::kAgent);
  ASSERT_TRUE(RotateFrom(old_secret, next).ok());
  // Authenticated but not admitted (rate limit): not a use yet.
  auto p = tokens->Authenticate(next, nullptr, nullptr, /*record_use=*/false);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(tokens->Authenticate(old_secret).ok());
  tokens->RecordUse(*p);
  EXPECT_EQ(FailureOf(old_secret), AuthFailure::kRevoked);
  EXPECT_EQ(Record(old_id).revoked_reason, kRevokedRotated);
  EXPECT_TRUE(tokens->Authenticate(next).ok());
  Reopen();  // the retirement is durable
  EXPECT_EQ(FailureOf(old_secret), AuthFailure::kRevoked);
  EXPECT_TRUE(tokens->Authenticate(next).ok());
}

// Regression (security review): an admin's revocation of a token in mid-rotation must not leave
// its unused successor alive for the agent to adopt.
TEST_F(TokenRotationTest, RevokingTheOldTokenRevokesItsUnusedSuccessor) {
  const std::string next = TokenCodec::Generate(TokenKind::kAgent);
  auto successor = RotateFrom(old_secret, next);
  ASSERT_TRUE(successor.ok());
  ASSERT_TRUE(tokens->Revoke(old_id).ok());
  EXPECT_EQ(FailureOf(old_secret), AuthFailure::kRevoked);
  EXPECT_EQ(FailureOf(next), AuthFailure::kRevoked);
  EXPECT_EQ(Record(successor->id).revoked_reason, kRevokedExplicitly);
  Reopen();
  EXPECT_EQ(FailureOf(next), AuthFailure::kRevoked);
}

TEST_F(TokenRotationTest, RevokingTheOldTokenAfterItsSuccessorWasUsedLeavesTheSuccessor) {
  const std::string next = TokenCodec::Generate(TokenKind::kAgent);
  auto successor = RotateFrom(old_secret, next);
  ASSERT_TRUE(successor.ok());
  ASSERT_TRUE(tokens->Authenticate(next).ok());  // first use: the old token retires
  EXPECT_EQ(tokens->Revoke(old_id).code(), StatusCode::kNotFound);
  EXPECT_TRUE(tokens->Authenticate(next).ok());
}

// Listings agree with authentication: past its grace a rotated token is gone from the active list
// and reads ROTATED, before anything presented it or the sweep wrote it down.
TEST_F(TokenRotationTest, ListingsShowARotatedTokenPastItsGraceAsRevoked) {
  const std::string next = TokenCodec::Generate(TokenKind::kAgent);
  ASSERT_TRUE(RotateFrom(old_secret, next).ok());
  EXPECT_TRUE(tokens->Get(old_id).ok());
  clock.Advance(kGrace + seconds(1));
  EXPECT_EQ(tokens->Get(old_id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(AgentTokens(false), 1u);
  TokenRecord old = Record(old_id);
  EXPECT_EQ(old.revoked_reason, kRevokedRotated);
  ASSERT_TRUE(old.revoked_at.has_value());
}

TEST_F(TokenRotationTest, OldTokenRetiresWhenTheGraceEndsEvenIfTheSuccessorIsNeverUsed) {
  const std::string next = TokenCodec::Generate(TokenKind::kAgent);
  ASSERT_TRUE(RotateFrom(old_secret, next).ok());
  clock.Advance(kGrace - milliseconds(1));
  EXPECT_TRUE(tokens->Authenticate(old_secret).ok());
  clock.Advance(milliseconds(1));
  EXPECT_EQ(FailureOf(old_secret), AuthFailure::kRevoked);
  EXPECT_EQ(Record(old_id).revoked_reason, kRevokedRotated);
  Reopen();
  EXPECT_EQ(FailureOf(old_secret), AuthFailure::kRevoked);
  EXPECT_TRUE(tokens->Authenticate(next).ok());  // the successor is unaffected
}

TEST_F(TokenRotationTest, ConcurrentFirstUsesRetireTheOldTokenOnce) {
  const std::string next = TokenCodec::Generate(TokenKind::kAgent);
  ASSERT_TRUE(RotateFrom(old_secret, next).ok());
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) accepted += tokens->Authenticate(next).ok();
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(accepted.load(), 400);
  EXPECT_EQ(FailureOf(old_secret), AuthFailure::kRevoked);
  EXPECT_EQ(RetirementEvents(), 1u);
}

TEST_F(TokenRotationTest, TheSameSuccessorAgainChangesNothing) {
  const std::string next = TokenCodec::Generate(TokenKind::kAgent);
  auto first = RotateFrom(old_secret, next);
  ASSERT_TRUE(first.ok());
  clock.Advance(seconds(5));
  auto again = RotateFrom(old_secret, next);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(again->id, first->id);
  EXPECT_EQ(again->created, first->created);
  EXPECT_EQ(AgentTokens(true), 2u);
  EXPECT_EQ(Record(old_id).retire_at, first->created + kGrace);
  EXPECT_TRUE(tokens->Authenticate(next).ok());
}

TEST_F(TokenRotationTest, ADifferentSuccessorSupersedesAnUnusedOne) {
  const std::string first = TokenCodec::Generate(TokenKind::kAgent);
  const std::string second = TokenCodec::Generate(TokenKind::kAgent);
  auto s1 = RotateFrom(old_secret, first);
  ASSERT_TRUE(s1.ok());
  auto s2 = RotateFrom(old_secret, second);
  ASSERT_TRUE(s2.ok());
  EXPECT_NE(s1->id, s2->id);
  EXPECT_EQ(s2->replaces, old_id);
  EXPECT_EQ(FailureOf(first), AuthFailure::kRevoked);
  EXPECT_EQ(Record(s1->id).revoked_reason, kRevokedSuperseded);
  EXPECT_TRUE(tokens->Authenticate(old_secret).ok());  // still in its grace
  EXPECT_TRUE(tokens->Authenticate(second).ok());
  EXPECT_EQ(FailureOf(old_secret), AuthFailure::kRevoked);  // retired by the second's first use
  Reopen();
  EXPECT_EQ(FailureOf(first), AuthFailure::kRevoked);
  EXPECT_EQ(Record(s1->id).revoked_reason, kRevokedSuperseded);
  EXPECT_TRUE(tokens->Authenticate(second).ok());
}

TEST_F(TokenRotationTest, BadSuccessorsAreRefused) {
  auto p = tokens->Authenticate(old_secret);
  ASSERT_TRUE(p.ok());
  std::string bad_checksum = TokenCodec::Generate(TokenKind::kAgent);
  bad_checksum.back() = bad_checksum.back() == 'a' ? 'b' : 'a';
  for (const std::string& s : {TokenCodec::Generate(TokenKind::kUser), TokenCodec::Generate(TokenKind::kActivationCode),
                               std::string("kha_short"), bad_checksum, std::string(""), old_secret}) {
    EXPECT_EQ(tokens->Rotate(*p, s, kGrace).status().code(), StatusCode::kInvalidArgument) << s;
  }
  EXPECT_EQ(AgentTokens(true), 1u);  // nothing stored
  EXPECT_FALSE(Record(old_id).retire_at.has_value());
}

TEST_F(TokenRotationTest, AnotherTokensSecretCannotBecomeASuccessor) {
  // Another agent's live token: accepting it would hand that secret to this agent.
  auto pool = registry->CreatePool("q", AgentType::kHTTP, "00uadmin");
  auto code = registry->CreateCode(pool->id, {}, "00uadmin");
  auto other = registry->Activate(code->code, {"other", "", "", ""}, *tokens);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(RotateFrom(old_secret, other->token.secret).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(AgentTokens(true), 1u);
}

TEST_F(TokenRotationTest, ASecondRotationDoesNotExtendTheGrace) {
  ASSERT_TRUE(RotateFrom(old_secret, TokenCodec::Generate(TokenKind::kAgent)).ok());
  clock.Advance(kGrace / 2);
  const std::string second = TokenCodec::Generate(TokenKind::kAgent);
  ASSERT_TRUE(RotateFrom(old_secret, second).ok());
  clock.Advance(kGrace / 2);
  EXPECT_EQ(FailureOf(old_secret), AuthFailure::kRevoked);
  EXPECT_TRUE(tokens->Authenticate(second).ok());
}

TEST_F(TokenRotationTest, SweepRetiresTokensPastTheirGrace) {
  const std::string next = TokenCodec::Generate(TokenKind::kAgent);
  ASSERT_TRUE(RotateFrom(old_secret, next).ok());
  EXPECT_EQ(tokens->RevokeIdle(), 0u);
  clock.Advance(kGrace);
  EXPECT_EQ(tokens->RevokeIdle(), 1u);
  EXPECT_EQ(Record(old_id).revoked_reason, kRevokedRotated);
  EXPECT_EQ(tokens->RevokeIdle(), 0u);
  Reopen();
  EXPECT_EQ(Record(old_id).revoked_reason, kRevokedRotated);
  EXPECT_TRUE(tokens->Authenticate(next).ok());
}

TEST_F(TokenRotationTest, ReloadKeepsTheGraceAndThePredecessorLink) {
  const std::string next = TokenCodec::Generate(TokenKind::kAgent);
  auto s = RotateFrom(old_secret, next);
  ASSERT_TRUE(s.ok());
  const WallTime retire_at = clock.Now() + kGrace;
  Reopen();
  EXPECT_EQ(Record(old_id).retire_at, retire_at);
  EXPECT_EQ(Record(s->id).replaces, old_id);
  EXPECT_TRUE(tokens->Authenticate(old_secret).ok());
  // The successor's first use after the restart still retires the old token.
  EXPECT_TRUE(tokens->Authenticate(next).ok());
  EXPECT_EQ(FailureOf(old_secret), AuthFailure::kRevoked);
  EXPECT_EQ(Record(old_id).revoked_reason, kRevokedRotated);
}

TEST_F(TokenRotationTest, ReloadKeepsTheGraceDeadline) {
  ASSERT_TRUE(RotateFrom(old_secret, TokenCodec::Generate(TokenKind::kAgent)).ok());
  Reopen();
  clock.Advance(kGrace);
  EXPECT_EQ(FailureOf(old_secret), AuthFailure::kRevoked);
}

TEST_F(TokenRotationTest, ReplacingAnUnusedSuccessorAfterAReload) {
  const std::string first = TokenCodec::Generate(TokenKind::kAgent);
  auto s1 = RotateFrom(old_secret, first);
  ASSERT_TRUE(s1.ok());
  Reopen();
  // The answer was lost and the agent crashed: the same pending secret again is still idempotent.
  auto again = RotateFrom(old_secret, first);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->id, s1->id);
  const std::string second = TokenCodec::Generate(TokenKind::kAgent);
  ASSERT_TRUE(RotateFrom(old_secret, second).ok());
  EXPECT_EQ(FailureOf(first), AuthFailure::kRevoked);
  EXPECT_EQ(AgentTokens(false), 2u);
}

// Regression (security review): deactivation and revocation used to be two writes; a failure
// between them left an INACTIVE agent with live tokens that a reactivation would revive.
TEST_F(TokenRotationTest, SelfDeactivationRevokesEveryTokenOfTheAgentForGood) {
  const std::string next = TokenCodec::Generate(TokenKind::kAgent);
  ASSERT_TRUE(RotateFrom(old_secret, next).ok());
  auto agent = registry->DeactivateSelf(agent_id, *tokens);
  ASSERT_TRUE(agent.ok()) << agent.status().message();
  EXPECT_EQ(agent->status, AgentStatus::kInactive);
  EXPECT_EQ(FailureOf(old_secret), AuthFailure::kRevoked);
  EXPECT_EQ(FailureOf(next), AuthFailure::kRevoked);
  EXPECT_EQ(Record(old_id).revoked_reason, kRevokedOwnerDeactivated);
  Reopen();
  EXPECT_EQ(registry->GetAgent(agent_id)->status, AgentStatus::kInactive);
  ASSERT_TRUE(registry->SetStatus(agent_id, AgentStatus::kActive).ok());  // reactivation revives nothing
  EXPECT_EQ(FailureOf(old_secret), AuthFailure::kRevoked);
  EXPECT_EQ(FailureOf(next), AuthFailure::kRevoked);
  EXPECT_EQ(AgentTokens(false), 0u);
}

}  // namespace
}  // namespace keyhole::coord
