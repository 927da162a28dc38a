// HostInfoReader: what the agent reports about its host (HostInfo): the host name, its own version
// and the OS's PRETTY_NAME from /etc/os-release (read through the FileSystem seam). Stateless.
#pragma once

#include <string>

#include "agent/activation/coordinator_client.h"
#include "shared/fs/file_system.h"

namespace keyhole::agent {

class HostInfoReader {
 public:
  explicit HostInfoReader(FileSystem& fs, std::string os_release = "/etc/os-release")
      : fs_(fs), os_release_(std::move(os_release)) {}

  HostInfo Read() const;
  // PRETTY_NAME's value from os-release text (quotes and escapes removed), or "".
  static std::string PrettyName(const std::string& os_release_text);
  static std::string HostName();

 private:
  FileSystem& fs_;
  const std::string os_release_;
};

}  // namespace keyhole::agent
