// JournalSink: log lines sent to the systemd journal with sd_journal_send, with structured fields
// (SYSLOG_IDENTIFIER, PRIORITY and whatever the daemon adds, e.g. KEYHOLE_AGENT_ID), for use with
// SetLogSink when standard error is the journal's own stream. Fields are set before the sink is
// installed or under its mutex; Write is thread-safe.
#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/log/log.h"

namespace keyhole {

// True when JOURNAL_STREAM names the device and inode of this process's standard error, i.e. stderr
// is connected to the journal (systemd.exec(5)).
bool StderrIsJournal();

class JournalSink {
 public:
  explicit JournalSink(std::string identifier) : identifier_(std::move(identifier)) {}
  // Adds or replaces a field sent with every line ("KEYHOLE_AGENT_ID", "ajd…"). No secrets.
  void SetField(const std::string& name, std::string value);
  void Write(LogLevel level, std::string_view message);

 private:
  const std::string identifier_;
  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> fields_;  // GUARDED_BY(mu_)
};

}  // namespace keyhole
