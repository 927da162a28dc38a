// Certificate fingerprints for pinning: "sha256:" followed by 64 lowercase hex digits of the
// SHA-256 of the certificate's DER encoding. Pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

typedef struct x509_st X509;

namespace keyhole {

std::string CertificateFingerprint(X509* cert);
// The fingerprint of the first certificate in a PEM text, or nullopt.
std::optional<std::string> PemFingerprint(std::string_view pem);
// Accepts "sha256:<hex>" or bare hex, with or without colons, any case; returns the canonical form.
std::optional<std::string> NormalizeFingerprint(std::string_view text);

}  // namespace keyhole
