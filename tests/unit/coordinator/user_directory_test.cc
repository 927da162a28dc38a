#include "coordinator/auth/user_directory.h"

#include <gtest/gtest.h>

#include "tests/support/fake_clock.h"
#include "tests/support/temp_dir.h"

namespace keyhole::coord {
namespace {

using keyhole::testing::FakeClock;
using keyhole::testing::TempDir;

class UserDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store = std::move(OpenSqliteStore(dir.File("keyhole.db"))).value();
    users = std::make_unique<UserDirectory>(*store, clock);
    admin = Create("admin@example.com", true, true);
  }
  std::string Create(const std::string& login, bool activate = true, bool super_admin = false) {
    auto u = users->Create({{"login", login}, {"email", login}, {"firstName", "F"}, {"lastName", "L"}}, activate,
                           super_admin);
    EXPECT_TRUE(u.ok()) << u.status().message();
    return u.ok() ? u->id : "";
  }
  UserStatus StatusOf(const std::string& id) { return users->Get(id)->status; }

  TempDir dir;
  FakeClock clock;
  std::unique_ptr<Store> store;
  std::unique_ptr<UserDirectory> users;
  std::string admin;
};

TEST_F(UserDirectoryTest, CreateStagedOrActive) {
  EXPECT_EQ(StatusOf(Create("s@example.com", false)), UserStatus::kStaged);
  EXPECT_EQ(StatusOf(Create("a@example.com", true)), UserStatus::kActive);
}

TEST_F(UserDirectoryTest, DuplicateLoginIgnoringCase) {
  auto dup = users->Create({{"login", "ADMIN@example.com"}}, true, false);
  EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists);
  ASSERT_EQ(dup.status().causes().size(), 1u);
  EXPECT_EQ(dup.status().causes()[0], "login: An object with this field already exists in the current organization");
}

TEST_F(UserDirectoryTest, GetByIdOrLogin) {
  std::string id = Create("ada@example.com");
  EXPECT_EQ(users->Get("ADA@example.com")->id, id);
  EXPECT_EQ(users->Get(id)->login(), "ada@example.com");
  EXPECT_EQ(users->Get("nobody").status().code(), StatusCode::kNotFound);
}

struct Transition {
  LifecycleOp op;
  UserStatus from;
  std::optional<UserStatus> to;  // nullopt: refused
  StatusCode refusal = StatusCode::kOk;
  std::string detail = "";
};

class LifecycleTest : public UserDirectoryTest, public ::testing::WithParamInterface<Transition> {};

// Okta's legal transitions (../shared/okta-contract/CONTRACT.md §9).
INSTANTIATE_TEST_SUITE_P(
    Okta, LifecycleTest,
    ::testing::Values(
        Transition{LifecycleOp::kActivate, UserStatus::kStaged, UserStatus::kActive},
        Transition{LifecycleOp::kActivate, UserStatus::kDeprovisioned, UserStatus::kActive},
        Transition{LifecycleOp::kActivate, UserStatus::kActive, std::nullopt, StatusCode::kFailedPrecondition, "already_active"},
        Transition{LifecycleOp::kActivate, UserStatus::kSuspended, std::nullopt, StatusCode::kFailedPrecondition},
        Transition{LifecycleOp::kReactivate, UserStatus::kActive, std::nullopt, StatusCode::kFailedPrecondition},
        Transition{LifecycleOp::kReactivate, UserStatus::kDeprovisioned, std::nullopt, StatusCode::kFailedPrecondition},
        Transition{LifecycleOp::kDeactivate, UserStatus::kActive, UserStatus::kDeprovisioned},
        Transition{LifecycleOp::kDeactivate, UserStatus::kStaged, UserStatus::kDeprovisioned},
        Transition{LifecycleOp::kDeactivate, UserStatus::kSuspended, UserStatus::kDeprovisioned},
        Transition{LifecycleOp::kDeactivate, UserStatus::kDeprovisioned, std::nullopt, StatusCode::kFailedPrecondition},
        Transition{LifecycleOp::kSuspend, UserStatus::kActive, UserStatus::kSuspended},
        Transition{LifecycleOp::kSuspend, UserStatus::kStaged, std::nullopt, StatusCode::kInvalidArgument},
        Transition{LifecycleOp::kUnsuspend, UserStatus::kSuspended, UserStatus::kActive},
        Transition{LifecycleOp::kUnsuspend, UserStatus::kActive, std::nullopt, StatusCode::kInvalidArgument}));

