#include "shared/token/random.h"

#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>

namespace keyhole {

std::string RandomBase62(size_t n) {
  std::string out;
  out.reserve(n);
  unsigned char buf[64];
  while (out.size() < n) {
    if (RAND_bytes(buf, sizeof buf) != 1) {
      std::fputs("keyhole: CSPRNG failure, aborting\n", stderr);
      std::abort();
    }
    for (unsigned char b : buf) {
      // 62 * 4 = 248: bytes at or above it are rejected so every character is equally likely.
      if (b >= 248) continue;
      out.push_back(kBase62Alphabet[b % 62]);
      if (out.size() == n) break;
    }
  }
  return out;
}

std::string NewId(std::string_view prefix) {
  constexpr size_t kIdLength = 20;
  std::string id(prefix);
  id += RandomBase62(kIdLength > prefix.size() ? kIdLength - prefix.size() : 0);
  return id;
}

}  // namespace keyhole
