// The agent's state file: round trip, mode 0600 in a 0700 directory (on the real file system),
// a failed write leaves the old state, a corrupt file is a clear error, removal.
#include "agent/state/state_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "shared/token/token_codec.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/agent/agent_fakes.h"

namespace keyhole::agent {
namespace {

using ::testing::HasSubstr;

AgentState Sample() {
  AgentState s;
  s.agent_id = "ajd1";
  s.pool_id = "0oa1";
  s.coordinator = "https://kh.test:8443";
  s.token = TokenCodec::Generate(TokenKind::kAgent);
  s.token_id = "00T1";
  s.token_issued = FromEpochMillis(1795824000000);
  s.trust.pin = "sha256:" + std::string(64, 'a');
  return s;
}

TEST(StateStoreTest, RoundTripsWithMode0600InA0700Directory) {
  keyhole::testing::TempDir tmp;
  PosixFileSystem fs;
  StateStore store(fs, tmp.File("state"));
  auto none = store.Load();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  AgentState s = Sample();
  s.pending_token = TokenCodec::Generate(TokenKind::kAgent);
  ASSERT_TRUE(store.Save(s).ok());
  struct stat st;
  ASSERT_EQ(::stat(store.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(tmp.File("state").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_FALSE(fs.Exists(store.path() + ".tmp"));

  auto loaded = store.Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ(**loaded, s);

  ASSERT_TRUE(store.Remove().ok());
  EXPECT_FALSE(store.Exists());
  EXPECT_TRUE(store.Remove().ok());  // already gone
}

TEST(StateStoreTest, KeepsTheCaPemAndNoTrust) {
  testing::FakeFileSystem fs;
  StateStore store(fs, "/var/lib/keyhole-agent");
  AgentState s = Sample();
  s.trust = TrustAnchor{.ca_pem = "-----BEGIN CERTIFICATE-----\nMII…\n-----END CERTIFICATE-----\n"};
  ASSERT_TRUE(store.Save(s).ok());
  EXPECT_EQ(fs.files.at(store.path()).mode, 0600u);
  EXPECT_EQ(fs.dir_modes.at("/var/lib/keyhole-agent"), 0700u);
  EXPECT_EQ(**store.Load(), s);
  s.trust = {};
  ASSERT_TRUE(store.Save(s).ok());
  EXPECT_EQ(**store.Load(), s);
  EXPECT_THAT(fs.files.at(store.path()).content, HasSubstr("\"trust\": {}"));
}

TEST(StateStoreTest, AFailedWriteLeavesTheOldState) {
  testing::FakeFileSystem fs;
  StateStore store(fs, "/s");
  AgentState old = Sample();
  ASSERT_TRUE(store.Save(old).ok());
  AgentState next = old;
  next.token = TokenCodec::Generate(TokenKind::kAgent);
  fs.fail_all_writes = true;
  Status s = store.Save(next);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("No space left"));
  EXPECT_EQ(**store.Load(), old);
}

TEST(StateStoreTest, CorruptStateIsAClearError) {
  testing::FakeFileSystem fs;
  StateStore store(fs, "/s");
  struct Case {
    std::string content, expected;
  } cases[] = {
      {"{not json", "is not valid JSON"},
      {"[]", "not a JSON object"},
      {R"({"version":2})", "version 2"},
      {R"({"version":1,"coordinator":"https://h","token":"x"})", "agent_id is missing"},
      {R"({"version":1,"agent_id":"a","coordinator":"https://h","token":"khu_x","token_issued":"2026-11-28T00:00:00Z"})",
       "token is not an agent token"},
  };
  for (const auto& c : cases) {
    fs.files["/s/state.json"] = {c.content, 0600};
    auto r = store.Load();
    ASSERT_FALSE(r.ok()) << c.content;
    EXPECT_THAT(r.status().message(), HasSubstr(c.expected)) << c.content;
    EXPECT_THAT(r.status().message(), HasSubstr("/s/state.json"));
    EXPECT_THAT(r.status().message(), HasSubstr("activate the agent again"));
  }
}

// What the directory holds besides `keep`: temporary files left behind, say.
std::vector<std::string> Others(const std::string& dir, const std::string& keep) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().filename() != keep) out.push_back(e.path().filename());
  }
  return out;
}

// Regression: every writer used the fixed name state.json.tmp, opened with O_TRUNC, so two
// processes saving at once (a CLI rotate beside the daemon) could rename each other's half-written
// file into place.
TEST(WriteFileAtomicTest, ConcurrentWritersNeverMixTheirContent) {
  keyhole::testing::TempDir tmp;
  PosixFileSystem fs;
  const std::string path = tmp.File("state.json");
  std::atomic<bool> failed{false};
  auto writer = [&](char c) {
    const std::string content(256 * 1024, c);
    for (int i = 0; i < 40; ++i) {
      if (!fs.WriteFileAtomic(path, content, 0600).ok()) failed = true;
    }
  };
  std::thread a(writer, 'a'), b(writer, 'b');
  for (int i = 0; i < 200; ++i) {
    auto read = fs.ReadFile(path);
    if (!read.ok()) continue;  // not written yet
    ASSERT_EQ(read->size(), 256u * 1024);
    ASSERT_EQ(read->find_first_not_of(read->front()), std::string::npos) << "mixed content";
  }
  a.join();
  b.join();
  EXPECT_FALSE(failed);
  auto last = fs.ReadFile(path);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->find_first_not_of(last->front()), std::string::npos);
  EXPECT_TRUE(Others(tmp.path(), "state.json").empty());
}

TEST(WriteFileAtomicTest, FollowsNoPlantedLinkAndLeavesNoTemporaryFileOnFailure) {
  keyhole::testing::TempDir tmp;
  PosixFileSystem fs;
  // The old fixed temporary name, planted as a link to a file elsewhere: neither followed nor truncated.
  std::ofstream(tmp.File("victim")) << "precious";
  ASSERT_EQ(::symlink(tmp.File("victim").c_str(), tmp.File("state.json.tmp").c_str()), 0);
  ASSERT_TRUE(fs.WriteFileAtomic(tmp.File("state.json"), "new", 0600).ok());
  EXPECT_EQ(*fs.ReadFile(tmp.File("victim")), "precious");
  EXPECT_EQ(*fs.ReadFile(tmp.File("state.json")), "new");
  struct stat st;
  ASSERT_EQ(::lstat(tmp.File("state.json").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // The rename fails (the target is a non-empty directory): the temporary file goes too.
  ASSERT_EQ(::mkdir(tmp.File("taken").c_str(), 0700), 0);
  std::ofstream(tmp.File("taken/inside")) << "x";
  Status s = fs.WriteFileAtomic(tmp.File("taken"), "content", 0600);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("rename"));
  std::vector<std::string> left = Others(tmp.path(), "");
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"state.json", "state.json.tmp", "taken", "victim"}));

  // No directory to write in: a clear error, nothing created.
  EXPECT_FALSE(fs.WriteFileAtomic(tmp.File("missing/state.json"), "x", 0600).ok());
}

}  // namespace
}  // namespace keyhole::agent
