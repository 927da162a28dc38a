// Activation checks the coordinator's answer before writing anything: the token must be an agent
// token and the ids plain short strings; otherwise it fails clearly and writes no state.
#include "agent/activation/activation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "shared/token/token_codec.h"
#include "tests/unit/agent/agent_fakes.h"

namespace keyhole::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::FakeClock;
using testing::FakeFileSystem;

// Answers activation with whatever the test puts in `grant`.
class ScriptedActivation final : public CoordinatorClient {
 public:
  StatusOr<ActivationGrant> Activate(const std::string&, const std::string&, const HostInfo&) override { return grant; }
  StatusOr<AgentView> Me(const std::string&) override { return UnavailableError("not scripted"); }
  StatusOr<AgentView> Heartbeat(const std::string&, const HostInfo&) override { return UnavailableError("not scripted"); }
  StatusOr<std::string> Rotate(const std::string&, const std::string&) override { return UnavailableError("not scripted"); }
  StatusOr<AgentView> DeactivateSelf(const std::string&) override { return UnavailableError("not scripted"); }

  ActivationGrant grant;
};

class ActivationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_.grant.agent = AgentView{.id = "ajd1a2B3_c-4", .pool_id = "0oaPool1"};
    client_.grant.token = TokenCodec::Generate(TokenKind::kAgent);
    client_.grant.token_id = "00T1";
  }
  StatusOr<AgentState> Activate() {
    return Activation(store_, clock_).Activate(client_, {.coordinator = "https://kh.test", .code = "khc_x", .name = "n"}, {});
  }

  FakeClock clock_;
  FakeFileSystem fs_;
  StateStore store_{fs_, "/state"};
  ScriptedActivation client_;
};

TEST_F(ActivationTest, AWellFormedAnswerIsSaved) {
  auto state = Activate();
  ASSERT_TRUE(state.ok()) << state.status().message();
  EXPECT_EQ(state->agent_id, "ajd1a2B3_c-4");
  EXPECT_TRUE(store_.Exists());
}

TEST_F(ActivationTest, AnUnusableAnswerWritesNoState) {
  const std::string max_id(Activation::kMaxIdLength, 'a');
  struct Case {
    const char* what;
    std::function<void(ActivationGrant&)> spoil;
    const char* message;
  } cases[] = {
      {"a user token", [](ActivationGrant& g) { g.token = TokenCodec::Generate(TokenKind::kUser); }, "not an agent token"},
      {"an activation code", [](ActivationGrant& g) { g.token = TokenCodec::Generate(TokenKind::kActivationCode); },
       "not an agent token"},
      {"a malformed token", [](ActivationGrant& g) { g.token = "kha_short"; }, "not an agent token"},
      {"no agent id", [](ActivationGrant& g) { g.agent.id = ""; }, "the agent id is not a plain id"},
      {"an agent id with an escape", [](ActivationGrant& g) { g.agent.id = "ajd\x1b[2J"; }, "the agent id is not a plain id"},
      {"an agent id with a slash", [](ActivationGrant& g) { g.agent.id = "../ajd"; }, "the agent id is not a plain id"},
      {"a long agent id", [&max_id](ActivationGrant& g) { g.agent.id = max_id + "a"; }, "the agent id is not a plain id"},
      {"no pool id", [](ActivationGrant& g) { g.agent.pool_id = ""; }, "the pool id is not a plain id"},
      {"a pool id with a space", [](ActivationGrant& g) { g.agent.pool_id = "0oa 1"; }, "the pool id is not a plain id"},
      {"a token id with a newline", [](ActivationGrant& g) { g.token_id = "00T\n1"; }, "the token id is not a plain id"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    SetUp();
    c.spoil(client_.grant);
    auto state = Activate();
    ASSERT_FALSE(state.ok());
    EXPECT_EQ(state.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(state.status().message(), HasSubstr("the coordinator's activation answer is not usable"));
    EXPECT_THAT(state.status().message(), HasSubstr(c.message));
    EXPECT_THAT(state.status().message(), HasSubstr("no state was written"));
    EXPECT_THAT(state.status().message(), Not(HasSubstr("\x1b")));
    EXPECT_FALSE(store_.Exists());
  }
  // The longest plain id is fine.
  SetUp();
  client_.grant.agent.id = max_id;
  EXPECT_TRUE(Activate().ok());
}

}  // namespace
}  // namespace keyhole::agent
