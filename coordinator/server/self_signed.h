// The coordinator's default TLS identity: a self-signed certificate and key kept in the data
// directory, made on first start when no pair is configured. The certificate names localhost,
// 127.0.0.1, ::1 and the host's name; the key file is 0600.
#pragma once

#include <string>

#include "shared/errors/status.h"
#include "shared/fs/file_system.h"

namespace keyhole::coord {

struct TlsIdentity {
  std::string cert_file;
  std::string key_file;
  std::string fingerprint;  // "sha256:…" of the certificate
  bool created = false;     // made just now
};

StatusOr<TlsIdentity> EnsureSelfSignedIdentity(FileSystem& fs, const std::string& data_dir);
// The fingerprint of a configured certificate file.
StatusOr<std::string> FingerprintOfFile(FileSystem& fs, const std::string& cert_file);

}  // namespace keyhole::coord
