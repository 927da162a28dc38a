// SystemLog over a real SQLite store in a temp dir: the queue, batching, flush, retention, the
// owner-inactive aggregation and the events TokenService records; plus the filter grammar.
#include "coordinator/audit/system_log.h"

#include <gtest/gtest.h>

#include <regex>
#include <thread>

#include "coordinator/audit/log_filter.h"
#include "tests/support/coordinator_services.h"

namespace keyhole::coord {
namespace {

using std::chrono::hours;
using std::chrono::seconds;
constexpr auto kDay = hours(24);

// Reopen(options) is a fresh stack over the same database, its SystemLog with these options.
class SystemLogTest : public ::testing::Test, protected testing::CoordinatorServices {
 protected:
  void SetUp() override { Reopen(); }

  static LogEvent Event(const std::string& type, const std::string& severity = "INFO") {
    LogEvent e;
    e.event_type = type;
    e.severity = severity;
    e.actor = {"00uactor", "User", "actor@example.com", "Actor"};
    e.targets.push_back({"00utarget", "User", "t@example.com", "Target"});
    return e;
  }

  // Everything in the store, oldest first, without flushing.
  std::vector<LogEvent> Stored() {
    LogQuery q;
    q.since = FromEpochMillis(0);
    q.until = WallTime::max();
    q.limit = 100000;
    return std::move(store->QueryLogEvents(q)).value();
  }
};

TEST_F(SystemLogTest, RecordQueuesAndFlushWritesOneBatch) {
  for (int i = 0; i < 5; ++i) {
    log->Record(Event("user.lifecycle.create"));
    clock.Advance(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(log->pending(), 5u);
  EXPECT_TRUE(Stored().empty());  // nothing on disk until a flush
  auto n = log->Flush();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 5u);
  EXPECT_EQ(log->pending(), 0u);
  std::vector<LogEvent> events = Stored();
  ASSERT_EQ(events.size(), 5u);
  const std::regex uuid_v4("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_TRUE(std::regex_match(events[i].uuid, uuid_v4)) << events[i].uuid;
    if (i) {
      EXPECT_GT(events[i].seq, events[i - 1].seq);
      EXPECT_GE(events[i].published, events[i - 1].published);
      EXPECT_NE(events[i].uuid, events[i - 1].uuid);
    }
  }
  EXPECT_EQ(events[0].published, FromEpochMillis(1795824000000));
  EXPECT_EQ(events[0].actor.alternate_id, "actor@example.com");
  EXPECT_EQ(events[0].targets.at(0).display_name, "Target");
  EXPECT_EQ(*log->Flush(), 0u);
}

TEST_F(SystemLogTest, FullQueueDropsTheOldestInfoAndNeverBlocks) {
  Reopen({.queue_capacity = 3});
  log->Record(Event("a", "WARN"));
  log->Record(Event("b"));
  log->Record(Event("c"));
  log->Record(Event("d"));  // full: "b" goes
  EXPECT_EQ(log->dropped(), 1u);
  ASSERT_TRUE(log->Flush().ok());
  std::vector<LogEvent> events = Stored();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].event_type, "a");
  EXPECT_EQ(events[1].event_type, "c");
  EXPECT_EQ(events[2].event_type, "d");

  // Only warnings queued: a new INFO is the one lost; a new WARN pushes out the oldest.
  log->Record(Event("w1", "WARN"));
  log->Record(Event("w2", "ERROR"));
  log->Record(Event("w3", "WARN"));
  log->Record(Event("i", "INFO"));
  log->Record(Event("w4", "WARN"));
  EXPECT_EQ(log->dropped(), 3u);
  ASSERT_TRUE(log->Flush().ok());
  events = Stored();
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[3].event_type, "w2");
  EXPECT_EQ(events[5].event_type, "w4");
}

