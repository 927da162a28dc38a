// Validate checks heads in place (no Encode, no DecodeFrame): these tables hold it to its
// contract, "Validate(frame).ok() iff the decoder accepts Encode(frame)", by comparing it with
// that very round trip, refusal message included, on accepted and refused heads.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "shared/protocol/frame.h"

namespace keyhole::protocol {
namespace {

using ::testing::HasSubstr;

// What the peer's decoder says of the frame's bytes. REQUIRES: within Encode's limits.
Status RoundTrip(const Frame& frame) {
  std::string bytes;
  Encode(frame, bytes);
  std::string_view in = bytes;
  StatusOr<Frame> decoded = DecodeFrame(in);
  if (decoded.ok() && !(*decoded == frame)) return InternalError("the round trip changed the frame");
  return decoded.status();
}

void ExpectAgreesWithRoundTrip(const Frame& frame) {
  SCOPED_TRACE(ToString(frame));
  const Status direct = Validate(frame);
  const Status reference = RoundTrip(frame);
  EXPECT_EQ(direct.ok(), reference.ok()) << "direct: " << direct.message() << "; round trip: " << reference.message();
  EXPECT_EQ(direct.message(), reference.message());
  EXPECT_EQ(direct.code(), reference.code());
  // The overload the coordinator uses before the link numbers the stream.
  if (const auto* head = std::get_if<RequestHead>(&frame)) {
    RequestHead unnumbered = *head;
    unnumbered.stream = 0;
    EXPECT_EQ(Validate(unnumbered, head->stream).message(), direct.message());
  }
  if (const auto* head = std::get_if<ResponseHead>(&frame)) {
    ResponseHead unnumbered = *head;
    unnumbered.stream = 0;
    EXPECT_EQ(Validate(unnumbered, head->stream).message(), direct.message());
  }
}

RequestHead Request(std::string method, std::string target, HeaderFields headers = {}, std::string upstream = "web") {
  return RequestHead{.stream = 1, .upstream = std::move(upstream), .method = std::move(method),
                     .target = std::move(target), .headers = std::move(headers)};
}

ResponseHead Response(uint16_t status, HeaderFields headers = {}) {
  return ResponseHead{.stream = 3, .status = status, .headers = std::move(headers)};
}

TEST(FrameValidate, RequestHeadsAgreeWithTheRoundTrip) {
  const std::string all_tchars = "!#$%&'*+-.^_`|~09azAZ";
  const std::vector<RequestHead> heads = {
      Request("GET", "/"),
      Request("GET", "/a/b?c=d&e=%20", {{"Accept", "*/*"}, {"X-Forwarded-For", "10.0.0.1"}}),
      Request(all_tchars, "/"),
      Request("GET", "/", {{all_tchars, "tab\tand obs-text \xff\x80 kept"}, {"Empty-Value", ""}}),
      Request("GET", "/", {}, ""),                        // empty upstream
      Request("", "/"),                                   // empty method
      Request("GE T", "/"),                               // method not a token
      Request("GET(", "/"),
      Request("G\xc3\xa9T", "/"),
      Request("GET", ""),                                 // empty target
      Request("GET", "*"),                                // not origin-form
      Request("GET", "http://host/"),
      Request("GET", "/a b"),                             // whitespace
      Request("GET", "/a\tb"),
      Request("GET", "/\x7f"),                            // control bytes
      Request("GET", std::string("/\0", 2)),
      Request("GET", "/\x80ok"),                          // high bytes are not control bytes
      Request("GET", "/", {{"", "v"}}),                   // empty name
      Request("GET", "/", {{"a b", "v"}}),                // name not a token
      Request("GET", "/", {{"a:b", "v"}}),
      Request("GET", "/", {{"a\r\n", "v"}}),
      Request("GET", "/", {{"a", "x\r\ny"}}),             // value with CR LF
      Request("GET", "/", {{"a", "x\ny"}}),
      Request("GET", "/", {{"a", "x\ry"}}),
      Request("GET", "/", {{"a", std::string("x\0y", 3)}}),
      Request("GET", "/", {{"ok", "v"}, {"ok", "v"}, {"", "v"}}),  // the index is named
      // Several problems: the one the decoder meets first is named.
      Request("", "", {{"", ""}}, ""),
      Request("GET", "x", {{"a b", "v"}}),
      Request("GET", "/", {{"a b", "x\r"}, {"", ""}}),
      Request("GET", "/", {{"a", "x\r"}, {"b c", ""}}),
      Request("GET", "/", HeaderFields(kMaxHeaderFields, {"n", "v"})),  // at the limit
      Request("GET", "/", {}, std::string(kMaxName, 'u')),                // at the limit
  };
  for (const RequestHead& head : heads) ExpectAgreesWithRoundTrip(head);
  RequestHead unnumbered = Request("GET", "/");
  unnumbered.stream = 0;
  ExpectAgreesWithRoundTrip(unnumbered);
  unnumbered.method = "";
  ExpectAgreesWithRoundTrip(unnumbered);  // the stream is named before the fields
}

TEST(FrameValidate, ResponseHeadsAgreeWithTheRoundTrip) {
  const std::vector<ResponseHead> heads = {
      Response(200),
      Response(100),
      Response(999, {{"Content-Type", "text/plain"}, {"Set-Cookie", "a=b; Path=/"}}),
      Response(99),
      Response(1000),
      Response(0),
      Response(65535),
      Response(200, {{"", "v"}}),
      Response(200, {{"a b", "v"}}),
      Response(200, {{"a", "x\r\ny"}}),
      Response(200, {{"a", std::string("\0", 1)}}),
      Response(99, {{"a b", "v"}}),  // the status is named before the fields
      Response(200, HeaderFields(kMaxHeaderFields, {"n", "v"})),
  };
  for (const ResponseHead& head : heads) ExpectAgreesWithRoundTrip(head);
  ResponseHead unnumbered = Response(200);
  unnumbered.stream = 0;
  ExpectAgreesWithRoundTrip(unnumbered);
}

TEST(FrameValidate, HeadsAtThePayloadLimitAgreeWithTheRoundTrip) {
  // REQUEST_HEAD payload: 2+3 (upstream "web") + 2+3 (method) + 2+1 (target) + 2 (count) + 4+1+value.
  const size_t fixed = 2 + 3 + 2 + 3 + 2 + 1 + 2 + 4 + 1;
  RequestHead at_limit = Request("GET", "/", {{"a", std::string(kMaxHeadPayload - fixed, 'v')}});
  ASSERT_EQ(EncodedSize(at_limit), kFrameHeaderSize + kMaxHeadPayload);
  ExpectAgreesWithRoundTrip(at_limit);
  // One byte more cannot be encoded: Validate names the limit, before any field rule.
  at_limit.headers.back().second += 'v';
  at_limit.method = "G T";  // same size, not a token
  Status s = Validate(at_limit);
  EXPECT_EQ(s.message(), "REQUEST_HEAD: payload of 65537 bytes exceeds the limit of 65536 (kMaxHeadPayload)");
}

TEST(FrameValidate, WhatEncodeCannotCarryIsNamedBeforeTheFieldRules) {
  struct Case {
    const char* name;
    Frame frame;
    const char* message;
  } cases[] = {
      {"upstream", Request("", "/", {}, std::string(kMaxName + 1, 'u')), "REQUEST_HEAD: upstream is longer than 255 bytes"},
      {"method", Request(std::string(0x10000, 'G'), ""), "REQUEST_HEAD: method is longer than 65535 bytes"},
      {"target", Request("", std::string(0x10000, '/')), "REQUEST_HEAD: target is longer than 65535 bytes"},
      {"fields", Request("", "", HeaderFields(kMaxHeaderFields + 1, {"", ""})),
       "REQUEST_HEAD: 257 header fields exceed the limit of 256"},
      {"name", Request("GET", "/", {{"", ""}, {std::string(0x10000, 'n'), ""}}),
       "REQUEST_HEAD: a header name is longer than 65535 bytes"},
      {"value", Response(0, {{"", ""}, {"a", std::string(0x10000, 'v')}}),
       "RESPONSE_HEAD: a header value is longer than 65535 bytes"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(Validate(c.frame).message(), c.message);
  }
}

// Heads drawn from bytes that sit on the rules' edges, all within Encode's limits.
TEST(FrameValidate, RandomHeadsAgreeWithTheRoundTrip) {
  std::mt19937 rng(20261128);
  const std::string bytes = std::string("aZ09-_!~/?%: \t\r\n\x7f\x80\xff()") + std::string(1, '\0');
  auto pick = [&](size_t max_len) {
    std::string s(std::uniform_int_distribution<size_t>(0, max_len)(rng), 'a');
    for (char& c : s) {
      // Mostly valid bytes, so that some heads pass and the later rules are reached.
      if (std::uniform_int_distribution<int>(0, 7)(rng) == 0) {
        c = bytes[std::uniform_int_distribution<size_t>(0, bytes.size() - 1)(rng)];
      }
    }
    return s;
  };
  int accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    HeaderFields headers(std::uniform_int_distribution<size_t>(0, 4)(rng));
    for (auto& [name, value] : headers) {
      name = pick(6);
      value = pick(8);
    }
    const uint32_t stream = std::uniform_int_distribution<int>(0, 15)(rng) == 0 ? 0 : 7;
    Frame frame;
    if (i % 2 == 0) {
      std::string target = pick(6);
      if (!target.empty() && std::uniform_int_distribution<int>(0, 3)(rng) != 0) target[0] = '/';
      frame = RequestHead{.stream = stream, .upstream = pick(3), .method = pick(4), .target = target,
                          .headers = headers};
    } else {
      const uint16_t status = std::uniform_int_distribution<int>(0, 9)(rng) == 0
                                  ? static_cast<uint16_t>(std::uniform_int_distribution<int>(0, 1100)(rng))
                                  : 200;
      frame = ResponseHead{.stream = stream, .status = status, .headers = headers};
    }
    accepted += Validate(frame).ok();
    ExpectAgreesWithRoundTrip(frame);
    if (HasFailure()) break;
  }
  // Both outcomes are well represented.
  EXPECT_GT(accepted, 300);
  EXPECT_LT(accepted, 2700);
}

}  // namespace
}  // namespace keyhole::protocol