TEST_P(LifecycleTest, FollowsOktaTransitions) {
  const Transition& t = GetParam();
  std::string id = Create("u@example.com", t.from != UserStatus::kStaged);
  // Walk to the starting status.
  if (t.from == UserStatus::kSuspended) {
    ASSERT_TRUE(users->Apply(id, LifecycleOp::kSuspend).ok());
  }
  if (t.from == UserStatus::kDeprovisioned) {
    ASSERT_TRUE(users->Apply(id, LifecycleOp::kDeactivate).ok());
  }
  ASSERT_EQ(StatusOf(id), t.from);
  clock.Advance(std::chrono::seconds(5));
  auto r = users->Apply(id, t.op);
  if (t.to) {
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(StatusOf(id), *t.to);
    EXPECT_EQ(users->Get(id)->status_changed, clock.Now());
  } else {
    EXPECT_EQ(r.status().code(), t.refusal);
    EXPECT_EQ(r.status().detail(), t.detail);
    EXPECT_EQ(StatusOf(id), t.from);
  }
}

TEST_F(UserDirectoryTest, TheLastActiveAdminCannotBeDeactivated) {
  EXPECT_EQ(users->Apply(admin, LifecycleOp::kDeactivate).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(users->Apply(admin, LifecycleOp::kSuspend).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(users->SetSuperAdmin(admin, false).status().code(), StatusCode::kFailedPrecondition);
  std::string second = Create("second@example.com", true, true);
  EXPECT_TRUE(users->Apply(admin, LifecycleOp::kDeactivate).ok());
  EXPECT_EQ(users->Apply(second, LifecycleOp::kDeactivate).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(UserDirectoryTest, DeleteDeactivatesFirstThenDeletes) {
  std::string id = Create("u@example.com");
  auto first = users->Delete(id);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(*first);
  EXPECT_EQ(StatusOf(id), UserStatus::kDeprovisioned);
  auto second = users->Delete(id);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(*second);
  EXPECT_EQ(users->Get(id).status().code(), StatusCode::kNotFound);
  // Reloaded from disk, it is still gone.
  UserDirectory reloaded(*store, clock);
  ASSERT_TRUE(reloaded.Load().ok());
  EXPECT_EQ(reloaded.Get(id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(reloaded.Get(admin).ok());
}

TEST_F(UserDirectoryTest, ListHidesDeprovisionedAndPages) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Create("user" + std::to_string(i) + "@example.com"));
  ASSERT_TRUE(users->Apply(ids[2], LifecycleOp::kDeactivate).ok());
  UserPage all = users->List({.limit = 100});
  EXPECT_EQ(all.users.size(), 5u);  // admin + 4
  UserPage p1 = users->List({.limit = 3});
  ASSERT_TRUE(p1.next_after);
  UserPage p2 = users->List({.after_seq = *p1.next_after, .limit = 3});
  EXPECT_EQ(p2.users.size(), 2u);
  EXPECT_FALSE(p2.next_after);
  UserPage deprovisioned = users->List({.status = UserStatus::kDeprovisioned, .limit = 10});
  ASSERT_EQ(deprovisioned.users.size(), 1u);
  EXPECT_EQ(deprovisioned.users[0].id, ids[2]);
  EXPECT_EQ(users->List({.q = "USER3", .limit = 10}).users.size(), 1u);
  EXPECT_EQ(users->List({.q = "f", .limit = 10}).users.size(), 5u);  // firstName "F"
}

TEST_F(UserDirectoryTest, ExactlyFullLastPageHasNoNext) {
  UserPage p = users->List({.limit = 1});  // only the admin
  EXPECT_EQ(p.users.size(), 1u);
  EXPECT_FALSE(p.next_after.has_value());
}

}  // namespace
}  // namespace keyhole::coord
