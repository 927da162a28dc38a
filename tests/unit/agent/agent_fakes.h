// Fakes for the agent's unit tests: an in-memory FileSystem that fails on request, a coordinator
// that models the token rules of docs/AGENTS.md (rotation grace, first use retires the old token,
// idempotent re-sends, deactivation), a recording Notifier and a DaemonControl over a FakeClock;
// AgentFakes, the clock, coordinator and file system a test fixture derives from. Not thread-safe.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/activation/coordinator_client.h"
#include "agent/daemon/daemon_control.h"
#include "agent/state/agent_state.h"
#include "shared/fs/file_system.h"
#include "shared/systemd/notifier.h"
#include "shared/token/token_codec.h"
#include "tests/support/fake_clock.h"

namespace keyhole::agent::testing {

using keyhole::testing::FakeClock;

class FakeFileSystem final : public FileSystem {
 public:
  struct File {
    std::string content;
    mode_t mode;
  };

  Status WriteFileAtomic(const std::string& path, const std::string& content, mode_t mode) override {
    ++writes;
    if (fail_write_number == writes || fail_all_writes) return InternalError("write " + path + ": No space left on device");
    files[path] = File{content, mode};
    return Status::Ok();
  }
  StatusOr<std::string> ReadFile(const std::string& path) override {
    auto it = files.find(path);
    if (it == files.end()) return NotFoundError("open " + path + ": No such file or directory");
    return it->second.content;
  }
  bool Exists(const std::string& path) override { return files.count(path) > 0 || dirs.count(path) > 0; }
  Status RemoveFile(const std::string& path) override {
    if (fail_removes) return InternalError("remove " + path + ": Read-only file system");
    files.erase(path);
    return Status::Ok();
  }
  Status MakeDirectories(const std::string& path, mode_t mode) override {
    dirs.insert(path);
    dir_modes[path] = mode;
    return Status::Ok();
  }

  std::map<std::string, File> files;
  std::set<std::string> dirs;
  std::map<std::string, mode_t> dir_modes;
  int writes = 0;
  int fail_write_number = -1;  // the n-th WriteFileAtomic (1-based) fails
  bool fail_all_writes = false;
  bool fail_removes = false;
};

// The coordinator's token rules for one agent, as docs/AGENTS.md states them.
class FakeCoordinator final : public CoordinatorClient {
 public:
  struct Token {
    std::string id;
    bool revoked = false;
    bool used = false;
    std::string predecessor;               // retired when this one is first used
    std::optional<std::string> successor;  // the rotation's new token
    std::optional<WallTime> retire_at;     // end of the grace period once rotated
  };

  FakeCoordinator(const Clock& clock, std::chrono::seconds grace = std::chrono::seconds(600))
      : clock_(clock), grace_(grace) {}

  // A token as activation would issue it.
  std::string Issue() {
    std::string secret = TokenCodec::Generate(TokenKind::kAgent);
    tokens[secret] = Token{.id = "00T" + std::to_string(++next_id_)};
    return secret;
  }
  // Whether `token` is accepted now, without using it (what the test asserts).
  bool Accepts(const std::string& token) const {
    auto it = tokens.find(token);
    if (it == tokens.end() || it->second.revoked || !agent_active) return false;
    return !(it->second.retire_at && clock_.Now() >= *it->second.retire_at);
  }
  size_t ValidTokens() const {
    size_t n = 0;
    for (const auto& [secret, t] : tokens) n += Accepts(secret) ? 1 : 0;
    return n;
  }

  StatusOr<ActivationGrant> Activate(const std::string& code, const std::string& name, const HostInfo& host) override {
    calls.push_back("activate");
    if (Status s = Reachable(); !s.ok()) return s;
    if (code != valid_code || code_used) return UnauthenticatedError("E0000011 Invalid token provided (HTTP 401)");
    code_used = true;
    activated_name = name;
    activated_host = host;
    ActivationGrant g;
    g.agent = View();
    g.token = Issue();
    g.token_id = tokens[g.token].id;
    return g;
  }
  StatusOr<AgentView> Me(const std::string& token) override {
    calls.push_back("me");
    if (Status s = Authenticate(token); !s.ok()) return s;
    return View();
  }
  StatusOr<AgentView> Heartbeat(const std::string& token, const HostInfo&) override {
    calls.push_back("heartbeat");
    if (Status s = Authenticate(token); !s.ok()) return s;
    ++heartbeats;
    return View();
  }
  StatusOr<std::string> Rotate(const std::string& token, const std::string& new_token) override {
    calls.push_back("rotate");
    if (Status s = Authenticate(token); !s.ok()) return s;
    Token& current = tokens[token];
    if (current.successor == new_token) return tokens[new_token].id;  // idempotent
    if (current.successor && !tokens[*current.successor].used) tokens[*current.successor].revoked = true;  // SUPERSEDED
    if (tokens.count(new_token)) return InvalidArgumentError("token: already in use (HTTP 400)");
    tokens[new_token] = Token{.id = "00T" + std::to_string(++next_id_), .predecessor = token};
    current.successor = new_token;
    current.retire_at = clock_.Now() + grace_;
    return tokens[new_token].id;
  }
  StatusOr<AgentView> DeactivateSelf(const std::string& token) override {
    calls.push_back("deactivate");
    if (Status s = Authenticate(token); !s.ok()) return s;
    agent_active = false;
    for (auto& [secret, t] : tokens) t.revoked = true;
    return View();
  }