TEST_F(SystemLogTest, ConcurrentRecordersAndFlushesLoseNothing) {
  constexpr int kThreads = 4, kEach = 500;
  std::atomic<bool> done{false};
  std::thread flusher([&] {
    while (!done) ASSERT_TRUE(log->Flush().ok());
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) log->Record(Event("t" + std::to_string(t)));
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  flusher.join();
  ASSERT_TRUE(log->Flush().ok());
  std::vector<LogEvent> events = Stored();
  EXPECT_EQ(events.size(), size_t{kThreads * kEach});
  EXPECT_EQ(log->dropped(), 0u);
  for (size_t i = 1; i < events.size(); ++i) EXPECT_GE(events[i].published, events[i - 1].published);
}

TEST_F(SystemLogTest, FlushedEventsSurviveReopening) {
  log->Record(Event("kept"));
  ASSERT_TRUE(log->Flush().ok());
  Reopen();
  ASSERT_EQ(Stored().size(), 1u);
  EXPECT_EQ(Stored()[0].event_type, "kept");
}

TEST_F(SystemLogTest, PruneDeletesEventsPastRetention) {
  Reopen({.retention = kDay * 90, .prune_batch = 2});
  for (int i = 0; i < 5; ++i) log->Record(Event("old"));
  clock.Advance(kDay * 60);
  log->Record(Event("recent"));
  ASSERT_TRUE(log->Flush().ok());
  clock.Advance(kDay * 31);  // "old" is 91 days old, "recent" 31
  auto pruned = log->Prune();
  ASSERT_TRUE(pruned.ok());
  EXPECT_EQ(*pruned, 5u);  // in batches of 2
  std::vector<LogEvent> events = Stored();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event_type, "recent");
  // The target index went with them: only the recent event matches its target.
  LogQuery q{.since = FromEpochMillis(0), .until = WallTime::max()};
  q.filter = std::move(ParseLogFilter("target.id eq \"00utarget\"")).value();
  EXPECT_EQ(log->Query(q)->size(), 1u);
}

TEST_F(SystemLogTest, MaintenanceFlushesEveryTimeAndPrunesHourly) {
  Reopen({.retention = kDay * 1});
  log->Record(Event("a"));
  log->RunMaintenance();  // flushes, prunes nothing (too young)
  EXPECT_EQ(Stored().size(), 1u);
  clock.Advance(kDay * 2);
  log->Record(Event("b"));
  log->RunMaintenance();  // prune due again (more than an hour later): "a" goes
  ASSERT_EQ(Stored().size(), 1u);
  EXPECT_EQ(Stored()[0].event_type, "b");
  log->SetRetention(hours(1));
  clock.Advance(std::chrono::minutes(90));
  log->RunMaintenance();
  EXPECT_TRUE(Stored().empty());
}

TEST_F(SystemLogTest, OwnerInactiveRefusalsAreAggregatedPerTokenAndWindow) {
  LogActor owner{"00uowner", "User", "", ""};
  for (int i = 0; i < 50; ++i) log->RecordOwnerInactiveRefusal("00Ttoken1", owner, "203.0.113.7", "curl/8");
  log->RecordOwnerInactiveRefusal("00Ttoken2", owner, "203.0.113.8", "curl/8");
  ASSERT_TRUE(log->Flush().ok());
  std::vector<LogEvent> events = Stored();
  ASSERT_EQ(events.size(), 2u);  // the first refusal of each token, at once
  EXPECT_EQ(events[0].event_type, "system.api_token.refused.owner_inactive");
  EXPECT_EQ(events[0].severity, "WARN");
  EXPECT_EQ(events[0].outcome_result, "FAILURE");
  EXPECT_EQ(events[0].debug_data.at("refusedCount"), "1");
  EXPECT_EQ(events[0].client_ip, "203.0.113.7");
  EXPECT_EQ(events[0].targets.at(0).id, "00Ttoken1");

  clock.Advance(seconds(61));  // token1's window closes with 49 unreported refusals
  ASSERT_TRUE(log->Flush().ok());
  events = Stored();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].targets.at(0).id, "00Ttoken1");
  EXPECT_EQ(events[2].debug_data.at("refusedCount"), "49");

  // The summary opened a new window: more refusals are counted, reported at shutdown.
  log->RecordOwnerInactiveRefusal("00Ttoken1", owner, "203.0.113.7", "curl/8");
  log->RecordOwnerInactiveRefusal("00Ttoken1", owner, "203.0.113.7", "curl/8");
  ASSERT_TRUE(log->Flush().ok());
  EXPECT_EQ(Stored().size(), 3u);
  ASSERT_TRUE(log->Flush(/*final=*/true).ok());
  events = Stored();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[3].debug_data.at("refusedCount"), "2");

  // Quiet windows are forgotten; the next refusal is reported at once again.
  clock.Advance(seconds(200));
  ASSERT_TRUE(log->Flush().ok());
  log->RecordOwnerInactiveRefusal("00Ttoken1", owner, "203.0.113.7", "curl/8");
  ASSERT_TRUE(log->Flush().ok());
  ASSERT_EQ(Stored().size(), 5u);
  EXPECT_EQ(Stored()[4].debug_data.at("refusedCount"), "1");
}

