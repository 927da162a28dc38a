// The crash-safe rotation against a coordinator that applies the real token rules: a crash after
// every step, with and without the grace period running out before the restart, and a failed write
// at every step, always leave the agent with a token the coordinator accepts.
#include "agent/activation/token_rotation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "shared/token/token_codec.h"
#include "tests/unit/agent/agent_fakes.h"

namespace keyhole::agent {
namespace {

using namespace std::chrono_literals;
using testing::AgentFakes;

struct Crash {
  std::string at;
};

// The coordinator's grace period is the default, 600 s.
class AgentTokenRotationTest : public ::testing::Test, protected AgentFakes {
 protected:
  void SetUp() override { ASSERT_TRUE(store_.Save(ActivatedState()).ok()); }
  AgentState Disk() {
    auto loaded = store_.Load();
    EXPECT_TRUE(loaded.ok() && loaded->has_value());
    return **loaded;
  }
  // What a restarted agent does: resolve a pending rotation, then heartbeat.
  Status Restart() {
    AgentState s = Disk();
    TokenRotation rotation(coordinator_, store_, clock_);
    if (s.pending_token) {
      if (Status r = rotation.ResolvePending(s); !r.ok()) return r;
    }
    return coordinator_.Heartbeat(s.token, {}).status();
  }

  StateStore store_{fs_, "/var/lib/keyhole-agent"};
};

TEST_F(AgentTokenRotationTest, RotatesAndTheOldTokenRetiresOnFirstUse) {
  AgentState s = Disk();
  const std::string old = s.token;
  clock_.Advance(std::chrono::hours(24 * 7));
  TokenRotation rotation(coordinator_, store_, clock_);
  EXPECT_TRUE(rotation.Due(s, std::chrono::hours(24 * 7)));
  ASSERT_TRUE(rotation.Rotate(s).ok());
  EXPECT_NE(s.token, old);
  EXPECT_FALSE(s.pending_token);
  EXPECT_EQ(s.token_id, coordinator_.tokens[s.token].id);
  EXPECT_EQ(s.token_issued, clock_.Now());
  EXPECT_FALSE(rotation.Due(s, std::chrono::hours(24 * 7)));
  EXPECT_EQ(Disk(), s);
  EXPECT_TRUE(coordinator_.Accepts(old));  // until the new one is used
  ASSERT_TRUE(coordinator_.Heartbeat(s.token, {}).ok());
  EXPECT_FALSE(coordinator_.Accepts(old));
  EXPECT_EQ(coordinator_.ValidTokens(), 1u);
}

TEST_F(AgentTokenRotationTest, ACrashAfterAnyStepNeverLocksTheAgentOut) {
  for (const char* point : {"after_pending_saved", "after_rotate_sent", "after_rotate_answered", "after_state_saved"}) {
    for (bool past_grace : {false, true}) {
      SCOPED_TRACE(std::string(point) + (past_grace ? ", restarted after the grace period" : ""));
      AgentState s = Disk();
      TokenRotation rotation(coordinator_, store_, clock_, [point](std::string_view at) {
        if (at == point) throw Crash{std::string(at)};
      });
      EXPECT_THROW(rotation.Rotate(s), Crash);
      if (past_grace) clock_.Advance(601s);
      Status restarted = Restart();
      ASSERT_TRUE(restarted.ok()) << restarted.message();
      AgentState after = Disk();
      EXPECT_FALSE(after.pending_token);
      EXPECT_TRUE(coordinator_.Accepts(after.token));
      // And the next scheduled rotation works from there.
      TokenRotation next(coordinator_, store_, clock_);
      ASSERT_TRUE(next.Rotate(after).ok());
      ASSERT_TRUE(coordinator_.Heartbeat(after.token, {}).ok());
      EXPECT_EQ(coordinator_.ValidTokens(), 1u);
    }
  }
}

TEST_F(AgentTokenRotationTest, ACrashDuringTheResolutionIsResolvedToo) {
  AgentState s = Disk();
  TokenRotation crash_at_send(coordinator_, store_, clock_, [](std::string_view at) {
    if (at == "after_rotate_sent") throw Crash{};
  });
  EXPECT_THROW(crash_at_send.Rotate(s), Crash);
  // The restart crashes again in the same place, then the grace period passes.
  AgentState again = Disk();
  ASSERT_TRUE(again.pending_token);
  EXPECT_THROW(crash_at_send.ResolvePending(again), Crash);
  clock_.Advance(601s);
  ASSERT_TRUE(Restart().ok());
  EXPECT_TRUE(coordinator_.Accepts(Disk().token));
}

TEST_F(AgentTokenRotationTest, AFailedWriteAtAnyStepLeavesAWorkingToken) {
  for (int failing_write : {1, 2}) {
    for (bool past_grace : {false, true}) {
      SCOPED_TRACE("write " + std::to_string(failing_write) + (past_grace ? ", after the grace period" : ""));
      AgentState s = Disk();
      fs_.writes = 0;
      fs_.fail_write_number = failing_write;
      Status r = TokenRotation(coordinator_, store_, clock_).Rotate(s);
      fs_.fail_write_number = -1;
      EXPECT_FALSE(r.ok());
      EXPECT_THAT(r.message(), ::testing::HasSubstr("No space left"));
      EXPECT_EQ(Disk(), s);  // memory and disk agree
      if (past_grace) clock_.Advance(601s);
      Status restarted = Restart();
      ASSERT_TRUE(restarted.ok()) << restarted.message();
      EXPECT_TRUE(coordinator_.Accepts(Disk().token));
    }
  }
}

TEST_F(AgentTokenRotationTest, UnreachableCoordinatorKeepsThePendingSecretForTheNextAttempt) {
  AgentState s = Disk();
  coordinator_.network_down = true;
  Status r = TokenRotation(coordinator_, store_, clock_).Rotate(s);
  EXPECT_EQ(r.code(), StatusCode::kUnavailable);
  ASSERT_TRUE(s.pending_token);
  const std::string pending = *s.pending_token;
  EXPECT_EQ(Disk(), s);
  coordinator_.network_down = false;
  ASSERT_TRUE(TokenRotation(coordinator_, store_, clock_).Rotate(s).ok());  // the same secret, not a new one
  EXPECT_EQ(s.token, pending);
}

TEST_F(AgentTokenRotationTest, ADeactivatedAgentIsRefusedAndKeepsItsPendingToken) {
  AgentState s = Disk();
  coordinator_.agent_active = false;
  Status r = TokenRotation(coordinator_, store_, clock_).Rotate(s);
  EXPECT_EQ(r.code(), StatusCode::kUnauthenticated);
  EXPECT_TRUE(Disk().pending_token);
  coordinator_.agent_active = true;  // reactivated by an admin
  ASSERT_TRUE(Restart().ok());
  EXPECT_FALSE(Disk().pending_token);
}

// Regression: a pending token superseded by another rotation from the same current token (a
// second rotator, e.g. `keyhole-agent rotate` beside the daemon) got 400 "already in use" for ever
// while the current token's grace period ran out, and the agent was locked out.
TEST_F(AgentTokenRotationTest, ASupersededPendingTokenIsReplacedWhileTheCurrentOneWorks) {
  AgentState s = Disk();
  TokenRotation crash_at_send(coordinator_, store_, clock_, [](std::string_view at) {
    if (at == "after_rotate_sent") throw Crash{};
  });
  EXPECT_THROW(crash_at_send.Rotate(s), Crash);
  AgentState stale = Disk();
  ASSERT_TRUE(stale.pending_token);
  // Another rotation from the same current token supersedes the pending one.
  ASSERT_TRUE(coordinator_.Rotate(stale.token, TokenCodec::Generate(TokenKind::kAgent)).ok());
  ASSERT_FALSE(coordinator_.Accepts(*stale.pending_token));

  coordinator_.calls.clear();
  Status r = TokenRotation(coordinator_, store_, clock_).ResolvePending(stale);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(coordinator_.calls, (std::vector<std::string>{"rotate", "me", "me", "rotate"}));
  AgentState after = Disk();
  EXPECT_EQ(after, stale);
  EXPECT_FALSE(after.pending_token);
  EXPECT_NE(after.token, *s.pending_token);
  EXPECT_EQ(after.token_id, coordinator_.tokens[after.token].id);
  clock_.Advance(601s);  // past the old token's grace period
  EXPECT_TRUE(coordinator_.Accepts(after.token));
  ASSERT_TRUE(coordinator_.Heartbeat(after.token, {}).ok());
}

// Answers every rotation 400, as a coordinator would that never takes the agent's secret.
class RefusingRotations final : public CoordinatorClient {
 public:
  explicit RefusingRotations(CoordinatorClient& to) : to_(to) {}
  StatusOr<ActivationGrant> Activate(const std::string& c, const std::string& n, const HostInfo& h) override {
    return to_.Activate(c, n, h);
  }
  StatusOr<AgentView> Me(const std::string& t) override { return to_.Me(t); }
  StatusOr<AgentView> Heartbeat(const std::string& t, const HostInfo& h) override { return to_.Heartbeat(t, h); }
  StatusOr<std::string> Rotate(const std::string&, const std::string&) override {
    ++rotations;
    return InvalidArgumentError("E0000001 Api validation failed: token: already in use (HTTP 400)");
  }
  StatusOr<AgentView> DeactivateSelf(const std::string& t) override { return to_.DeactivateSelf(t); }
  int rotations = 0;

