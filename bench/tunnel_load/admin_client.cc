#include "bench/tunnel_load/admin_client.h"

#include <chrono>

namespace keyhole::bench {

bool AdminClient::Send(http::verb method, const std::string& path, const std::string& body,
                       bool authenticated, unsigned& status, std::string& response_body,
                       std::string& error) {
  error_code ec;
  if (!stream_ && !Connect(error)) return false;
  http::request<http::string_body> req{method, path, 11};
  req.set(http::field::host, target_.host + ":" + target_.port);
  req.set(http::field::user_agent, "keyhole-tunnel-load");
  req.set(http::field::accept, "application/json");
  if (authenticated) req.set(http::field::authorization, "SSWS " + token_);
  if (!body.empty() || method == http::verb::post) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  beast::get_lowest_layer(*stream_).expires_after(std::chrono::seconds(60));
  http::write(*stream_, req, ec);
  if (ec) return Fail("write " + path, ec, error);
  http::response_parser<http::string_body> parser;
  parser.body_limit(1ull << 30);
  http::read(*stream_, buffer_, parser, ec);
  if (ec) return Fail("read " + path, ec, error);
  status = parser.get().result_int();
  response_body = std::move(parser.get().body());
  if (!parser.get().keep_alive()) stream_.reset();
  return true;
}

bool AdminClient::Connect(std::string& error) {
  stream_.emplace(ioc_, tls_);
  error_code ec;
  beast::get_lowest_layer(*stream_).expires_after(std::chrono::seconds(30));
  beast::get_lowest_layer(*stream_).connect(target_.endpoint, ec);
  if (ec) return Fail("connect", ec, error);
  stream_->set_verify_callback(ssl::host_name_verification(target_.host));
  stream_->handshake(ssl::stream_base::client, ec);
  if (ec) return Fail("TLS handshake", ec, error);
  buffer_.clear();
  return true;
}

bool AdminClient::Fail(const std::string& what, error_code ec, std::string& error) {
  error = what + ": " + ec.message();
  stream_.reset();
  return false;
}

}  // namespace keyhole::bench
