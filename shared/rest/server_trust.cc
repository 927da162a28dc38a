#include "shared/rest/server_trust.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <sstream>

#include "shared/tls/fingerprint.h"

namespace keyhole::rest {
namespace {

bool IsIpAddress(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

std::shared_ptr<ServerTrust> ServerTrust::SystemCas(std::string host) {
  return std::shared_ptr<ServerTrust>(new ServerTrust(Mode::kSystemCas, std::move(host), ""));
}

StatusOr<std::shared_ptr<ServerTrust>> ServerTrust::CaFile(const std::string& path, std::string host) {
  std::ifstream in(path);
  if (!in) return InvalidArgumentError("--ca-file " + path + ": cannot read it");
  std::stringstream pem;
  pem << in.rdbuf();
  return CaPem(pem.str(), std::move(host), "--ca-file " + path);
}

StatusOr<std::shared_ptr<ServerTrust>> ServerTrust::CaPem(const std::string& text, std::string host,
                                                          const std::string& origin) {
  std::shared_ptr<ServerTrust> trust(new ServerTrust(Mode::kCaFile, std::move(host), ""));
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), &BIO_free);
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) trust->anchors_.push_back(cert);
  ERR_clear_error();  // the loop ends on an expected "no start line"
  if (trust->anchors_.empty()) return InvalidArgumentError(origin + ": no PEM certificate in it");
  return trust;
}

std::shared_ptr<ServerTrust> ServerTrust::Pin(std::string pin) {
  return std::shared_ptr<ServerTrust>(new ServerTrust(Mode::kPin, "", std::move(pin)));
}

ServerTrust::~ServerTrust() {
  for (X509* cert : anchors_) X509_free(cert);
}

void ServerTrust::Configure(SSL_CTX* ctx) const {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (mode_ == Mode::kCaFile) {
    // A fresh store: the file's certificates replace the system's, as curl's --cacert does.
    // Every certificate in it is an anchor, even one that is not self-signed (an intermediate).
    X509_STORE* store = X509_STORE_new();
    for (X509* cert : anchors_) X509_STORE_add_cert(store, cert);
    X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx), X509_V_FLAG_PARTIAL_CHAIN);
    SSL_CTX_set_cert_store(ctx, store);
  }
  if (mode_ != Mode::kPin) {
    // OpenSSL checks the name as well as cpprestsdk's own callback, and says so when it fails.
    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
    if (IsIpAddress(host_)) {
      X509_VERIFY_PARAM_set1_ip_asc(param, host_.c_str());
    } else {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(param, host_.c_str(), 0);
    }
  }
  // Replaces OpenSSL's chain verification for every handshake made from this context (see Verify).
  // The HTTP client keeps verify_peer on, so a refusal here aborts the handshake.
  SSL_CTX_set_cert_verify_callback(ctx, &ServerTrust::VerifyThunk, const_cast<ServerTrust*>(this));
}

int ServerTrust::VerifyThunk(X509_STORE_CTX* store_ctx, void* self) {
  return static_cast<ServerTrust*>(self)->Verify(store_ctx);
}

int ServerTrust::Verify(X509_STORE_CTX* store_ctx) {
  X509* leaf = X509_STORE_CTX_get0_cert(store_ctx);
  if (mode_ == Mode::kPin) {
    // The pin names one certificate: no chain, no name, no dates; TLS proves the server holds its key.
    std::string seen = leaf ? CertificateFingerprint(leaf) : "no certificate";
    if (seen == pin_) return 1;
    X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_APPLICATION_VERIFICATION);
    Refuse("the server's certificate is " + seen + ", not the pinned " + pin_);
    return 0;
  }
  int ok = X509_verify_cert(store_ctx);
  if (ok <= 0) {
    int error = X509_STORE_CTX_get_error(store_ctx);
    std::string why = error == X509_V_OK ? "its name does not match the URL's host"
                                         : X509_verify_cert_error_string(error);
    Refuse("the server's certificate is not trusted: " + why +
           (mode_ == Mode::kSystemCas ? " (for the coordinator's self-signed certificate, use --ca-file or --pin)" : ""));
  }
  return ok;
}

void ServerTrust::Refuse(std::string why) {
  std::lock_guard lock(mu_);
  last_refusal_ = std::move(why);
}

std::string ServerTrust::LastRefusal() const {
  std::lock_guard lock(mu_);
  return last_refusal_;
}

}  // namespace keyhole::rest
