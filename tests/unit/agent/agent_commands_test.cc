// activate, status, rotate and deactivate against the fake coordinator and file system: where the
// code comes from, refusals, the state written, what status shows (never the token) and its exit
// codes, and deactivation that removes the state even when the coordinator cannot be told.
#include "agent/cli/agent_commands.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "agent/state/state_store.h"
#include "tests/unit/agent/agent_fakes.h"

namespace keyhole::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::FakeClock;
using testing::FakeCoordinator;
using testing::FakeFileSystem;
using testing::ForwardingCoordinator;

class AgentCommandsTest : public ::testing::Test {
 protected:
  CommandContext Context() {
    out_.str("");
    err_.str("");
    return CommandContext{
        .fs = fs_,
        .clock = clock_,
        .out = out_,
        .err = err_,
        .getenv = [this](const std::string& name) -> std::optional<std::string> {
          auto it = env_.find(name);
          if (it == env_.end()) return std::nullopt;
          return it->second;
        },
        .read_stdin = [this] { return stdin_; },
        .connect = [this](const std::string& url, const TrustAnchor& trust)
            -> StatusOr<std::unique_ptr<CoordinatorClient>> {
          connected_url_ = url;
          connected_trust_ = trust;
          return std::unique_ptr<CoordinatorClient>(new ForwardingCoordinator(coordinator_));
        },
        .host = {.host = "dc-eu1-01", .version = "0.1.0", .os = "Debian GNU/Linux 12"},
    };
  }
  int Activate(ActivateOptions o) {
    auto ctx = Context();
    return AgentCommands(ctx, common_).Activate(o);
  }
  int Status(bool json = false) {
    auto ctx = Context();
    return AgentCommands(ctx, common_).Status(json);
  }
  std::optional<AgentState> Disk() { return *StateStore(fs_, "/state").Load(); }

  FakeClock clock_;
  FakeCoordinator coordinator_{clock_};
  FakeFileSystem fs_;
  std::ostringstream out_, err_;
  std::map<std::string, std::string> env_;
  std::string stdin_;
  std::string connected_url_;
  TrustAnchor connected_trust_;
  CommonOptions common_{.state_dir = "/state", .config_path = "/etc/keyhole-agent/agent.toml"};
};

TEST_F(AgentCommandsTest, ActivatesWithTheCodeFromStandardInput) {
  stdin_ = "khc_valid\n";
  const std::string pin = "sha256:" + std::string(64, 'b');
  ASSERT_EQ(Activate({.coordinator = "https://kh.test:8443/", .code = "-", .pin = pin}), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("activated agent ajdTestAgent (dc-eu1-01) in pool 0oaTestPool"));
  EXPECT_EQ(connected_url_, "https://kh.test:8443");
  EXPECT_EQ(coordinator_.activated_name, "dc-eu1-01");
  EXPECT_EQ(coordinator_.activated_host.os, "Debian GNU/Linux 12");
  auto s = Disk();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->agent_id, "ajdTestAgent");
  EXPECT_EQ(s->coordinator, "https://kh.test:8443");
  EXPECT_EQ(s->trust.pin, pin);
  EXPECT_TRUE(coordinator_.Accepts(s->token));
  EXPECT_EQ(s->token_issued, clock_.Now());
  EXPECT_EQ(fs_.files.at("/state/state.json").mode, 0600u);
  EXPECT_THAT(out_.str(), Not(HasSubstr(s->token)));
}

TEST_F(AgentCommandsTest, CodeFromTheEnvironmentAndNameFromTheConfig) {
  env_["KEYHOLE_ACTIVATION_CODE"] = "khc_valid";
  fs_.files["/etc/keyhole-agent/agent.toml"] = {"coordinator = \"https://from-config:8443\"\nname = \"cfg-name\"\n", 0644};
  ASSERT_EQ(Activate({}), 0) << err_.str();
  EXPECT_EQ(connected_url_, "https://from-config:8443");
  EXPECT_EQ(coordinator_.activated_name, "cfg-name");
}

