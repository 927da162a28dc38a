// The real keyholectl binary against the real coordinator serving TLS with its self-signed
// certificate: commands (users, tokens, rate limits, the System Log and following it, agent pools,
// activation codes and agents), output forms, exit codes, and every trust option.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "shared/clock/clock.h"
#include "shared/clock/iso8601.h"
#include "tests/support/coordinator_process.h"
#include "tests/support/http_client.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace keyhole::testing {
namespace {

class KeyholectlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // keyholectl reads these; the test sets them per run, so none may leak in from outside.
    for (const char* name : {"KEYHOLE_URL", "KEYHOLE_TOKEN", "KEYHOLE_CA_FILE", "KEYHOLE_PIN"}) unsetenv(name);
  }
  void SetUp() override {
    admin_ = coordinator_.Init("admin@example.com");
    ASSERT_TRUE(coordinator_.Start({.tls = true})) << coordinator_.Stderr();
    ASSERT_EQ(coordinator_.url().rfind("https://", 0), 0u) << coordinator_.url();
    ASSERT_FALSE(coordinator_.fingerprint().empty());
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "coordinator stderr:\n" << coordinator_.Stderr();
  }

  // keyholectl with KEYHOLE_URL and KEYHOLE_TOKEN (the admin's) and a pin in KEYHOLE_PIN, each
  // replaced or, when given as "", left out by `env`.
  RunResult Ctl(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    std::map<std::string, std::string> vars = {{"KEYHOLE_URL", coordinator_.url()},
                                               {"KEYHOLE_TOKEN", admin_},
                                               {"KEYHOLE_PIN", coordinator_.fingerprint()}};
    for (auto& [k, v] : env) vars[k] = v;
    std::vector<std::string> envp;
    for (auto& [k, v] : vars) {
      if (!v.empty()) envp.push_back(k + "=" + v);
    }
    args.insert(args.begin(), KeyholectlBinary());
    RunResult r = RunCommand(args, envp);
    last_ = r.err;
    return r;
  }
  std::vector<std::string> CtlEnv() const {
    return {"KEYHOLE_URL=" + coordinator_.url(), "KEYHOLE_TOKEN=" + admin_, "KEYHOLE_PIN=" + coordinator_.fingerprint()};
  }
  std::string CertFile() const { return coordinator_.data_dir() + "/tls/coordinator.crt"; }
  static nlohmann::json Json(const RunResult& r) { return nlohmann::json::parse(r.out, nullptr, false); }

  CoordinatorProcess coordinator_;
  std::string admin_;
  std::string last_;
};

