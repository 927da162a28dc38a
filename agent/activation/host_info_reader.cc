#include "agent/activation/host_info_reader.h"

#include <unistd.h>

#include <climits>
#include <sstream>

#ifndef KEYHOLE_VERSION
#define KEYHOLE_VERSION "unknown"
#endif

namespace keyhole::agent {

std::string HostInfoReader::HostName() {
  char buf[HOST_NAME_MAX + 1] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

std::string HostInfoReader::PrettyName(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("PRETTY_NAME=", 0) != 0) continue;
    std::string value = line.substr(12);
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    std::string out;
    for (size_t i = 0; i < value.size(); ++i) {
      if (value[i] == '\\' && i + 1 < value.size()) ++i;
      out += value[i];
    }
    return out.substr(0, 255);
  }
  return "";
}

HostInfo HostInfoReader::Read() const {
  HostInfo info;
  info.host = HostName();
  info.version = KEYHOLE_VERSION;
  if (auto text = fs_.ReadFile(os_release_); text.ok()) info.os = PrettyName(*text);
  if (info.os.empty()) info.os = "Linux";
  return info;
}

}  // namespace keyhole::agent
