#include "shared/protocol/frame.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace keyhole::protocol {
namespace {

using ::testing::HasSubstr;

// --- hand-built wire bytes ---------------------------------------------------------------

std::string U8(uint8_t v) { return std::string(1, static_cast<char>(v)); }
std::string U16(uint16_t v) { return U8(static_cast<uint8_t>(v >> 8)) + U8(static_cast<uint8_t>(v)); }
std::string U32(uint32_t v) { return U16(static_cast<uint16_t>(v >> 16)) + U16(static_cast<uint16_t>(v)); }
std::string U64(uint64_t v) { return U32(static_cast<uint32_t>(v >> 32)) + U32(static_cast<uint32_t>(v)); }
std::string Str(std::string_view s) { return U16(static_cast<uint16_t>(s.size())) + std::string(s); }
std::string Headers(const std::vector<std::pair<std::string, std::string>>& h) {
  std::string out = U16(static_cast<uint16_t>(h.size()));
  for (const auto& [n, v] : h) out += Str(n) + Str(v);
  return out;
}

// A frame header followed by `payload`, its length field saying `length` (default: the truth).
std::string Raw(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload, int64_t length = -1) {
  return U8(type) + U8(flags) + U32(stream) + U32(static_cast<uint32_t>(length < 0 ? payload.size() : length)) +
         payload;
}
std::string Raw(FrameType type, uint8_t flags, uint32_t stream, const std::string& payload, int64_t length = -1) {
  return Raw(static_cast<uint8_t>(type), flags, stream, payload, length);
}

std::string Encoded(const Frame& f) {
  std::string out;
  Encode(f, out);
  return out;
}

std::string HelloPayload(uint8_t role, uint32_t stream_window, const std::vector<std::string>& upstreams) {
  std::string p = U16(1) + U8(role) + U32(stream_window) + U32(kDefaultConnectionWindow) + U32(64) + Str("sw") +
                  U16(static_cast<uint16_t>(upstreams.size()));
  for (const std::string& u : upstreams) p += Str(u);
  return p;
}
std::string RequestPayload(std::string_view upstream, std::string_view method, std::string_view target,
                           const HeaderFields& headers = {}) {
  return Str(upstream) + Str(method) + Str(target) + Headers(headers);
}

// --- round trips -------------------------------------------------------------------------

HeaderFields ManyHeaders(size_t n) {
  HeaderFields h;
  for (size_t i = 0; i < n; ++i) h.emplace_back("x-h" + std::to_string(i), "v");
  return h;
}

struct RoundTripCase {
  const char* name;
  Frame frame;
};

std::vector<RoundTripCase> RoundTripCases() {
  std::string all_bytes;
  for (int i = 0; i < 256; ++i) all_bytes += static_cast<char>(i);
  return {
      {"hello_defaults", Hello{}},
      {"hello_agent", Hello{.role = Role::kAgent, .max_streams = 64, .software = "keyhole-agent/0.1.0",
                            .upstreams = {"grafana", "wiki", std::string(kMaxName, 'u')}}},
      {"hello_coordinator_edges", Hello{.version = 0xffff, .role = Role::kCoordinator, .stream_window = 0,
                                        .connection_window = kMaxWindow, .max_streams = 0xffffffff}},
      {"request_head", RequestHead{.stream = 1, .upstream = "grafana", .method = "GET", .target = "/api/x?y=1",
                                   .headers = {{"Accept", "*/*"}, {"X-Forwarded-For", "10.0.0.1"}}}},
      {"request_head_end_stream_max_stream",
       RequestHead{.stream = 0xffffffff, .end_stream = true, .upstream = "u", .method = "M-SEARCH", .target = "/",
                   .headers = {{"x", ""}, {"!#$%&'*+-.^_`|~09AZaz", "tab\there \x80\xff obs-text"}}}},
      {"request_head_max_headers", RequestHead{.stream = 3, .upstream = "u", .method = "POST", .target = "/p",
                                               .headers = ManyHeaders(kMaxHeaderFields)}},
      {"response_head_100", ResponseHead{.stream = 1, .status = 100}},
      {"response_head_999_end", ResponseHead{.stream = 5, .end_stream = true, .status = 999,
                                             .headers = {{"Content-Length", "0"}}}},
      {"data_empty_end", Data{.stream = 1, .end_stream = true}},
      {"data_binary", Data{.stream = 7, .bytes = all_bytes}},
      {"data_max_payload", Data{.stream = 9, .bytes = std::string(kMaxPayload, '\0')}},
      {"reset_cancel_empty_reason", Reset{.stream = 1, .code = ResetCode::kCancel}},
      {"reset_internal", Reset{.stream = 3, .code = ResetCode::kInternal, .reason = "boom"}},
      {"reset_max_reason", Reset{.stream = 3, .code = ResetCode::kUpstreamError, .reason = std::string(kMaxReason, 'r')}},
      {"window_update_connection", WindowUpdate{.stream = 0, .increment = 1}},
      {"window_update_stream_max", WindowUpdate{.stream = 11, .increment = kMaxWindow}},
      {"ping_zero", Ping{}},
      {"ping_max", Ping{.opaque = 0xffffffffffffffffULL}},
      {"pong", Pong{.opaque = 0x0102030405060708ULL}},
      {"close_normal", Close{}},
      {"close_idle", Close{.code = CloseCode::kIdleTimeout, .reason = "silent for 60 s"}},
  };
}

TEST(FrameCodec, RoundTripsEveryFrameType) {
  std::vector<bool> seen(9, false);
  for (const RoundTripCase& c : RoundTripCases()) {
    SCOPED_TRACE(c.name);
    seen[c.frame.index()] = true;
    std::string bytes = "prefix";  // Encode appends
    Encode(c.frame, bytes);
    ASSERT_EQ(bytes.substr(0, 6), "prefix");
    std::string_view in = std::string_view(bytes).substr(6);
    EXPECT_EQ(in.size(), EncodedSize(c.frame));
    EXPECT_TRUE(Validate(c.frame).ok()) << Validate(c.frame).message();
    StatusOr<Frame> decoded = DecodeFrame(in);
    ASSERT_TRUE(decoded.ok()) << decoded.status().message();
    EXPECT_TRUE(in.empty()) << in.size() << " bytes not consumed";
    EXPECT_TRUE(*decoded == c.frame) << ToString(*decoded) << " vs " << ToString(c.frame);
  }
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_TRUE(seen[i]) << "no case for variant index " << i;
}

TEST(FrameCodec, RoundTripsEveryResetAndCloseCode) {
  for (uint32_t code = 1; code <= 9; ++code) {
    Frame f = Reset{.stream = 1, .code = static_cast<ResetCode>(code), .reason = "r"};
    StatusOr<std::vector<Frame>> d = DecodeMessage(Encoded(f));
    ASSERT_TRUE(d.ok()) << code << ": " << d.status().message();
    EXPECT_TRUE(d->at(0) == f);
  }
  for (uint32_t code = 1; code <= 8; ++code) {
    Frame f = Close{.code = static_cast<CloseCode>(code), .reason = "c"};
    StatusOr<std::vector<Frame>> d = DecodeMessage(Encoded(f));
    ASSERT_TRUE(d.ok()) << code << ": " << d.status().message();
    EXPECT_TRUE(d->at(0) == f);
  }
}

TEST(FrameCodec, DecodesBatchedFramesInOneMessage) {
  std::vector<Frame> frames = {
      RequestHead{.stream = 1, .upstream = "u", .method = "POST", .target = "/sink"},
      Data{.stream = 1, .bytes = "abc"},
      WindowUpdate{.stream = 0, .increment = 4096},
      Data{.stream = 1, .end_stream = true, .bytes = std::string(70000, 'z')},
      Ping{.opaque = 42},
  };
  std::string message;
  for (const Frame& f : frames) Encode(f, message);

  StatusOr<std::vector<Frame>> decoded = DecodeMessage(message);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_TRUE(*decoded == frames);

  // DecodeFrame walks the same message one frame at a time.
  std::string_view in = message;
  for (const Frame& f : frames) {
    StatusOr<Frame> one = DecodeFrame(in);
    ASSERT_TRUE(one.ok()) << one.status().message();
    EXPECT_TRUE(*one == f);
  }
  EXPECT_TRUE(in.empty());
}

TEST(FrameCodec, AMessageWithAGoodFrameThenGarbageIsRefused) {
  std::string message = Encoded(Ping{.opaque = 1}) + "\x07\x00";
  StatusOr<std::vector<Frame>> decoded = DecodeMessage(message);
  ASSERT_FALSE(decoded.ok());
  EXPECT_THAT(decoded.status().message(), HasSubstr("truncated frame header"));
}

// --- byte layout -------------------------------------------------------------------------

TEST(FrameCodec, HelloLayoutIsBigEndian) {
  Hello h{.version = 1, .role = Role::kAgent, .stream_window = 0x00040000, .connection_window = 0x01000000,
          .max_streams = 64, .software = "ka/1", .upstreams = {"wiki", "db"}};
  const char expected[] =
      "\x01"              // type HELLO
      "\x00"              // flags
      "\x00\x00\x00\x00"  // stream 0
      "\x00\x00\x00\x21"  // payload length 33
      "\x00\x01"          // version 1
      "\x02"              // role agent
      "\x00\x04\x00\x00"  // stream_window 262144
      "\x01\x00\x00\x00"  // connection_window 16777216
      "\x00\x00\x00\x40"  // max_streams 64
      "\x00\x04ka/1"      // software
      "\x00\x02"          // 2 upstreams
      "\x00\x04wiki"
      "\x00\x02" "db";
  EXPECT_EQ(Encoded(h), std::string(expected, sizeof expected - 1));
}

TEST(FrameCodec, DataLayoutIsBigEndian) {
  Data d{.stream = 0x01020304, .end_stream = true, .bytes = "hi!"};
  const char expected[] =
      "\x04"              // type DATA
      "\x01"              // END_STREAM
      "\x01\x02\x03\x04"  // stream
      "\x00\x00\x00\x03"  // length
      "hi!";
  EXPECT_EQ(Encoded(d), std::string(expected, sizeof expected - 1));
}

TEST(FrameCodec, RequestHeadAndWindowUpdateLayout) {
  RequestHead r{.stream = 3, .upstream = "u", .method = "GET", .target = "/", .headers = {{"a", "b"}}};
  const char expected[] = "\x02\x00\x00\x00\x00\x03\x00\x00\x00\x13"
                          "\x00\x01u\x00\x03GET\x00\x01/"
                          "\x00\x01"                       // one header
                          "\x00\x01" "a\x00\x01" "b";
  EXPECT_EQ(Encoded(r), std::string(expected, sizeof expected - 1));
  EXPECT_EQ(Encoded(WindowUpdate{.stream = 0, .increment = 0x7fffffff}),
            std::string("\x06\x00\x00\x00\x00\x00\x00\x00\x00\x04\x7f\xff\xff\xff", 14));
}

TEST(FrameCodec, AppendDataHeaderEqualsEncodeOfData) {
  for (size_t length : {size_t{0}, size_t{1}, kMaxDataChunk, kMaxPayload}) {
    for (bool end : {false, true}) {
      Data d{.stream = 77, .end_stream = end, .bytes = std::string(length, 'd')};
      std::string zero_copy = "x";
      AppendDataHeader(77, length, end, zero_copy);
      EXPECT_EQ(zero_copy.size(), 1 + kFrameHeaderSize);
      zero_copy.append(d.bytes);
      EXPECT_EQ(zero_copy, "x" + Encoded(d)) << length << " " << end;
    }
  }
}

TEST(FrameCodec, EncodingAHeadUnderAnotherStreamEqualsEncodingItsRenumberedCopy) {
  RequestHead req{.stream = 0, .end_stream = true, .upstream = "ldap", .method = "POST", .target = "/a?b=c",
                  .headers = {{"Content-Type", "text/plain"}, {"X-Long", std::string(300, 'v')}}};
  ResponseHead resp{.stream = 0, .end_stream = false, .status = 404, .headers = {{"Server", "upstream"}}};
  for (uint32_t stream : {1u, 2u, 0x7fffffffu}) {
    std::string shared = "x";
    Encode(req, stream, shared);
    RequestHead req_copy = req;
    req_copy.stream = stream;
    EXPECT_EQ(shared, "x" + Encoded(req_copy)) << stream;
    shared = "y";
    Encode(resp, stream, shared);
    ResponseHead resp_copy = resp;
    resp_copy.stream = stream;
    EXPECT_EQ(shared, "y" + Encoded(resp_copy)) << stream;
  }
  EXPECT_EQ(req.stream, 0u);  // the shared head is left as it was
}

// --- refusals ----------------------------------------------------------------------------

struct RefusalCase {
  const char* name;
  std::string bytes;
  const char* problem;  // a substring of the error message
};

std::vector<RefusalCase> RefusalCases() {
  const std::string ping = U64(1);
  return {
      {"empty_input", "", "truncated frame header"},
      {"truncated_header", std::string("\x04\x00\x00\x00\x00\x01\x00", 7), "truncated frame header"},
      {"truncated_payload", Raw(FrameType::kData, 0, 1, "12345", 10), "truncated payload"},
      {"payload_over_max", Raw(FrameType::kData, 0, 1, "", kMaxPayload + 1), "exceeds kMaxPayload"},
      {"head_over_max", Raw(FrameType::kRequestHead, 0, 1, "", kMaxHeadPayload + 1), "exceeds kMaxHeadPayload"},
      {"response_head_over_max", Raw(FrameType::kResponseHead, 0, 1, "", kMaxHeadPayload + 1),
       "exceeds kMaxHeadPayload"},
      {"type_zero", Raw(uint8_t{0}, 0, 0, ping), "unknown frame type 0"},
      {"type_ten", Raw(uint8_t{10}, 0, 0, ping), "unknown frame type 10"},
      {"type_255", Raw(uint8_t{255}, 0, 0, ping), "unknown frame type 255"},
      {"data_unknown_flag", Raw(FrameType::kData, 0x02, 1, "x"), "unknown flags 0x02"},
      {"head_high_flag", Raw(FrameType::kResponseHead, 0x81, 1, U16(200) + U16(0)), "unknown flags 0x81"},
      {"end_stream_on_reset", Raw(FrameType::kReset, kFlagEndStream, 1, U32(1) + Str("")), "unknown flags 0x01"},
      {"end_stream_on_window_update", Raw(FrameType::kWindowUpdate, kFlagEndStream, 1, U32(1)), "unknown flags"},
      {"end_stream_on_ping", Raw(FrameType::kPing, kFlagEndStream, 0, ping), "unknown flags"},
      {"end_stream_on_hello", Raw(FrameType::kHello, kFlagEndStream, 0, HelloPayload(2, 1, {})), "unknown flags"},
      {"request_head_stream_0", Raw(FrameType::kRequestHead, 0, 0, RequestPayload("u", "GET", "/")), "stream 0"},
      {"response_head_stream_0", Raw(FrameType::kResponseHead, 0, 0, U16(200) + U16(0)), "stream 0"},
      {"data_stream_0", Raw(FrameType::kData, 0, 0, "x"), "stream 0"},
      {"reset_stream_0", Raw(FrameType::kReset, 0, 0, U32(1) + Str("")), "stream 0"},
      {"hello_on_stream", Raw(FrameType::kHello, 0, 1, HelloPayload(2, 1, {})), "must be stream 0"},
      {"ping_on_stream", Raw(FrameType::kPing, 0, 3, ping), "must be stream 0"},
      {"pong_on_stream", Raw(FrameType::kPong, 0, 5, ping), "must be stream 0"},
      {"close_on_stream", Raw(FrameType::kClose, 0, 1, U32(1) + Str("")), "must be stream 0"},
      {"window_update_zero", Raw(FrameType::kWindowUpdate, 0, 1, U32(0)), "increment 0"},
      {"window_update_over_max", Raw(FrameType::kWindowUpdate, 0, 0, U32(0x80000000)), "exceeds kMaxWindow"},
      {"status_99", Raw(FrameType::kResponseHead, 0, 1, U16(99) + U16(0)), "status 99 is outside 100..999"},
      {"status_1000", Raw(FrameType::kResponseHead, 0, 1, U16(1000) + U16(0)), "status 1000 is outside 100..999"},
      {"too_many_headers",
       Raw(FrameType::kResponseHead, 0, 1, U16(200) + Headers(ManyHeaders(kMaxHeaderFields + 1))),
       "header count 257 exceeds the limit of 256"},
      {"header_count_beyond_payload", Raw(FrameType::kResponseHead, 0, 1, U16(200) + U16(100) + Str("a") + Str("b")),
       "does not fit"},
      {"empty_method", Raw(FrameType::kRequestHead, 0, 1, RequestPayload("u", "", "/")), "empty method"},
      {"method_not_token", Raw(FrameType::kRequestHead, 0, 1, RequestPayload("u", "GET /x", "/")),
       "is not an HTTP token"},
      {"empty_upstream", Raw(FrameType::kRequestHead, 0, 1, RequestPayload("", "GET", "/")), "empty upstream"},
      {"target_without_slash", Raw(FrameType::kRequestHead, 0, 1, RequestPayload("u", "GET", "x/y")),
       "does not start with '/'"},
      {"target_empty", Raw(FrameType::kRequestHead, 0, 1, RequestPayload("u", "GET", "")), "does not start with '/'"},
      {"target_absolute_form", Raw(FrameType::kRequestHead, 0, 1, RequestPayload("u", "GET", "http://h/")),
       "does not start with '/'"},
      {"target_with_space", Raw(FrameType::kRequestHead, 0, 1, RequestPayload("u", "GET", "/a b")),
       "whitespace or control bytes"},
      {"target_with_crlf", Raw(FrameType::kRequestHead, 0, 1, RequestPayload("u", "GET", "/a\r\nX: y")),
       "whitespace or control bytes"},
      {"header_name_empty", Raw(FrameType::kRequestHead, 0, 1, RequestPayload("u", "GET", "/", {{"", "v"}})),
       "empty name"},
      {"header_name_space", Raw(FrameType::kRequestHead, 0, 1, RequestPayload("u", "GET", "/", {{"Bad Name", "v"}})),
       "not allowed in an HTTP token"},
      {"header_name_colon", Raw(FrameType::kResponseHead, 0, 1, U16(200) + Headers({{"a:b", "v"}})),
       "not allowed in an HTTP token"},
      {"header_name_non_ascii", Raw(FrameType::kResponseHead, 0, 1, U16(200) + Headers({{"caf\xc3\xa9", "v"}})),
       "not allowed in an HTTP token"},
      {"header_value_cr", Raw(FrameType::kResponseHead, 0, 1, U16(200) + Headers({{"a", "x\ry"}})), "CR, LF or NUL"},
      {"header_value_lf", Raw(FrameType::kResponseHead, 0, 1, U16(200) + Headers({{"a", "x\nSet-Cookie: y"}})),
       "CR, LF or NUL"},
      {"header_value_nul",
       Raw(FrameType::kRequestHead, 0, 1, RequestPayload("u", "GET", "/", {{"a", std::string("x\0y", 3)}})),
       "CR, LF or NUL"},
      {"ping_trailing_byte", Raw(FrameType::kPing, 0, 0, ping + "!"), "1 trailing bytes"},
      {"window_update_trailing", Raw(FrameType::kWindowUpdate, 0, 0, U32(1) + "xy"), "2 trailing bytes"},
      {"request_head_trailing", Raw(FrameType::kRequestHead, 0, 1, RequestPayload("u", "GET", "/") + "z"),
       "trailing bytes"},
      {"hello_trailing", Raw(FrameType::kHello, 0, 0, HelloPayload(2, 1, {"a"}) + "zz"), "trailing bytes"},
      {"close_trailing", Raw(FrameType::kClose, 0, 0, U32(1) + Str("bye") + "z"), "trailing bytes"},
      {"ping_short", Raw(FrameType::kPing, 0, 0, U32(1)), "truncated at opaque"},
      {"string_beyond_payload", Raw(FrameType::kRequestHead, 0, 1, Str("u") + U16(10) + "GET"), "truncated at method"},
      {"reset_without_reason", Raw(FrameType::kReset, 0, 1, U32(1)), "truncated at reason"},
      {"role_zero", Raw(FrameType::kHello, 0, 0, HelloPayload(0, 1, {})), "unknown role 0"},
      {"role_three", Raw(FrameType::kHello, 0, 0, HelloPayload(3, 1, {})), "unknown role 3"},
      {"hello_window_over_max", Raw(FrameType::kHello, 0, 0, HelloPayload(2, 0x80000000, {})),
       "stream_window 2147483648 exceeds kMaxWindow"},
      {"hello_empty_upstream_name", Raw(FrameType::kHello, 0, 0, HelloPayload(2, 1, {"ok", ""})),
       "empty upstream name"},
      {"hello_upstream_count_beyond_payload",
       Raw(FrameType::kHello, 0, 0, U16(1) + U8(2) + U32(1) + U32(1) + U32(1) + Str("") + U16(200)), "does not fit"},
      {"hello_upstream_count_over_limit",
       Raw(FrameType::kHello, 0, 0, U16(1) + U8(2) + U32(1) + U32(1) + U32(1) + Str("") + U16(257)),
       "upstream count 257 exceeds the limit of 256"},
      {"hello_software_too_long",
       Raw(FrameType::kHello, 0, 0, U16(1) + U8(2) + U32(1) + U32(1) + U32(1) + Str(std::string(256, 's')) + U16(0)),
       "software length 256 exceeds the limit of 255"},
      {"reset_code_zero", Raw(FrameType::kReset, 0, 1, U32(0) + Str("")), "unknown reset code 0"},
      {"reset_code_ten", Raw(FrameType::kReset, 0, 1, U32(10) + Str("")), "unknown reset code 10"},
      {"close_code_zero", Raw(FrameType::kClose, 0, 0, U32(0) + Str("")), "unknown close code 0"},
      {"close_code_nine", Raw(FrameType::kClose, 0, 0, U32(9) + Str("")), "unknown close code 9"},
  };
}

TEST(FrameCodec, RefusesMalformedFramesNamingTheProblem) {
  for (const RefusalCase& c : RefusalCases()) {
    SCOPED_TRACE(c.name);
    std::string_view in = c.bytes;
    StatusOr<Frame> frame = DecodeFrame(in);
    ASSERT_FALSE(frame.ok()) << "decoded as " << ToString(*frame);
    EXPECT_EQ(frame.status().code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(frame.status().message(), HasSubstr(c.problem));
    EXPECT_EQ(in.size(), c.bytes.size()) << "a refused frame must not be consumed";
    // The same bytes as a whole message, and after a good frame, are refused the same way.
    if (!c.bytes.empty()) {
      StatusOr<std::vector<Frame>> message = DecodeMessage(Encoded(Pong{}) + c.bytes);
      ASSERT_FALSE(message.ok());
      EXPECT_THAT(message.status().message(), HasSubstr(c.problem));
    }
  }
}

TEST(FrameCodec, RefusesAnEmptyMessage) {
  StatusOr<std::vector<Frame>> decoded = DecodeMessage("");
  ASSERT_FALSE(decoded.ok());
  EXPECT_THAT(decoded.status().message(), HasSubstr("empty message"));
}

TEST(FrameCodec, TypeNameIsInTheMessage) {
  std::string_view in;
  std::string bytes = Raw(FrameType::kResponseHead, 0, 1, U16(42) + U16(0));
  in = bytes;
  EXPECT_THAT(DecodeFrame(in).status().message(), HasSubstr("RESPONSE_HEAD"));
}

TEST(FrameCodec, ErrorMessagesEscapeHostileBytes) {
  std::string bytes = Raw(FrameType::kResponseHead, 0, 1, U16(200) + Headers({{std::string("a\x1b[31m\n", 7), "v"}}));
  std::string_view in = bytes;
  StatusOr<Frame> frame = DecodeFrame(in);
  ASSERT_FALSE(frame.ok());
  EXPECT_THAT(frame.status().message(), HasSubstr("a\\x1b[31m\\x0a"));
}

// Every prefix of a valid message is refused (never read past the end), and none is consumed.
TEST(FrameCodec, EveryTruncationIsRefused) {
  std::string bytes = Encoded(RequestHead{.stream = 1, .upstream = "u", .method = "GET", .target = "/x",
                                          .headers = {{"a", "b"}, {"c", "d"}}}) +
                      Encoded(Hello{.software = "s", .upstreams = {"a", "b"}});
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::string prefix = bytes.substr(0, n);  // its own allocation: ASan sees any overread
    StatusOr<std::vector<Frame>> decoded = DecodeMessage(prefix);
    bool whole_first_frame = n == bytes.size() - Encoded(Hello{.software = "s", .upstreams = {"a", "b"}}).size();
    EXPECT_EQ(decoded.ok(), whole_first_frame) << n;
  }
}

// --- Validate, limits, names -------------------------------------------------------------

TEST(FrameCodec, ValidateRefusesWhatTheDecoderWouldOrEncodeCouldNot) {
  struct Case {
    const char* name;
    Frame frame;
    const char* problem;
  } cases[] = {
      {"head_over_limit",
       RequestHead{.stream = 1, .upstream = "u", .method = "GET", .target = "/",
                   .headers = {{"a", std::string(kMaxHeadPayload, 'v')}}},
       "longer than 65535"},
      {"head_just_over_limit",
       ResponseHead{.stream = 1, .status = 200,
                    .headers = {{"a", std::string(0xffff, 'v')}, {"b", std::string(0xffff, 'v')}}},
       "kMaxHeadPayload"},
      {"too_many_headers", ResponseHead{.stream = 1, .status = 200, .headers = ManyHeaders(kMaxHeaderFields + 1)},
       "exceed the limit"},
      {"bad_header_name", RequestHead{.stream = 1, .upstream = "u", .method = "GET", .target = "/",
                                      .headers = {{"a b", "v"}}},
       "HTTP token"},
      {"bad_header_value", ResponseHead{.stream = 1, .status = 200, .headers = {{"a", "x\r\ny"}}}, "CR, LF or NUL"},
      {"target", RequestHead{.stream = 1, .upstream = "u", .method = "GET", .target = "*"}, "'/'"},
      {"stream_0_data", Data{.stream = 0, .bytes = "x"}, "stream 0"},
      {"stream_0_head", ResponseHead{.stream = 0, .status = 200}, "stream 0"},
      {"data_over_limit", Data{.stream = 1, .bytes = std::string(kMaxPayload + 1, 'x')}, "kMaxPayload"},
      {"reason_too_long", Close{.reason = std::string(kMaxReason + 1, 'r')}, "reason is longer than 1024"},
      {"upstream_name_too_long", RequestHead{.stream = 1, .upstream = std::string(kMaxName + 1, 'u'), .method = "GET",
                                             .target = "/"},
       "upstream is longer than 255"},
      {"too_many_upstreams", Hello{.upstreams = std::vector<std::string>(kMaxHelloUpstreams + 1, "u")}, "more than 256"},
      {"software_too_long", Hello{.software = std::string(kMaxName + 1, 's')}, "software is longer than 255"},
      {"zero_increment", WindowUpdate{.stream = 1, .increment = 0}, "increment 0"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Status s = Validate(c.frame);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr(c.problem));
  }
}

TEST(FrameCodecDeathTest, EncodingPastALimitAborts) {
  std::string out;
  EXPECT_DEATH(Encode(Hello{.upstreams = std::vector<std::string>(kMaxHelloUpstreams + 1, "u")}, out),
               "kMaxHelloUpstreams");
  EXPECT_DEATH(Encode(ResponseHead{.stream = 1, .status = 200,
                                   .headers = {{"a", std::string(0xffff, 'v')}, {"b", std::string(0xffff, 'v')}}},
                      out),
               "kMaxHeadPayload");
  EXPECT_DEATH(AppendDataHeader(1, kMaxPayload + 1, false, out), "kMaxPayload");
}

TEST(FrameCodec, TypeOfAndStreamOf) {
  EXPECT_EQ(TypeOf(Hello{}), FrameType::kHello);
  EXPECT_EQ(TypeOf(RequestHead{}), FrameType::kRequestHead);
  EXPECT_EQ(TypeOf(ResponseHead{}), FrameType::kResponseHead);
  EXPECT_EQ(TypeOf(Data{}), FrameType::kData);
  EXPECT_EQ(TypeOf(Reset{}), FrameType::kReset);
  EXPECT_EQ(TypeOf(WindowUpdate{}), FrameType::kWindowUpdate);
  EXPECT_EQ(TypeOf(Ping{}), FrameType::kPing);
  EXPECT_EQ(TypeOf(Pong{}), FrameType::kPong);
  EXPECT_EQ(TypeOf(Close{}), FrameType::kClose);
  EXPECT_EQ(StreamOf(Data{.stream = 9}), 9u);
  EXPECT_EQ(StreamOf(WindowUpdate{.stream = 4, .increment = 1}), 4u);
  EXPECT_EQ(StreamOf(Ping{}), 0u);
}

TEST(FrameCodec, ToStringNamesEverything) {
  EXPECT_EQ(ToString(FrameType::kWindowUpdate), "WINDOW_UPDATE");
  EXPECT_EQ(ToString(static_cast<FrameType>(42)), "UNKNOWN_FRAME_TYPE");
  EXPECT_EQ(ToString(ResetCode::kRefused), "REFUSED");
  EXPECT_EQ(ToString(ResetCode::kUpstreamUnreachable), "UPSTREAM_UNREACHABLE");
  EXPECT_EQ(ToString(static_cast<ResetCode>(0)), "UNKNOWN_RESET_CODE");
  EXPECT_EQ(ToString(CloseCode::kTokenRevoked), "TOKEN_REVOKED");
  EXPECT_EQ(ToString(static_cast<CloseCode>(99)), "UNKNOWN_CLOSE_CODE");
  for (uint8_t t = 1; t <= 9; ++t) EXPECT_NE(ToString(static_cast<FrameType>(t)), "UNKNOWN_FRAME_TYPE");
  for (uint32_t c = 1; c <= 9; ++c) EXPECT_NE(ToString(static_cast<ResetCode>(c)), "UNKNOWN_RESET_CODE");
  for (uint32_t c = 1; c <= 8; ++c) EXPECT_NE(ToString(static_cast<CloseCode>(c)), "UNKNOWN_CLOSE_CODE");
  EXPECT_EQ(ToString(Data{.stream = 3, .end_stream = true, .bytes = "abc"}), "DATA stream=3 bytes=3 END_STREAM");
  EXPECT_EQ(ToString(RequestHead{.stream = 1, .upstream = "wiki", .method = "GET", .target = "/a?b"}),
            "REQUEST_HEAD stream=1 GET wiki/a?b");
  EXPECT_EQ(ToString(Reset{.stream = 5, .code = ResetCode::kUpstreamTimeout, .reason = "no head"}),
            "RESET stream=5 UPSTREAM_TIMEOUT no head");
  EXPECT_EQ(ToString(Close{.code = CloseCode::kReplaced, .reason = "x\ny"}), "CLOSE REPLACED x\\x0ay");
}

// Regression: a peer's 64 KiB CLOSE reason echoed back in our own CLOSE aborted the coordinator.
// Reasons are cut at kMaxReason (never inside a UTF-8 sequence), and the decoder refuses longer.
TEST(FrameCodec, LongReasonsAreCutNotFatal) {
  std::string reason = std::string(kMaxReason - 1, 'r') + "\xc3\xa9" + std::string(0x10000, 'x');
  std::string out;
  Encode(Close{.code = CloseCode::kNormal, .reason = "peer said: " + reason}, out);
  Encode(Reset{.stream = 1, .code = ResetCode::kInternal, .reason = reason}, out);
  auto frames = DecodeMessage(out);
  ASSERT_TRUE(frames.ok()) << frames.status().message();
  ASSERT_EQ(frames->size(), 2u);
  const auto& close = std::get<Close>((*frames)[0]);
  EXPECT_LE(close.reason.size(), kMaxReason);
  EXPECT_EQ(close.reason.rfind("peer said: ", 0), 0u);
  const auto& reset = std::get<Reset>((*frames)[1]);
  EXPECT_EQ(reset.reason, std::string(kMaxReason - 1, 'r'));  // the 2-byte é would straddle the cut

  std::string wire = Raw(FrameType::kClose, 0, 0, U32(1) + Str(std::string(kMaxReason + 1, 'r')));
  std::string_view in = wire;
  auto refused = DecodeFrame(in);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("reason length 1025 exceeds the limit of 1024"));
}

}  // namespace
}  // namespace keyhole::protocol
