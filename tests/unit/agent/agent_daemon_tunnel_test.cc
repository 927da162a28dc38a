// The run loop's wiring of the tunnel, over a recording fake Tunnel: started with the loaded state
// and config, given each rotated token, reconfigured on SIGHUP, stopped with the drain timeout
// after STOPPING, and its summary appended to systemd's status line as it changes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/daemon/agent_daemon.h"
#include "tests/unit/agent/agent_fakes.h"

namespace keyhole::agent {
namespace {

using namespace std::chrono_literals;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using testing::AgentFakes;
using testing::FakeControl;
using testing::FakeNotifier;

struct TunnelLog {
  std::vector<std::string> calls;
  std::string summary = "tunnel connecting";
  std::chrono::milliseconds drained{-1};
};

class FakeTunnel final : public Tunnel {
 public:
  explicit FakeTunnel(TunnelLog& log) : log_(log) {}
  void Start(const AgentState& state, const AgentConfig& config) override {
    log_.calls.push_back("start " + state.agent_id + " " + std::to_string(config.tunnel.max_streams));
    token_ = state.token;
  }
  void SetToken(const std::string& token) override {
    log_.calls.push_back(token == token_ ? "same token" : "new token");
    token_ = token;
  }
  void Reconfigure(const AgentConfig& config) override {
    log_.calls.push_back("reconfigure " + std::to_string(config.upstreams.size()));
  }
  void Stop(std::chrono::milliseconds drain) override {
    log_.calls.push_back("stop");
    log_.drained = drain;
  }
  std::string Summary() const override { return log_.summary; }

 private:
  TunnelLog& log_;
  std::string token_;
};

class AgentDaemonTunnelTest : public ::testing::Test, protected AgentFakes {
 protected:
  std::unique_ptr<AgentDaemon> Daemon(AgentConfig config) {
    return std::make_unique<AgentDaemon>(
        AgentDaemon::Deps{
            .clock = clock_,
            .store = store_,
            .notifier = notifier_,
            .control = control_,
            .connect = [this](const AgentState&, std::function<bool()>)
                -> StatusOr<std::unique_ptr<CoordinatorClient>> { return Connect(); },
            .host = {.host = "h", .version = "0.1.0", .os = "Debian GNU/Linux 12"},
            .reload_config = [this] { return reload_; },
            .random = [] { return 0.5; },
            .make_tunnel = [this] { return std::make_unique<FakeTunnel>(log_); },
        },
        config);
  }

  StateStore store_{fs_, "/var/lib/keyhole-agent"};
  FakeNotifier notifier_;
  FakeControl control_{clock_};
  StatusOr<AgentConfig> reload_ = AgentConfig{};
  TunnelLog log_;
};

TEST_F(AgentDaemonTunnelTest, StartsWithTheStateAndFollowsRotations) {
  ASSERT_TRUE(store_.Save(ActivatedState()).ok());
  AgentConfig config;
  config.tunnel.max_streams = 8;
  auto d = Daemon(config);
  int sleeps = 0;
  control_.on_sleep = [&] {
    if (++sleeps == 1) clock_.Advance(std::chrono::hours(24 * 7));  // the token is due for rotation
    if (log_.calls.size() >= 2) control_.stop = true;
  };
  EXPECT_EQ(d->Run(), 0);
  ASSERT_EQ(log_.calls.size(), 3u);
  EXPECT_EQ(log_.calls[0], "start " + d->state().agent_id + " 8");
  EXPECT_EQ(log_.calls[1], "new token");
  EXPECT_EQ(log_.calls[2], "stop");
  EXPECT_EQ(log_.drained, 10s);
  EXPECT_THAT(notifier_.LastStatus(), EndsWith("; tunnel connecting"));
}

TEST_F(AgentDaemonTunnelTest, SummaryChangesReachTheStatusLineAndReloadsTheTunnel) {
  ASSERT_TRUE(store_.Save(ActivatedState()).ok());
  AgentConfig config;
  config.tunnel.drain_timeout_seconds = 3;
  auto d = Daemon(config);
  AgentConfig reloaded = config;
  reloaded.upstreams["ldap"] = Upstream{"http://127.0.0.1:389", ""};
  int sleeps = 0;
  control_.on_sleep = [&] {
    ++sleeps;
    if (sleeps == 5) log_.summary = "tunnel connected";
    if (sleeps == 10) {
      reload_ = reloaded;
      control_.reload = true;
    }
    if (sleeps == 20) control_.stop = true;
  };
  EXPECT_EQ(d->Run(), 0);
  bool saw_connected = false;
  for (const auto& e : notifier_.events) saw_connected |= e.find("; tunnel connected") != std::string::npos;
  EXPECT_TRUE(saw_connected);
  EXPECT_THAT(log_.calls, ::testing::Contains("reconfigure 1"));
  EXPECT_EQ(log_.drained, 3s);
  EXPECT_EQ(notifier_.events.back(), "STOPPING=1");
}

}  // namespace
}  // namespace keyhole::agent
