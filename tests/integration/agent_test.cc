// The real keyhole-agent against the real coordinator (TLS, self-signed, pinned): activation with a
// code made through the admin API, the code refused the second time, the agent's token among the
// API tokens and forbidden on admin endpoints, deactivation and reactivation by an admin,
// revocation, rotation killed (SIGKILL, through the KEYHOLE_AGENT_TEST_KILL_AT test hook) at every
// step with and without the grace period running out, `run` under a fake systemd notify socket, and
// the state directory's lock that keeps rotate, activate and deactivate away from a running daemon.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/support/coordinator_process.h"
#include "tests/support/http_client.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

#ifndef KEYHOLE_AGENT_BIN
#define KEYHOLE_AGENT_BIN "keyhole-agent"
#endif

namespace keyhole::testing {
namespace {

using namespace std::chrono_literals;

nlohmann::json ReadJsonFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return nlohmann::json::parse(s.str(), nullptr, false);
}

// A datagram socket standing in for systemd's NOTIFY_SOCKET.
class NotifySocket {
 public:
  explicit NotifySocket(std::string path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~NotifySocket() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  bool bound() const { return bound_; }
  const std::string& path() const { return path_; }
  // Receives until a message containing `needle` arrives; every message seen is kept.
  bool WaitFor(const std::string& needle, std::chrono::milliseconds timeout) {
    for (const auto& m : seen_) {
      if (m.find(needle) != std::string::npos) return true;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 1))) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) continue;
      seen_.emplace_back(buf, static_cast<size_t>(n));
      if (seen_.back().find(needle) != std::string::npos) return true;
    }
    return false;
  }
  std::string All() const {
    std::string out;
    for (const auto& m : seen_) out += "[" + m + "]\n";
    return out;
  }
  int Count(const std::string& needle) const {
    int n = 0;
    for (const auto& m : seen_) n += m.find(needle) != std::string::npos ? 1 : 0;
    return n;
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
  std::vector<std::string> seen_;
};

class AgentTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (const char* name : {"KEYHOLE_ACTIVATION_CODE", "KEYHOLE_AGENT_TEST_KILL_AT", "NOTIFY_SOCKET", "WATCHDOG_USEC",
                             "WATCHDOG_PID", "JOURNAL_STREAM"}) {
      unsetenv(name);
    }
  }
  void StartCoordinator(std::vector<std::string> extra_args = {}) {
    admin_ = coordinator_.Init("admin@example.com");
    ASSERT_TRUE(coordinator_.Start({.tls = true, .extra_args = extra_args})) << coordinator_.Stderr();
    http_ = std::make_unique<TestHttpClient>(coordinator_.url());
    std::ofstream(config_) << "# empty: the defaults\n";
  }
  void SetUp() override {}
  void TearDown() override {
    if (HasFailure()) std::cerr << "coordinator stderr:\n" << coordinator_.Stderr();
  }

  std::string NewCode() {
    if (pool_.empty()) {
      TestResponse p = http_->Post("/api/v1/agentPools", admin_, {{"name", "eu"}, {"type", "HTTP"}});
      EXPECT_EQ(p.status, 200) << p.body;
      pool_ = p.Json().value("id", "");
    }
    TestResponse c = http_->Post("/api/v1/agentPools/" + pool_ + "/activationCodes", admin_, nlohmann::json::object());
    EXPECT_EQ(c.status, 200) << c.body;
    return c.Json().value("code", "");
  }

  // keyhole-agent with this test's --state-dir and --config (another state directory: `dir`).
  RunResult Agent(std::vector<std::string> args, std::vector<std::string> env = {},
                  std::optional<std::string> stdin_data = std::nullopt, const std::string& dir = "") {
    std::vector<std::string> argv = {KEYHOLE_AGENT_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--state-dir", dir.empty() ? StateDir() : dir, "--config", config_});
    RunResult r = RunCommand(argv, env, stdin_data);
    if (r.exit_code != 0) std::cerr << "keyhole-agent " << args[0] << " → " << r.exit_code << ": " << r.err;
    return r;
  }
  RunResult Activate(const std::string& code, const std::string& dir = "") {
    return Agent({"activate", "--coordinator", coordinator_.url(), "--code", "-", "--pin", coordinator_.fingerprint(),
                  "--name", "dc-eu1-01"},
                 {}, code + "\n", dir);
  }
  std::string StateDir() const { return tmp_.File("state"); }
  nlohmann::json State() const { return ReadJsonFile(StateDir() + "/state.json"); }
  int Status() { return Agent({"status"}).exit_code; }

  CoordinatorProcess coordinator_;
  TempDir tmp_;
  std::string config_ = tmp_.File("agent.toml");
  std::string admin_;
  std::unique_ptr<TestHttpClient> http_;
  std::string pool_;
};

