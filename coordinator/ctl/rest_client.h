// RestClient: keyholectl's view of an HTTP client: one synchronous request to the coordinator,
// carrying the API token, and the raw answer. Implemented over cpprestsdk (cpprest_client.h) and
// by fakes in tests; no cpprestsdk type appears here. Not thread-safe: one caller at a time.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "shared/errors/status.h"

namespace keyhole::ctl {

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

// Where keyholectl connects and whom it trusts. Exactly one of ca_file and pin may be set;
// neither means the system's CAs.
struct ConnectionSettings {
  std::string url;      // the coordinator's base URL, "https://host:port" (a path prefix is kept)
  std::string token;    // the API token, sent as "SSWS <token>"; never printed
  std::string ca_file;  // PEM file whose certificates are the only trust anchors
  std::string pin;      // "sha256:<64 hex>": accept exactly the server certificate with this fingerprint
};

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

}  // namespace keyhole::ctl
