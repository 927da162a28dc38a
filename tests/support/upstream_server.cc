// keyhole-test-upstream: the on-premises HTTP service the tunnel tests and benchmarks forward to.
// Plain HTTP/1.1 with keep-alive on 127.0.0.1 (port 0 by default); prints "PORT <n>" once listening.
// One thread per connection; bodies stream in both directions in 64 KiB pieces (nothing but /echo
// holds a whole body), so a 1 GiB /bytes or /sink costs no more memory than a small one.
//
//   GET  /hello                      "hello from NAME"
//   ANY  /echo                       the request body back (Content-Length if the request had one, else
//                                    chunked); X-Echo-Method, X-Echo-Target, X-Echo-Content-Length,
//                                    X-Echo-Transfer-Encoding, X-Echo-Bytes say what arrived (max 64 MiB)
//   GET  /bytes?n=N[&chunked=1|&close=1]   N bytes of the pattern byte(i) = i % 251, generated as sent;
//                                    Content-Length by default, chunked, or ended by closing the connection
//   POST /sink                       reads the body as it comes: {"bytes":N,"sha256":"…","pattern":bool,
//                                    "framing":"length|chunked|none"}
//   GET  /slow?ms=N[&n=BYTES]        waits N ms before the head (then BYTES of the pattern, default a line)
//   GET  /headers                    the request's header fields as a JSON object (lower-case names;
//                                    repeated fields joined with ", ")
//   GET  /hop                        a reply carrying hop-by-hop fields (Connection: X-Resp-Hop, X-Resp-Hop,
//                                    Keep-Alive, Proxy-Authenticate) next to an end-to-end X-End-To-End
//   ANY  /status/CODE                an empty reply with that status
// Every reply carries X-Upstream: NAME. HEAD works wherever GET does. With --log-requests each
// request is printed as "REQ METHOD TARGET" before it is answered, and "END METHOD TARGET" once the
// whole reply is written (or "BROKEN METHOD TARGET" if the connection broke first): tests watch them.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/support/byte_pattern.h"

namespace {

using keyhole::testing::FillPattern;
using keyhole::testing::MatchesPattern;

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr size_t kPiece = 64 * 1024;
constexpr size_t kEchoLimit = 64 * 1024 * 1024;

std::mutex g_stdout_mu;

void PrintLine(const std::string& line) {
  std::lock_guard lock(g_stdout_mu);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

std::optional<uint64_t> QueryNumber(std::string_view query, std::string_view key) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    std::string_view part = query.substr(pos, amp == std::string_view::npos ? std::string_view::npos : amp - pos);
    size_t eq = part.find('=');
    if (part.substr(0, eq) == key && eq != std::string_view::npos) {
      std::string_view v = part.substr(eq + 1);
      uint64_t n = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec == std::errc() && p == v.data() + v.size()) return n;
      return std::nullopt;
    }
    if (amp == std::string_view::npos) break;
    pos = amp + 1;
  }
  return std::nullopt;
}

