// The coordinator's address for keyhole-tunnel-load: host, port and the resolved endpoint of an
// https://HOST:PORT URL. A plain value, copied freely.
#pragma once

#include <string>

#include <boost/asio/ip/tcp.hpp>

namespace keyhole::bench {

struct Target {
  std::string host;
  std::string port;
  boost::asio::ip::tcp::endpoint endpoint;
};

// Parses and resolves `url`; false with `error` set when it is not https://HOST:PORT or does not resolve.
bool ParseHttpsUrl(const std::string& url, Target& out, std::string& error);

}  // namespace keyhole::bench
