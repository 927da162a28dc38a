// Paging: reads limit/after from a request and writes Okta's Link headers
// (one field per relation, absolute URLs, every original parameter repeated in `next`).
#pragma once

#include <cstdint>
#include <optional>

#include "coordinator/http/request.h"
#include "shared/errors/status.h"

namespace keyhole::coord {

struct PageRequest {
  size_t limit;
  int64_t after = 0;  // cursor: the last sequence number the client has seen
};

// limit must be 1..max_limit (default_limit when absent); after a cursor this server issued.
// Bad values: InvalidArgument with detail "paging" (400 E0000029).
StatusOr<PageRequest> ReadPaging(const Request& req, size_t default_limit, size_t max_limit);

// Adds `Link: <…>; rel="self"` and, when next_after is set, `Link: <…>; rel="next"`.
void AddPageLinks(const Request& req, Response& resp, std::optional<int64_t> next_after);

}  // namespace keyhole::coord