std::string Hex(const unsigned char* d, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(digits[d[i] >> 4]);
    out.push_back(digits[d[i] & 15]);
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// One accepted connection: requests are read and answered in turn until either side closes.
class Connection {
 public:
  Connection(tcp::socket socket, std::string name) : socket_(std::move(socket)), name_(std::move(name)) {}

  void Run(bool log_requests) {
    beast::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    // Beast reads at most what the buffer already holds room for: give it room for 64 KiB reads.
    buffer_.reserve(64 * 1024);
    for (;;) {
      http::request_parser<http::buffer_body> parser;
      parser.body_limit(std::numeric_limits<std::uint64_t>::max());
      parser.header_limit(64 * 1024);
      http::read_header(socket_, buffer_, parser, ec);
      if (ec) return;
      auto& req = parser.get();
      const std::string what = std::string(req.method_string()) + " " + std::string(req.target());
      if (log_requests) PrintLine("REQ " + what);
      bool keep_alive = req.keep_alive();
      if (!Serve(parser, keep_alive)) {
        if (log_requests) PrintLine("BROKEN " + what);
        return;
      }
      if (log_requests) PrintLine("END " + what);
      if (!keep_alive) {
        socket_.shutdown(tcp::socket::shutdown_send, ec);
        return;
      }
    }
  }

 private:
  using Parser = http::request_parser<http::buffer_body>;

  // Reads the rest of the request body, handing each piece to `sink`. False if the connection broke.
  template <class Sink>
  bool ReadBody(Parser& parser, Sink&& sink) {
    char piece[kPiece];
    while (!parser.is_done()) {
      parser.get().body().data = piece;
      parser.get().body().size = sizeof piece;
      beast::error_code ec;
      http::read(socket_, buffer_, parser, ec);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) return false;
      size_t n = sizeof piece - parser.get().body().size;
      if (n > 0) sink(piece, n);
    }
    return true;
  }

  bool WriteAll(const std::vector<asio::const_buffer>& buffers) {
    beast::error_code ec;
    asio::write(socket_, buffers, ec);
    return !ec;
  }
  bool WriteAll(std::string_view s) { return WriteAll({asio::buffer(s.data(), s.size())}); }

  // The status line and fields of a reply; `fields` end with "\r\n" each.
  std::string Head(int status, const std::string& fields, bool keep_alive) {
    std::string reason(http::obsolete_reason(static_cast<http::status>(status)));
    std::string h = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
    h += "X-Upstream: " + name_ + "\r\n";
    if (!keep_alive) h += "Connection: close\r\n";
    h += fields;
    h += "\r\n";
    return h;
  }

  bool Reply(const Parser& parser, int status, const std::string& content_type, const std::string& body,
             bool keep_alive, const std::string& extra = "") {
    std::string fields = extra;
    if (!content_type.empty()) fields += "Content-Type: " + content_type + "\r\n";
    fields += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    std::string head = Head(status, fields, keep_alive);
    if (parser.get().method() == http::verb::head) return WriteAll(head);
    return WriteAll({asio::buffer(head), asio::buffer(body)});
  }

  // Writes `n` bytes of the pattern as a body with the given framing.
  bool SendPattern(uint64_t n, bool chunked) {
    char piece[kPiece];
    uint64_t sent = 0;
    while (sent < n) {
      size_t k = static_cast<size_t>(std::min<uint64_t>(sizeof piece, n - sent));
      FillPattern(sent, piece, k);
      if (chunked) {
        char size_line[32];
        int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", k);
        if (!WriteAll({asio::buffer(size_line, static_cast<size_t>(len)), asio::buffer(piece, k),
                       asio::buffer("\r\n", 2)})) {
          return false;
        }
      } else if (!WriteAll({asio::buffer(piece, k)})) {
        return false;
      }
      sent += k;
    }
    if (chunked) return WriteAll("0\r\n\r\n");
    return true;
  }

  // Answers one request; false if the connection must close now.
  bool Serve(Parser& parser, bool& keep_alive) {
    const auto& req = parser.get();
    std::string_view target(req.target().data(), req.target().size());
    std::string_view path = target.substr(0, target.find('?'));
    std::string_view query = path.size() < target.size() ? target.substr(path.size() + 1) : std::string_view();
    const bool head = req.method() == http::verb::head;

    if (path == "/echo") return Echo(parser, keep_alive);
    if (path == "/sink") return Sink(parser, keep_alive);
    // Everything else ignores a request body, but reads it so the connection stays usable.
    if (!ReadBody(parser, [](const char*, size_t) {})) return false;

    if (path == "/hello") return Reply(parser, 200, "text/plain", "hello from " + name_, keep_alive);
    if (path == "/bytes") {
      uint64_t n = QueryNumber(query, "n").value_or(0);
      bool chunked = QueryNumber(query, "chunked").value_or(0) != 0;
      bool close = QueryNumber(query, "close").value_or(0) != 0;
      std::string fields = "Content-Type: application/octet-stream\r\n";
      if (close) {
        keep_alive = false;
      } else if (chunked) {
        fields += "Transfer-Encoding: chunked\r\n";
      } else {
        fields += "Content-Length: " + std::to_string(n) + "\r\n";
      }
      if (!WriteAll(Head(200, fields, keep_alive))) return false;
      if (head) return true;
      return SendPattern(n, chunked && !close);
    }
    if (path == "/slow") {
      uint64_t ms = QueryNumber(query, "ms").value_or(1000);
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      if (auto n = QueryNumber(query, "n")) {
        if (!WriteAll(Head(200, "Content-Length: " + std::to_string(*n) + "\r\n", keep_alive))) return false;
        return head || SendPattern(*n, false);
      }
      return Reply(parser, 200, "text/plain", "slow " + std::to_string(ms) + " from " + name_, keep_alive);
    }
    if (path == "/headers") {
      nlohmann::json j = nlohmann::json::object();
      for (const auto& f : req) {
        std::string key = Lower(std::string(f.name_string()));
        std::string value(f.value());
        if (j.contains(key)) j[key] = j[key].get<std::string>() + ", " + value;
        else j[key] = value;
      }
      return Reply(parser, 200, "application/json", j.dump(), keep_alive);
    }
    if (path == "/hop") {
      return Reply(parser, 200, "text/plain", "hop", keep_alive,
                   "Connection: X-Resp-Hop\r\nX-Resp-Hop: 1\r\nKeep-Alive: timeout=5\r\n"
                   "Proxy-Authenticate: Basic\r\nX-End-To-End: kept\r\n");
    }
    if (path.rfind("/status/", 0) == 0) {
      int code = 0;
      std::string_view v = path.substr(8);
      std::from_chars(v.data(), v.data() + v.size(), code);
      if (code < 200 || code > 599) code = 400;
      return Reply(parser, code, "text/plain", "", keep_alive);
    }
    return Reply(parser, 404, "text/plain", "no such path: " + std::string(path), keep_alive);
  }

  bool Echo(Parser& parser, bool keep_alive) {
    const auto& req = parser.get();
    const bool had_length = req.find(http::field::content_length) != req.end();
    std::string fields = "X-Echo-Method: " + std::string(req.method_string()) + "\r\n";
    fields += "X-Echo-Target: " + std::string(req.target()) + "\r\n";
    if (auto it = req.find(http::field::content_length); it != req.end())
      fields += "X-Echo-Content-Length: " + std::string(it->value()) + "\r\n";
    if (auto it = req.find(http::field::transfer_encoding); it != req.end())
      fields += "X-Echo-Transfer-Encoding: " + std::string(it->value()) + "\r\n";
    if (auto it = req.find(http::field::content_type); it != req.end())
      fields += "Content-Type: " + std::string(it->value()) + "\r\n";
    std::string body;
    bool too_big = false;
    if (!ReadBody(parser, [&](const char* p, size_t n) {
          if (body.size() + n > kEchoLimit) too_big = true;
          else body.append(p, n);
        })) {
      return false;
    }
    if (too_big) return Reply(parser, 413, "text/plain", "echo holds at most 64 MiB", keep_alive);
    fields += "X-Echo-Bytes: " + std::to_string(body.size()) + "\r\n";
    if (had_length) {
      fields += "Content-Length: " + std::to_string(body.size()) + "\r\n";
      std::string head = Head(200, fields, keep_alive);
      if (req.method() == http::verb::head) return WriteAll(head);
      return WriteAll({asio::buffer(head), asio::buffer(body)});
    }
    fields += "Transfer-Encoding: chunked\r\n";
    if (!WriteAll(Head(200, fields, keep_alive))) return false;
    if (req.method() == http::verb::head) return true;
    // Pieces of at most 16 KiB, so the reply really is several chunks.
    for (size_t off = 0; off < body.size(); off += 16 * 1024) {
      size_t k = std::min<size_t>(16 * 1024, body.size() - off);
      char size_line[32];
      int len = std::snprintf(size_line, sizeof size_line, "%zx\r\n", k);
      if (!WriteAll({asio::buffer(size_line, static_cast<size_t>(len)), asio::buffer(body.data() + off, k),
                     asio::buffer("\r\n", 2)}))
        return false;
    }
    return WriteAll("0\r\n\r\n");
  }

  bool Sink(Parser& parser, bool keep_alive) {
    const auto& req = parser.get();
    std::string framing = "none";
    if (req.chunked()) framing = "chunked";
    else if (req.find(http::field::content_length) != req.end()) framing = "length";
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(md, EVP_sha256(), nullptr);
    uint64_t total = 0;
    bool pattern = true;
    bool ok = ReadBody(parser, [&](const char* p, size_t n) {
      EVP_DigestUpdate(md, p, n);
      if (pattern) pattern = MatchesPattern(total, p, n);
      total += n;
    });
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(md, digest, &len);
    EVP_MD_CTX_free(md);
    if (!ok) {
      PrintLine("SINK broken after " + std::to_string(total) + " bytes");
      return false;
    }
    nlohmann::json j = {{"bytes", total}, {"sha256", Hex(digest, len)}, {"pattern", pattern}, {"framing", framing}};
    return Reply(parser, 200, "application/json", j.dump(), keep_alive);
  }

  tcp::socket socket_;
  std::string name_;
  beast::flat_buffer buffer_;
};