TEST_F(SystemLogTest, TokenServiceRecordsInactivityRevocationsAndRefusals) {
  std::string owner = MakeUser("a@example.com");
  CreatedToken idle1 = MakeToken(owner, "idle1");
  CreatedToken idle2 = MakeToken(owner, "idle2");
  clock.Advance(kDay * 31);
  ClientInfo client{"198.51.100.4", "okta-sdk-nodejs/8.1.0"};
  EXPECT_FALSE(tokens->Authenticate(idle1.secret, nullptr, &client).ok());
  EXPECT_FALSE(tokens->Authenticate(idle1.secret, nullptr, &client).ok());  // already revoked: no new event
  EXPECT_EQ(tokens->RevokeIdle(), 1u);                                       // idle2
  CreatedToken live = MakeToken(owner, "live");
  ASSERT_TRUE(users->Apply(owner, LifecycleOp::kSuspend).ok());
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(tokens->Authenticate(live.secret, nullptr, &client).ok());
  ASSERT_TRUE(log->Flush().ok());

  std::vector<LogEvent> events = Stored();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].event_type, "system.api_token.revoke.inactivity");
  EXPECT_EQ(events[0].actor.type, "SystemPrincipal");
  EXPECT_EQ(events[0].targets.at(0).id, idle1.record.id);
  EXPECT_EQ(events[0].targets.at(1).id, owner);
  EXPECT_EQ(events[0].client_ip, "198.51.100.4");
  EXPECT_EQ(events[1].event_type, "system.api_token.revoke.inactivity");
  EXPECT_EQ(events[1].targets.at(0).id, idle2.record.id);
  EXPECT_EQ(events[2].event_type, "system.api_token.refused.owner_inactive");
  EXPECT_EQ(events[2].actor.id, owner);
  EXPECT_EQ(events[2].user_agent, "okta-sdk-nodejs/8.1.0");
  for (const LogEvent& e : events) {
    std::string text = LogEventToJson(e).dump();
    for (const auto* secret : {&idle1.secret, &idle2.secret, &live.secret}) {
      EXPECT_EQ(text.find(*secret), std::string::npos);
    }
  }
}

