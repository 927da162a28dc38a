// ApiSession: Keyhole's REST API as keyholectl's commands see it. A call answers JSON or a Status
// built from Okta's error object; a 429 is retried as Okta's SDKs do (wait until X-Rate-Limit-Reset,
// at most twice, at most a minute); a list follows Link rel="next" URLs verbatim. Borrows the
// RestClient and Clock. Not thread-safe: one per command.
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "shared/rest/rest_client.h"
#include "shared/clock/clock.h"
#include "shared/errors/status.h"

namespace keyhole::ctl {

// The REST client is shared with the agent (shared/rest/); keyholectl uses it under these names.
using rest::ConnectionSettings;
using rest::HeaderList;
using rest::RestClient;
using rest::RestResponse;

// Status::detail() of a failure in which the coordinator gave no HTTP answer (keyholectl exits 3).
inline constexpr char kDetailNoAnswer[] = "no_answer";

// One path segment (a user id, a login, "me"), percent-encoded.
std::string PathSegment(std::string_view text);
// `path` with a query string of `params`, values percent-encoded; none gives `path` unchanged.
std::string WithQuery(std::string path, const std::vector<std::pair<std::string, std::string>>& params);
// An HTTP Date value ("Thu, 27 Nov 2026 23:09:48 GMT"), or nullopt.
std::optional<WallTime> ParseHttpDate(std::string_view text);
// A non-2xx answer as a Status: "E0000011 Invalid token provided (HTTP 401)" plus errorCauses.
Status ApiError(const RestResponse& response);

class ApiSession {
 public:
  using Sleeper = std::function<void(std::chrono::milliseconds)>;
  static constexpr int kMaxRetries = 2;
  static constexpr std::chrono::seconds kMaxWait{60};

  ApiSession(RestClient& client, const Clock& clock, Sleeper sleep)
      : client_(client), clock_(clock), sleep_(std::move(sleep)) {}

  // The answer's JSON body; null when it has none (204).
  StatusOr<nlohmann::json> Call(const std::string& method, const std::string& target,
                                const std::optional<nlohmann::json>& body = std::nullopt);

  struct Listing {
    nlohmann::json items = nlohmann::json::array();
    bool more = false;  // the last page fetched had a next link that was not followed
  };
  // GETs a list; with `all_pages`, every page, concatenated.
  StatusOr<Listing> List(const std::string& target, bool all_pages);

  struct Page {
    nlohmann::json items = nlohmann::json::array();
    std::optional<std::string> next;  // the Link rel="next" URL, verbatim
  };
  // GETs one page of a list.
  StatusOr<Page> GetPage(const std::string& target);

 private:
  StatusOr<RestResponse> SendPolitely(const std::string& method, const std::string& target,
                                      const std::optional<nlohmann::json>& body);
  std::optional<std::chrono::milliseconds> RetryDelay(const RestResponse& response) const;

  RestClient& client_;
  const Clock& clock_;
  Sleeper sleep_;
};

}  // namespace keyhole::ctl
