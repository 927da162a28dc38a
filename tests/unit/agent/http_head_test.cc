// The HTTP/1.1 request head the agent writes upstream: Host replaced, hop-by-hop fields and Expect
// dropped, Content-Length passed through or chunked framing chosen, and anything that could split
// the request (CR, LF, NUL, a bad method or target) refused.
#include "agent/forward/http_head.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace keyhole::agent {
namespace {

UpstreamTarget Target() { return *UpstreamTarget::FromConfig("svc", Upstream{"http://10.0.0.5:8080", ""}); }

TEST(HttpHeadTest, WritesTheHeadWithTheUpstreamsHost) {
  protocol::RequestHead head{.stream = 1, .end_stream = true, .upstream = "svc", .method = "GET", .target = "/a?b=c",
                             .headers = {{"Host", "coord.example"}, {"Accept", "text/html"}, {"Connection", "X-Hop"},
                                         {"X-Hop", "1"}, {"Keep-Alive", "5"}, {"Expect", "100-continue"},
                                         {"X-Forwarded-For", "192.0.2.1"}}};
  std::string out;
  auto framing = WriteUpstreamRequestHead(head, Target(), out);
  ASSERT_TRUE(framing.ok());
  EXPECT_FALSE(framing->chunked);
  EXPECT_EQ(out, "GET /a?b=c HTTP/1.1\r\nHost: 10.0.0.5:8080\r\nAccept: text/html\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n");
}

TEST(HttpHeadTest, BodyFraming) {
  std::string out;
  protocol::RequestHead head{.stream = 1, .upstream = "svc", .method = "POST", .target = "/", .headers = {}};
  auto f = WriteUpstreamRequestHead(head, Target(), out);
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->chunked);
  EXPECT_THAT(out, ::testing::HasSubstr("Transfer-Encoding: chunked\r\n"));

  out.clear();
  head.headers = {{"Content-Length", "12"}, {"Transfer-Encoding", "chunked"}};
  f = WriteUpstreamRequestHead(head, Target(), out);
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->chunked);
  EXPECT_EQ(f->content_length, 12u);
  EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr("Transfer-Encoding")));

  out.clear();
  head.headers = {};
  head.end_stream = true;
  f = WriteUpstreamRequestHead(head, Target(), out);
  ASSERT_TRUE(f.ok());
  EXPECT_THAT(out, ::testing::HasSubstr("Content-Length: 0\r\n"));

  std::string chunk;
  AppendChunkHeader(8000, chunk);
  EXPECT_EQ(chunk, "1f40\r\n");
}

TEST(HttpHeadTest, RefusesWhatCouldSplitTheRequest) {
  const protocol::HeaderFields none;
  struct Case {
    std::string method, target;
    protocol::HeaderFields headers;
  } cases[] = {
      {"GET /x HTTP/1.1\r\n", "/", none},
      {"GET", "/a b", none},
      {"GET", "http://elsewhere/", none},
      {"GET", "/a\r\nX: y", none},
      {"GET", "/", {{"X-A", "v\r\nInjected: 1"}}},
      {"GET", "/", {{"X A", "v"}}},
      {"GET", "/", {{"X-A", std::string("v\0w", 3)}}},
      {"POST", "/", {{"Content-Length", "12, 13"}}},
      {"POST", "/", {{"Content-Length", "1"}, {"Content-Length", "2"}}},
  };
  for (const auto& c : cases) {
    std::string out;
    protocol::RequestHead head{.stream = 1, .end_stream = true, .upstream = "svc", .method = c.method,
                               .target = c.target, .headers = c.headers};
    EXPECT_FALSE(WriteUpstreamRequestHead(head, Target(), out).ok()) << c.method << " " << c.target;
  }
}

TEST(HttpHeadTest, HopByHopFields) {
  EXPECT_TRUE(IsHopByHopField("Transfer-Encoding", ""));
  EXPECT_TRUE(IsHopByHopField("proxy-authorization", ""));
  EXPECT_TRUE(IsHopByHopField("X-Private", "keep-alive, x-private"));
  EXPECT_FALSE(IsHopByHopField("Content-Length", "close"));
  EXPECT_FALSE(IsHopByHopField("X-Private-Not", "x-private"));
}

TEST(HttpHeadTest, QuoteForReasonEscapesAndCuts) {
  struct Case {
    std::string in;
    size_t max;
    std::string out;
  } cases[] = {
      {"svc-1", 128, "svc-1"},
      {"a\r\nb\x1b[31m\\", 128, "a\\x0d\\x0ab\\x1b[31m\\x5c"},
      {"caf\xc3\xa9", 128, "caf\\xc3\\xa9"},
      {std::string(300, 'x'), 128, std::string(128, 'x') + "..."},
      {"abc\x01", 6, "abc..."},  // never half an escape
      {"", 128, ""},
  };
  for (const auto& c : cases) EXPECT_EQ(QuoteForReason(c.in, c.max), c.out) << c.in;
}

TEST(HttpHeadTest, ALongBadHeaderNameIsQuotedShortInTheError) {
  std::string out;
  protocol::RequestHead head{.stream = 1, .end_stream = true, .upstream = "svc", .method = "GET", .target = "/",
                             .headers = {{std::string(60000, 'N'), "a\nb"}}};
  auto framing = WriteUpstreamRequestHead(head, Target(), out);
  ASSERT_FALSE(framing.ok());
  EXPECT_LE(framing.status().message().size(), 200u);
}

}  // namespace
}  // namespace keyhole::agent
