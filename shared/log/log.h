// Log: one line per event on stderr, with sd-daemon priority prefixes ("<6>…") when running under
// systemd (JOURNAL_STREAM set) and a UTC timestamp otherwise. Thread-safe (one write(2) per line).
// Never pass a secret to these functions.
#pragma once

#include <string_view>

namespace keyhole {

enum class LogLevel { kDebug = 7, kInfo = 6, kNotice = 5, kWarning = 4, kError = 3 };

void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void Log(LogLevel level, std::string_view message);

inline void LogInfo(std::string_view m) { Log(LogLevel::kInfo, m); }
inline void LogWarning(std::string_view m) { Log(LogLevel::kWarning, m); }
inline void LogError(std::string_view m) { Log(LogLevel::kError, m); }
inline void LogDebug(std::string_view m) { Log(LogLevel::kDebug, m); }

}  // namespace keyhole
