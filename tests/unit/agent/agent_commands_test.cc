// activate, status, rotate and deactivate against the fake coordinator and file system: where the
// code comes from, refusals, the state written, what status shows (never the token) and its exit
// codes, and deactivation that removes the state even when the coordinator cannot be told.
#include "agent/cli/agent_commands.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <sstream>

#include "agent/state/state_store.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/agent/agent_fakes.h"

namespace keyhole::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::AgentFakes;

class AgentCommandsTest : public ::testing::Test, protected AgentFakes {
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
          return Connect();
        },
        .host = {.host = "dc-eu1-01", .version = "0.1.0", .os = "Debian GNU/Linux 12"},
        // The state is in memory; its lock is a real one, in a directory of the test's.
        .lock_state = [this](const std::string& dir, std::string_view command) -> StatusOr<StateLock> {
          EXPECT_EQ(dir, "/state");
          return StateLock::TryAcquire(lock_dir_.path(), command);
        },
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

  keyhole::testing::TempDir lock_dir_;
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

TEST_F(AgentCommandsTest, RefusesWhileRunHoldsTheStateAndStatusStillWorks) {
  ASSERT_EQ(Activate({.coordinator = "https://kh.test", .code = "khc_valid"}), 0);
  const AgentState before = *Disk();
  {
    auto run = StateLock::TryAcquire(lock_dir_.path(), "run");  // what `keyhole-agent run` holds
    ASSERT_TRUE(run.ok()) << run.status().message();
    const std::string holder = "keyhole-agent run is using " + lock_dir_.path() + " (pid " + std::to_string(::getpid()) + "?)";
    coordinator_.calls.clear();

    auto ctx = Context();
    EXPECT_EQ(AgentCommands(ctx, common_).Rotate(), 1);
    EXPECT_THAT(err_.str(), HasSubstr(holder));
    EXPECT_THAT(err_.str(), HasSubstr("the running daemon rotates the token on its own schedule"));

    auto ctx2 = Context();
    EXPECT_EQ(AgentCommands(ctx2, common_).Deactivate(), 1);
    EXPECT_THAT(err_.str(), HasSubstr(holder + "; stop the service first"));

    fs_.files.erase("/state/state.json");  // activate refuses for the lock before looking at the state
    coordinator_.code_used = false;
    EXPECT_EQ(Activate({.coordinator = "https://kh.test", .code = "khc_valid"}), 1);
    EXPECT_THAT(err_.str(), HasSubstr(holder + "; stop the service first"));
    EXPECT_FALSE(coordinator_.code_used);
    ASSERT_TRUE(StateStore(fs_, "/state").Save(before).ok());

    EXPECT_TRUE(coordinator_.calls.empty());  // nothing was sent
    EXPECT_EQ(*Disk(), before);               // nothing was changed

    EXPECT_EQ(Status(), 0) << err_.str();  // read-only: no lock needed
  }
  // Released (the daemon stopped): rotate works, and holds the lock only while it runs.
  auto ctx = Context();
  ASSERT_EQ(AgentCommands(ctx, common_).Rotate(), 0) << err_.str();
  EXPECT_TRUE(StateLock::TryAcquire(lock_dir_.path(), "run").ok());
}

TEST_F(AgentCommandsTest, AnotherOneShotCommandIsWaitedForNotStopped) {
  ASSERT_EQ(Activate({.coordinator = "https://kh.test", .code = "khc_valid"}), 0);
  auto other = StateLock::TryAcquire(lock_dir_.path(), "rotate");
  ASSERT_TRUE(other.ok());
  auto ctx = Context();
  EXPECT_EQ(AgentCommands(ctx, common_).Deactivate(), 1);
  EXPECT_THAT(err_.str(), HasSubstr("keyhole-agent rotate is using"));
  EXPECT_THAT(err_.str(), HasSubstr("; wait for it to finish"));
  EXPECT_TRUE(Disk());
}

TEST_F(AgentCommandsTest, PlainHttpOnlyToALoopbackCoordinator) {
  for (const char* url : {"http://kh.test", "http://10.1.2.3:8080", "http://127.0.0.1.nip.io"}) {
    EXPECT_EQ(Activate({.coordinator = url, .code = "khc_valid"}), 2) << url;
    EXPECT_THAT(err_.str(), HasSubstr("in clear; use https://"));
  }
  EXPECT_TRUE(coordinator_.calls.empty());
  EXPECT_FALSE(Disk());
  ASSERT_EQ(Activate({.coordinator = "http://127.0.0.1:8080", .code = "khc_valid"}), 0) << err_.str();
  EXPECT_EQ(Disk()->coordinator, "http://127.0.0.1:8080");
}