TEST_F(KeyholectlTest, UsersCreateListAndGet) {
  RunResult created = Ctl({"users", "create", "--login", "ada@example.com", "--first-name", "Ada", "--last-name",
                           "Lovelace", "--json"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  nlohmann::json ada = Json(created);
  ASSERT_TRUE(ada.is_object()) << created.out;
  EXPECT_EQ(ada["status"], "ACTIVE");
  const std::string id = ada["id"];

  RunResult list = Ctl({"users", "list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  std::vector<std::string> logins;
  for (const auto& u : Json(list)) logins.push_back(u["profile"]["login"]);
  EXPECT_EQ(logins, (std::vector<std::string>{"admin@example.com", "ada@example.com"}));

  RunResult table = Ctl({"users", "list"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out.rfind("ID ", 0), 0u) << table.out;
  EXPECT_NE(table.out.find(id), std::string::npos) << table.out;

  RunResult by_login = Ctl({"users", "get", "ada@example.com"});
  ASSERT_EQ(by_login.exit_code, 0) << by_login.err;
  EXPECT_NE(by_login.out.find(id), std::string::npos);
  EXPECT_NE(by_login.out.find("Lovelace"), std::string::npos);

  RunResult me = Ctl({"--json", "users", "get", "me"});
  ASSERT_EQ(me.exit_code, 0) << me.err;
  EXPECT_EQ(Json(me)["profile"]["login"], "admin@example.com");
}

TEST_F(KeyholectlTest, ListAllFollowsNextLinksAcrossPages) {
  for (const char* login : {"u1@example.com", "u2@example.com", "u3@example.com"}) {
    ASSERT_EQ(Ctl({"users", "create", "--login", login, "--first-name", "U", "--last-name", "Ser"}).exit_code, 0) << last_;
  }
  RunResult one_page = Ctl({"users", "list", "--limit", "1", "--json"});
  ASSERT_EQ(one_page.exit_code, 0) << one_page.err;
  EXPECT_EQ(Json(one_page).size(), 1u);
  EXPECT_NE(one_page.err.find("--all"), std::string::npos);

  RunResult all = Ctl({"users", "list", "--limit", "1", "--all", "--json"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(Json(all).size(), 4u) << all.out;
}

TEST_F(KeyholectlTest, TokensCreateListAndRevoke) {
  RunResult created = Ctl({"tokens", "create", "--name", "ci", "--json"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  nlohmann::json token = Json(created);
  const std::string id = token["id"], secret = token["token"];

  RunResult list = Ctl({"tokens", "list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  bool listed = false;
  for (const auto& t : Json(list)) listed |= t["id"] == id;
  EXPECT_TRUE(listed) << list.out;

  // Without --json the secret is all that goes to stdout.
  RunResult plain = Ctl({"tokens", "create", "--name", "script"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  std::string plain_secret = plain.out.substr(0, plain.out.find('\n'));
  EXPECT_EQ(plain.out, plain_secret + "\n");
  EXPECT_EQ(Ctl({"users", "get", "me"}, {{"KEYHOLE_TOKEN", plain_secret}}).exit_code, 0) << last_;

  ASSERT_EQ(Ctl({"users", "get", "me"}, {{"KEYHOLE_TOKEN", secret}}).exit_code, 0) << last_;
  ASSERT_EQ(Ctl({"tokens", "revoke", id}).exit_code, 0) << last_;
  RunResult revoked = Ctl({"users", "get", "me"}, {{"KEYHOLE_TOKEN", secret}});
  EXPECT_EQ(revoked.exit_code, 1);
  EXPECT_NE(revoked.err.find("E0000011"), std::string::npos) << revoked.err;

  RunResult with_revoked = Ctl({"tokens", "list", "--include-revoked", "--json"});
  ASSERT_EQ(with_revoked.exit_code, 0) << with_revoked.err;
  bool shown_revoked = false;
  for (const auto& t : Json(with_revoked)) shown_revoked |= t["id"] == id && t["status"] == "REVOKED";
  EXPECT_TRUE(shown_revoked) << with_revoked.out;
}

TEST_F(KeyholectlTest, AdminRoleLifecycleAndDelete) {
  ASSERT_EQ(Ctl({"users", "create", "--login", "bob@example.com", "--first-name", "Bob", "--last-name", "B"}).exit_code,
            0) << last_;
  EXPECT_EQ(Ctl({"users", "grant-admin", "bob@example.com"}).exit_code, 0) << last_;
  EXPECT_EQ(Ctl({"users", "revoke-admin", "bob@example.com"}).exit_code, 0) << last_;
  EXPECT_EQ(Ctl({"users", "revoke-admin", "bob@example.com"}).exit_code, 1);
  EXPECT_EQ(Ctl({"users", "suspend", "bob@example.com"}).exit_code, 0) << last_;
  EXPECT_EQ(Json(Ctl({"users", "get", "bob@example.com", "--json"}))["status"], "SUSPENDED");
  EXPECT_EQ(Ctl({"users", "unsuspend", "bob@example.com"}).exit_code, 0) << last_;
  RunResult bad_state = Ctl({"users", "unsuspend", "bob@example.com"});
  EXPECT_EQ(bad_state.exit_code, 1);
  EXPECT_NE(bad_state.err.find("E0000001"), std::string::npos) << bad_state.err;
  EXPECT_NE(Ctl({"users", "delete", "bob@example.com"}).out.find("deactivated"), std::string::npos) << last_;
  EXPECT_NE(Ctl({"users", "delete", "bob@example.com"}).out.find("deleted"), std::string::npos) << last_;
  RunResult gone = Ctl({"users", "get", "bob@example.com"});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_NE(gone.err.find("E0000007"), std::string::npos) << gone.err;
}

TEST_F(KeyholectlTest, PinMustMatchTheServersCertificate) {
  EXPECT_EQ(Ctl({"--pin", coordinator_.fingerprint(), "users", "get", "me"}, {{"KEYHOLE_PIN", ""}}).exit_code, 0)
      << last_;
  RunResult wrong = Ctl({"users", "get", "me"}, {{"KEYHOLE_PIN", "sha256:" + std::string(64, '0')}});
  EXPECT_EQ(wrong.exit_code, 3);
  EXPECT_NE(wrong.err.find(coordinator_.fingerprint()), std::string::npos) << wrong.err;
  EXPECT_EQ(wrong.out, "");
}

TEST_F(KeyholectlTest, CaFileIsTheOnlyTrustAnchor) {
  EXPECT_EQ(Ctl({"--ca-file", CertFile(), "users", "list"}, {{"KEYHOLE_PIN", ""}}).exit_code, 0) << last_;
  EXPECT_EQ(Ctl({"users", "list"}, {{"KEYHOLE_PIN", ""}, {"KEYHOLE_CA_FILE", CertFile()}}).exit_code, 0) << last_;
  // The certificate names localhost as well as 127.0.0.1.
  std::string localhost_url = "https://localhost:" + coordinator_.url().substr(coordinator_.url().rfind(':') + 1);
  EXPECT_EQ(Ctl({"--ca-file", CertFile(), "users", "list"}, {{"KEYHOLE_PIN", ""}, {"KEYHOLE_URL", localhost_url}}).exit_code,
            0) << last_;

  // Another coordinator's certificate is a valid CA, but not this server's.
  CoordinatorProcess other;
  other.Init();
  ASSERT_TRUE(other.Start({.tls = true}));
  RunResult wrong_ca =
      Ctl({"--ca-file", other.data_dir() + "/tls/coordinator.crt", "users", "list"}, {{"KEYHOLE_PIN", ""}});
  EXPECT_EQ(wrong_ca.exit_code, 3);
  EXPECT_NE(wrong_ca.err.find("not trusted"), std::string::npos) << wrong_ca.err;
}

TEST_F(KeyholectlTest, SystemCasDoNotTrustTheSelfSignedCertificate) {
  RunResult r = Ctl({"users", "list"}, {{"KEYHOLE_PIN", ""}});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("--ca-file or --pin"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST_F(KeyholectlTest, BadTokenExitsOneWithE0000011) {
  RunResult r = Ctl({"users", "list"}, {{"KEYHOLE_TOKEN", "00notarealtoken"}});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("E0000011 Invalid token provided"), std::string::npos) << r.err;
}

TEST_F(KeyholectlTest, TokenComesFromTheEnvironmentOrAFileNeverTheCommandLine) {
  RunResult r = Ctl({"--token", admin_, "users", "list"}, {{"KEYHOLE_TOKEN", ""}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.find(admin_), std::string::npos);

  TempDir dir;
  std::ofstream(dir.File("token")) << admin_ << "\n";
  chmod(dir.File("token").c_str(), 0600);
  RunResult from_file = Ctl({"--token-file", dir.File("token"), "users", "get", "me"}, {{"KEYHOLE_TOKEN", ""}});
  EXPECT_EQ(from_file.exit_code, 0) << from_file.err;
  EXPECT_EQ(from_file.err, "");
}

TEST_F(KeyholectlTest, UnreachableCoordinatorExitsThree) {
  RunResult r = Ctl({"users", "list"}, {{"KEYHOLE_URL", "https://127.0.0.1:1"}});
  EXPECT_EQ(r.exit_code, 3);
}

TEST_F(KeyholectlTest, RateLimitsListAndAnExceptionFiledAndApproved) {
  RunResult table = Ctl({"ratelimits", "list"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out.rfind("METHOD ", 0), 0u) << table.out;
  RunResult limits = Ctl({"ratelimits", "list", "--json"});
  ASSERT_EQ(limits.exit_code, 0) << limits.err;
  bool logs_at_60 = false;
  for (const auto& l : Json(limits)) logs_at_60 |= l["method"] == "GET" && l["path"] == "/api/v1/logs" && l["limit"] == 60;
  EXPECT_TRUE(logs_at_60) << limits.out;

  // Starting a minute ago is inside the notice period: allowed with an override only.
  const WallTime now = RealClock().Now();
  const std::string start = FormatIso8601(now - std::chrono::minutes(1));
  const std::string end = FormatIso8601(now + std::chrono::hours(1));
  std::vector<std::string> request = {"ratelimits", "exceptions", "request", "--org", "acme", "--endpoint",
                                      "GET /api/v1/users=20000", "--start", start, "--end", end,
                                      "--justification", "integration test load"};
  RunResult refused = Ctl(request);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("business days"), std::string::npos) << refused.err;
  RunResult too_low = Ctl({"ratelimits", "exceptions", "request", "--org", "acme", "--endpoint",
                           "GET /api/v1/users=5", "--start", start, "--end", end, "--justification",
                           "integration test load", "--lead-time-override", "test"});
  EXPECT_EQ(too_low.exit_code, 1);
  EXPECT_NE(too_low.err.find("must exceed"), std::string::npos) << too_low.err;
  EXPECT_EQ(Ctl({"ratelimits", "exceptions", "request", "--org", "acme", "--endpoint", "GET /api/v1/users"}).exit_code, 2);

  request.insert(request.end(), {"--lead-time-override", "an incident needs it now", "--json"});
  RunResult filed = Ctl(request);
  ASSERT_EQ(filed.exit_code, 0) << filed.err;
  const std::string id = Json(filed)["id"];
  EXPECT_EQ(Json(filed)["status"], "PENDING");

  RunResult pending = Ctl({"ratelimits", "exceptions", "list", "--status", "PENDING"});
  ASSERT_EQ(pending.exit_code, 0) << pending.err;
  EXPECT_NE(pending.out.find(id), std::string::npos) << pending.out;
  RunResult approved = Ctl({"ratelimits", "exceptions", "approve", id, "--reason", "ok"});
  ASSERT_EQ(approved.exit_code, 0) << approved.err;
  EXPECT_NE(approved.out.find("APPROVED"), std::string::npos) << approved.out;
  RunResult shown = Ctl({"ratelimits", "exceptions", "get", id, "--json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_EQ(Json(shown)["status"], "APPROVED");
  EXPECT_EQ(Json(shown)["decisionReason"], "ok");
  EXPECT_EQ(Ctl({"ratelimits", "exceptions", "deny", id}).exit_code, 1);  // decided already

  RunResult raised = Ctl({"ratelimits", "list", "--json"});
  bool users_raised = false;
  for (const auto& l : Json(raised)) users_raised |= l["path"] == "/api/v1/users" && l["method"] == "GET" && l["limit"] == 20000;
  EXPECT_TRUE(users_raised) << raised.out;
}

TEST_F(KeyholectlTest, LogsShowTheEventsThisTestCaused) {
  RunResult created = Ctl({"users", "create", "--login", "eve@example.com", "--first-name", "Eve", "--last-name", "E",
                           "--json"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string eve = Json(created)["id"];
  ASSERT_EQ(Ctl({"users", "suspend", eve}).exit_code, 0) << last_;
  ASSERT_EQ(Ctl({"tokens", "create", "--name", "ci"}).exit_code, 0) << last_;

  RunResult all = Ctl({"logs", "--json"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  std::vector<std::string> types;
  for (const auto& e : Json(all)) types.push_back(e["eventType"]);
  for (const char* want : {"user.lifecycle.create", "user.lifecycle.suspend", "system.api_token.create"}) {
    EXPECT_NE(std::find(types.begin(), types.end(), want), types.end()) << want << " in " << all.out;
  }

  RunResult suspends = Ctl({"logs", "--event-type", "user.lifecycle.suspend", "--target", eve, "--json"});
  ASSERT_EQ(suspends.exit_code, 0) << suspends.err;
  ASSERT_EQ(Json(suspends).size(), 1u) << suspends.out;
  EXPECT_EQ(Json(suspends)[0]["target"][0]["id"], eve);

  RunResult table = Ctl({"logs", "--event-type", "system.api_token.create", "--desc"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out.rfind("PUBLISHED", 0), 0u) << table.out;
  EXPECT_NE(table.out.find("system.api_token.create"), std::string::npos) << table.out;
  EXPECT_EQ(table.out.find("user.lifecycle"), std::string::npos) << table.out;

  EXPECT_EQ(Ctl({"logs", "--filter", "published gt \"x\""}).exit_code, 1);  // E0000031
  EXPECT_NE(last_.find("E0000031"), std::string::npos) << last_;
}

TEST_F(KeyholectlTest, LogsFollowPrintsNewEventsAndExitsCleanlyOnSigterm) {
  Subprocess follow({KeyholectlBinary(), "logs", "--follow", "--interval", "1"}, CtlEnv());
  // The admin token made by `init` is already in the log: the first poll has happened.
  ASSERT_TRUE(follow.WaitForLine("system.api_token.create").has_value()) << follow.Stderr();
  ASSERT_EQ(Ctl({"users", "create", "--login", "fay@example.com", "--first-name", "Fay", "--last-name", "F"}).exit_code,
            0) << last_;
  auto line = follow.WaitForLine("fay@example.com", std::chrono::seconds(10));
  ASSERT_TRUE(line.has_value()) << follow.Stderr();
  EXPECT_NE(line->find("user.lifecycle."), std::string::npos) << *line;
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // a poll or two of empty pages
  EXPECT_TRUE(follow.running());
  follow.Signal(SIGTERM);
  EXPECT_EQ(follow.Wait(std::chrono::seconds(5)), 0) << follow.Stderr();
  EXPECT_EQ(follow.Stderr(), "");
}

TEST_F(KeyholectlTest, AgentPoolCodeActivationDeactivateAndDelete) {
  RunResult created = Ctl({"pools", "create", "--name", "eu-ldap", "--type", "LDAP", "--json"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const std::string pool = Json(created)["id"];
  EXPECT_EQ(Json(created)["type"], "LDAP");
  RunResult pools = Ctl({"pools", "list", "--type", "LDAP"});
  ASSERT_EQ(pools.exit_code, 0) << pools.err;
  EXPECT_NE(pools.out.find(pool), std::string::npos) << pools.out;
  EXPECT_NE(pools.out.find("eu-ldap"), std::string::npos) << pools.out;

  // Without --json the code is all that goes to stdout.
  RunResult code_run = Ctl({"codes", "create", "--pool", pool, "--lifetime", "PT1H"});
  ASSERT_EQ(code_run.exit_code, 0) << code_run.err;
  const std::string code = code_run.out.substr(0, code_run.out.find('\n'));
  EXPECT_EQ(code_run.out, code + "\n");
  EXPECT_EQ(code.rfind("khc_", 0), 0u) << code;
  EXPECT_EQ(code_run.err.find(code), std::string::npos) << code_run.err;

  TestHttpClient http(coordinator_.url());
  TestResponse activated = http.Post("/api/v1/agents/activate", "",
                                     {{"code", code}, {"name", "dc-eu1-01"}, {"host", "dc-eu1-01.corp.example"},
                                      {"version", "0.1.0"}});
  ASSERT_EQ(activated.status, 200) << activated.body;
  const std::string agent = activated.Json()["agent"].value("id", "");
  ASSERT_FALSE(agent.empty()) << activated.body;

  RunResult codes = Ctl({"codes", "list", "--pool", pool, "--json"});
  ASSERT_EQ(codes.exit_code, 0) << codes.err;
  ASSERT_EQ(Json(codes).size(), 1u) << codes.out;
  EXPECT_EQ(Json(codes)[0]["status"], "USED");
  EXPECT_EQ(Json(codes)[0]["agentId"], agent);

  RunResult agents = Ctl({"agents", "list", "--pool", pool});
  ASSERT_EQ(agents.exit_code, 0) << agents.err;
  EXPECT_EQ(agents.out.rfind("ID ", 0), 0u) << agents.out;
  EXPECT_NE(agents.out.find(agent), std::string::npos) << agents.out;
  EXPECT_NE(agents.out.find("dc-eu1-01.corp.example"), std::string::npos) << agents.out;
  RunResult shown = Ctl({"agents", "show", agent, "--json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_EQ(Json(shown)["status"], "ACTIVE");

  // An ACTIVE agent cannot be deleted, nor its pool.
  RunResult refused = Ctl({"agents", "delete", agent});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("E0000001"), std::string::npos) << refused.err;
  RunResult deactivated = Ctl({"agents", "deactivate", agent});
  ASSERT_EQ(deactivated.exit_code, 0) << deactivated.err;
  EXPECT_NE(deactivated.out.find("INACTIVE"), std::string::npos) << deactivated.out;
  EXPECT_EQ(Ctl({"pools", "delete", pool}).exit_code, 1);
  EXPECT_NE(last_.find("E0000001"), std::string::npos) << last_;
  ASSERT_EQ(Ctl({"agents", "delete", agent}).exit_code, 0) << last_;
  RunResult gone = Ctl({"agents", "show", agent});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_NE(gone.err.find("E0000007"), std::string::npos) << gone.err;

  ASSERT_EQ(Ctl({"pools", "delete", pool}).exit_code, 0) << last_;
  RunResult after = Ctl({"pools", "list", "--json"});
  ASSERT_EQ(after.exit_code, 0) << after.err;
  for (const auto& p : Json(after)) EXPECT_NE(p["id"], pool);
}

}  // namespace
}  // namespace keyhole::testing