TEST_F(AgentCommandsTest, RefusedCodeAndExistingStateAreClearErrors) {
  ASSERT_EQ(Activate({.coordinator = "https://kh.test", .code = "khc_wrong"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("the activation code is invalid, used, revoked or expired"));
  EXPECT_FALSE(Disk());

  ASSERT_EQ(Activate({.coordinator = "https://kh.test", .code = "khc_valid"}), 0);
  coordinator_.calls.clear();
  ASSERT_EQ(Activate({.coordinator = "https://kh.test", .code = "khc_valid"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("already activated as agent ajdTestAgent"));
  EXPECT_THAT(err_.str(), HasSubstr("keyhole-agent deactivate --state-dir /state"));
  EXPECT_TRUE(coordinator_.calls.empty());  // refused before spending anything
}

TEST_F(AgentCommandsTest, UsageErrors) {
  EXPECT_EQ(Activate({.coordinator = "https://kh.test"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("no activation code"));
  EXPECT_EQ(Activate({.code = "khc_valid"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("no coordinator"));
  EXPECT_EQ(Activate({.coordinator = "https://kh.test", .code = "khc_valid", .pin = "nope"}), 2);
  EXPECT_EQ(Activate({.coordinator = "http://kh.test:80", .code = "khc_valid", .pin = "sha256:" + std::string(64, 'b')}), 2);
  EXPECT_EQ(Activate({.coordinator = "https://kh.test", .code = "khc_valid", .ca_file = "/missing.pem"}), 2);
  common_.config_given = true;
  EXPECT_EQ(Activate({.coordinator = "https://kh.test", .code = "khc_valid"}), 2);
  EXPECT_THAT(err_.str(), HasSubstr("does not exist"));
  EXPECT_TRUE(coordinator_.calls.empty());
}

TEST_F(AgentCommandsTest, StatusShowsTheCoordinatorsViewButNeverTheToken) {
  EXPECT_EQ(Status(), 3);
  EXPECT_THAT(err_.str(), HasSubstr("not activated"));
  ASSERT_EQ(Activate({.coordinator = "https://kh.test", .code = "khc_valid"}), 0);
  const std::string token = Disk()->token;
  ASSERT_EQ(Status(), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("agent:            ajdTestAgent"));
  EXPECT_THAT(out_.str(), HasSubstr("rotation pending: no"));
  EXPECT_THAT(out_.str(), HasSubstr("coordinator view: ACTIVE, OPERATIONAL"));
  EXPECT_THAT(out_.str(), Not(HasSubstr(token)));

  coordinator_.agent_active = false;
  ASSERT_EQ(Status(true), 1);
  nlohmann::json j = nlohmann::json::parse(out_.str());
  EXPECT_EQ(j["accepted"], false);
  EXPECT_EQ(j["refused"], true);
  EXPECT_THAT(j["error"].get<std::string>(), HasSubstr("401"));
  EXPECT_THAT(out_.str(), Not(HasSubstr(token)));

  coordinator_.network_down = true;
  ASSERT_EQ(Status(), 1);
  EXPECT_THAT(out_.str(), HasSubstr("coordinator view: unavailable: cannot talk to"));
}

TEST_F(AgentCommandsTest, StatusNeverResolvesAPendingRotation) {
  ASSERT_EQ(Activate({.coordinator = "https://kh.test", .code = "khc_valid"}), 0);
  AgentState s = *Disk();
  s.pending_token = TokenCodec::Generate(TokenKind::kAgent);
  ASSERT_TRUE(StateStore(fs_, "/state").Save(s).ok());
  coordinator_.calls.clear();
  ASSERT_EQ(Status(), 0);
  EXPECT_THAT(out_.str(), HasSubstr("rotation pending: yes"));
  EXPECT_EQ(coordinator_.calls, (std::vector<std::string>{"me"}));
  EXPECT_EQ(*Disk(), s);
  EXPECT_THAT(out_.str(), Not(HasSubstr(*s.pending_token)));
}

TEST_F(AgentCommandsTest, RotateNow) {
  ASSERT_EQ(Activate({.coordinator = "https://kh.test", .code = "khc_valid"}), 0);
  const std::string old = Disk()->token;
  auto ctx = Context();
  ASSERT_EQ(AgentCommands(ctx, common_).Rotate(), 0) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("rotated the token; new token id 00T2"));
  EXPECT_NE(Disk()->token, old);
  EXPECT_TRUE(coordinator_.Accepts(Disk()->token));
}

TEST_F(AgentCommandsTest, DeactivateRemovesTheStateEvenWhenTheCoordinatorCannotBeTold) {
  ASSERT_EQ(Activate({.coordinator = "https://kh.test", .code = "khc_valid"}), 0);
  auto ctx = Context();
  ASSERT_EQ(AgentCommands(ctx, common_).Deactivate(), 0) << err_.str();
  EXPECT_FALSE(Disk());
  EXPECT_FALSE(coordinator_.agent_active);

  coordinator_.agent_active = true;
  coordinator_.code_used = false;
  ASSERT_EQ(Activate({.coordinator = "https://kh.test", .code = "khc_valid"}), 0);
  coordinator_.network_down = true;
  auto ctx2 = Context();
  EXPECT_EQ(AgentCommands(ctx2, common_).Deactivate(), 1);
  EXPECT_FALSE(Disk());
  EXPECT_THAT(err_.str(), HasSubstr("removed the local state, but could not deactivate agent ajdTestAgent"));
  EXPECT_THAT(err_.str(), HasSubstr("/api/v1/agents/ajdTestAgent/lifecycle/deactivate"));
}

}  // namespace
}  // namespace keyhole::agent
