// The run loop over a fake clock, coordinator, notifier and file system: READY only after the first
// heartbeat, STATUS on network errors and on 401 with growing backoff, recovery, rotation when due,
// an interrupted rotation completed at start, watchdog pings, SIGHUP reloads, stop, no state → 78.
#include "agent/daemon/agent_daemon.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "shared/log/log.h"
#include "tests/unit/agent/agent_fakes.h"

namespace keyhole::agent {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::AgentFakes;
using testing::FakeControl;
using testing::FakeNotifier;

class AgentDaemonTest : public ::testing::Test, protected AgentFakes {
 protected:
  void Activate() { ASSERT_TRUE(store_.Save(ActivatedState()).ok()); }
  std::unique_ptr<AgentDaemon> Daemon(AgentConfig config = {}) {
    return std::make_unique<AgentDaemon>(
        AgentDaemon::Deps{
            .clock = clock_,
            .store = store_,
            .notifier = notifier_,
            .control = control_,
            .connect = [this](const AgentState&, std::function<bool()>)
                -> StatusOr<std::unique_ptr<CoordinatorClient>> {
              return Connect();
            },
            .host = {.host = "h", .version = "0.1.0", .os = "Debian GNU/Linux 12"},
            .reload_config = [this] { return reload_; },
            .random = [] { return 0.5; },
        },
        config);
  }
  AgentState Disk() { return **store_.Load(); }

