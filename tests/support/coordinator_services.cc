#include "tests/support/coordinator_services.h"

#include <gtest/gtest.h>

namespace keyhole::testing {

using coord::AgentRegistry;
using coord::AuthFailure;
using coord::CreatedToken;
using coord::OpenSqliteStore;
using coord::OwnerKind;
using coord::Owners;
using coord::SystemLog;
using coord::SystemLogOptions;
using keyhole::TokenPolicy;
using coord::TokenService;
using coord::UserDirectory;

void CoordinatorServices::Reopen(SystemLogOptions log_options) {
  tokens.reset();
  owners.reset();
  registry.reset();
  users.reset();
  log.reset();
  store.reset();
  auto opened = OpenSqliteStore(dir.File("keyhole.db"));
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  store = std::move(opened).value();
  log = std::make_unique<SystemLog>(*store, clock, log_options);
  users = std::make_unique<UserDirectory>(*store, clock);
  ASSERT_TRUE(users->Load().ok());
  registry = std::make_unique<AgentRegistry>(*store, clock);
  ASSERT_TRUE(registry->Load().ok());
  owners = std::make_unique<Owners>(*users, *registry);
  tokens = std::make_unique<TokenService>(*store, clock, *owners, TokenPolicy(), log.get());
  ASSERT_TRUE(tokens->Load().ok());
}

nlohmann::json CoordinatorServices::Profile(const std::string& login, const std::string& first_name,
                                            const std::string& last_name) {
  return {{"login", login}, {"email", login}, {"firstName", first_name}, {"lastName", last_name}};
}

std::string CoordinatorServices::MakeUser(const std::string& login, bool super_admin) {
  auto u = users->Create(Profile(login), /*activate=*/true, super_admin);
  EXPECT_TRUE(u.ok()) << login << ": " << u.status().message();
  return u.ok() ? u->id : "";
}

CreatedToken CoordinatorServices::MakeToken(const std::string& owner_id, const std::string& name,
                                            const std::string& client_name) {
  auto t = tokens->Create(OwnerKind::kUser, owner_id, name, client_name);
  EXPECT_TRUE(t.ok()) << owner_id << ": " << t.status().message();
  return t.ok() ? std::move(t).value() : CreatedToken{};
}

AuthFailure CoordinatorServices::FailureOf(const std::string& secret) {
  AuthFailure why{};
  EXPECT_FALSE(tokens->Authenticate(secret, &why).ok());
  return why;
}

}  // namespace keyhole::testing
