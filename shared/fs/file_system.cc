#include "shared/fs/file_system.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace keyhole {
namespace {

std::string DirName(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status WriteAll(int fd, const std::string& content, const std::string& path) {
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, "write " + path);
    }
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

std::string AtomicWriteTempPrefix(const std::string& file_name) { return "." + file_name + ".tmp-"; }

Status PosixFileSystem::WriteFileAtomic(const std::string& path, const std::string& content, mode_t mode) {
  // A name of its own in the target's directory (same file system, so rename is atomic): two
  // writers never share a temporary file, and nothing planted there is followed or truncated.
  const std::string dir = DirName(path);
  const auto slash = path.find_last_of('/');
  std::string tmp = (slash == std::string::npos ? std::string() : path.substr(0, slash + 1)) +
                    AtomicWriteTempPrefix(slash == std::string::npos ? path : path.substr(slash + 1)) + "XXXXXX";
  // mkostemp opens with O_CREAT | O_EXCL (which never follows a symbolic link) and mode 0600.
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return ErrnoToStatus(errno, "create a temporary file for " + path);
  auto fail = [&tmp](Status s) {
    ::unlink(tmp.c_str());
    return s;
  };
  // Exactly `mode`: never wider (the umask may narrow a plain open's mode; mkostemp's is 0600).
  if (::fchmod(fd, mode) != 0) {
    Status s = ErrnoToStatus(errno, "chmod " + tmp);
    ::close(fd);
    return fail(s);
  }
  Status s = WriteAll(fd, content, tmp);
  if (s.ok() && ::fsync(fd) != 0) s = ErrnoToStatus(errno, "fsync " + tmp);
  if (::close(fd) != 0 && s.ok()) s = ErrnoToStatus(errno, "close " + tmp);
  if (!s.ok()) return fail(s);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(ErrnoToStatus(errno, "rename " + tmp + " to " + path));
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

StatusOr<std::string> PosixFileSystem::ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "open " + path);
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status s = ErrnoToStatus(errno, "read " + path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

bool PosixFileSystem::Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

Status PosixFileSystem::RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoToStatus(errno, "remove " + path);
  int dfd = ::open(DirName(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

Status PosixFileSystem::MakeDirectories(const std::string& path, mode_t mode) {
  if (path.empty() || Exists(path)) return Status::Ok();
  std::string parent = DirName(path);
  if (parent != path) {
    Status s = MakeDirectories(parent, mode);
    if (!s.ok()) return s;
  }
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return ErrnoToStatus(errno, "mkdir " + path);
  return Status::Ok();
}

}  // namespace keyhole
