#include "shared/json/json_fields.h"

#include <gtest/gtest.h>

namespace keyhole {
namespace {

TEST(ParseJsonObject, MalformedAndNonObjectBodies) {
  EXPECT_EQ(ParseJsonObject("{").status().detail(), "malformed_body");
  EXPECT_EQ(ParseJsonObject("").status().detail(), "malformed_body");
  EXPECT_EQ(ParseJsonObject("[1]").status().detail(), "not_object");
  EXPECT_TRUE(ParseJsonObject(R"({"a":1})").ok());
}

TEST(JsonFields, CollectsEveryProblem) {
  nlohmann::json body = {{"name", 5}, {"flag", "yes"}, {"short", "ab"}, {"extra", "ignored"}};
  JsonFields f(body);
  EXPECT_FALSE(f.String("name", {.required = true}).has_value());
  EXPECT_FALSE(f.Bool("flag").has_value());
  EXPECT_FALSE(f.String("short", {.min_length = 3}).has_value());
  EXPECT_FALSE(f.String("missing", {.required = true}).has_value());
  Status s = f.ToStatus();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "name");
  ASSERT_EQ(s.causes().size(), 4u);
  EXPECT_EQ(s.causes()[0], "name: The field must be a string");
  EXPECT_EQ(s.causes()[3], "missing: The field cannot be left blank");
}

TEST(JsonFields, ReadsValidFieldsAndTreatsNullAsAbsent) {
  nlohmann::json body = {{"name", "ok"}, {"flag", true}, {"gone", nullptr}};
  JsonFields f(body);
  EXPECT_EQ(f.String("name", {.required = true}), "ok");
  EXPECT_EQ(f.Bool("flag"), true);
  EXPECT_FALSE(f.String("gone", {}).has_value());
  EXPECT_TRUE(f.ok());
  EXPECT_TRUE(f.ToStatus().ok());
}

}  // namespace
}  // namespace keyhole
