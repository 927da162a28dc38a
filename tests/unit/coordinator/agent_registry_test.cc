// AgentRegistry over a real SQLite store: pools, one-time activation codes, activation, the
// agents' lifecycle and heartbeats, and the owner gate it gives the token service.
#include "coordinator/agents/agent_registry.h"

#include <gtest/gtest.h>

#include "tests/support/coordinator_services.h"

namespace keyhole::coord {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

// Reopen() is a fresh stack over the same database, as after a restart.
class AgentRegistryTest : public ::testing::Test, protected testing::CoordinatorServices {
 protected:
  void SetUp() override { Reopen(); }

  AgentPoolRecord NewPool(const std::string& name = "dc-eu", AgentType type = AgentType::kAD) {
    auto p = registry->CreatePool(name, type, "00uadmin");
    EXPECT_TRUE(p.ok()) << p.status().message();
    return p.ok() ? *p : AgentPoolRecord{};
  }

  NewActivationCode NewCode(const std::string& pool_id, std::optional<std::chrono::milliseconds> lifetime = {}) {
    auto c = registry->CreateCode(pool_id, lifetime, "00uadmin");
    EXPECT_TRUE(c.ok()) << c.status().message();
    return c.ok() ? *c : NewActivationCode{};
  }

  Activation Activate(const std::string& pool_id, const std::string& name = "dc-eu1-01") {
    NewActivationCode code = NewCode(pool_id);
    auto a = registry->Activate(code.code, {name, name + ".corp.example", "0.1.0", "Debian GNU/Linux 12"}, *tokens);
    EXPECT_TRUE(a.ok()) << a.status().message();
    return a.ok() ? *a : Activation{};
  }
};

// ---- pools ----

TEST_F(AgentRegistryTest, PoolCreateRenameDelete) {
  AgentPoolRecord a = NewPool("a", AgentType::kAD);
  AgentPoolRecord b = NewPool("b", AgentType::kLDAP);
  EXPECT_EQ(a.id.substr(0, 3), "0oa");
  EXPECT_NE(a.id, b.id);
  EXPECT_LT(a.seq, b.seq);
  EXPECT_EQ(a.created_by, "00uadmin");
  ASSERT_EQ(registry->Pools().size(), 2u);
  EXPECT_EQ(registry->Pools()[0].id, a.id);  // creation order

  clock.Advance(minutes(1));
  auto renamed = registry->RenamePool(a.id, "a2");
  ASSERT_TRUE(renamed.ok());
  EXPECT_EQ(renamed->name, "a2");
  EXPECT_EQ(renamed->type, AgentType::kAD);
  EXPECT_EQ(renamed->last_updated, clock.Now());
  EXPECT_EQ(registry->GetPool(a.id)->name, "a2");
  EXPECT_EQ(registry->RenamePool("0oanope", "x").status().code(), StatusCode::kNotFound);

  ASSERT_TRUE(registry->DeletePool(b.id).ok());
  EXPECT_FALSE(registry->GetPool(b.id).has_value());
  EXPECT_EQ(registry->DeletePool(b.id).code(), StatusCode::kNotFound);

  Reopen();
  ASSERT_EQ(registry->Pools().size(), 1u);
  EXPECT_EQ(registry->GetPool(a.id)->name, "a2");
  EXPECT_EQ(registry->GetPool(a.id)->type, AgentType::kAD);
}

TEST_F(AgentRegistryTest, PoolWithAgentsCannotBeDeleted) {
  AgentPoolRecord p = NewPool();
  Activation a = Activate(p.id);
  EXPECT_EQ(registry->DeletePool(p.id).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(registry->GetPool(p.id).has_value());
  ASSERT_TRUE(registry->SetStatus(a.agent.id, AgentStatus::kInactive).ok());
  ASSERT_TRUE(registry->Delete(a.agent.id, *tokens).ok());
  EXPECT_TRUE(registry->DeletePool(p.id).ok());
}

TEST_F(AgentRegistryTest, DeletingAPoolDropsItsCodes) {
  AgentPoolRecord p = NewPool();
  NewActivationCode code = NewCode(p.id);
  ASSERT_EQ(registry->CodesOf(p.id).size(), 1u);
  ASSERT_TRUE(registry->DeletePool(p.id).ok());
  EXPECT_TRUE(registry->CodesOf(p.id).empty());
  EXPECT_EQ(registry->Activate(code.code, {"x", "", "", ""}, *tokens).status().code(), StatusCode::kUnauthenticated);
  Reopen();
  EXPECT_TRUE(registry->CodesOf(p.id).empty());
  EXPECT_EQ(registry->Activate(code.code, {"x", "", "", ""}, *tokens).status().code(), StatusCode::kUnauthenticated);
}

// ---- activation codes ----

TEST_F(AgentRegistryTest, CodeLifetimeDefaultAndExplicit) {
  AgentPoolRecord p = NewPool();
  NewActivationCode def = NewCode(p.id);
  EXPECT_EQ(def.record.expires_at, clock.Now() + hours(24));
  EXPECT_EQ(def.record.id.substr(0, 3), "kac");
  EXPECT_EQ(TokenCodec::Parse(def.code), TokenKind::kActivationCode);
  EXPECT_EQ(def.record.digest, TokenCodec::Digest(def.code));
  NewActivationCode explicit_lifetime = NewCode(p.id, minutes(90));
  EXPECT_EQ(explicit_lifetime.record.expires_at, clock.Now() + minutes(90));
  registry->SetOptions({.code_lifetime = hours(2)});
  EXPECT_EQ(NewCode(p.id).record.expires_at, clock.Now() + hours(2));
  EXPECT_EQ(registry->CreateCode("0oanope", {}, "00uadmin").status().code(), StatusCode::kNotFound);
}

TEST_F(AgentRegistryTest, CodesAreListedWithStatusButNeverWithTheSecret) {
  AgentPoolRecord p = NewPool();
  NewActivationCode active = NewCode(p.id);
  NewActivationCode short_lived = NewCode(p.id, minutes(5));
  NewActivationCode revoked = NewCode(p.id);
  ASSERT_TRUE(registry->RevokeCode(p.id, revoked.record.id).ok());
  clock.Advance(minutes(6));
  std::vector<ActivationCodeRecord> codes = registry->CodesOf(p.id);
  ASSERT_EQ(codes.size(), 3u);
  EXPECT_EQ(codes[0].id, active.record.id);
  EXPECT_EQ(registry->CodeStatus(codes[0]), ActivationCodeStatus::kActive);
  EXPECT_EQ(registry->CodeStatus(codes[1]), ActivationCodeStatus::kExpired);
  EXPECT_EQ(registry->CodeStatus(codes[2]), ActivationCodeStatus::kRevoked);
  // Another pool's list is its own.
  EXPECT_TRUE(registry->CodesOf(NewPool("other").id).empty());
}

TEST_F(AgentRegistryTest, RevokingACode) {
  AgentPoolRecord p = NewPool(), other = NewPool("other");
  NewActivationCode code = NewCode(p.id);
  // Only in its own pool.
  EXPECT_EQ(registry->RevokeCode(other.id, code.record.id).status().code(), StatusCode::kNotFound);
  auto revoked = registry->RevokeCode(p.id, code.record.id);
  ASSERT_TRUE(revoked.ok());
  EXPECT_EQ(revoked->revoked_at, clock.Now());
  // Twice: not found, as Okta answers for a revoked thing.
  EXPECT_EQ(registry->RevokeCode(p.id, code.record.id).status().code(), StatusCode::kNotFound);
  // A used code cannot be revoked.
  NewActivationCode used = NewCode(p.id);
  ASSERT_TRUE(registry->Activate(used.code, {"a", "", "", ""}, *tokens).ok());
  EXPECT_EQ(registry->RevokeCode(p.id, used.record.id).status().code(), StatusCode::kNotFound);
  Reopen();
  EXPECT_EQ(registry->CodeStatus(registry->CodesOf(p.id)[0]), ActivationCodeStatus::kRevoked);
  EXPECT_EQ(registry->CodeStatus(registry->CodesOf(p.id)[1]), ActivationCodeStatus::kUsed);
}

// ---- activation ----

TEST_F(AgentRegistryTest, ActivationCreatesAnActiveAgentWithAWorkingToken) {
  AgentPoolRecord p = NewPool();
  NewActivationCode code = NewCode(p.id);
  clock.Advance(minutes(3));
  auto a = registry->Activate(code.code, {"dc-eu1-01", "dc-eu1-01.corp.example", "0.1.0", "Debian"}, *tokens);
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->agent.id.substr(0, 3), "ajd");
  EXPECT_EQ(a->agent.pool_id, p.id);
  EXPECT_EQ(a->agent.status, AgentStatus::kActive);
  EXPECT_EQ(a->agent.name, "dc-eu1-01");
  EXPECT_EQ(a->agent.host, "dc-eu1-01.corp.example");
  EXPECT_EQ(a->agent.activated, clock.Now());
  EXPECT_EQ(a->token.record.owner_kind, OwnerKind::kAgent);
  EXPECT_EQ(a->token.record.owner_id, a->agent.id);
  EXPECT_EQ(TokenCodec::Parse(a->token.secret), TokenKind::kAgent);

  auto principal = tokens->Authenticate(a->token.secret);
  ASSERT_TRUE(principal.ok());
  EXPECT_EQ(principal->kind, OwnerKind::kAgent);
  EXPECT_EQ(principal->owner_id, a->agent.id);
  EXPECT_FALSE(principal->super_admin);

  ActivationCodeRecord spent = registry->CodesOf(p.id)[0];
  EXPECT_EQ(registry->CodeStatus(spent), ActivationCodeStatus::kUsed);
  EXPECT_EQ(spent.agent_id, a->agent.id);
  ASSERT_EQ(registry->AgentsOf(p.id).size(), 1u);
  EXPECT_EQ(registry->GetAgent(a->agent.id)->name, "dc-eu1-01");
}

TEST_F(AgentRegistryTest, EveryBadCodeIsRefusedTheSameWay) {
  AgentPoolRecord p = NewPool();
  NewActivationCode used = NewCode(p.id);
  ASSERT_TRUE(registry->Activate(used.code, {"a", "", "", ""}, *tokens).ok());
  NewActivationCode revoked = NewCode(p.id);
  ASSERT_TRUE(registry->RevokeCode(p.id, revoked.record.id).ok());
  NewActivationCode expiring = NewCode(p.id);
  clock.Advance(hours(25));
  std::string wrong_checksum = NewCode(p.id).code;
  wrong_checksum.back() = wrong_checksum.back() == 'a' ? 'b' : 'a';
  const std::vector<std::string> bad = {
      used.code,                                           // the same code again
      expiring.code,                                       // past its 24 hours
      revoked.code,                                        // revoked
      TokenCodec::Generate(TokenKind::kActivationCode),    // well-formed, unknown
      TokenCodec::Generate(TokenKind::kUser),              // a user's token
      TokenCodec::Generate(TokenKind::kAgent),             // an agent's token
      wrong_checksum,
      "garbage",
      "",
  };
  const Status first = registry->Activate(bad[0], {"x", "", "", ""}, *tokens).status();
  EXPECT_EQ(first.code(), StatusCode::kUnauthenticated);
  for (const std::string& code : bad) {
    Status s = registry->Activate(code, {"x", "", "", ""}, *tokens).status();
    EXPECT_EQ(s.code(), StatusCode::kUnauthenticated) << code;
    EXPECT_EQ(s.message(), first.message()) << code;
  }
  EXPECT_EQ(registry->AgentsOf(p.id).size(), 1u);  // only the first activation made an agent
  EXPECT_EQ(tokens->List({.limit = 100}).tokens.size(), 1u);
}

TEST_F(AgentRegistryTest, UsedCodeStaysUsedAfterAReopen) {
  AgentPoolRecord p = NewPool();
  NewActivationCode code = NewCode(p.id);
  ASSERT_TRUE(registry->Activate(code.code, {"a", "", "", ""}, *tokens).ok());
  Reopen();
  EXPECT_EQ(registry->Activate(code.code, {"b", "", "", ""}, *tokens).status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(registry->AgentsOf(p.id).size(), 1u);
}

// ---- lifecycle ----

TEST_F(AgentRegistryTest, DeactivatedAgentsTokenIsRefusedUntilReactivated) {
  Activation a = Activate(NewPool().id);
  ASSERT_TRUE(tokens->Authenticate(a.token.secret).ok());
  auto off = registry->SetStatus(a.agent.id, AgentStatus::kInactive);
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->status, AgentStatus::kInactive);
  EXPECT_EQ(registry->SetStatus(a.agent.id, AgentStatus::kInactive).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(FailureOf(a.token.secret), AuthFailure::kOwnerInactive);
  Reopen();  // the status is durable
  EXPECT_EQ(FailureOf(a.token.secret), AuthFailure::kOwnerInactive);
  clock.Advance(hours(24 * 10));
  ASSERT_TRUE(registry->SetStatus(a.agent.id, AgentStatus::kActive).ok());
  EXPECT_EQ(registry->SetStatus(a.agent.id, AgentStatus::kActive).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(tokens->Authenticate(a.token.secret).ok());  // the same token
  EXPECT_EQ(registry->SetStatus("ajdnope", AgentStatus::kActive).status().code(), StatusCode::kNotFound);
}

TEST_F(AgentRegistryTest, AgentTokensFollowTheUsersTokenPolicy) {
  Activation a = Activate(NewPool().id);
  Activation idle = Activate(registry->Pools()[0].id, "idle");
  for (int i = 0; i < 3; ++i) {
    clock.Advance(hours(24 * 20));
    ASSERT_TRUE(tokens->Authenticate(a.token.secret).ok()) << i;  // every use slides the window
  }
  EXPECT_EQ(FailureOf(idle.token.secret), AuthFailure::kExpired);  // 60 idle days
  EXPECT_EQ(FailureOf(idle.token.secret), AuthFailure::kRevoked);  // for good
}

TEST_F(AgentRegistryTest, DeleteRequiresInactiveAndRevokesTokens) {
  AgentPoolRecord p = NewPool();
  Activation a = Activate(p.id);
  Activation b = Activate(p.id, "other");
  EXPECT_EQ(registry->Delete(a.agent.id, *tokens).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(tokens->Authenticate(a.token.secret).ok());
  ASSERT_TRUE(registry->SetStatus(a.agent.id, AgentStatus::kInactive).ok());
  ASSERT_TRUE(registry->Delete(a.agent.id, *tokens).ok());
  EXPECT_FALSE(registry->GetAgent(a.agent.id).has_value());
  EXPECT_EQ(FailureOf(a.token.secret), AuthFailure::kRevoked);
  EXPECT_EQ(registry->Delete(a.agent.id, *tokens).code(), StatusCode::kNotFound);
  EXPECT_TRUE(tokens->Authenticate(b.token.secret).ok());  // only its own tokens
  Reopen();
  EXPECT_FALSE(registry->GetAgent(a.agent.id).has_value());
  EXPECT_EQ(FailureOf(a.token.secret), AuthFailure::kRevoked);
  TokenPage all = tokens->List({.owner_id = a.agent.id, .include_revoked = true});
  ASSERT_EQ(all.tokens.size(), 1u);
  EXPECT_EQ(all.tokens[0].revoked_reason, kRevokedOwnerDeleted);
  EXPECT_TRUE(tokens->Authenticate(b.token.secret).ok());
}

// ---- heartbeats and health ----

TEST_F(AgentRegistryTest, HeartbeatIsFlushedAndSurvivesAReopen) {
  Activation a = Activate(NewPool().id);
  EXPECT_EQ(a.agent.last_connection_ms, ToEpochMillis(clock.Now()));
  clock.Advance(seconds(45));
  auto hb = registry->Heartbeat(a.agent.id, {});
  ASSERT_TRUE(hb.ok());
  const int64_t expected = ToEpochMillis(clock.Now());
  EXPECT_EQ(hb->last_connection_ms, expected);
  EXPECT_EQ(registry->GetAgent(a.agent.id)->last_connection_ms, expected);
  auto flushed = registry->FlushConnections();
  ASSERT_TRUE(flushed.ok());
  EXPECT_EQ(*flushed, 1u);
  EXPECT_EQ(*registry->FlushConnections(), 0u);
  Reopen();
  EXPECT_EQ(registry->GetAgent(a.agent.id)->last_connection_ms, expected);
}

TEST_F(AgentRegistryTest, HeartbeatUpdatesWhatTheAgentReports) {
  Activation a = Activate(NewPool().id);
  auto hb = registry->Heartbeat(a.agent.id, {"ignored", "new-host", "0.2.0", ""});
  ASSERT_TRUE(hb.ok());
  EXPECT_EQ(hb->host, "new-host");
  EXPECT_EQ(hb->version, "0.2.0");
  EXPECT_EQ(hb->os, "Debian GNU/Linux 12");  // empty: unchanged
  EXPECT_EQ(hb->name, "dc-eu1-01");          // a heartbeat does not rename
  Reopen();
  EXPECT_EQ(registry->GetAgent(a.agent.id)->version, "0.2.0");
  EXPECT_EQ(registry->Heartbeat("ajdnope", {}).status().code(), StatusCode::kNotFound);
}

TEST_F(AgentRegistryTest, OperationalStatusFollowsHeartbeatsAndStatus) {
  Activation a = Activate(NewPool().id);
  auto status = [&] { return std::string(registry->OperationalStatus(*registry->GetAgent(a.agent.id))); };
  EXPECT_EQ(status(), "OPERATIONAL");
  clock.Advance(seconds(90));  // exactly 3 intervals of 30 s
  EXPECT_EQ(status(), "OPERATIONAL");
  clock.Advance(seconds(1));
  EXPECT_EQ(status(), "DISRUPTED");
  ASSERT_TRUE(registry->Heartbeat(a.agent.id, {}).ok());
  EXPECT_EQ(status(), "OPERATIONAL");
  ASSERT_TRUE(registry->SetStatus(a.agent.id, AgentStatus::kInactive).ok());
  EXPECT_EQ(status(), "INACTIVE");
  // A longer interval is configurable.
  ASSERT_TRUE(registry->SetStatus(a.agent.id, AgentStatus::kActive).ok());
  registry->SetOptions({.heartbeat_interval = seconds(60)});
  clock.Advance(seconds(150));
  EXPECT_EQ(status(), "OPERATIONAL");
  clock.Advance(seconds(31));
  EXPECT_EQ(status(), "DISRUPTED");
}

TEST_F(AgentRegistryTest, PoolHealthCountsItsAgents) {
  AgentPoolRecord p = NewPool();
  EXPECT_STREQ(registry->HealthOf({}).operational_status, "DISRUPTED");  // no agents
  Activation fresh = Activate(p.id, "fresh");
  Activation stale = Activate(p.id, "stale");
  Activation off = Activate(p.id, "off");
  ASSERT_TRUE(registry->SetStatus(off.agent.id, AgentStatus::kInactive).ok());
  clock.Advance(seconds(100));
  ASSERT_TRUE(registry->Heartbeat(fresh.agent.id, {}).ok());
  AgentRegistry::PoolHealth h = registry->HealthOf(registry->AgentsOf(p.id));
  EXPECT_STREQ(h.operational_status, "DEGRADED");
  EXPECT_EQ(h.disrupted, 1);
  EXPECT_EQ(h.inactive, 1);
  ASSERT_TRUE(registry->Heartbeat(stale.agent.id, {}).ok());
  h = registry->HealthOf(registry->AgentsOf(p.id));
  EXPECT_STREQ(h.operational_status, "OPERATIONAL");
  EXPECT_EQ(h.disrupted, 0);
  EXPECT_EQ(h.inactive, 1);
  clock.Advance(seconds(100));
  h = registry->HealthOf(registry->AgentsOf(p.id));
  EXPECT_STREQ(h.operational_status, "DISRUPTED");
  EXPECT_EQ(h.disrupted, 2);
}

TEST_F(AgentRegistryTest, EverythingSurvivesAReopen) {
  AgentPoolRecord p = NewPool("pool", AgentType::kLDAP);
  Activation a = Activate(p.id, "one");
  Activation b = Activate(p.id, "two");
  NewActivationCode unused = NewCode(p.id);
  ASSERT_TRUE(registry->SetStatus(b.agent.id, AgentStatus::kInactive).ok());
  Reopen();
  ASSERT_EQ(registry->Pools().size(), 1u);
  EXPECT_EQ(registry->GetPool(p.id)->type, AgentType::kLDAP);
  std::vector<AgentRecord> agents = registry->AgentsOf(p.id);
  ASSERT_EQ(agents.size(), 2u);
  EXPECT_EQ(agents[0].id, a.agent.id);  // activation order
  EXPECT_EQ(agents[0].status, AgentStatus::kActive);
  EXPECT_EQ(agents[0].host, "one.corp.example");
  EXPECT_EQ(agents[0].activated, a.agent.activated);
  EXPECT_EQ(agents[1].status, AgentStatus::kInactive);
  EXPECT_EQ(registry->CodesOf(p.id).size(), 3u);
  EXPECT_TRUE(tokens->Authenticate(a.token.secret).ok());
  EXPECT_EQ(FailureOf(b.token.secret), AuthFailure::kOwnerInactive);
  // The unused code still works after the restart.
  auto c = registry->Activate(unused.code, {"three", "", "", ""}, *tokens);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(tokens->Authenticate(c->token.secret).ok());
}

TEST_F(AgentRegistryTest, AnswersOnlyForAgents) {
  Activation a = Activate(NewPool().id);
  auto info = registry->LookupOwner(OwnerKind::kAgent, a.agent.id);
  ASSERT_TRUE(info.has_value());
  EXPECT_TRUE(info->active);
  EXPECT_FALSE(info->super_admin);
  EXPECT_FALSE(registry->LookupOwner(OwnerKind::kUser, a.agent.id).has_value());
  EXPECT_FALSE(registry->LookupOwner(OwnerKind::kAgent, "ajdnope").has_value());
}

}  // namespace
}  // namespace keyhole::coord