 private:
  CoordinatorClient& to_;
};

TEST_F(AgentTokenRotationTest, ANewPendingTokenIsDrawnOncePerAttempt) {
  AgentState s = Disk();
  RefusingRotations refusing(coordinator_);
  Status r = TokenRotation(refusing, store_, clock_).Rotate(s);
  EXPECT_EQ(r.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(refusing.rotations, 2);  // the first secret, then one new one: no loop
  ASSERT_TRUE(s.pending_token);
  EXPECT_EQ(Disk(), s);  // the new secret is saved, for the next attempt
  EXPECT_TRUE(coordinator_.Accepts(s.token));
}

TEST_F(AgentTokenRotationTest, A400WithTheCurrentTokenRefusedKeepsThePendingToken) {
  AgentState s = Disk();
  s.pending_token = TokenCodec::Generate(TokenKind::kAgent);
  ASSERT_TRUE(store_.Save(s).ok());
  RefusingRotations refusing(coordinator_);
  coordinator_.agent_active = false;  // every token refused: nothing to gain from a new secret
  Status r = TokenRotation(refusing, store_, clock_).ResolvePending(s);
  EXPECT_EQ(r.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(refusing.rotations, 1);
  EXPECT_EQ(Disk(), s);
}

}  // namespace
}  // namespace keyhole::agent
