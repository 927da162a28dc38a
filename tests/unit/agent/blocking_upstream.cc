#include "tests/unit/agent/blocking_upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>

namespace keyhole::agent::testing {
namespace {

bool SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads from fd into buf until `buf` holds `delim`; false on EOF.
bool ReadUntil(int fd, std::string& buf, const std::string& delim) {
  while (buf.find(delim) == std::string::npos) {
    char tmp[16384];
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<size_t>(n));
  }
  return true;
}

bool ReadAtLeast(int fd, std::string& buf, size_t n) {
  while (buf.size() < n) {
    char tmp[16384];
    ssize_t r = ::recv(fd, tmp, sizeof tmp, 0);
    if (r <= 0) return false;
    buf.append(tmp, static_cast<size_t>(r));
  }
  return true;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

size_t QueryNumber(const std::string& target, const std::string& key) {
  const size_t at = target.find(key + "=");
  if (at == std::string::npos) return 0;
  return std::strtoull(target.c_str() + at + key.size() + 1, nullptr, 10);
}

}  // namespace

BlockingUpstream::BlockingUpstream() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(listen_fd_, 64);
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

BlockingUpstream::~BlockingUpstream() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  acceptor_.join();
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    workers.swap(workers_);
  }
  for (auto& t : workers) t.join();
  std::lock_guard lock(mu_);
  for (int fd : fds_) ::close(fd);
}

std::map<std::string, std::string> BlockingUpstream::last_headers() {
  std::lock_guard lock(mu_);
  return last_headers_;
}

std::string BlockingUpstream::last_request_line() {
  std::lock_guard lock(mu_);
  return last_request_line_;
}

int BlockingUpstream::requests(const std::string& prefix) {
  std::lock_guard lock(mu_);
  return static_cast<int>(std::count_if(targets_.begin(), targets_.end(),
                                        [&](const std::string& t) { return t.rfind(prefix, 0) == 0; }));
}

void BlockingUpstream::AcceptLoop() {
  while (!stopping_) {
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) return;
    ++connections_;
    std::lock_guard lock(mu_);
    fds_.push_back(fd);
    workers_.emplace_back([this, fd] { Serve(fd); });
  }
}

