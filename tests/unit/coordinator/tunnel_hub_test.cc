#include "coordinator/tunnel/tunnel_hub.h"

#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "tests/support/fake_clock.h"

namespace keyhole::coord {
namespace {

using protocol::CloseCode;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A link that records what the hub asked of it.
class FakeLink final : public TunnelLink {
 public:
  FakeLink(std::string agent, std::string pool, std::vector<std::string> ups, uint32_t cap = 4) {
    agent_id = std::move(agent);
    pool_id = std::move(pool);
    token_id = "00T" + agent_id;
    upstreams = std::move(ups);
    max_streams = cap;
  }
  void Close(CloseCode code, std::string reason) override {
    closed = code;
    close_reason = std::move(reason);
  }
  void Drain(CloseCode code, std::string) override { drained = code; }
  std::optional<CloseCode> closed;
  std::optional<CloseCode> drained;
  std::string close_reason;
};

class TunnelHubTest : public ::testing::Test {
 protected:
  std::shared_ptr<FakeLink> Connect(std::string agent, std::string pool, std::vector<std::string> ups, uint32_t cap = 4) {
    auto link = std::make_shared<FakeLink>(std::move(agent), std::move(pool), std::move(ups), cap);
    hub.Add(link);
    return link;
  }
  testing::FakeClock clock;
  TunnelHub hub{clock, TunnelOptions{}};
};

TEST_F(TunnelHubTest, PicksTheLeastBusyAgentThatOffersTheUpstream) {
  auto a = Connect("a", "p", {"web", "db"});
  auto b = Connect("b", "p", {"web"});
  auto c = Connect("c", "other", {"web"});
  LinkPick first = hub.Pick("p", "web");
  ASSERT_EQ(first.outcome, PickOutcome::kPicked);
  LinkPick second = hub.Pick("p", "web");
  ASSERT_EQ(second.outcome, PickOutcome::kPicked);
  EXPECT_NE(first.link, second.link) << "the second request goes to the idle agent";
  EXPECT_EQ(a->in_flight.load() + b->in_flight.load(), 2u);
  EXPECT_EQ(c->in_flight.load(), 0u) << "another pool's agent is never picked";
  // Only a offers db, however busy it is.
  EXPECT_EQ(hub.Pick("p", "db").link, a);
  EXPECT_EQ(hub.Pick("p", "nope").outcome, PickOutcome::kNoAgent);
  EXPECT_EQ(hub.Pick("empty", "web").outcome, PickOutcome::kNoAgent);
}

TEST_F(TunnelHubTest, EquallyBusyAgentsTakeTurns) {
  auto a = Connect("a", "p", {"web"});
  auto b = Connect("b", "p", {"web"});
  std::map<TunnelLink*, int> served;
  for (int i = 0; i < 10; ++i) {
    LinkPick pick = hub.Pick("p", "web");  // sequential requests: 0 in flight each time
    ++served[pick.link.get()];
    TunnelHub::Release(*pick.link);
  }
  EXPECT_EQ(served[a.get()], 5);
  EXPECT_EQ(served[b.get()], 5);
}

TEST_F(TunnelHubTest, ReleaseMakesAnAgentPreferredAgain) {
  auto a = Connect("a", "p", {"web"});
  auto b = Connect("b", "p", {"web"});
  LinkPick x = hub.Pick("p", "web");
  LinkPick y = hub.Pick("p", "web");
  LinkPick z = hub.Pick("p", "web");  // one of them has 2 now
  TunnelLink* busy = a->in_flight.load() == 2 ? static_cast<TunnelLink*>(a.get()) : b.get();
  TunnelLink* idle = busy == a.get() ? static_cast<TunnelLink*>(b.get()) : a.get();
  TunnelHub::Release(*busy);
  TunnelHub::Release(*busy);
  EXPECT_EQ(hub.Pick("p", "web").link.get(), busy) << "0 in flight beats 1";
  EXPECT_EQ(idle->in_flight.load(), 1u);
}

TEST_F(TunnelHubTest, FailoverSkipsAgentsAlreadyTried) {
  auto a = Connect("a", "p", {"web"});
  auto b = Connect("b", "p", {"web"});
  LinkPick first = hub.Pick("p", "web");
  TunnelHub::Release(*first.link);
  LinkPick retry = hub.Pick("p", "web", {first.link.get()});
  ASSERT_EQ(retry.outcome, PickOutcome::kPicked);
  EXPECT_NE(retry.link, first.link);
  EXPECT_EQ(hub.Pick("p", "web", {a.get(), b.get()}).outcome, PickOutcome::kNoAgent);
}

TEST_F(TunnelHubTest, AgentsAtTheirStreamCapAreBusy) {
  auto a = Connect("a", "p", {"web"}, /*cap=*/2);
  EXPECT_EQ(hub.Pick("p", "web").outcome, PickOutcome::kPicked);
  EXPECT_EQ(hub.Pick("p", "web").outcome, PickOutcome::kPicked);
  EXPECT_EQ(hub.Pick("p", "web").outcome, PickOutcome::kBusy);
  TunnelHub::Release(*a);
  EXPECT_EQ(hub.Pick("p", "web").outcome, PickOutcome::kPicked);
}

TEST_F(TunnelHubTest, RetiringAndRemovedLinksAreNotPicked) {
  auto a = Connect("a", "p", {"web"});
  a->retiring.store(true);
  EXPECT_EQ(hub.Pick("p", "web").outcome, PickOutcome::kNoAgent);
  auto b = Connect("b", "p", {"web"});
  hub.Remove(b.get());
  EXPECT_EQ(hub.Pick("p", "web").outcome, PickOutcome::kNoAgent);
  EXPECT_FALSE(hub.StatusOf("b"));
  // A link that died without unregistering is skipped too (weak_ptr).
  Connect("c", "p", {"web"});
  EXPECT_EQ(hub.Pick("p", "web").outcome, PickOutcome::kNoAgent);
}

TEST_F(TunnelHubTest, ANewConnectionOfTheSameAgentReplacesTheOldOne) {
  auto old_link = Connect("a", "p", {"web"});
  auto new_link = Connect("a", "p", {"web", "db"});
  EXPECT_EQ(old_link->drained, CloseCode::kReplaced);
  EXPECT_TRUE(old_link->retiring.load());
  EXPECT_EQ(hub.size(), 1u);
  EXPECT_EQ(hub.Pick("p", "web").link, new_link);
  // The old link unregistering later does not remove the new one.
  hub.Remove(old_link.get());
  ASSERT_TRUE(hub.StatusOf("a"));
  EXPECT_EQ(hub.StatusOf("a")->upstreams, (std::vector<std::string>{"web", "db"}));
}

// Lanes: an agent's connections of one session, one per coordinator worker.
std::shared_ptr<FakeLink> Lane(std::string agent, std::string session, const void* home, uint32_t cap = 4) {
  auto link = std::make_shared<FakeLink>(std::move(agent), "p", std::vector<std::string>{"web"}, cap);
  link->session = std::move(session);
  link->home = home;
  return link;
}

TEST_F(TunnelHubTest, ConnectionsOfOneSessionServeSideBySideAndCallersGetTheirOwnWorkers) {
  int worker0 = 0, worker1 = 0, worker2 = 0;
  auto l0 = Lane("a", "s1", &worker0);
  auto l1 = Lane("a", "s1", &worker1);
  hub.Add(l0);
  hub.Add(l1);
  EXPECT_FALSE(l0->drained);
  EXPECT_FALSE(l1->drained);
  EXPECT_EQ(hub.size(), 1u) << "one agent";
  for (int i = 0; i < 3; ++i) {
    LinkPick first = hub.Pick("p", "web", {}, &worker1);
    LinkPick second = hub.Pick("p", "web", {}, &worker1);
    EXPECT_EQ(first.link, l1);
    EXPECT_EQ(second.link, l1) << "the caller's own worker, even though it is the busier lane";
    EXPECT_EQ(hub.Pick("p", "web", {}, &worker0).link, l0);
    TunnelHub::Release(*l1);
    TunnelHub::Release(*l1);
    TunnelHub::Release(*l0);
  }
  // A caller on a worker without a lane gets the least busy one.
  LinkPick held = hub.Pick("p", "web", {}, &worker0);
  EXPECT_EQ(hub.Pick("p", "web", {}, &worker2).link, l1);
  TunnelHub::Release(*l1);
  // A lane already tried is skipped; the agent's other lane serves the retry.
  EXPECT_EQ(hub.Pick("p", "web", {l0.get()}, &worker0).link, l1);
  TunnelHub::Release(*l1);
  TunnelHub::Release(*held.link);

  auto status = hub.StatusOf("a");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->connections, 2u);
  hub.Remove(l0.get());
  EXPECT_EQ(hub.StatusOf("a")->connections, 1u);
  EXPECT_EQ(hub.Pick("p", "web", {}, &worker0).link, l1) << "the remaining lane serves every worker";
}

TEST_F(TunnelHubTest, AnAgentsStreamCapCountsOverAllItsLanes) {
  int worker0 = 0, worker1 = 0;
  auto l0 = Lane("a", "s1", &worker0, 3);
  auto l1 = Lane("a", "s1", &worker1, 3);
  hub.Add(l0);
  hub.Add(l1);
  EXPECT_EQ(hub.Pick("p", "web", {}, &worker0).outcome, PickOutcome::kPicked);
  EXPECT_EQ(hub.Pick("p", "web", {}, &worker1).outcome, PickOutcome::kPicked);
  EXPECT_EQ(hub.Pick("p", "web", {}, &worker0).outcome, PickOutcome::kPicked);
  EXPECT_EQ(hub.Pick("p", "web", {}, &worker1).outcome, PickOutcome::kBusy) << "3 in flight over two lanes";
  EXPECT_EQ(hub.StatusOf("a")->in_flight, 3u);
}

TEST_F(TunnelHubTest, ANewSessionReplacesEveryLaneOfTheOldOne) {
  int worker0 = 0, worker1 = 0;
  auto l0 = Lane("a", "old", &worker0);
  auto l1 = Lane("a", "old", &worker1);
  hub.Add(l0);
  hub.Add(l1);
  auto fresh = Lane("a", "new", &worker1);
  hub.Add(fresh);
  EXPECT_EQ(l0->drained, CloseCode::kReplaced);
  EXPECT_EQ(l1->drained, CloseCode::kReplaced);
  EXPECT_EQ(hub.StatusOf("a")->connections, 1u);
  EXPECT_EQ(hub.Pick("p", "web", {}, &worker0).link, fresh);
  // A connection without a session replaces all of them too (a client that opens one only).
  auto plain = Lane("a", "", &worker0);
  hub.Add(plain);
  EXPECT_EQ(fresh->drained, CloseCode::kReplaced);
  auto again = Lane("a", "", &worker1);
  hub.Add(again);
  EXPECT_EQ(plain->drained, CloseCode::kReplaced) << "no session: never side by side";
}

TEST_F(TunnelHubTest, LanesPastTheCapAreClosedAtOnce) {
  TunnelOptions options;
  options.max_connections_per_agent = 2;
  TunnelHub small{clock, options};
  int w = 0;
  auto l0 = Lane("a", "s", &w);
  auto l1 = Lane("a", "s", &w);
  auto l2 = Lane("a", "s", &w);
  small.Add(l0);
  small.Add(l1);
  small.Add(l2);
  EXPECT_FALSE(l0->closed);
  EXPECT_FALSE(l1->closed);
  EXPECT_EQ(l2->closed, CloseCode::kReplaced);
  EXPECT_EQ(small.StatusOf("a")->connections, 2u);
  // CloseAgent closes every lane.
  small.CloseAgent("a", CloseCode::kAgentDeactivated, "deactivated");
  EXPECT_EQ(l0->closed, CloseCode::kAgentDeactivated);
  EXPECT_EQ(l1->closed, CloseCode::kAgentDeactivated);
  EXPECT_FALSE(small.StatusOf("a"));
  EXPECT_EQ(small.Pick("p", "web").outcome, PickOutcome::kNoAgent);
}

TEST_F(TunnelHubTest, StatusShowsConnectionAndLoad) {
  auto a = Connect("a", "p", {"web"});
  a->connected_since = clock.Now();
  hub.Pick("p", "web");
  auto status = hub.StatusOf("a");
  ASSERT_TRUE(status);
  EXPECT_EQ(status->in_flight, 1u);
  EXPECT_EQ(status->connected_since, clock.Now());
  EXPECT_FALSE(hub.StatusOf("nobody"));
}

TEST_F(TunnelHubTest, SweepClosesWhatTheCheckCondemnsAndHeartbeatsTheRest) {
  auto good = Connect("good", "p", {"web"});
  auto bad = Connect("bad", "p", {"web"});
  std::vector<std::string> beats;
  LinkCheck check = [](const TunnelLink& l) -> std::optional<LinkVerdict> {
    if (l.agent_id == "bad") return LinkVerdict{CloseCode::kAgentDeactivated, "deactivated"};
    return std::nullopt;
  };
  AgentHeartbeat heartbeat = [&](const std::string& id) { beats.push_back(id); };
  hub.Sweep(check, heartbeat);
  EXPECT_EQ(bad->closed, CloseCode::kAgentDeactivated);
  EXPECT_FALSE(good->closed);
  EXPECT_FALSE(hub.StatusOf("bad"));
  EXPECT_TRUE(beats.empty()) << "the heartbeat at Add is recent";
  clock.Advance(TunnelOptions{}.heartbeat_interval);
  good->last_frame_ms.store(std::chrono::duration_cast<milliseconds>(clock.Monotonic().time_since_epoch()).count());
  hub.Sweep(check, heartbeat);
  EXPECT_EQ(beats, std::vector<std::string>{"good"});
}

TEST_F(TunnelHubTest, SweepJudgesAndHeartbeatsAnAgentOnceHoweverManyLanesItHas) {
  int w0 = 0, w1 = 0, w2 = 0;
  auto l0 = Lane("a", "s", &w0);
  auto l1 = Lane("a", "s", &w1);
  auto l2 = Lane("a", "s", &w2);
  for (auto& l : {l0, l1, l2}) hub.Add(l);
  int checks = 0;
  std::vector<std::string> beats;
  LinkCheck check = [&](const TunnelLink&) -> std::optional<LinkVerdict> {
    ++checks;
    return checks > 1 ? std::optional(LinkVerdict{CloseCode::kTokenRevoked, "revoked"}) : std::nullopt;
  };
  clock.Advance(TunnelOptions{}.heartbeat_interval);
  for (auto& l : {l0, l1, l2}) {
    l->last_frame_ms.store(std::chrono::duration_cast<milliseconds>(clock.Monotonic().time_since_epoch()).count());
  }
  hub.Sweep(check, [&](const std::string& id) { beats.push_back(id); });
  EXPECT_EQ(checks, 1) << "three lanes, one token: one lookup";
  EXPECT_EQ(beats, std::vector<std::string>{"a"});
  // The next pass condemns the token: every lane closes, still on one lookup.
  hub.Sweep(check, nullptr);
  EXPECT_EQ(checks, 2);
  for (auto& l : {l0, l1, l2}) EXPECT_EQ(l->closed, CloseCode::kTokenRevoked);
  EXPECT_FALSE(hub.StatusOf("a"));
}

TEST_F(TunnelHubTest, SweepClosesSilentLinksAfterThePingTimeout) {
  auto a = Connect("a", "p", {"web"});
  clock.Advance(seconds(59));
  hub.Sweep(nullptr, nullptr);
  EXPECT_FALSE(a->closed);
  clock.Advance(seconds(2));
  hub.Sweep(nullptr, nullptr);
  EXPECT_EQ(a->closed, CloseCode::kIdleTimeout);
}

TEST_F(TunnelHubTest, CloseAgentAndShutdown) {
  auto a = Connect("a", "p", {"web"});
  auto b = Connect("b", "p", {"web"});
  hub.CloseAgent("a", CloseCode::kTokenRevoked, "revoked");
  EXPECT_EQ(a->closed, CloseCode::kTokenRevoked);
  hub.CloseAgent("nobody", CloseCode::kTokenRevoked, "");
  hub.Pick("p", "web");
  EXPECT_EQ(hub.InFlight(), 1u);
  hub.BeginShutdown();
  EXPECT_EQ(hub.Pick("p", "web").outcome, PickOutcome::kShuttingDown);
  hub.CloseAll(CloseCode::kShuttingDown, "bye");
  EXPECT_EQ(b->closed, CloseCode::kShuttingDown);
  EXPECT_EQ(hub.size(), 0u);
}

TEST_F(TunnelHubTest, ConcurrentPicksNeverExceedTheCap) {
  std::vector<std::shared_ptr<FakeLink>> links;
  for (int i = 0; i < 4; ++i) links.push_back(Connect("a" + std::to_string(i), "p", {"web"}, 8));
  std::atomic<int> picked{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        if (hub.Pick("p", "web").outcome == PickOutcome::kPicked) ++picked;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(picked.load(), 32);
  for (const auto& l : links) EXPECT_EQ(l->in_flight.load(), 8u);
}

}  // namespace
}  // namespace keyhole::coord
