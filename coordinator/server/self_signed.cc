#include "coordinator/server/self_signed.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <memory>

#include "shared/tls/fingerprint.h"

namespace keyhole::coord {
namespace {

template <class T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

bool AddExtension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

}  // namespace

StatusOr<std::string> FingerprintOfFile(FileSystem& fs, const std::string& cert_file) {
  auto pem = fs.ReadFile(cert_file);
  if (!pem.ok()) return pem.status();
  auto fp = PemFingerprint(*pem);
  if (!fp) return InvalidArgumentError(cert_file + ": not a PEM certificate");
  return *fp;
}

StatusOr<TlsIdentity> EnsureSelfSignedIdentity(FileSystem& fs, const std::string& data_dir) {
  TlsIdentity id;
  id.cert_file = data_dir + "/tls/coordinator.crt";
  id.key_file = data_dir + "/tls/coordinator.key";
  if (fs.Exists(id.cert_file) && fs.Exists(id.key_file)) {
    auto fp = FingerprintOfFile(fs, id.cert_file);
    if (!fp.ok()) return fp.status();
    id.fingerprint = *fp;
    return id;
  }
  if (Status s = fs.MakeDirectories(data_dir + "/tls", 0700); !s.ok()) return s;

  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return InternalError("generating the TLS key failed");
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return InternalError("CSPRNG failure");
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());

  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Keyhole"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(host), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);

  std::string san = "DNS:localhost,IP:127.0.0.1,IP:::1";
  if (std::string(host) != "localhost") san += ",DNS:" + std::string(host);
  // CA:TRUE so that an agent or keyholectl can name this very file as its CA; pathlen:0 so that,
  // trusted as a CA, it can never vouch for an intermediate.
  if (!AddExtension(cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
      !AddExtension(cert.get(), NID_key_usage, "critical,digitalSignature,keyCertSign") ||
      !AddExtension(cert.get(), NID_ext_key_usage, "serverAuth") ||
      !AddExtension(cert.get(), NID_subject_key_identifier, "hash") ||
      !AddExtension(cert.get(), NID_subject_alt_name, san)) {
    return InternalError("building the TLS certificate failed");
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return InternalError("signing the TLS certificate failed");

  BioPtr key_bio(BIO_new(BIO_s_mem()));
  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  PEM_write_bio_X509(cert_bio.get(), cert.get());
  if (Status s = fs.WriteFileAtomic(id.key_file, BioToString(key_bio.get()), 0600); !s.ok()) return s;
  if (Status s = fs.WriteFileAtomic(id.cert_file, BioToString(cert_bio.get()), 0644); !s.ok()) return s;
  id.fingerprint = CertificateFingerprint(cert.get());
  id.created = true;
  return id;
}

}  // namespace keyhole::coord
