#include "tests/support/streaming_client.h"

#include <openssl/evp.h>
#include <strings.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <thread>

#include "tests/support/byte_pattern.h"

namespace keyhole::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

std::string StreamingResult::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  }
  return "";
}

bool StreamingResult::Has(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return true;
  }
  return false;
}

StreamingHttpClient::StreamingHttpClient(std::string base_url) {
  std::string rest;
  if (base_url.rfind("https://", 0) == 0) {
    tls_ = true;
    rest = base_url.substr(8);
  } else if (base_url.rfind("http://", 0) == 0) {
    rest = base_url.substr(7);
  } else {
    throw std::invalid_argument("base url: " + base_url);
  }
  auto colon = rest.rfind(':');
  host_ = rest.substr(0, colon);
  port_ = static_cast<unsigned short>(std::stoi(rest.substr(colon + 1)));
}

namespace {

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  void Update(const char* p, size_t n) { EVP_DigestUpdate(ctx_, p, n); }
  std::string Hex() {
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, d, &len);
    std::string out;
    char b[3];
    for (unsigned i = 0; i < len; ++i) {
      std::snprintf(b, sizeof b, "%02x", d[i]);
      out += b;
    }
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

// Runs one asynchronous operation on `ioc` to completion under the stream's deadline: a blocking
// call that cannot block forever.
class Runner {
 public:
  Runner(asio::io_context& ioc, beast::tcp_stream& lowest, std::chrono::milliseconds timeout)
      : ioc_(ioc), lowest_(lowest), timeout_(timeout) {}