TEST_F(AgentTest, ActivatesOnceWithAnAdminsCode) {
  StartCoordinator();
  const std::string code = NewCode();
  ASSERT_EQ(code.rfind("khc_", 0), 0u);
  RunResult a = Activate(code);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_NE(a.out.find("activated agent ajd"), std::string::npos) << a.out;
  EXPECT_EQ(a.out.find("kha_"), std::string::npos);

  struct stat st;
  ASSERT_EQ(::stat((StateDir() + "/state.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(StateDir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  nlohmann::json state = State();
  const std::string token = state.value("token", "");
  ASSERT_EQ(token.rfind("kha_", 0), 0u);
  EXPECT_EQ(state["trust"]["pin"], coordinator_.fingerprint());
  EXPECT_EQ(state["pool_id"], pool_);

  // The code is spent: a second agent is refused, plainly.
  TempDir other;
  RunResult again = Activate(code, other.File("state"));
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("the activation code is invalid, used, revoked or expired"), std::string::npos) << again.err;
  // And this agent refuses to activate over its state.
  RunResult over = Activate(NewCode());
  EXPECT_EQ(over.exit_code, 1);
  EXPECT_NE(over.err.find("keyhole-agent deactivate"), std::string::npos) << over.err;

  // Its token is an agent token among the API tokens…
  TestResponse tokens = http_->Get("/api/v1/api-tokens?ownerType=AGENT", admin_);
  ASSERT_EQ(tokens.status, 200) << tokens.body;
  bool listed = false;
  for (const auto& t : tokens.Json()) {
    if (t.value("id", "") == state.value("token_id", "")) {
      listed = true;
      EXPECT_EQ(t["ownerType"], "AGENT");
      EXPECT_EQ(t["agent"]["id"], state["agent_id"]);
    }
  }
  EXPECT_TRUE(listed) << tokens.body;
  // …that admin endpoints refuse…
  EXPECT_EQ(http_->Get("/api/v1/users", token).status, 403);
  // …and the agent's own accept.
  RunResult status = Agent({"status", "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  nlohmann::json view = nlohmann::json::parse(status.out, nullptr, false);
  EXPECT_EQ(view["coordinatorView"]["status"], "ACTIVE");
  EXPECT_EQ(view["agentId"], state["agent_id"]);
  EXPECT_EQ(status.out.find("kha_"), std::string::npos);
}

TEST_F(AgentTest, DeactivatedByAnAdminThenReactivatedThenRevoked) {
  StartCoordinator();
  ASSERT_EQ(Activate(NewCode()).exit_code, 0);
  const std::string id = State().value("agent_id", "");
  ASSERT_EQ(Status(), 0);

  ASSERT_EQ(http_->Post("/api/v1/agents/" + id + "/lifecycle/deactivate", admin_, nlohmann::json::object()).status, 200);
  RunResult refused = Agent({"status"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.out.find("refused by the coordinator (401)"), std::string::npos) << refused.out;

  ASSERT_EQ(http_->Post("/api/v1/agents/" + id + "/lifecycle/reactivate", admin_, nlohmann::json::object()).status, 200);
  EXPECT_EQ(Status(), 0);

  ASSERT_EQ(http_->Delete("/api/v1/api-tokens/" + State().value("token_id", ""), admin_).status, 204);
  EXPECT_EQ(Status(), 1);
  ASSERT_EQ(http_->Post("/api/v1/agents/" + id + "/lifecycle/deactivate", admin_, nlohmann::json::object()).status, 200);
  ASSERT_EQ(http_->Post("/api/v1/agents/" + id + "/lifecycle/reactivate", admin_, nlohmann::json::object()).status, 200);
  EXPECT_EQ(Status(), 1);  // revoked for good
  EXPECT_EQ(Agent({"rotate"}).exit_code, 1);
}

TEST_F(AgentTest, DeactivateByTheAgentRemovesItsState) {
  StartCoordinator();
  ASSERT_EQ(Activate(NewCode()).exit_code, 0);
  const std::string id = State().value("agent_id", "");
  RunResult d = Agent({"deactivate"});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_FALSE(std::ifstream(StateDir() + "/state.json").good());
  TestResponse agent = http_->Get("/api/v1/agents/" + id, admin_);
  EXPECT_EQ(agent.Json().value("status", ""), "INACTIVE");
  EXPECT_EQ(Agent({"status"}).exit_code, 3);
  EXPECT_EQ(Agent({"run"}).exit_code, 78);
}

TEST_F(AgentTest, DeactivateWithoutTheCoordinatorStillRemovesTheState) {
  StartCoordinator();
  ASSERT_EQ(Activate(NewCode()).exit_code, 0);
  const std::string id = State().value("agent_id", "");
  coordinator_.Stop();
  RunResult d = Agent({"deactivate"});
  EXPECT_EQ(d.exit_code, 1);
  EXPECT_NE(d.err.find("removed the local state, but could not deactivate"), std::string::npos) << d.err;
  EXPECT_NE(d.err.find("may still be ACTIVE at the coordinator. An admin should deactivate it there: POST "
                       "/api/v1/agents/" + id + "/lifecycle/deactivate"),
            std::string::npos)
      << d.err;
  EXPECT_FALSE(std::ifstream(StateDir() + "/state.json").good());
}


TEST_F(AgentTest, RotationKilledAtEveryStepNeverLocksTheAgentOut) {
  StartCoordinator();
  ASSERT_EQ(Activate(NewCode()).exit_code, 0);
  for (const char* point : {"after_pending_saved", "after_rotate_sent", "after_rotate_answered", "after_state_saved"}) {
    SCOPED_TRACE(point);
    const std::string before = State().value("token", "");
    RunResult killed = Agent({"rotate"}, {std::string("KEYHOLE_AGENT_TEST_KILL_AT=") + point});
    EXPECT_EQ(killed.exit_code, 128 + SIGKILL);
    EXPECT_EQ(Status(), 0);  // status alone never changes anything…
    RunResult resumed = Agent({"rotate"});
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    EXPECT_EQ(Status(), 0);
    EXPECT_TRUE(State()["pending_token"].is_null());
    EXPECT_NE(State().value("token", ""), before);
  }
}

TEST_F(AgentTest, RotationKilledAtEveryStepSurvivesTheGracePeriod) {
  std::ofstream(tmp_.File("coordinator.toml")) << "[agents]\nrotation_grace_seconds = 1\n";
  StartCoordinator({"--config", tmp_.File("coordinator.toml")});
  ASSERT_EQ(Activate(NewCode()).exit_code, 0);
  for (const char* point : {"after_pending_saved", "after_rotate_sent", "after_rotate_answered", "after_state_saved"}) {
    SCOPED_TRACE(point);
    RunResult killed = Agent({"rotate"}, {std::string("KEYHOLE_AGENT_TEST_KILL_AT=") + point});
    EXPECT_EQ(killed.exit_code, 128 + SIGKILL);
    std::this_thread::sleep_for(1500ms);  // past the grace period
    RunResult resumed = Agent({"rotate"});
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    EXPECT_EQ(Status(), 0);
  }
}

TEST_F(AgentTest, RunTalksToSystemdAndResolvesAnInterruptedRotation) {
  StartCoordinator();
  ASSERT_EQ(Activate(NewCode()).exit_code, 0);
  RunResult killed = Agent({"rotate"}, {"KEYHOLE_AGENT_TEST_KILL_AT=after_rotate_answered"});
  ASSERT_EQ(killed.exit_code, 128 + SIGKILL);
  ASSERT_FALSE(State()["pending_token"].is_null());

  NotifySocket notify(tmp_.File("notify.sock"));
  ASSERT_TRUE(notify.bound());
  Subprocess run({KEYHOLE_AGENT_BIN, "run", "--state-dir", StateDir(), "--config", config_},
                 {"NOTIFY_SOCKET=" + notify.path(), "WATCHDOG_USEC=2000000"});
  ASSERT_TRUE(notify.WaitFor("READY=1", 20s)) << notify.All() << run.Stderr();
  EXPECT_TRUE(notify.WaitFor("STATUS=connected to " + coordinator_.url() + " as agent ajd", 1s)) << notify.All();
  EXPECT_TRUE(State()["pending_token"].is_null());
  ASSERT_TRUE(notify.WaitFor("WATCHDOG=1", 3s)) << notify.All();
  std::this_thread::sleep_for(2500ms);
  notify.WaitFor("never", 100ms);
  EXPECT_GE(notify.Count("WATCHDOG=1"), 3) << notify.All();

  const auto stop = std::chrono::steady_clock::now();
  run.Signal(SIGTERM);
  EXPECT_TRUE(notify.WaitFor("STOPPING=1", 3s)) << notify.All();
  EXPECT_EQ(run.Wait(5s), 0) << run.Stderr();
  EXPECT_LT(std::chrono::steady_clock::now() - stop, 2s);
  EXPECT_EQ(Status(), 0);
  EXPECT_EQ(run.Stderr().find("kha_"), std::string::npos);
}

// Regression: `rotate` beside a running daemon registered a successor the daemon never used, and
// the daemon's token was retired after the grace period; two writers also shared state.json.tmp.
TEST_F(AgentTest, OneShotCommandsRefuseWhileRunHoldsTheStateDirectory) {
  StartCoordinator();
  ASSERT_EQ(Activate(NewCode()).exit_code, 0);
  const nlohmann::json before = State();
  const std::vector<std::string> run_argv = {KEYHOLE_AGENT_BIN, "run", "--state-dir", StateDir(), "--config", config_};
  {
    NotifySocket notify(tmp_.File("notify.sock"));
    Subprocess run(run_argv, {"NOTIFY_SOCKET=" + notify.path()});
    ASSERT_TRUE(notify.WaitFor("READY=1", 20s)) << notify.All() << run.Stderr();
    const std::string holder = "keyhole-agent run is using " + StateDir() + " (pid " + std::to_string(run.pid()) + "?)";

    RunResult rotate = Agent({"rotate"});
    EXPECT_EQ(rotate.exit_code, 1);
    EXPECT_NE(rotate.err.find(holder), std::string::npos) << rotate.err;
    EXPECT_NE(rotate.err.find("rotates the token on its own schedule"), std::string::npos) << rotate.err;
    RunResult deactivate = Agent({"deactivate"});
    EXPECT_EQ(deactivate.exit_code, 1);
    EXPECT_NE(deactivate.err.find(holder + "; stop the service first"), std::string::npos) << deactivate.err;
    RunResult activate = Activate(NewCode());
    EXPECT_EQ(activate.exit_code, 1);
    EXPECT_NE(activate.err.find(holder + "; stop the service first"), std::string::npos) << activate.err;
    EXPECT_EQ(State(), before);
    EXPECT_EQ(Status(), 0);  // read-only: no lock

    run.Signal(SIGTERM);
    EXPECT_EQ(run.Wait(5s), 0) << run.Stderr();
  }
  // Released at exit: rotate works now.
  RunResult rotate = Agent({"rotate"});
  ASSERT_EQ(rotate.exit_code, 0) << rotate.err;
  EXPECT_NE(State().value("token", ""), before.value("token", ""));
  EXPECT_EQ(Status(), 0);

  // And when the daemon is killed outright, the kernel releases it.
  {
    NotifySocket notify(tmp_.File("notify2.sock"));
    Subprocess run(run_argv, {"NOTIFY_SOCKET=" + notify.path()});
    ASSERT_TRUE(notify.WaitFor("READY=1", 20s)) << notify.All() << run.Stderr();
    EXPECT_EQ(Agent({"deactivate"}).exit_code, 1);
    run.Signal(SIGKILL);
    EXPECT_EQ(run.Wait(5s), 128 + SIGKILL);
  }
  RunResult deactivate = Agent({"deactivate"});
  ASSERT_EQ(deactivate.exit_code, 0) << deactivate.err;
  EXPECT_FALSE(std::ifstream(StateDir() + "/state.json").good());
}

TEST_F(AgentTest, ActivateRefusesPlainHttpToAHostThatIsNotLoopback) {
  std::ofstream(config_) << "# empty: the defaults\n";
  RunResult a = Agent({"activate", "--coordinator", "http://kh.example:8080", "--code", "-"}, {}, "khc_whatever\n");
  EXPECT_EQ(a.exit_code, 2);
  EXPECT_NE(a.err.find("in clear; use https://"), std::string::npos) << a.err;
  EXPECT_FALSE(std::ifstream(StateDir() + "/state.json").good());
}

TEST_F(AgentTest, RunReportsRefusalAndKeepsRetrying) {
  StartCoordinator();
  ASSERT_EQ(Activate(NewCode()).exit_code, 0);
  const std::string id = State().value("agent_id", "");
  ASSERT_EQ(http_->Post("/api/v1/agents/" + id + "/lifecycle/deactivate", admin_, nlohmann::json::object()).status, 200);
  NotifySocket notify(tmp_.File("notify.sock"));
  Subprocess run({KEYHOLE_AGENT_BIN, "run", "--state-dir", StateDir(), "--config", config_},
                 {"NOTIFY_SOCKET=" + notify.path()});
  EXPECT_TRUE(notify.WaitFor("STATUS=refused by the coordinator (401): the agent is deactivated or its token revoked; retrying in", 20s))
      << notify.All();
  EXPECT_EQ(notify.Count("READY=1"), 0);
  ASSERT_EQ(http_->Post("/api/v1/agents/" + id + "/lifecycle/reactivate", admin_, nlohmann::json::object()).status, 200);
  EXPECT_TRUE(notify.WaitFor("READY=1", 20s)) << notify.All() << run.Stderr();  // the refusal backoff starts at 5 s
  run.Signal(SIGTERM);
  EXPECT_EQ(run.Wait(5s), 0) << run.Stderr();
}

TEST_F(AgentTest, RunRetriesAnUnreachableCoordinator) {
  StartCoordinator();
  ASSERT_EQ(Activate(NewCode()).exit_code, 0);
  coordinator_.Stop();
  NotifySocket notify(tmp_.File("notify.sock"));
  Subprocess run({KEYHOLE_AGENT_BIN, "run", "--state-dir", StateDir(), "--config", config_},
                 {"NOTIFY_SOCKET=" + notify.path()});
  EXPECT_TRUE(notify.WaitFor("STATUS=cannot reach " + coordinator_.url(), 20s)) << notify.All();
  EXPECT_TRUE(notify.WaitFor("; retrying in", 1s)) << notify.All();
  EXPECT_EQ(notify.Count("READY=1"), 0);
  run.Signal(SIGTERM);
  EXPECT_EQ(run.Wait(5s), 0) << run.Stderr();
}

}  // namespace
}  // namespace keyhole::testing
