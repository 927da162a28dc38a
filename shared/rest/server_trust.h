// ServerTrust: whether a client (keyholectl, the agent) trusts the coordinator's certificate: the
// system's CAs (and the URL's host name), the CAs of one PEM text (and the host name), or exactly
// one pinned certificate.
// Configure() sets up each new OpenSSL context; Verify then runs inside handshakes on the HTTP
// client's threads. Shared by the client's connections; the last refusal is kept under a mutex.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "shared/errors/status.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct x509_st X509;
typedef struct x509_store_ctx_st X509_STORE_CTX;

namespace keyhole::rest {

class ServerTrust {
 public:
  // The system's CAs; the certificate must name `host` (a DNS name or an IP address).
  static std::shared_ptr<ServerTrust> SystemCas(std::string host);
  // Only the certificates in the PEM file `path` are trust anchors; the certificate must name `host`.
  static StatusOr<std::shared_ptr<ServerTrust>> CaFile(const std::string& path, std::string host);
  // The same with the PEM text itself; `origin` names it in errors ("--ca-file x.pem", "the state's CA").
  static StatusOr<std::shared_ptr<ServerTrust>> CaPem(const std::string& pem, std::string host,
                                                      const std::string& origin);
  // Exactly the certificate whose SHA-256 fingerprint is `pin` ("sha256:<hex>", canonical form).
  static std::shared_ptr<ServerTrust> Pin(std::string pin);
  ~ServerTrust();

  // REQUIRES: this ServerTrust outlives `ctx` and every connection made from it.
  void Configure(SSL_CTX* ctx) const;
  // Why the last refused handshake was refused, or "".
  std::string LastRefusal() const;

 private:
  enum class Mode { kSystemCas, kCaFile, kPin };
  ServerTrust(Mode mode, std::string host, std::string pin) : mode_(mode), host_(std::move(host)), pin_(std::move(pin)) {}

  static int VerifyThunk(X509_STORE_CTX* store_ctx, void* self);
  int Verify(X509_STORE_CTX* store_ctx);
  void Refuse(std::string why);

  const Mode mode_;
  const std::string host_;
  const std::string pin_;
  std::vector<X509*> anchors_;  // owned; kCaFile only

  mutable std::mutex mu_;
  std::string last_refusal_;  // GUARDED_BY(mu_)
};

}  // namespace keyhole::rest