  template <class Start>
  beast::error_code Run(Start&& start) {
    beast::error_code result = asio::error::operation_aborted;
    lowest_.expires_after(timeout_);
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

 private:
  asio::io_context& ioc_;
  beast::tcp_stream& lowest_;
  std::chrono::milliseconds timeout_;
};

bool IsTimeout(const beast::error_code& ec) { return ec == beast::error::timeout; }

template <class Stream>
void Converse(Stream& stream, Runner& run, const std::string& host_port, const StreamingRequest& request,
              const StreamingOptions& options, StreamingResult& result) {
  // The request head, then its body in pieces.
  std::string head = request.method + " " + request.target + " HTTP/1.1\r\nHost: " + host_port + "\r\n";
  bool has_user_agent = false;
  for (const auto& [k, v] : request.headers) {
    head += k + ": " + v + "\r\n";
    if (strcasecmp(k.c_str(), "User-Agent") == 0) has_user_agent = true;
  }
  if (!has_user_agent) head += "User-Agent: keyhole-tests\r\n";
  if (request.body == StreamingRequest::Body::kContentLength) {
    head += "Content-Length: " + std::to_string(request.body_bytes) + "\r\n";
  } else if (request.body == StreamingRequest::Body::kChunked) {
    head += "Transfer-Encoding: chunked\r\n";
  }
  head += "\r\n";
  beast::error_code ec = run.Run([&](auto handler) { asio::async_write(stream, asio::buffer(head), handler); });
  if (ec) {
    result.write_error = ec.message();
    result.timed_out = IsTimeout(ec);
    result.error = "writing the request head: " + ec.message();
    return;
  }
  if (request.body != StreamingRequest::Body::kNone) {
    const bool chunked = request.body == StreamingRequest::Body::kChunked;
    std::vector<char> piece(std::max<size_t>(request.piece, 1));
    std::unique_ptr<Sha256> sha;
    if (options.sha256) sha = std::make_unique<Sha256>();
    uint64_t sent = 0;
    while (sent < request.body_bytes) {
      size_t k = static_cast<size_t>(std::min<uint64_t>(piece.size(), request.body_bytes - sent));
      if (request.fill) request.fill(sent, piece.data(), k);
      else FillPattern(sent, piece.data(), k);
      if (sha) sha->Update(piece.data(), k);
      char size_line[32];
      int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", k);
      ec = run.Run([&](auto handler) {
        if (chunked) {
          std::array<asio::const_buffer, 3> bufs = {asio::buffer(size_line, static_cast<size_t>(len)),
                                                    asio::buffer(piece.data(), k), asio::buffer("\r\n", 2)};
          asio::async_write(stream, bufs, handler);
        } else {
          asio::async_write(stream, asio::buffer(piece.data(), k), handler);
        }
      });
      if (ec) break;
      sent += k;
      if (request.pause.count() > 0 && sent < request.body_bytes) std::this_thread::sleep_for(request.pause);
    }
    if (!ec && chunked) {
      ec = run.Run([&](auto handler) { asio::async_write(stream, asio::buffer("0\r\n\r\n", 5), handler); });
    }
    result.request_bytes_sent = sent;
    if (sha) result.request_sha256 = sha->Hex();
    // A server may answer (an error, say) before it has read the whole body: read on.
    if (ec) {
      result.write_error = ec.message();
      result.timed_out = IsTimeout(ec);
    }
  }

  // Beast reads at most what the buffer can already hold (and at most 64 KiB): without room, every
  // read would be as small as the head that sized it.
  beast::flat_buffer buffer;
  buffer.reserve(64 * 1024);
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  if (request.method == "HEAD") parser.skip(true);
  ec = run.Run([&](auto handler) { http::async_read_header(stream, buffer, parser, handler); });
  if (ec) {
    result.timed_out = result.timed_out || IsTimeout(ec);
    result.error = "reading the response head: " + ec.message();
    return;
  }
  result.head_received = true;
  result.status = static_cast<int>(parser.get().result_int());
  for (const auto& f : parser.get()) result.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  if (options.on_head) options.on_head(result);

  std::vector<char> piece(std::max<size_t>(options.read_piece, 1));
  std::unique_ptr<Sha256> sha;
  if (options.sha256) sha = std::make_unique<Sha256>();
  while (!parser.is_done()) {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    ec = run.Run([&](auto handler) { http::async_read(stream, buffer, parser, handler); });
    if (ec == http::error::need_buffer) ec = {};
    size_t n = piece.size() - parser.get().body().size;
    if (n > 0) {
      if (options.check_pattern && result.pattern_ok) {
        result.pattern_ok = MatchesPattern(result.body_bytes, piece.data(), n);
      }
      if (sha) sha->Update(piece.data(), n);
      if (result.body.size() < options.keep_body) {
        result.body.append(piece.data(), std::min(n, options.keep_body - result.body.size()));
      }
      result.body_bytes += n;
    }
    if (ec) {
      result.timed_out = IsTimeout(ec);
      result.error = "reading the response body: " + ec.message();
      break;
    }
    if (options.on_progress) options.on_progress(result.body_bytes);
    if (options.pause.count() > 0 && !parser.is_done()) std::this_thread::sleep_for(options.pause);
  }
  if (sha) result.sha256 = sha->Hex();
  result.complete = parser.is_done();
}

}  // namespace

StreamingResult StreamingHttpClient::Exchange(const StreamingRequest& request, const StreamingOptions& options) const {
  const auto start = Clock::now();
  StreamingResult result;
  asio::io_context ioc;
  tcp::endpoint endpoint(asio::ip::make_address(host_ == "localhost" ? "127.0.0.1" : host_), port_);
  const std::string host_port = host_ + ":" + std::to_string(port_);
  auto finish = [&] {
    result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    return result;
  };
  if (tls_) {
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.set_verify_mode(asio::ssl::verify_none);
    beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
    Runner run(ioc, beast::get_lowest_layer(stream), options.io_timeout);
    beast::error_code ec =
        run.Run([&](auto handler) { beast::get_lowest_layer(stream).async_connect(endpoint, handler); });
    if (!ec) ec = run.Run([&](auto handler) { stream.async_handshake(asio::ssl::stream_base::client, handler); });
    if (ec) {
      result.error = "connecting: " + ec.message();
      result.timed_out = IsTimeout(ec);
      return finish();
    }
    beast::get_lowest_layer(stream).socket().set_option(tcp::no_delay(true), ec);
    Converse(stream, run, host_port, request, options, result);
    beast::get_lowest_layer(stream).close();
    return finish();
  }
  beast::tcp_stream stream(ioc);
  Runner run(ioc, stream, options.io_timeout);
  beast::error_code ec = run.Run([&](auto handler) { stream.async_connect(endpoint, handler); });
  if (ec) {
    result.error = "connecting: " + ec.message();
    result.timed_out = IsTimeout(ec);
    return finish();
  }
  stream.socket().set_option(tcp::no_delay(true), ec);
  Converse(stream, run, host_port, request, options, result);
  stream.close();
  return finish();
}

}  // namespace keyhole::testing
