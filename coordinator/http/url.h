// URL pieces: percent-decoding of paths and query strings, and encoding for the Link headers
// the coordinator writes. Pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keyhole::coord {

// nullopt on a malformed escape or a decoded NUL. `plus_is_space` for query components.
std::optional<std::string> PercentDecode(std::string_view in, bool plus_is_space);
// Whether PercentDecode(in, …) succeeds, without decoding.
bool IsPercentDecodable(std::string_view in);
// Encodes everything but unreserved characters (RFC 3986).
std::string PercentEncode(std::string_view in);
// "a=1&b=x%20y" → {{"a","1"},{"b","x y"}}; nullopt on a malformed escape.
std::optional<std::vector<std::pair<std::string, std::string>>> ParseQuery(std::string_view query);
std::string BuildQuery(const std::vector<std::pair<std::string, std::string>>& query);

}  // namespace keyhole::coord
