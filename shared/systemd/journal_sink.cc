#include "shared/systemd/journal_sink.h"

#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace keyhole {

bool StderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st;
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

void JournalSink::SetField(const std::string& name, std::string value) {
  std::lock_guard lock(mu_);
  for (auto& [k, v] : fields_) {
    if (k == name) {
      v = std::move(value);
      return;
    }
  }
  fields_.emplace_back(name, std::move(value));
}

void JournalSink::Write(LogLevel level, std::string_view message) {
  std::vector<std::string> items;
  {
    std::lock_guard lock(mu_);
    items.reserve(fields_.size() + 3);
    items.push_back("MESSAGE=" + std::string(message));
    items.push_back("PRIORITY=" + std::to_string(static_cast<int>(level)));
    items.push_back("SYSLOG_IDENTIFIER=" + identifier_);
    for (const auto& [k, v] : fields_) items.push_back(k + "=" + v);
  }
  std::vector<struct iovec> iov(items.size());
  for (size_t i = 0; i < items.size(); ++i) iov[i] = {items[i].data(), items[i].size()};
  if (sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) < 0) {
    // The journal refused: stderr still reaches it, with a priority prefix.
    std::string line = "<" + std::to_string(static_cast<int>(level)) + ">" + std::string(message) + "\n";
    ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
    (void)ignored;
  }
}

}  // namespace keyhole