TEST_F(AgentCommandsTest, DeactivateUnconfirmedSaysTheAgentMayStillBeActive) {
  ASSERT_EQ(Activate({.coordinator = "https://kh.test", .code = "khc_valid"}), 0);
  for (bool refused : {false, true}) {
    SCOPED_TRACE(refused ? "token refused" : "unreachable");
    coordinator_.network_down = false;
    if (!Disk()) {
      coordinator_.code_used = false;
      ASSERT_EQ(Activate({.coordinator = "https://kh.test", .code = "khc_valid"}), 0);
    }
    coordinator_.network_down = !refused;
    if (refused) coordinator_.tokens[Disk()->token].revoked = true;
    auto ctx = Context();
    EXPECT_EQ(AgentCommands(ctx, common_).Deactivate(), 1);
    EXPECT_FALSE(Disk());  // removed all the same, as asked
    EXPECT_THAT(err_.str(), HasSubstr("WARNING: agent ajdTestAgent may still be ACTIVE at the coordinator"));
    EXPECT_THAT(err_.str(), HasSubstr("An admin should deactivate it there: POST /api/v1/agents/ajdTestAgent/lifecycle/deactivate"));
    EXPECT_TRUE(coordinator_.agent_active);
  }
}

// The coordinator's words are printed, but never its control characters.
class HostileCoordinator final : public CoordinatorClient {
 public:
  StatusOr<ActivationGrant> Activate(const std::string&, const std::string&, const HostInfo&) override {
    return UnavailableError("x");
  }
  StatusOr<AgentView> Me(const std::string&) override {
    if (refuse) return UnauthenticatedError("E0000011\x1b]0;pwned\x07 Invalid (HTTP 401)");
    return AgentView{.id = "ajdTestAgent", .status = "ACTIVE\x1b[2J\r\nfake: line",
                     .operational_status = std::string("OPERATIONAL") + "\xc2\x9b" + "31m" + std::string(500, 'z')};
  }
  StatusOr<AgentView> Heartbeat(const std::string&, const HostInfo&) override { return UnavailableError("x"); }
  StatusOr<std::string> Rotate(const std::string&, const std::string&) override { return UnavailableError("x"); }
  StatusOr<AgentView> DeactivateSelf(const std::string&) override { return UnavailableError("x"); }
  bool refuse = false;
};

TEST_F(AgentCommandsTest, StatusPrintsNoControlCharactersFromTheCoordinator) {
  ASSERT_TRUE(StateStore(fs_, "/state").Save(ActivatedState()).ok());
  auto hostile = std::make_shared<HostileCoordinator>();
  auto run = [&](bool json) {
    CommandContext ctx = Context();
    ctx.connect = [hostile](const std::string&, const TrustAnchor&) -> StatusOr<std::unique_ptr<CoordinatorClient>> {
      return std::unique_ptr<CoordinatorClient>(new testing::ForwardingCoordinator(*hostile));
    };
    return AgentCommands(ctx, common_).Status(json);
  };
  for (bool refuse : {false, true}) {
    for (bool json : {false, true}) {
      SCOPED_TRACE(std::string(refuse ? "refused" : "accepted") + (json ? ", json" : ""));
      hostile->refuse = refuse;
      EXPECT_EQ(run(json), refuse ? 1 : 0);
      const std::string out = out_.str();
      EXPECT_EQ(out.find('\x1b'), std::string::npos);
      EXPECT_EQ(out.find('\x07'), std::string::npos);
      EXPECT_EQ(out.find('\r'), std::string::npos);
      EXPECT_EQ(out.find("\xc2\x9b"), std::string::npos);
      EXPECT_EQ(out.find(std::string(201, 'z')), std::string::npos);
      if (json) {
        EXPECT_FALSE(nlohmann::json::parse(out, nullptr, false).is_discarded()) << out;
      } else if (!refuse) {
        EXPECT_THAT(out, HasSubstr("coordinator view: ACTIVE [2J  fake: line, OPERATIONAL?31m"));
      }
    }
  }
}

}  // namespace
}  // namespace keyhole::agent