void BlockingUpstream::Serve(int fd) {
  std::string buf;
  while (!stopping_) {
    if (!ReadUntil(fd, buf, "\r\n\r\n")) break;
    const size_t head_end = buf.find("\r\n\r\n");
    std::string head = buf.substr(0, head_end);
    buf.erase(0, head_end + 4);
    const std::string request_line = head.substr(0, head.find("\r\n"));
    std::map<std::string, std::string> fields;
    for (size_t pos = head.find("\r\n"); pos != std::string::npos;) {
      const size_t next = head.find("\r\n", pos + 2);
      std::string line = head.substr(pos + 2, next == std::string::npos ? std::string::npos : next - pos - 2);
      pos = next;
      const size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      fields[Lower(line.substr(0, colon))] = value;
    }
    const std::string method = request_line.substr(0, request_line.find(' '));
    const size_t t0 = request_line.find(' ') + 1;
    const std::string target = request_line.substr(t0, request_line.rfind(' ') - t0);
    {
      std::lock_guard lock(mu_);
      last_headers_ = fields;
      last_request_line_ = request_line;
      targets_.push_back(target);
    }
    if (target.rfind("/drop", 0) == 0) break;  // closes without an answer
    if (target.rfind("/noread", 0) == 0) {
      if (!SendAll(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")) break;
      while (!stopping_ && SendAll(fd, "1\r\nx\r\n")) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      break;
    }
    // The body, de-chunked.
    std::string body;
    if (fields.count("content-length")) {
      const size_t n = std::strtoull(fields["content-length"].c_str(), nullptr, 10);
      if (!ReadAtLeast(fd, buf, n)) break;
      body = buf.substr(0, n);
      buf.erase(0, n);
    } else if (Lower(fields["transfer-encoding"]) == "chunked") {
      bool ok = true;
      while (true) {
        if (!ReadUntil(fd, buf, "\r\n")) { ok = false; break; }
        const size_t size = std::strtoull(buf.c_str(), nullptr, 16);
        buf.erase(0, buf.find("\r\n") + 2);
        if (!ReadAtLeast(fd, buf, size + 2)) { ok = false; break; }
        body.append(buf, 0, size);
        buf.erase(0, size + 2);
        if (size == 0) break;
      }
      if (!ok) break;
    }
    std::string reply;
    if (target.rfind("/hello", 0) == 0) {
      reply = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Host: " + fields["host"] + "\r\nX-Transfer-Encoding: " +
              fields["transfer-encoding"] + "\r\nKeep-Alive: timeout=5\r\nConnection: keep-alive, X-Private\r\n" +
              "X-Private: secret\r\nX-Kept: yes\r\n\r\nhello";
      if (!SendAll(fd, reply)) break;
    } else if (target.rfind("/reset-after", 0) == 0) {
      // Answers as if keeping the connection, then aborts it (an RST right behind the answer).
      if (!SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")) break;
      linger abort{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
      // Close the connection now (the reset) but keep the descriptor number taken until the
      // destructor closes it: put a fresh, unconnected socket in its place.
      const int spare = ::socket(AF_INET, SOCK_STREAM, 0);
      ::dup2(spare, fd);
      ::close(spare);
      break;
    } else if (target.rfind("/echo", 0) == 0) {
      reply = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\nX-Method: " + method + "\r\n\r\n" + body;
      if (!SendAll(fd, reply)) break;
    } else if (target.rfind("/bytes", 0) == 0) {
      const size_t n = QueryNumber(target, "n");
      const bool chunked = target.find("chunked=1") != std::string::npos;
      reply = chunked ? "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      : "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n";
      if (!SendAll(fd, reply)) break;
      bool ok = true;
      for (size_t sent = 0; sent < n && ok;) {
        const size_t k = std::min<size_t>(32768, n - sent);
        std::string piece(k, 'x');
        for (size_t i = 0; i < k; ++i) piece[i] = PatternByte(sent + i);
        if (chunked) {
          char hex[24];
          snprintf(hex, sizeof hex, "%zx\r\n", k);
          piece = hex + piece + "\r\n";
        }
        ok = SendAll(fd, piece);
        sent += k;
      }
      if (!ok || (chunked && !SendAll(fd, "0\r\n\r\n"))) break;
    } else if (target.rfind("/fields", 0) == 0) {
      reply = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n";
      for (size_t i = 0, n = QueryNumber(target, "n"); i < n; ++i) reply += "X-F" + std::to_string(i) + ": v\r\n";
      if (!SendAll(fd, reply + "\r\n")) break;
    } else if (target.rfind("/stall", 0) == 0) {
      const size_t n = QueryNumber(target, "n");
      if (!SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(2 * n) + "\r\n\r\n" + std::string(n, 's'))) break;
      char tmp[4096];
      while (::recv(fd, tmp, sizeof tmp, 0) > 0) {
      }
      if (!stopping_) ++stalls_closed_;
      break;
    } else if (target.rfind("/silent", 0) == 0) {
      // The whole request was read; no answer ever, until the agent closes.
      char tmp[4096];
      while (::recv(fd, tmp, sizeof tmp, 0) > 0) {
      }
      if (!stopping_) ++silent_closed_;
      break;
    } else if (target.rfind("/slow", 0) == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(QueryNumber(target, "ms")));
      if (!SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow")) break;
    } else {
      if (!SendAll(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")) break;
    }
  }
  ::shutdown(fd, SHUT_RDWR);  // closed by the destructor, so the descriptor is not reused meanwhile
}

}  // namespace keyhole::agent::testing
