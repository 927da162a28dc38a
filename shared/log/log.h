// Log: one line per event on stderr, with sd-daemon priority prefixes ("<6>…") when running under
// systemd (JOURNAL_STREAM set) and a UTC timestamp otherwise. Thread-safe (one write(2) per line).
// A sink set with SetLogSink receives each enabled line instead (the agent's journal sink).
// Never pass a secret to these functions.
#pragma once

#include <functional>
#include <optional>
#include <string_view>

namespace keyhole {

enum class LogLevel { kDebug = 7, kInfo = 6, kNotice = 5, kWarning = 4, kError = 3 };

void SetLogLevel(LogLevel level);
LogLevel CurrentLogLevel();
// "debug", "info", "notice", "warning" (or "warn"), "error"; nullopt for anything else.
std::optional<LogLevel> ParseLogLevel(std::string_view name);

// Where lines go instead of stderr; an empty function restores stderr. Set it before other threads
// log (it is read without a lock); the sink must be thread-safe.
using LogSink = std::function<void(LogLevel level, std::string_view message)>;
void SetLogSink(LogSink sink);
bool LogEnabled(LogLevel level);
void Log(LogLevel level, std::string_view message);

inline void LogInfo(std::string_view m) { Log(LogLevel::kInfo, m); }
inline void LogWarning(std::string_view m) { Log(LogLevel::kWarning, m); }
inline void LogError(std::string_view m) { Log(LogLevel::kError, m); }
inline void LogDebug(std::string_view m) { Log(LogLevel::kDebug, m); }

}  // namespace keyhole
