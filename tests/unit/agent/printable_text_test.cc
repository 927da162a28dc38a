// What the coordinator says, made safe for logs and terminals: table cases.
#include "agent/activation/printable_text.h"

#include <gtest/gtest.h>

namespace keyhole::agent {
namespace {

TEST(PrintableTextTest, Table) {
  struct Case {
    std::string in;
    size_t max;
    std::string out;
  } cases[] = {
      {"E0000011 Invalid token provided", 200, "E0000011 Invalid token provided"},
      {"a\nb\rc\td\x1b[31me\x7f", 200, "a b c d [31me "},
      {"caf\xc3\xa9 \xe2\x9c\x93", 200, "caf\xc3\xa9 \xe2\x9c\x93"},   // UTF-8 is kept
      {"x\xc2\x9b" "31m", 200, "x?31m"},                            // C1 control (CSI)
      {"bad \xff\xfe \xc3", 200, "bad ?? ?"},                       // not UTF-8
      {"\xed\xa0\x80", 200, "???"},                                 // a surrogate
      {"\xc0\xaf", 200, "??"},                                      // overlong '/'
      {std::string(300, 'x'), 200, std::string(197, 'x') + "..."},
      {"abcdef", 6, "abcdef"},
      {"abcdefg", 6, "abc..."},
      {"ab\xc3\xa9\xc3\xa9xyz", 7, "ab\xc3\xa9..."},  // never cuts a character in two
      {"", 200, ""},
  };
  for (const auto& c : cases) EXPECT_EQ(PrintableText(c.in, c.max), c.out) << c.in;
}

TEST(PrintableTextTest, TheDefaultLimitIs200) { EXPECT_EQ(PrintableText(std::string(1000, 'y')).size(), 200u); }

}  // namespace
}  // namespace keyhole::agent
