#include "agent/state/state_lock.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>
#include <thread>

#include "agent/state/state_store.h"
#include "shared/fs/file_system.h"
#include "shared/log/log.h"

namespace keyhole::agent {
namespace {

// "<pid> <command>" as the holder wrote it; either part may be missing (an older or unwritable file).
void ReadHolder(int fd, std::string& pid, std::string& command) {
  char buf[128];
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return;
  std::istringstream in(std::string(buf, static_cast<size_t>(n)));
  std::string p, c;
  in >> p >> c;
  if (!p.empty() && p.size() <= 10 && p.find_first_not_of("0123456789") == std::string::npos) pid = p;
  if (c == "run" || c == "activate" || c == "rotate" || c == "deactivate") command = c;
}

}  // namespace

StateLock& StateLock::operator=(StateLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

// Every writer of the state holds the lock, so a temporary file of an atomic write found by the
// new holder is a crashed writer's: it may hold a secret, and nothing else would ever delete it.
static void RemoveStaleTemporaries(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  const std::string prefix = AtomicWriteTempPrefix(StateStore::kFileName);
  const std::string_view kPrefix = prefix;
  while (const dirent* entry = ::readdir(d)) {
    std::string_view name = entry->d_name;
    if (name.substr(0, kPrefix.size()) != kPrefix) continue;
    if (::unlinkat(::dirfd(d), entry->d_name, 0) == 0) LogInfo("removed a crashed write's leftover: " + dir + "/" + std::string(name));
  }
  ::closedir(d);
}

StateLock::~StateLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

StatusOr<StateLock> StateLock::TryAcquire(const std::string& dir, std::string_view command) {
  const std::string path = dir + "/lock";
  // Read-write to record the holder; read-only suffices for flock(2), for a file another user
  // created (root's CLI before the service's user, say).
  bool writable = true;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 && errno == EACCES) {
    writable = false;
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  }
  if (fd < 0) return ErrnoToStatus(errno, "open " + path);
  StateLock lock(fd, path);
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) return ErrnoToStatus(errno, "lock " + path);
    std::string pid, holder;
    ReadHolder(fd, pid, holder);
    return FailedPreconditionError((holder.empty() ? "keyhole-agent (run?)" : "keyhole-agent " + holder) +
                                   " is using " + dir + " (pid " + (pid.empty() ? "unknown" : pid + "?") + ")")
        .WithDetail(holder);
  }
  RemoveStaleTemporaries(dir);
  if (writable) {
    const std::string who = std::to_string(::getpid()) + " " + std::string(command) + "\n";
    // Best effort: the lock, not this note, is what protects the state.
    if (::ftruncate(fd, 0) == 0 && ::pwrite(fd, who.data(), who.size(), 0) < 0) {
      LogDebug("cannot record the holder in " + path);
    }
  }
  return lock;
}

StatusOr<StateLock> StateLock::Acquire(const std::string& dir, std::string_view command,
                                       std::chrono::milliseconds timeout, const std::function<bool()>& keep_waiting,
                                       std::chrono::milliseconds poll) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool said = false;
  for (;;) {
    auto lock = TryAcquire(dir, command);
    if (lock.ok() || lock.status().code() != StatusCode::kFailedPrecondition) return lock;
    // Another daemon would hold it for ever: say so now rather than after the timeout.
    if (lock.status().detail() == "run" || std::chrono::steady_clock::now() >= deadline) return lock.status();
    if (!said) {
      LogWarning(lock.status().message() + "; waiting for it to finish");
      said = true;
    }
    if (keep_waiting && !keep_waiting()) {
      return Status(UnavailableError("stopped while waiting for " + dir + "/lock")).WithDetail("aborted");
    }
    std::this_thread::sleep_for(poll);
  }
}

}  // namespace keyhole::agent
