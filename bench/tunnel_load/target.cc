#include "bench/tunnel_load/target.h"

#include <boost/asio/io_context.hpp>

#include "bench/tunnel_load/net.h"

namespace keyhole::bench {

bool ParseHttpsUrl(const std::string& url, Target& out, std::string& error) {
  const std::string scheme = "https://";
  if (url.rfind(scheme, 0) != 0) {
    error = "--url must be https://HOST:PORT (the tunnel is WebSocket over TLS)";
    return false;
  }
  std::string rest = url.substr(scheme.size());
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  auto colon = rest.rfind(':');
  if (colon == std::string::npos || rest.find('/') != std::string::npos) {
    error = "--url must be https://HOST:PORT";
    return false;
  }
  out.host = rest.substr(0, colon);
  out.port = rest.substr(colon + 1);
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  error_code ec;
  auto results = resolver.resolve(out.host, out.port, ec);
  if (ec || results.empty()) {
    error = "cannot resolve " + out.host + ": " + ec.message();
    return false;
  }
  out.endpoint = results.begin()->endpoint();
  return true;
}

}  // namespace keyhole::bench
