#include "shared/token/token_codec.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <zlib.h>

#include <cstdlib>
#include <memory>

#include "shared/token/random.h"

namespace keyhole {
namespace {

std::string_view PrefixFor(TokenKind kind) {
  switch (kind) {
    case TokenKind::kUser: return "khu_";
    case TokenKind::kAgent: return "kha_";
    case TokenKind::kActivationCode: return "khc_";
  }
  return "";
}

bool IsBase62(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

}  // namespace

std::string TokenCodec::Checksum(std::string_view body) {
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()));
  uint64_t v = crc;
  std::string out(kChecksumChars, '0');
  for (size_t i = kChecksumChars; i-- > 0;) {
    out[i] = kBase62Alphabet[v % 62];
    v /= 62;
  }
  return out;
}

std::string TokenCodec::Generate(TokenKind kind) {
  std::string token(PrefixFor(kind));
  token += RandomBase62(kRandomChars);
  token += Checksum(token);
  return token;
}

std::optional<TokenKind> TokenCodec::Parse(std::string_view token) {
  if (token.size() != kTokenLength) return std::nullopt;
  std::optional<TokenKind> kind;
  if (token.substr(0, kPrefixChars) == PrefixFor(TokenKind::kUser)) kind = TokenKind::kUser;
  if (token.substr(0, kPrefixChars) == PrefixFor(TokenKind::kAgent)) kind = TokenKind::kAgent;
  if (token.substr(0, kPrefixChars) == PrefixFor(TokenKind::kActivationCode)) kind = TokenKind::kActivationCode;
  if (!kind) return std::nullopt;
  for (size_t i = kPrefixChars; i < token.size(); ++i) {
    if (!IsBase62(token[i])) return std::nullopt;
  }
  std::string_view body = token.substr(0, kPrefixChars + kRandomChars);
  std::string expected = Checksum(body);
  if (CRYPTO_memcmp(expected.data(), token.data() + body.size(), kChecksumChars) != 0) return std::nullopt;
  return kind;
}

TokenDigest TokenCodec::Digest(std::string_view token) {
  // On every authenticated request: fetch the algorithm once (OpenSSL 3 would look it up on every
  // EVP_sha256() call) and reuse one context per thread.
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  TokenDigest d{};
  unsigned int len = 0;
  if (!kSha256 || !ctx || EVP_DigestInit_ex(ctx.get(), kSha256, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), token.data(), token.size()) != 1 || EVP_DigestFinal_ex(ctx.get(), d.data(), &len) != 1) {
    std::abort();  // a broken libcrypto: nothing can be authenticated safely
  }
  return d;
}

std::string TokenCodec::DigestHex(const TokenDigest& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (uint8_t b : digest) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::optional<TokenDigest> TokenCodec::DigestFromHex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  TokenDigest d{};
  for (size_t i = 0; i < 32; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    d[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return d;
}

bool TokenCodec::Equal(const TokenDigest& a, const TokenDigest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace keyhole
