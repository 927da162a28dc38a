// Web links (RFC 8288) as Okta pages lists: `Link: <url>; rel="next"`. Pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace keyhole::ctl {

// The target of the first link whose relation types include "next", across the given Link field
// values; each value may hold one link or several comma-joined ones. Nullopt if there is none.
std::optional<std::string> NextLink(const std::vector<std::string>& link_values);

}  // namespace keyhole::ctl
