// PrintableText: a string the coordinator sent (an error summary, an agent's status or id), made
// safe for a log line, the journal or a terminal: at most `max` bytes on a character boundary,
// ASCII control characters (below 0x20, and 0x7f) as spaces, C1 controls and bytes that are not
// UTF-8 as '?', "..." when cut. Pure; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace keyhole::agent {

inline constexpr size_t kPrintableTextMax = 200;

std::string PrintableText(std::string_view text, size_t max = kPrintableTextMax);

}  // namespace keyhole::agent
