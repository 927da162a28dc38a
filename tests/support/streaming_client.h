// StreamingHttpClient: one HTTP/1.1 exchange whose bodies are never held whole: the request body is
// generated piece by piece (Content-Length or chunked), the response body is checked and counted
// as it arrives and may be read slowly. Plain or TLS (no verification, as TestHttpClient). Every
// connect, read and write has a deadline, so a peer that stops answering ends the exchange with
// an error instead of a hang. Each Exchange uses a fresh connection; one thread per call.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace keyhole::testing {

struct StreamingRequest {
  enum class Body { kNone, kContentLength, kChunked };

  std::string method = "GET";
  std::string target;                                         // path and query
  std::vector<std::pair<std::string, std::string>> headers;  // sent as given (Authorization too)
  Body body = Body::kNone;
  uint64_t body_bytes = 0;  // how much to send with kContentLength or kChunked
  size_t piece = 256 * 1024;  // bytes per write (and per chunk)
  // Produces bytes [offset, offset + n) of the body; by default the byte pattern (byte_pattern.h).
  std::function<void(uint64_t offset, char* out, size_t n)> fill;
  std::chrono::milliseconds pause{0};  // sleep between pieces: a slow uploader
};

struct StreamingResult {
  std::string error;           // "" when the whole response arrived; else what ended the exchange
  std::string write_error;     // the request body could not all be sent ("" if it was)
  bool head_received = false;
  bool complete = false;       // the response was read to its end as framed
  bool timed_out = false;      // ended by a deadline (io_timeout) rather than by the peer
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  uint64_t body_bytes = 0;
  std::string body;            // the first StreamingOptions::keep_body bytes
  bool pattern_ok = true;      // the body so far is the byte pattern (when check_pattern)
  std::string sha256;          // of the response body (when sha256)
  std::string request_sha256;  // of the request body sent (when sha256)
  uint64_t request_bytes_sent = 0;
  std::chrono::milliseconds elapsed{0};

  std::string Header(const std::string& name) const;  // first value or ""
  bool Has(const std::string& name) const;
};

struct StreamingOptions {
  std::chrono::milliseconds io_timeout{10000};  // for each connect, handshake, read and write
  size_t read_piece = 256 * 1024;               // bytes asked for per read
  std::chrono::milliseconds pause{0};           // sleep after each read: a slow reader
  size_t keep_body = 8 * 1024 * 1024;
  bool check_pattern = false;
  bool sha256 = false;
  // Called when the response head is in, then after every piece of body with the bytes so far.
  // Either may sleep (a reader that stops) or act on the world (kill the agent serving it).
  std::function<void(const StreamingResult&)> on_head;
  std::function<void(uint64_t body_bytes)> on_progress;
};

class StreamingHttpClient {
 public:
  // `base_url` is "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT".
  explicit StreamingHttpClient(std::string base_url);

  StreamingResult Exchange(const StreamingRequest& request, const StreamingOptions& options = {}) const;

 private:
  bool tls_ = false;
  std::string host_;
  unsigned short port_ = 0;
};

}  // namespace keyhole::testing
