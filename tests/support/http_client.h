// TestHttpClient: a small synchronous HTTP/1.1 client for integration tests (Beast, plain or TLS
// without verification: the tests that check verification use keyholectl). No Beast in this header.
#pragma once

#include <nlohmann/json.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace keyhole::testing {

struct TestResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // The values of every field with that name (case-insensitive), in order.
  std::vector<std::string> All(const std::string& name) const;
  std::string Header(const std::string& name) const;  // first value or ""
  nlohmann::json Json() const { return nlohmann::json::parse(body, nullptr, false); }
  // The URL of the Link field with rel="next", or "".
  std::string NextLink() const;
};

class TestHttpClient {
 public:
  // `base_url` is "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT".
  explicit TestHttpClient(std::string base_url);
  ~TestHttpClient();

  // One request on a fresh connection. `target` is a path with query, or an absolute URL on the
  // same server. Headers are added as given; a JSON content type is added when `body` is set.
  TestResponse Send(const std::string& method, const std::string& target, const std::string& token = "",
                    const std::string& body = "", std::vector<std::pair<std::string, std::string>> headers = {});
  TestResponse Get(const std::string& target, const std::string& token) { return Send("GET", target, token); }
  TestResponse Post(const std::string& target, const std::string& token, const nlohmann::json& body) {
    return Send("POST", target, token, body.dump());
  }
  TestResponse Delete(const std::string& target, const std::string& token) { return Send("DELETE", target, token); }

  // Writes `raw` bytes on a fresh connection and returns whatever comes back until close.
  std::string SendRaw(const std::string& raw);

  const std::string& host() const { return host_; }
  unsigned short port() const { return port_; }

 private:
  std::string base_url_;
  bool tls_ = false;
  std::string host_;
  unsigned short port_ = 0;
};

}  // namespace keyhole::testing
