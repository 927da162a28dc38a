// FileSystem: the seam under everything that keeps state in files (the agent's state store, the
// coordinator's TLS key). WriteFileAtomic writes a temporary file with a unique name beside the
// target, fsyncs it, renames it over the target and fsyncs the directory, so a crash leaves either
// the old or the new content, and concurrent writers never share a temporary file.
// Tests inject failures by subclassing. Implementations are thread-compatible.
#pragma once

#include <string>
#include <sys/types.h>

#include "shared/errors/status.h"

namespace keyhole {

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  virtual Status WriteFileAtomic(const std::string& path, const std::string& content, mode_t mode) = 0;
  virtual StatusOr<std::string> ReadFile(const std::string& path) = 0;
  virtual bool Exists(const std::string& path) = 0;
  // Removes a file and fsyncs its directory; a file already absent is not an error.
  virtual Status RemoveFile(const std::string& path) = 0;
  // Creates the directory and its parents with `mode` for any it creates.
  virtual Status MakeDirectories(const std::string& path, mode_t mode) = 0;
};

// How PosixFileSystem::WriteFileAtomic names its temporary files for `file_name` (a base name):
// "." + file_name + ".tmp-" and six random characters, in the target's directory.
std::string AtomicWriteTempPrefix(const std::string& file_name);

class PosixFileSystem final : public FileSystem {
 public:
  Status WriteFileAtomic(const std::string& path, const std::string& content, mode_t mode) override;
  StatusOr<std::string> ReadFile(const std::string& path) override;
  bool Exists(const std::string& path) override;
  Status RemoveFile(const std::string& path) override;
  Status MakeDirectories(const std::string& path, mode_t mode) override;
};

}  // namespace keyhole
