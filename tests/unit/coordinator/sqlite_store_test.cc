#include <gtest/gtest.h>
#include <sys/stat.h>

#include "coordinator/store/store.h"
#include "tests/support/temp_dir.h"

namespace keyhole::coord {
namespace {

using keyhole::testing::TempDir;

UserRecord MakeUser(const std::string& id, const std::string& login) {
  UserRecord u;
  u.id = id;
  u.status = UserStatus::kActive;
  u.created = u.status_changed = u.last_updated = FromEpochMillis(1000);
  u.profile = {{"login", login}, {"email", login}, {"firstName", "A"}, {"lastName", "B"}};
  return u;
}

TokenRecord MakeToken(const std::string& id, const std::string& owner) {
  TokenRecord t;
  t.id = id;
  t.name = "n";
  t.owner_id = owner;
  t.client_name = "c";
  t.digest = TokenCodec::Digest(id);
  t.created = FromEpochMillis(1000);
  t.expires_at = FromEpochMillis(2000);
  return t;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> Open() {
    auto s = OpenSqliteStore(dir.File("keyhole.db"));
    EXPECT_TRUE(s.ok()) << s.status().message();
    return std::move(s).value();
  }
  TempDir dir;
};

TEST_F(SqliteStoreTest, UsersPersistAcrossReopen) {
  {
    auto store = Open();
    UserRecord u = MakeUser("00u1", "ada@example.com");
    ASSERT_TRUE(store->InsertUser(u).ok());
    EXPECT_GT(u.seq, 0);
    u.status = UserStatus::kSuspended;
    ASSERT_TRUE(store->UpdateUser(u).ok());
  }
  auto store = Open();
  auto users = store->LoadUsers();
  ASSERT_TRUE(users.ok());
  ASSERT_EQ(users->size(), 1u);
  EXPECT_EQ((*users)[0].status, UserStatus::kSuspended);
  EXPECT_EQ((*users)[0].login(), "ada@example.com");
}

TEST_F(SqliteStoreTest, LoginsAreUniqueIgnoringCase) {
  auto store = Open();
  UserRecord a = MakeUser("00u1", "ada@example.com"), b = MakeUser("00u2", "ADA@example.com");
  ASSERT_TRUE(store->InsertUser(a).ok());
  EXPECT_EQ(store->InsertUser(b).code(), StatusCode::kAlreadyExists);
}

TEST_F(SqliteStoreTest, UpdatingAMissingUserIsNotFound) {
  auto store = Open();
  EXPECT_EQ(store->UpdateUser(MakeUser("00uX", "x@example.com")).code(), StatusCode::kNotFound);
}

TEST_F(SqliteStoreTest, TokensStoreDigestsRevocationsAndUse) {
  {
    auto store = Open();
    TokenRecord t = MakeToken("00T1", "00u1");
    ASSERT_TRUE(store->InsertToken(t).ok());
    TokenRecord t2 = MakeToken("00T2", "00u1");
    ASSERT_TRUE(store->InsertToken(t2).ok());
    ASSERT_TRUE(store->RecordTokenUses({{"00T1", FromEpochMillis(1500), FromEpochMillis(9000)}}).ok());
    ASSERT_TRUE(store->RevokeToken("00T2", FromEpochMillis(1600), kRevokedExplicitly).ok());
  }
  auto tokens = Open()->LoadTokens();
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens->size(), 2u);
  EXPECT_EQ((*tokens)[0].digest, TokenCodec::Digest("00T1"));
  EXPECT_EQ((*tokens)[0].last_used, FromEpochMillis(1500));
  EXPECT_EQ((*tokens)[0].expires_at, FromEpochMillis(9000));
  EXPECT_FALSE((*tokens)[0].revoked_at.has_value());
  EXPECT_EQ((*tokens)[1].revoked_at, FromEpochMillis(1600));
  EXPECT_EQ((*tokens)[1].revoked_reason, "REVOKED");
}

TEST_F(SqliteStoreTest, UseOfARevokedTokenIsNotRecorded) {
  auto store = Open();
  TokenRecord t = MakeToken("00T1", "00u1");
  ASSERT_TRUE(store->InsertToken(t).ok());
  ASSERT_TRUE(store->RevokeToken("00T1", FromEpochMillis(1600), kRevokedInactivity).ok());
  ASSERT_TRUE(store->RecordTokenUses({{"00T1", FromEpochMillis(1700), FromEpochMillis(9000)}}).ok());
  auto tokens = store->LoadTokens();
  EXPECT_FALSE((*tokens)[0].last_used.has_value());
  EXPECT_EQ((*tokens)[0].revoked_reason, "INACTIVITY");
}

TEST_F(SqliteStoreTest, DeletingAUserRevokesItsTokens) {
  auto store = Open();
  UserRecord u = MakeUser("00u1", "ada@example.com");
  ASSERT_TRUE(store->InsertUser(u).ok());
  TokenRecord t = MakeToken("00T1", "00u1");
  ASSERT_TRUE(store->InsertToken(t).ok());
  ASSERT_TRUE(store->DeleteUser("00u1", FromEpochMillis(5000)).ok());
  EXPECT_TRUE(store->LoadUsers()->empty());
  EXPECT_EQ((*store->LoadTokens())[0].revoked_reason, "OWNER_DELETED");
}

TEST_F(SqliteStoreTest, NeverStoresTheSecretItself) {
  auto store = Open();
  TokenRecord t = MakeToken("00T1", "00u1");
  t.digest = TokenCodec::Digest("khu_the-secret-itself");
  ASSERT_TRUE(store->InsertToken(t).ok());
  store.reset();
  FILE* f = fopen(dir.File("keyhole.db").c_str(), "rb");
  std::string content;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) content.append(buf, n);
  fclose(f);
  EXPECT_EQ(content.find("the-secret-itself"), std::string::npos);
  EXPECT_NE(content.find(TokenCodec::DigestHex(t.digest)), std::string::npos);
}

}  // namespace
}  // namespace keyhole::coord
