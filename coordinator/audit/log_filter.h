// ParseLogFilter: the System Log's `filter` expression, a subset of SCIM filtering.
//   expr := term ("or" term)* ; term := factor ("and" factor)* ;
//   factor := "(" expr ")" | attribute "eq" "string"
//   attribute := eventType | outcome.result | actor.id | target.id
// Operators are case-insensitive; string literals use double quotes with \" and \\ escapes.
// Pure function; anything else is InvalidArgument with detail "search" (400 E0000031).
#pragma once

#include <string_view>

#include "coordinator/audit/log_event.h"
#include "shared/errors/status.h"

namespace keyhole::coord {

inline constexpr size_t kMaxLogFilterLength = 2000;
inline constexpr size_t kMaxLogFilterTerms = 20;
inline constexpr size_t kMaxLogFilterDepth = 8;

StatusOr<LogFilter> ParseLogFilter(std::string_view text);

}  // namespace keyhole::coord
