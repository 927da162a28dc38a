// CpprestClient: the RestClient over cpprestsdk's http_client, with the trust options (system CAs,
// a CA file or PEM text, or a pin; see ServerTrust), a request timeout and abandonment through
// ConnectionSettings::keep_waiting. cpprestsdk throws: nothing thrown leaves this class. One
// http_client and connection pool per instance; Send is not for concurrent use.
#pragma once

#include <memory>

#include "shared/rest/rest_client.h"

namespace keyhole::rest {

class CpprestClient final : public RestClient {
 public:
  // kInvalidArgument for a URL or CA file that cannot be used.
  static StatusOr<std::unique_ptr<RestClient>> Create(const ConnectionSettings& settings);
  ~CpprestClient() override;

  StatusOr<RestResponse> Send(const std::string& method, const std::string& target,
                              const std::optional<nlohmann::json>& body = std::nullopt,
                              const HeaderList& extra_headers = {}) override;

 private:
  struct Impl;
  explicit CpprestClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keyhole::rest
