#include "shared/token/token_codec.h"

#include <gtest/gtest.h>

#include <set>

namespace keyhole {
namespace {

TEST(TokenCodec, GeneratesTypedChecksummedTokens) {
  std::string user = TokenCodec::Generate(TokenKind::kUser);
  std::string agent = TokenCodec::Generate(TokenKind::kAgent);
  EXPECT_EQ(user.size(), TokenCodec::kTokenLength);
  EXPECT_EQ(user.substr(0, 4), "khu_");
  EXPECT_EQ(agent.substr(0, 4), "kha_");
  EXPECT_EQ(TokenCodec::Parse(user), TokenKind::kUser);
  EXPECT_EQ(TokenCodec::Parse(agent), TokenKind::kAgent);
}

TEST(TokenCodec, CarriesAtLeast192BitsAndNeverRepeats) {
  // 40 base62 characters: 40 * log2(62) ≈ 238 bits.
  EXPECT_GE(TokenCodec::kRandomChars * 5.95, 192.0);
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) EXPECT_TRUE(seen.insert(TokenCodec::Generate(TokenKind::kUser)).second);
}

TEST(TokenCodec, ChecksumCatchesEverySingleCharacterChange) {
  std::string token = TokenCodec::Generate(TokenKind::kUser);
  for (size_t i = 4; i < token.size(); ++i) {
    std::string bad = token;
    bad[i] = bad[i] == 'a' ? 'b' : 'a';
    EXPECT_FALSE(TokenCodec::Parse(bad).has_value()) << "position " << i;
  }
}

TEST(TokenCodec, RejectsGarbage) {
  std::string token = TokenCodec::Generate(TokenKind::kUser);
  std::string swapped_prefix = "kha_" + token.substr(4);  // the checksum covers the prefix
  for (const std::string& bad :
       {std::string(), std::string("khu_"), token.substr(0, token.size() - 1), token + "x", swapped_prefix,
        std::string("xxx_") + token.substr(4), std::string(TokenCodec::kTokenLength, 'a'),
        token.substr(0, 10) + "!" + token.substr(11), std::string("00abc-legacy-okta-style-token-value-123456789012")}) {
    EXPECT_FALSE(TokenCodec::Parse(bad).has_value()) << bad;
  }
}

TEST(TokenCodec, DigestIsSha256) {
  // SHA-256("abc"), FIPS 180-2 test vector.
  EXPECT_EQ(TokenCodec::DigestHex(TokenCodec::Digest("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(TokenCodec, DigestHexRoundTripsAndRejectsJunk) {
  TokenDigest d = TokenCodec::Digest("secret");
  EXPECT_EQ(TokenCodec::DigestFromHex(TokenCodec::DigestHex(d)), d);
  EXPECT_FALSE(TokenCodec::DigestFromHex("zz").has_value());
  EXPECT_FALSE(TokenCodec::DigestFromHex(std::string(64, 'g')).has_value());
}

TEST(TokenCodec, EqualComparesWholeDigests) {
  TokenDigest a = TokenCodec::Digest("a"), b = TokenCodec::Digest("b");
  EXPECT_TRUE(TokenCodec::Equal(a, a));
  EXPECT_FALSE(TokenCodec::Equal(a, b));
  TokenDigest c = a;
  c[31] ^= 1;
  EXPECT_FALSE(TokenCodec::Equal(a, c));
}

}  // namespace
}  // namespace keyhole
