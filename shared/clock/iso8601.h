// ISO 8601 timestamps as Okta writes them ("2026-11-27T23:09:48.000Z") and RFC 1123 dates for
// the HTTP Date header. Pure functions.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "shared/clock/clock.h"

namespace keyhole {

// Always UTC with milliseconds: YYYY-MM-DDTHH:mm:ss.SSSZ.
std::string FormatIso8601(WallTime t);

// Accepts YYYY-MM-DDTHH:mm:ss[.fraction](Z|±HH:MM|±HHMM). Returns nullopt on anything else.
std::optional<WallTime> ParseIso8601(std::string_view text);

// An ISO 8601 duration of days, hours, minutes and seconds: "P1D", "PT24H", "P1DT2H30M", "PT90S".
// Years, months and weeks (whose length varies or which Okta never writes) and fractions are refused.
std::optional<std::chrono::milliseconds> ParseIsoDuration(std::string_view text);

// "Thu, 27 Nov 2026 23:09:48 GMT".
std::string FormatHttpDate(WallTime t);

}  // namespace keyhole
