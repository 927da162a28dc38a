// RestClient: a synchronous HTTP client for talking to the coordinator, as keyholectl and the agent
// see it: one request carrying the API token, and the raw answer. Implemented over cpprestsdk
// (cpprest_client.h) and by fakes in tests; no cpprestsdk type appears here. Not thread-safe: one
// caller at a time.
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "shared/errors/status.h"

namespace keyhole::rest {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct RestResponse {
  int status = 0;
  HeaderList headers;  // as received; a client may comma-join repeated fields (cpprestsdk does)
  std::string body;

  // The first value of the field `name` (case-insensitive), or nullopt.
  std::optional<std::string> Header(std::string_view name) const;
  // Every value of the field `name`, in order.
  std::vector<std::string> Headers(std::string_view name) const;
};

// A response body larger than this (1 MiB) is refused unless ConnectionSettings say otherwise.
inline constexpr size_t kDefaultMaxResponseBytes = size_t{1} << 20;

// Where a client connects and whom it trusts. At most one of ca_file, ca_pem and pin may be set;
// none means the system's CAs.
struct ConnectionSettings {
  std::string url;      // the coordinator's base URL, "https://host:port" (a path prefix is kept)
  std::string token;    // the API token, sent as "SSWS <token>"; never printed. Empty: no Authorization
                        // header unless the caller passes one in extra_headers
  std::string ca_file;  // PEM file whose certificates are the only trust anchors
  std::string pin;      // "sha256:<64 hex>": accept exactly the server certificate with this fingerprint
  std::string ca_pem;   // as ca_file, but the PEM text itself (the agent keeps it in its state)
  std::chrono::milliseconds timeout{30000};  // for one request, connection included
  std::string user_agent;                    // default "keyhole/<version>"
  // Called about every 100 ms while a request is in flight (on the caller's thread); returning
  // false abandons the request: Send then answers kUnavailable with detail kDetailAborted.
  std::function<bool()> keep_waiting;
  // The largest response body read; a larger one is not kept: Send answers kUnavailable
  // ("response too large").
  size_t max_response_bytes = kDefaultMaxResponseBytes;
};

// Status::detail() of a request abandoned because keep_waiting answered false.
inline constexpr char kDetailAborted[] = "aborted";

class RestClient {
 public:
  virtual ~RestClient() = default;

  // Sends `method` to `target`: a path with query ("/api/v1/users?limit=2") below the base URL, or
  // an absolute URL on the base URL's origin (a Link header's). A JSON content type goes with
  // `body`. A failure Status means no HTTP answer: kUnavailable when the coordinator was not
  // reached or its certificate not trusted, kFailedPrecondition when `target` leaves the origin
  // (the token is sent nowhere else). Any HTTP status, 4xx and 5xx included, is a RestResponse.
  virtual StatusOr<RestResponse> Send(const std::string& method, const std::string& target,
                                      const std::optional<nlohmann::json>& body = std::nullopt,
                                      const HeaderList& extra_headers = {}) = 0;
};

}  // namespace keyhole::rest
