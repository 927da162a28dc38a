#include "shared/log/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "shared/clock/clock.h"
#include "shared/clock/iso8601.h"

namespace keyhole {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

LogSink& Sink() {
  static LogSink sink;
  return sink;
}

bool UnderJournal() {
  static const bool journal = std::getenv("JOURNAL_STREAM") != nullptr;
  return journal;
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kNotice: return "NOTICE";
    case LogLevel::kWarning: return "WARN";
    case LogLevel::kError: return "ERROR";
  }
  return "INFO";
}

}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

LogLevel CurrentLogLevel() { return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed)); }

std::optional<LogLevel> ParseLogLevel(std::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "notice") return LogLevel::kNotice;
  if (name == "warning" || name == "warn") return LogLevel::kWarning;
  if (name == "error") return LogLevel::kError;
  return std::nullopt;
}


void SetLogSink(LogSink sink) { Sink() = std::move(sink); }

bool LogEnabled(LogLevel level) { return static_cast<int>(level) <= g_level.load(std::memory_order_relaxed); }

void Log(LogLevel level, std::string_view message) {
  if (!LogEnabled(level)) return;
  if (const LogSink& sink = Sink()) {
    std::string clean(message);
    // One event, one line: newlines inside a message would let input forge log lines.
    for (char& c : clean) c = (c == '\n' || c == '\r') ? ' ' : c;
    sink(level, clean);
    return;
  }
  std::string line;
  line.reserve(message.size() + 48);
  if (UnderJournal()) {
    line += '<';
    line += std::to_string(static_cast<int>(level));
    line += '>';
  } else {
    line += FormatIso8601(RealClock().Now());
    line += ' ';
    line += LevelName(level);
    line += ' ';
  }
  // One event, one line: newlines inside a message would let input forge log lines.
  for (char c : message) line += (c == '\n' || c == '\r') ? ' ' : c;
  line += '\n';
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
}

}  // namespace keyhole
