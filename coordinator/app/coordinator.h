// Coordinator: wires the store, the directories and services, the handlers and the server into
// the running coordinator, and offers the offline operations of the command line (init,
// admin-token). main.cc only parses arguments and calls this. Not copyable; one per process.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "coordinator/agents/agent_registry.h"
#include "coordinator/audit/system_log.h"
#include "coordinator/auth/owners.h"
#include "coordinator/auth/token_service.h"
#include "coordinator/auth/user_directory.h"
#include "coordinator/config/coordinator_config.h"
#include "coordinator/store/store.h"
#include "shared/clock/clock.h"
#include "shared/systemd/notifier.h"

namespace keyhole::coord {

// Where Serve() listens, once it does.
struct ServingAt {
  std::string url;          // https://HOST:PORT (http:// with plain_http)
  std::string plain_url;    // the loopback plain listener (plain_listen), or empty
  std::string fingerprint;  // of the TLS certificate; empty for plain HTTP
};

class Coordinator {
 public:
  static constexpr const char* kDefaultAdminLogin = "admin@keyhole.local";

  // Opens (creating if needed) the database in `data_dir` and loads it.
  static StatusOr<std::unique_ptr<Coordinator>> Open(const std::string& data_dir, const Clock& clock);
  ~Coordinator();

  bool initialized() const { return users_->size() > 0; }
  // Creates the first SUPER_ADMIN and its token; returns the secret.
  StatusOr<std::string> Initialize(const std::string& admin_login);
  // A new token for an existing admin, for recovery; returns the secret.
  StatusOr<std::string> IssueAdminToken(const std::string& login);

  // Serves until RequestStop(); `on_ready` gets the bound URLs and the TLS fingerprint. Flushes
  // pending token use before it returns. `notifier` (optional) hears READY=1 once serving,
  // WATCHDOG=1 from the maintenance loop and STOPPING=1 (systemd).
  Status Serve(const CoordinatorConfig& config, const std::function<void(const ServingAt&)>& on_ready,
               Notifier* notifier = nullptr);
  void RequestStop();

  UserDirectory& users() { return *users_; }
  TokenService& tokens() { return *tokens_; }
  SystemLog& system_log() { return *system_log_; }
  AgentRegistry& agents() { return *agents_; }

 private:
  Coordinator(std::unique_ptr<Store> store, const Clock& clock);
  void RunBackground(std::chrono::milliseconds flush_interval, Notifier* notifier);

  int lock_fd_ = -1;  // flock()ed DATA_DIR/LOCK, held for the process's life
  std::unique_ptr<Store> store_;
  const Clock& clock_;
  std::unique_ptr<SystemLog> system_log_;  // before tokens_, which records into it
  std::unique_ptr<UserDirectory> users_;
  std::unique_ptr<AgentRegistry> agents_;
  std::unique_ptr<Owners> owners_;  // users_ and agents_, for tokens_
  std::unique_ptr<TokenService> tokens_;

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_requested_ = false;  // GUARDED_BY(stop_mu_)
};

}  // namespace keyhole::coord
