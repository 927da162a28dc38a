// CoordinatorServices: the coordinator's services wired as Coordinator wires them (Store, SystemLog,
// UserDirectory, AgentRegistry, Owners, TokenService) over a SQLite store in a TempDir and a
// FakeClock, for unit tests to derive from. Reopen() builds them, and builds them again over the
// same database as after a restart; whatever holds references to them must be rebuilt after it.
// Not thread-safe; the services themselves are as thread-safe as in the coordinator.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "coordinator/agents/agent_registry.h"
#include "coordinator/audit/system_log.h"
#include "coordinator/auth/owners.h"
#include "coordinator/auth/token_service.h"
#include "coordinator/auth/user_directory.h"
#include "coordinator/store/store.h"
#include "tests/support/fake_clock.h"
#include "tests/support/temp_dir.h"

namespace keyhole::testing {

class CoordinatorServices {
 public:
  // A fresh stack over dir's keyhole.db (created on the first call). Test failures on error.
  void Reopen(coord::SystemLogOptions log_options = {});

  // A user's profile as the API takes it.
  static nlohmann::json Profile(const std::string& login, const std::string& first_name = "F",
                                const std::string& last_name = "L");
  // An ACTIVE user with Profile(login); its id ("" and a test failure if refused).
  std::string MakeUser(const std::string& login, bool super_admin = false);
  // An ACTIVE SUPER_ADMIN; its id.
  std::string MakeAdmin(const std::string& login = "admin@example.com") { return MakeUser(login, true); }
  // A user's API token (a test failure if refused).
  coord::CreatedToken MakeToken(const std::string& owner_id, const std::string& name = "t",
                                const std::string& client_name = "c");
  // Why TokenService refuses `secret` (a test failure if it accepts it).
  coord::AuthFailure FailureOf(const std::string& secret);

  TempDir dir;
  FakeClock clock;
  std::unique_ptr<coord::Store> store;
  std::unique_ptr<coord::SystemLog> log;  // before tokens, which records into it
  std::unique_ptr<coord::UserDirectory> users;
  std::unique_ptr<coord::AgentRegistry> registry;
  std::unique_ptr<coord::Owners> owners;  // users and registry, for tokens
  std::unique_ptr<coord::TokenService> tokens;
};

}  // namespace keyhole::testing
