// The pieces under keyholectl's commands: Link parsing, HTTP dates, Okta errors, tables, and the
// cpprestsdk client's refusal to send the token off its origin.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "coordinator/ctl/api_session.h"
#include "shared/rest/cpprest_client.h"
#include "coordinator/ctl/link_header.h"
#include "coordinator/ctl/table.h"
#include "shared/clock/iso8601.h"
#include "tests/unit/ctl/fake_rest_client.h"

namespace keyhole::ctl {
namespace {

using ::testing::HasSubstr;
using rest::CpprestClient;

TEST(NextLinkTest, FindsNextInSeparateOrCommaJoinedFields) {
  EXPECT_EQ(NextLink({"<https://h/a?x=1>; rel=\"self\"", "<https://h/a?after=2>; rel=\"next\""}), "https://h/a?after=2");
  EXPECT_EQ(NextLink({"<https://h/a?x=1>; rel=\"self\", <https://h/a?after=2&y=a,b>; rel=\"next\""}),
            "https://h/a?after=2&y=a,b");
  EXPECT_EQ(NextLink({"<https://h/n>;rel=next"}), "https://h/n");
  EXPECT_EQ(NextLink({"<https://h/n>; title=\"a, b; c\"; REL=\"prev Next\""}), "https://h/n");
  EXPECT_EQ(NextLink({"<https://h/a>; rel=\"self\""}), std::nullopt);
  EXPECT_EQ(NextLink({"<https://h/a>; rel=\"nextpage\""}), std::nullopt);
  EXPECT_EQ(NextLink({}), std::nullopt);
  EXPECT_EQ(NextLink({"<unterminated; rel=\"next\""}), std::nullopt);
}

TEST(HttpDateTest, ParsesImfFixdateOnly) {
  auto t = ParseHttpDate("Sat, 28 Nov 2026 10:00:00 GMT");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(FormatHttpDate(*t), "Sat, 28 Nov 2026 10:00:00 GMT");
  EXPECT_EQ(ParseHttpDate("Saturday, 28-Nov-26 10:00:00 GMT"), std::nullopt);
  EXPECT_EQ(ParseHttpDate("Sat, 31 Feb 2026 10:00:00 GMT"), std::nullopt);
  EXPECT_EQ(ParseHttpDate("Sat, 28 Foo 2026 10:00:00 GMT"), std::nullopt);
  EXPECT_EQ(ParseHttpDate(""), std::nullopt);
}

TEST(ApiErrorTest, ReadsOktasErrorObject) {
  Status s = ApiError(testing::OktaError(403, "E0000006", "You do not have permission to perform the requested action",
                                         {"userId: not yours"}));
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "E0000006 You do not have permission to perform the requested action (HTTP 403)");
  EXPECT_THAT(s.causes(), ::testing::ElementsAre("userId: not yours"));
  EXPECT_EQ(ApiError(RestResponse{500, {}, "{\"errorCode\": 5}"}).message(), "HTTP 500: {\"errorCode\": 5}");
}

TEST(EncodingTest, PathSegmentsAndQueries) {
  EXPECT_EQ(PathSegment("ada@example.com"), "ada@example.com");
  EXPECT_EQ(PathSegment("../me"), "..%2Fme");
  EXPECT_EQ(WithQuery("/p", {}), "/p");
  EXPECT_EQ(WithQuery("/p", {{"q", "a+b c"}, {"limit", "5"}}), "/p?q=a%2Bb%20c&limit=5");
}

TEST(TableTest, AlignsColumnsAndHidesControlCharacters) {
  Table t({"ID", "NAME"});
  t.AddRow({"00u1", "Zoë"});
  t.AddRow({"00u22", "bad\x1b[0m"});
  std::ostringstream out;
  t.Print(out);
  EXPECT_EQ(out.str(), "ID     NAME\n00u1   Zoë\n00u22  bad?[0m\n");
  EXPECT_EQ(Printable("a\xC2\x9B" "b"), "a??b");  // U+009B, the 8-bit CSI
  EXPECT_EQ(Text(nlohmann::json{{"a", {{"b", nullptr}}}}, "/a/b"), "-");
  EXPECT_EQ(Text(nlohmann::json{{"a", true}}, "/a"), "true");
  EXPECT_EQ(ShortTime("2026-11-27T23:09:48.000Z"), "2026-11-27 23:09");
}

TEST(CpprestClientTest, RejectsUnusableSettings) {
  EXPECT_EQ(CpprestClient::Create({.url = "ftp://h", .token = "t"}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CpprestClient::Create({.url = "not a url", .token = "t"}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CpprestClient::Create({.url = "http://h", .token = "t", .pin = "sha256:" + std::string(64, '0')})
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CpprestClient::Create({.url = "https://h", .token = "t", .ca_file = "/nonexistent.pem"}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(CpprestClientTest, NeverSendsTheTokenToAnotherOrigin) {
  auto client = CpprestClient::Create({.url = "https://127.0.0.1:9/keyhole", .token = "t"});
  ASSERT_TRUE(client.ok()) << client.status().message();
  for (const char* elsewhere : {"https://evil.example/api/v1/users?after=1", "http://127.0.0.1:9/api/v1/users",
                                "https://127.0.0.1:10/api/v1/users"}) {
    auto r = (*client)->Send("GET", elsewhere);
    ASSERT_FALSE(r.ok()) << elsewhere;
    EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << elsewhere;
    EXPECT_THAT(r.status().message(), HasSubstr("not following"));
  }
}

}  // namespace
}  // namespace keyhole::ctl