  StateStore store_{fs_, "/var/lib/keyhole-agent"};
  FakeNotifier notifier_;
  FakeControl control_{clock_};
  StatusOr<AgentConfig> reload_ = AgentConfig{};
};

TEST_F(AgentDaemonTest, WithoutStateExitsWithExConfig) {
  auto d = Daemon();
  EXPECT_EQ(d->Run(), 78);
  EXPECT_THAT(notifier_.LastStatus(), HasSubstr("not activated"));
  EXPECT_FALSE(notifier_.Readied());
}

TEST_F(AgentDaemonTest, ReadyOnlyAfterTheFirstHeartbeat) {
  Activate();
  coordinator_.network_down = true;
  auto d = Daemon();
  ASSERT_EQ(d->Start(), 0);
  EXPECT_EQ(d->Step(), 500ms);  // network: a ceiling of 1 s, jitter 0.5
  EXPECT_FALSE(notifier_.Readied());
  EXPECT_EQ(notifier_.LastStatus(),
            "cannot reach https://kh.test:8443: cannot talk to https://kh.test:8443: Connection refused; retrying in 0.5s");
  EXPECT_EQ(d->Step(), 1000ms);
  EXPECT_EQ(d->Step(), 2000ms);
  EXPECT_THAT(notifier_.LastStatus(), HasSubstr("retrying in 2s"));
  coordinator_.network_down = false;
  EXPECT_EQ(d->Step(), 30s);
  EXPECT_TRUE(notifier_.Readied());
  EXPECT_THAT(notifier_.events.back(), StartsWith("READY=1 STATUS=connected to https://kh.test:8443 as agent ajdTestAgent; last heartbeat 2026-"));
  EXPECT_EQ(std::count_if(notifier_.events.begin(), notifier_.events.end(),
                          [](const std::string& e) { return e.rfind("READY=1", 0) == 0; }),
            1);
  // After a success the backoff starts over.
  coordinator_.network_down = true;
  EXPECT_EQ(d->Step(), 500ms);
  coordinator_.network_down = false;
  EXPECT_EQ(d->Step(), 30s);
  EXPECT_THAT(notifier_.LastStatus(), StartsWith("connected to"));
  EXPECT_EQ(std::count_if(notifier_.events.begin(), notifier_.events.end(),
                          [](const std::string& e) { return e.rfind("READY=1", 0) == 0; }),
            1);
}

TEST_F(AgentDaemonTest, RefusalIsReportedPlainlyAndRetriedWithALongerBackoff) {
  Activate();
  coordinator_.agent_active = false;  // deactivated by an admin
  auto d = Daemon();
  ASSERT_EQ(d->Start(), 0);
  EXPECT_EQ(d->Step(), 2500ms);
  EXPECT_EQ(notifier_.LastStatus(),
            "refused by the coordinator (401): the agent is deactivated or its token revoked; retrying in 3s");
  EXPECT_EQ(d->Step(), 5s);
  EXPECT_EQ(d->Step(), 10s);
  for (int i = 0; i < 10; ++i) d->Step();
  EXPECT_EQ(d->Step(), 150s);  // capped at 5 minutes, jitter 0.5
  EXPECT_THAT(notifier_.LastStatus(), HasSubstr("retrying in 2m30s"));
  EXPECT_FALSE(notifier_.Readied());
  coordinator_.agent_active = true;  // reactivated: the same token works again
  EXPECT_EQ(d->Step(), 30s);
  EXPECT_TRUE(notifier_.Readied());
}

TEST_F(AgentDaemonTest, RotatesWhenDue) {
  Activate();
  const std::string first = Disk().token;
  AgentConfig config;
  config.rotate_every_days = 7;
  auto d = Daemon(config);
  ASSERT_EQ(d->Start(), 0);
  d->Step();
  EXPECT_EQ(Disk().token, first);
  clock_.Advance(std::chrono::hours(24 * 7 - 1));
  d->Step();
  EXPECT_EQ(Disk().token, first);
  clock_.Advance(std::chrono::hours(1));
  d->Step();
  const AgentState rotated = Disk();
  EXPECT_NE(rotated.token, first);
  EXPECT_FALSE(rotated.pending_token);
  EXPECT_FALSE(coordinator_.Accepts(first));  // the heartbeat used the new token
  EXPECT_TRUE(coordinator_.Accepts(rotated.token));
  EXPECT_EQ(d->state(), rotated);
}

TEST_F(AgentDaemonTest, CompletesAnInterruptedRotationFirst) {
  Activate();
  AgentState s = Disk();
  s.pending_token = TokenCodec::Generate(TokenKind::kAgent);  // saved, never sent (killed)
  ASSERT_TRUE(store_.Save(s).ok());
  auto d = Daemon();
  ASSERT_EQ(d->Start(), 0);
  EXPECT_EQ(d->Step(), 30s);
  EXPECT_EQ(Disk().token, *s.pending_token);
  EXPECT_FALSE(Disk().pending_token);
  EXPECT_EQ(coordinator_.calls, (std::vector<std::string>{"rotate", "heartbeat"}));
}

TEST_F(AgentDaemonTest, RunPingsTheWatchdogReloadsAndStops) {
  Activate();
  notifier_.watchdog = 2s;
  AgentConfig config;
  config.heartbeat_interval_seconds = 30;
  auto d = Daemon(config);
  AgentConfig reloaded = config;
  reloaded.heartbeat_interval_seconds = 5;
  reloaded.log_level = "debug";
  control_.on_sleep = [&] {
    if (clock_.Monotonic().time_since_epoch() >= 1000000ms + 10s && !control_.reload && reload_.ok() &&
        reload_->heartbeat_interval_seconds == 30) {
      reload_ = reloaded;
      control_.reload = true;
    }
    if (clock_.Monotonic().time_since_epoch() >= 1000000ms + 61s) control_.stop = true;
  };
  reload_ = config;
  EXPECT_EQ(d->Run(), 0);
  EXPECT_EQ(notifier_.events.back(), "STOPPING=1");
  EXPECT_TRUE(notifier_.Readied());
  EXPECT_GE(notifier_.watchdogs, 60);  // every second of 61
  EXPECT_LE(notifier_.watchdogs, 63);
  // Heartbeats at 0 and then every 5 s once reloaded at 10 s: 0, 15 (sooner than 30), 20, …, 60.
  EXPECT_EQ(d->config().heartbeat_interval_seconds, 5);
  EXPECT_GE(coordinator_.heartbeats, 10);
  EXPECT_EQ(CurrentLogLevel(), LogLevel::kDebug);
  SetLogLevel(LogLevel::kInfo);
}

TEST_F(AgentDaemonTest, ABadConfigOnReloadKeepsTheCurrentOne) {
  Activate();
  AgentConfig config;
  config.heartbeat_interval_seconds = 17;
  auto d = Daemon(config);
  ASSERT_EQ(d->Start(), 0);
  reload_ = InvalidArgumentError("agent.toml: unknown key x");
  d->Reload();
  EXPECT_EQ(d->config().heartbeat_interval_seconds, 17);
}

TEST_F(AgentDaemonTest, FormatsDelays) {
  EXPECT_EQ(FormatDelay(300ms), "0.3s");
  EXPECT_EQ(FormatDelay(4000ms), "4s");
  EXPECT_EQ(FormatDelay(59600ms), "60s");
  EXPECT_EQ(FormatDelay(150s), "2m30s");
  EXPECT_EQ(FormatDelay(300s), "5m");
}

}  // namespace
}  // namespace keyhole::agent
