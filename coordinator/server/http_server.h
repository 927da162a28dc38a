// HttpServer: the coordinator's HTTP/1.1 front end on Boost.Beast, TLS by default.
// One io_context per worker thread, each with its own SO_REUSEPORT acceptor and no strands:
// a connection lives on one thread from accept to close. Every request is bounded (header and
// body limits, read deadlines, a connection cap) and handed to the ApiPipeline as a Keyhole
// Request; nothing Beast-specific leaves this module. Streaming routes (router.h StreamKind) are
// checked by the pipeline on their head alone and then handed to the tunnel (tunnel_endpoints.h).
// Start() and Stop() are called from one controlling thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "shared/errors/status.h"

namespace keyhole::coord {

class ApiPipeline;
class TunnelHub;

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: an ephemeral port, see HttpServer::port()
  unsigned threads = 0;  // 0: one per core
  bool tls = true;
  // A second listener, in plain HTTP, beside the TLS one (tls must be on): for a TLS-terminating
  // proxy or local callers on the same host. Empty: none. The caller checks it is loopback.
  std::string plain_host;
  uint16_t plain_port = 0;  // 0: ephemeral, see HttpServer::plain_port()
  std::string tls_cert_file;  // PEM chain
  std::string tls_key_file;   // PEM private key
  size_t body_limit = 1 << 20;
  size_t header_limit = 16 << 10;
  size_t max_connections = 10000;
  std::chrono::seconds request_timeout{30};  // to read one request's head, and again its body
  std::chrono::seconds idle_timeout{75};     // keep-alive wait for the next request
  std::chrono::seconds drain_timeout{10};    // Stop(): how long requests in flight may finish
};

class HttpServer {
 public:
  // `tunnel` (optional, not owned) serves the streaming routes; without it they are not served.
  HttpServer(ApiPipeline& pipeline, ServerOptions options, TunnelHub* tunnel = nullptr);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the worker threads. On success port() is the bound port.
  Status Start();
  uint16_t port() const;
  uint16_t plain_port() const;  // the plain listener's bound port; 0 without one
  // Stops accepting and taking tunnel requests, closes idle connections, lets requests in
  // flight finish (up to drain_timeout), closes the agents' tunnels (kShuttingDown), then joins
  // the workers. Idempotent.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keyhole::coord
