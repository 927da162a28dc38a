// Random strings from OpenSSL's CSPRNG, for secrets and opaque ids. Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace keyhole {

inline constexpr std::string_view kBase62Alphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// `n` characters drawn uniformly from kBase62Alphabet (rejection sampling: no modulo bias).
// Aborts if the CSPRNG fails: no secret may ever come from a weaker source.
std::string RandomBase62(size_t n);

// An Okta-style 20-character id: `prefix` followed by random base62 characters.
std::string NewId(std::string_view prefix);

}  // namespace keyhole
