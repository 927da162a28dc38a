// A small synchronous HTTPS client for the coordinator's admin API: one keep-alive connection,
// reopened when the coordinator closes it. Owned by one thread at a time; each instance has its
// own io_context. `tls` and `target` must outlive it.
#pragma once

#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/beast/ssl.hpp>

#include "bench/tunnel_load/net.h"
#include "bench/tunnel_load/target.h"

namespace keyhole::bench {

class AdminClient {
 public:
  AdminClient(ssl::context& tls, const Target& target, std::string token)
      : tls_(tls), target_(target), token_(std::move(token)) {}

  // Sends one request; on success fills status and body. Reconnects when the previous connection
  // is gone. Returns false with `error` set on a transport failure.
  bool Send(http::verb method, const std::string& path, const std::string& body, bool authenticated,
            unsigned& status, std::string& response_body, std::string& error);

 private:
  bool Connect(std::string& error);
  bool Fail(const std::string& what, error_code ec, std::string& error);

  asio::io_context ioc_;
  ssl::context& tls_;
  const Target& target_;
  std::string token_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream_;
  beast::flat_buffer buffer_;
};

}  // namespace keyhole::bench