int Usage() {
  std::cerr << "usage: keyhole-test-upstream [--name NAME] [--listen HOST:PORT] [--log-requests]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string name = "upstream";
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  bool log_requests = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--name" && i + 1 < argc) {
      name = argv[++i];
    } else if (a == "--listen" && i + 1 < argc) {
      std::string v = argv[++i];
      auto colon = v.rfind(':');
      if (colon == std::string::npos) return Usage();
      host = v.substr(0, colon);
      port = static_cast<unsigned short>(std::stoi(v.substr(colon + 1)));
    } else if (a == "--log-requests") {
      log_requests = true;
    } else {
      return Usage();
    }
  }
  signal(SIGPIPE, SIG_IGN);
  asio::io_context ioc;
  beast::error_code ec;
  tcp::acceptor acceptor(ioc);
  tcp::endpoint endpoint(asio::ip::make_address(host, ec), port);
  if (ec) return Usage();
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::cerr << "keyhole-test-upstream: cannot listen on " << host << ":" << port << ": " << ec.message() << "\n";
    return 1;
  }
  PrintLine("PORT " + std::to_string(acceptor.local_endpoint().port()));
  for (;;) {
    tcp::socket socket(ioc);
    acceptor.accept(socket, ec);
    if (ec) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // EMFILE and the like: do not spin
      continue;
    }
    std::thread([s = std::move(socket), name, log_requests]() mutable {
      Connection(std::move(s), name).Run(log_requests);
    }).detach();
  }
}
