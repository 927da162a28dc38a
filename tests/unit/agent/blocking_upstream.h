// BlockingUpstream: a small HTTP/1.1 server on 127.0.0.1:0 for the tunnel's unit tests, written on
// plain blocking sockets (one thread per connection) so the tests need no second Asio build. Keeps
// connections alive. GET /hello → "hello" (with X-Host: the Host it was sent, X-Transfer-Encoding,
// and hop-by-hop fields the agent must drop); ANY /echo → the request body; GET /bytes?n=N → N
// bytes of a pattern ('a' + i % 26), Content-Length, or chunked with &chunked=1; GET /slow?ms=N;
// GET /fields?n=N → N header fields; ANY /drop → closes the connection without answering;
// GET /stall?n=N → Content-Length 2N but only N bytes, then waits for the agent to close;
// POST /noread → answers at once (a trickle of chunks, every 100 ms) and never reads the body;
// ANY /silent → reads the whole request, then never answers (until the agent closes).
// Counts connections accepted and requests per path. Thread-safe.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace keyhole::agent::testing {

class BlockingUpstream {
 public:
  BlockingUpstream();
  ~BlockingUpstream();

  int port() const { return port_; }
  int connections() const { return connections_.load(); }
  // The last request's head fields (lower-case names), for checking what the agent sent.
  std::map<std::string, std::string> last_headers();
  std::string last_request_line();
  // Requests whose target starts with `prefix`.
  int requests(const std::string& prefix);
  // /stall connections the agent closed.
  int stalls_closed() const { return stalls_closed_.load(); }
  // /silent connections the agent closed.
  int silent_closed() const { return silent_closed_.load(); }

  static char PatternByte(size_t i) { return static_cast<char>('a' + i % 26); }

 private:
  void AcceptLoop();
  void Serve(int fd);

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<int> connections_{0};
  std::atomic<int> stalls_closed_{0};
  std::atomic<int> silent_closed_{0};
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> workers_;  // GUARDED_BY(mu_)
  std::vector<int> fds_;              // GUARDED_BY(mu_)
  std::map<std::string, std::string> last_headers_;  // GUARDED_BY(mu_)
  std::string last_request_line_;     // GUARDED_BY(mu_)
  std::vector<std::string> targets_;  // GUARDED_BY(mu_)
};

}  // namespace keyhole::agent::testing