TEST(LogEventJson, HasOktasShapeAndRoundTrips) {
  LogEvent e;
  e.uuid = "dc9fd3c0-598c-41ef-8478-2b7584bf8d5a";
  e.published = FromEpochMillis(1795824000123);
  e.event_type = "user.lifecycle.suspend";
  e.display_message = "Suspend Okta user";
  e.actor = {"00uadmin", "User", "admin@example.com", "Admin"};
  e.client_ip = "203.0.113.7";
  e.user_agent = "okta-sdk-nodejs/8.1.0";
  e.targets.push_back({"00uada", "User", "ada@example.com", "Ada Lovelace"});
  e.transaction_id = "req1";
  e.token_id = "00Ttok";
  e.request_uri = "/api/v1/users/00uada/lifecycle/suspend";
  nlohmann::json j = LogEventToJson(e);
  for (const char* key : {"uuid", "published", "eventType", "version", "severity", "displayMessage", "legacyEventType",
                          "actor", "client", "outcome", "target", "transaction", "debugContext",
                          "authenticationContext", "securityContext", "request"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["published"], "2026-11-28T00:00:00.123Z");
  EXPECT_EQ(j["version"], "0");
  EXPECT_TRUE(j["legacyEventType"].is_null());
  EXPECT_EQ(j["client"]["userAgent"]["rawUserAgent"], "okta-sdk-nodejs/8.1.0");
  EXPECT_EQ(j["transaction"]["type"], "WEB");
  EXPECT_EQ(j["transaction"]["detail"]["requestApiTokenId"], "00Ttok");
  EXPECT_EQ(j["debugContext"]["debugData"]["requestUri"], "/api/v1/users/00uada/lifecycle/suspend");
  EXPECT_EQ(j["request"]["ipChain"][0]["version"], "V4");
  EXPECT_EQ(j["target"][0]["displayName"], "Ada Lovelace");
  auto back = LogEventFromJson(j);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(LogEventToJson(*back), j);
}

TEST(LogFilterGrammar, AcceptsComparisonsJoinedByAndOr) {
  auto f = ParseLogFilter(R"(eventType eq "a" and (actor.id eq "x" OR target.id eq "y\"z") or outcome.result EQ "FAILURE")");
  ASSERT_TRUE(f.ok()) << f.status().message();
  ASSERT_EQ(f->op, LogFilter::Op::kOr);
  ASSERT_EQ(f->operands.size(), 2u);
  const LogFilter& left = f->operands[0];
  ASSERT_EQ(left.op, LogFilter::Op::kAnd);
  EXPECT_EQ(left.operands[0].field, LogFilter::Field::kEventType);
  ASSERT_EQ(left.operands[1].op, LogFilter::Op::kOr);
  EXPECT_EQ(left.operands[1].operands[1].value, "y\"z");
  EXPECT_EQ(f->operands[1].field, LogFilter::Field::kOutcomeResult);
  EXPECT_TRUE(ParseLogFilter(R"(  eventType eq "a"  )").ok());
  EXPECT_TRUE(ParseLogFilter(R"(((eventType eq "")))").ok());
}

TEST(LogFilterGrammar, RejectsEverythingElse) {
  for (const char* bad : {"", "eventType", R"(eventType ne "a")", R"(eventType sw "a")", R"(severity eq "INFO")",
                          R"(eventType eq a)", R"(eventType eq "a)", R"(eventType eq "a" and)", R"(and eventType eq "a")",
                          R"((eventType eq "a")", R"(eventType eq "a"))", R"(eventType eq "a" xor actor.id eq "b")",
                          R"(eventType eq "\n")", R"(eventType pr)", R"(eventType eq "a" "b")"}) {
    auto f = ParseLogFilter(bad);
    EXPECT_FALSE(f.ok()) << bad;
    EXPECT_EQ(f.status().detail(), "search") << bad;
  }
  std::string many = R"(eventType eq "a")";
  for (int i = 0; i < 20; ++i) many += R"( or eventType eq "a")";
  EXPECT_FALSE(ParseLogFilter(many).ok());
  EXPECT_FALSE(ParseLogFilter(std::string(20, '(') + R"(eventType eq "a")" + std::string(20, ')')).ok());
}

TEST(LogEventText, InvalidUtf8FromClientsIsRepairedNotFatal) {
  // A User-Agent of raw bytes once made the writer throw (nlohmann rejects invalid UTF-8).
  EXPECT_EQ(CleanUtf8("ok\xff\xfe", 100), "ok\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(CleanUtf8("caf\xC3\xA9", 100), "caf\xC3\xA9");
  EXPECT_EQ(CleanUtf8("caf\xC3\xA9", 4), "caf");            // never half a character
  EXPECT_EQ(CleanUtf8("\xC0\xAF", 100), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong '/'
  EXPECT_EQ(CleanUtf8("\xED\xA0\x80", 100).find("\xED"), std::string::npos);  // a surrogate
  LogEvent e;
  e.user_agent = std::string(2000, 'a') + "\xff";
  e.request_uri = "/\xff";
  e.targets.push_back({"\x80", "User", "", ""});
  SanitizeLogEvent(e);
  EXPECT_EQ(e.user_agent.size(), 512u);
  EXPECT_NO_THROW(LogEventToJson(e).dump());
}

}  // namespace
}  // namespace keyhole::coord
