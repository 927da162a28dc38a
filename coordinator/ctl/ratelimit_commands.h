// RateLimitCommands: `keyholectl ratelimits …`, over /api/v1/rateLimits (each endpoint's limit and
// this minute's use) and /api/v1/rateLimits/exceptions (requests for more, and their decisions).
// Each command prints to Output (a table, or the API's JSON with --json) and returns a Status for
// the caller to report; AddRateLimitCommands wires them into the command line. Borrows its
// arguments. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "coordinator/ctl/api_session.h"
#include "coordinator/ctl/commands.h"
#include "coordinator/ctl/table.h"
#include "shared/errors/status.h"

namespace CLI {
class App;
}

namespace keyhole::ctl {

// One endpoint of an exception: "GET /api/v1/users/{userId}" and the rate it asks for.
struct EndpointRate {
  std::string endpoint;
  uint32_t per_minute = 0;
};

// "GET /api/v1/users=20000" as an EndpointRate; kInvalidArgument saying what is wrong otherwise.
StatusOr<EndpointRate> ParseEndpointRate(std::string_view text);

struct ExceptionRequestOptions {
  std::string org;
  std::vector<EndpointRate> endpoints;
  std::string start, end;  // ISO 8601, sent as given
  std::string justification;
  std::string lead_time_override;  // the reason; empty: none
};

class RateLimitCommands {
 public:
  RateLimitCommands(ApiSession& api, const Output& out) : api_(api), out_(out) {}

  Status List();
  // `status` is PENDING, APPROVED, DENIED, CANCELED, or empty for all.
  Status ListExceptions(const std::string& status);
  Status GetException(const std::string& id);
  Status RequestException(const ExceptionRequestOptions& options);
  // `op` is approve, deny or cancel; an empty `reason` sends no body.
  Status DecideException(const std::string& id, const std::string& op, const std::string& reason);

 private:
  void PrintException(const nlohmann::json& exception) const;

  ApiSession& api_;
  const Output& out_;
};

// Adds `ratelimits` and its subcommands to `app`; the one chosen leaves its action in `action`,
// which must outlive the parse.
void AddRateLimitCommands(CLI::App& app, ApiAction& action);

}  // namespace keyhole::ctl
