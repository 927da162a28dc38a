// STATE_DIR/lock: one holder at a time, across descriptors and processes; the refusal names the
// holder's command and pid; released when the holder is destroyed or its process ends; `run`'s
// wait for a one-shot command, and no wait for another `run`.
#include "agent/state/state_lock.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace keyhole::agent {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(StateLockTest, OneHolderAtATimeAndTheRefusalNamesIt) {
  keyhole::testing::TempDir dir;
  {
    auto held = StateLock::TryAcquire(dir.path(), "run");
    ASSERT_TRUE(held.ok()) << held.status().message();
    struct stat st;
    ASSERT_EQ(::stat(dir.File("lock").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(Slurp(dir.File("lock")), std::to_string(::getpid()) + " run\n");

    // flock(2) locks belong to the open file description: a second open in the same process is
    // refused as another process would be.
    auto second = StateLock::TryAcquire(dir.path(), "rotate");
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(second.status().message(),
              "keyhole-agent run is using " + dir.path() + " (pid " + std::to_string(::getpid()) + "?)");
    EXPECT_EQ(second.status().detail(), "run");

    StateLock moved = std::move(*held);  // still held
    EXPECT_FALSE(StateLock::TryAcquire(dir.path(), "rotate").ok());
  }
  auto again = StateLock::TryAcquire(dir.path(), "rotate");
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(Slurp(dir.File("lock")), std::to_string(::getpid()) + " rotate\n");
}

TEST(StateLockTest, AnotherProcessHoldsItUntilItEnds) {
  keyhole::testing::TempDir dir;
  std::ofstream(dir.File("lock")) << "";  // flock(1) writes nothing: the holder is unknown
  // --close: the lock stays with flock(1) itself, not with the command it runs.
  keyhole::testing::Subprocess holder({"/usr/bin/flock", "--exclusive", "--close", dir.File("lock"), "sleep", "2"});
  // Wait for flock(1) to hold it, probing without StateLock (which would record itself as holder).
  bool held = false;
  for (int i = 0; i < 200 && !held; ++i) {
    int fd = ::open(dir.File("lock").c_str(), O_RDONLY | O_CLOEXEC);
    held = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
    ::close(fd);
    if (!held) std::this_thread::sleep_for(25ms);
  }
  ASSERT_TRUE(held) << "flock(1) never took the lock";
  auto r = StateLock::TryAcquire(dir.path(), "rotate");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "keyhole-agent (run?) is using " + dir.path() + " (pid unknown)");
  EXPECT_EQ(r.status().detail(), "");

  EXPECT_EQ(holder.Wait(10s), 0);  // it ends: the kernel releases its lock
  EXPECT_TRUE(StateLock::TryAcquire(dir.path(), "rotate").ok());
}

TEST(StateLockTest, RunWaitsForAOneShotCommandButNotForAnotherRun) {
  keyhole::testing::TempDir dir;
  auto rotate = StateLock::TryAcquire(dir.path(), "rotate");
  ASSERT_TRUE(rotate.ok());
  std::thread release([&rotate] {
    std::this_thread::sleep_for(300ms);
    StateLock gone = std::move(*rotate);
  });
  const auto start = std::chrono::steady_clock::now();
  auto run = StateLock::Acquire(dir.path(), "run", 10s, [] { return true; }, 20ms);
  release.join();
  ASSERT_TRUE(run.ok()) << run.status().message();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 250ms);

  // Another run: reported at once, not after the timeout.
  const auto second_start = std::chrono::steady_clock::now();
  auto second = StateLock::Acquire(dir.path(), "run", 10s, [] { return true; }, 20ms);
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(), HasSubstr("keyhole-agent run is using"));
  EXPECT_LT(std::chrono::steady_clock::now() - second_start, 2s);
}

TEST(StateLockTest, WaitingEndsOnTimeoutOrStop) {
  keyhole::testing::TempDir dir;
  auto activate = StateLock::TryAcquire(dir.path(), "activate");
  ASSERT_TRUE(activate.ok());
  auto timed_out = StateLock::Acquire(dir.path(), "run", 100ms, [] { return true; }, 10ms);
  ASSERT_FALSE(timed_out.ok());
  EXPECT_THAT(timed_out.status().message(), HasSubstr("keyhole-agent activate is using"));
  auto stopped = StateLock::Acquire(dir.path(), "run", 10s, [] { return false; }, 10ms);
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.status().code(), StatusCode::kUnavailable);
}

TEST(StateLockTest, AMissingDirectoryIsAnError) {
  keyhole::testing::TempDir dir;
  auto r = StateLock::TryAcquire(dir.File("missing"), "rotate");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().code(), StatusCode::kFailedPrecondition);
}

// A writer killed between its temporary file and the rename leaves a file that may hold a token;
// the next holder of the lock (every writer holds it) deletes it, and nothing else.
TEST(StateLockTest, TheNextHolderRemovesACrashedWritersTemporaryFile) {
  keyhole::testing::TempDir dir;
  std::ofstream(dir.File(".state.json.tmp-AbC123")) << "{\"token\":\"kha_secret\"}";
  std::ofstream(dir.File("state.json")) << "{}";
  std::ofstream(dir.File("agent.toml")) << "";
  {
    auto held = StateLock::TryAcquire(dir.path(), "rotate");
    ASSERT_TRUE(held.ok()) << held.status().message();
  }
  EXPECT_NE(::access(dir.File(".state.json.tmp-AbC123").c_str(), F_OK), 0);
  EXPECT_EQ(::access(dir.File("state.json").c_str(), F_OK), 0);
  EXPECT_EQ(::access(dir.File("agent.toml").c_str(), F_OK), 0);
}

}  // namespace
}  // namespace keyhole::agent
