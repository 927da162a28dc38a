// TokenCodec: the API token format, shared by users' and agents' tokens.
//
//   kh<kind>_<40 base62 random characters><6 base62 characters of CRC32>
//   e.g. khu_3fQ… (user), kha_… (agent) or khc_… (a one-time agent activation code)
//
// 40 base62 characters carry 238 bits from OpenSSL's CSPRNG. The type prefix lets secret
// scanners find leaked tokens; the checksum lets the server reject garbage without a lookup.
// Secrets are stored only as SHA-256 digests. Pure functions; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace keyhole {

enum class TokenKind { kUser, kAgent, kActivationCode };

using TokenDigest = std::array<uint8_t, 32>;

// For hash maps keyed by digest: the digest is uniformly distributed already.
struct TokenDigestHash {
  size_t operator()(const TokenDigest& d) const noexcept {
    size_t h;
    std::memcpy(&h, d.data(), sizeof h);
    return h;
  }
};

class TokenCodec {
 public:
  static constexpr size_t kRandomChars = 40;
  static constexpr size_t kChecksumChars = 6;
  static constexpr size_t kPrefixChars = 4;  // "khu_"
  static constexpr size_t kTokenLength = kPrefixChars + kRandomChars + kChecksumChars;

  // A fresh secret of the given kind.
  static std::string Generate(TokenKind kind);

  // The kind of a well-formed token (prefix, length, alphabet, checksum), or nullopt.
  static std::optional<TokenKind> Parse(std::string_view token);

  static TokenDigest Digest(std::string_view token);
  static std::string DigestHex(const TokenDigest& digest);
  static std::optional<TokenDigest> DigestFromHex(std::string_view hex);

  // Constant-time comparison of two digests.
  static bool Equal(const TokenDigest& a, const TokenDigest& b);

 private:
  static std::string Checksum(std::string_view body);
};

}  // namespace keyhole
