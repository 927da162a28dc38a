#include "tests/support/http_client.h"

#include <strings.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <stdexcept>

namespace keyhole::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::vector<std::string> TestResponse::All(const std::string& name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), name.c_str()) == 0) out.push_back(v);
  }
  return out;
}

std::string TestResponse::Header(const std::string& name) const {
  auto all = All(name);
  return all.empty() ? "" : all.front();
}

std::string TestResponse::NextLink() const {
  for (const auto& link : All("Link")) {
    if (link.find("rel=\"next\"") != std::string::npos) {
      auto open = link.find('<'), close = link.find('>');
      return link.substr(open + 1, close - open - 1);
    }
  }
  return "";
}

TestHttpClient::TestHttpClient(std::string base_url) : base_url_(std::move(base_url)) {
  std::string rest;
  if (base_url_.rfind("https://", 0) == 0) {
    tls_ = true;
    rest = base_url_.substr(8);
  } else if (base_url_.rfind("http://", 0) == 0) {
    rest = base_url_.substr(7);
  } else {
    throw std::invalid_argument("base url: " + base_url_);
  }
  auto colon = rest.rfind(':');
  host_ = rest.substr(0, colon);
  port_ = static_cast<unsigned short>(std::stoi(rest.substr(colon + 1)));
}

TestHttpClient::~TestHttpClient() = default;

namespace {

template <class Stream>
TestResponse Exchange(Stream& stream, http::request<http::string_body>& req) {
  // A server may answer (413, say) and stop reading before the body is all sent: a failed write
  // is not the end, the answer may still be there to read.
  beast::error_code write_error;
  http::write(stream, req, write_error);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(1ull << 32);
  if (req.method() == http::verb::head) parser.skip(true);
  http::read(stream, buffer, parser);
  auto& res = parser.get();
  TestResponse out;
  out.status = static_cast<int>(res.result_int());
  for (const auto& f : res) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  out.body = std::move(res.body());
  return out;
}

}  // namespace

TestResponse TestHttpClient::Send(const std::string& method, const std::string& target_in, const std::string& token,
                                  const std::string& body, std::vector<std::pair<std::string, std::string>> headers) {
  std::string target = target_in;
  if (target.rfind("http", 0) == 0) {
    auto slash = target.find('/', target.find("//") + 2);
    target = slash == std::string::npos ? "/" : target.substr(slash);
  }
  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(http::field::host, host_ + ":" + std::to_string(port_));
  req.set(http::field::accept, "application/json");
  req.set(http::field::user_agent, "keyhole-tests");
  if (!token.empty()) req.set(http::field::authorization, "SSWS " + token);
  bool has_content_type = false;
  for (auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), "Content-Type") == 0) has_content_type = true;
    req.set(k, v);
  }
  if (!body.empty() && !has_content_type) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();

  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  auto endpoints = resolver.resolve(host_, std::to_string(port_));
  if (tls_) {
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.set_verify_mode(asio::ssl::verify_none);
    beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
    beast::get_lowest_layer(stream).connect(endpoints);
    stream.handshake(asio::ssl::stream_base::client);
    TestResponse r = Exchange(stream, req);
    beast::error_code ec;
    stream.shutdown(ec);
    return r;
  }
  beast::tcp_stream stream(ioc);
  stream.connect(endpoints);
  TestResponse r = Exchange(stream, req);
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  return r;
}

std::string TestHttpClient::SendRaw(const std::string& raw) {
  asio::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect(tcp::endpoint(asio::ip::make_address(host_ == "localhost" ? "127.0.0.1" : host_), port_));
  asio::write(sock, asio::buffer(raw));
  std::string out;
  char buf[4096];
  beast::error_code ec;
  for (;;) {
    size_t n = sock.read_some(asio::buffer(buf), ec);
    if (ec) break;
    out.append(buf, n);
  }
  return out;
}

}  // namespace keyhole::testing