  std::map<std::string, Token> tokens;
  bool agent_active = true;
  bool network_down = false;
  std::string valid_code = "khc_valid";
  bool code_used = false;
  std::string activated_name;
  HostInfo activated_host;
  int heartbeats = 0;
  std::vector<std::string> calls;

 private:
  Status Reachable() const {
    if (network_down) return UnavailableError("cannot talk to https://kh.test:8443: Connection refused");
    return Status::Ok();
  }
  Status Authenticate(const std::string& secret) {
    if (Status s = Reachable(); !s.ok()) return s;
    if (!Accepts(secret)) return UnauthenticatedError("E0000011 Invalid token provided (HTTP 401)");
    Token& t = tokens[secret];
    if (!t.used) {
      t.used = true;
      if (!t.predecessor.empty()) tokens[t.predecessor].revoked = true;  // first use retires the old token
    }
    return Status::Ok();
  }
  AgentView View() const {
    return AgentView{.id = "ajdTestAgent", .name = "test", .pool_id = "0oaTestPool", .type = "HTTP",
                     .status = agent_active ? "ACTIVE" : "INACTIVE",
                     .operational_status = agent_active ? "OPERATIONAL" : "INACTIVE"};
  }

  const Clock& clock_;
  std::chrono::seconds grace_;
  int next_id_ = 0;
};

// Forwards to a CoordinatorClient the test keeps (the code under test owns what it connected).
class ForwardingCoordinator final : public CoordinatorClient {
 public:
  explicit ForwardingCoordinator(CoordinatorClient& to) : to_(to) {}
  StatusOr<ActivationGrant> Activate(const std::string& c, const std::string& n, const HostInfo& h) override {
    return to_.Activate(c, n, h);
  }
  StatusOr<AgentView> Me(const std::string& t) override { return to_.Me(t); }
  StatusOr<AgentView> Heartbeat(const std::string& t, const HostInfo& h) override { return to_.Heartbeat(t, h); }
  StatusOr<std::string> Rotate(const std::string& t, const std::string& n) override { return to_.Rotate(t, n); }
  StatusOr<AgentView> DeactivateSelf(const std::string& t) override { return to_.DeactivateSelf(t); }

 private:
  CoordinatorClient& to_;
};

class FakeNotifier final : public Notifier {
 public:
  void Ready(std::string_view status) override { events.push_back("READY=1 STATUS=" + std::string(status)); }
  void Status(std::string_view status) override { events.push_back("STATUS=" + std::string(status)); }
  void Watchdog() override { ++watchdogs; }
  void Stopping() override { events.push_back("STOPPING=1"); }
  std::chrono::microseconds WatchdogInterval() const override { return watchdog; }

  bool Readied() const {
    for (const auto& e : events) {
      if (e.rfind("READY=1", 0) == 0) return true;
    }
    return false;
  }
  std::string LastStatus() const {
    for (auto it = events.rbegin(); it != events.rend(); ++it) {
      if (it->rfind("STATUS=", 0) == 0) return it->substr(7);
      if (it->rfind("READY=1 STATUS=", 0) == 0) return it->substr(15);
    }
    return "";
  }

  std::vector<std::string> events;
  int watchdogs = 0;
  std::chrono::microseconds watchdog{0};
};

// Sleeping advances the fake clock; `on_sleep` lets a test act at a virtual time and stop the run.
class FakeControl final : public DaemonControl {
 public:
  explicit FakeControl(FakeClock& clock) : clock_(clock) {}
  bool StopRequested() override { return stop; }
  bool TakeReloadRequest() override {
    bool r = reload;
    reload = false;
    return r;
  }
  void Sleep(std::chrono::milliseconds d) override {
    clock_.Advance(d);
    slept += d;
    if (on_sleep) on_sleep();
  }

  bool stop = false;
  bool reload = false;
  std::chrono::milliseconds slept{0};
  std::function<void()> on_sleep;

 private:
  FakeClock& clock_;
};

// What an agent test starts from: a fake clock, a coordinator on it with the default grace, and an
// empty in-memory file system. Derive a fixture from it.
class AgentFakes {
 protected:
  // The state an activation leaves: the test agent in its pool at https://kh.test:8443, with a
  // token the coordinator has just issued.
  AgentState ActivatedState() {
    AgentState s;
    s.agent_id = "ajdTestAgent";
    s.pool_id = "0oaTestPool";
    s.coordinator = "https://kh.test:8443";
    s.token = coordinator_.Issue();
    s.token_id = coordinator_.tokens[s.token].id;
    s.token_issued = clock_.Now();
    return s;
  }
  // A connection for the code under test to own, forwarding to coordinator_.
  std::unique_ptr<CoordinatorClient> Connect() { return std::make_unique<ForwardingCoordinator>(coordinator_); }

  FakeClock clock_;
  FakeCoordinator coordinator_{clock_};
  FakeFileSystem fs_;
};

}  // namespace keyhole::agent::testing
