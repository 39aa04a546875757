#include "core/json_input.h"

#include <gtest/gtest.h>

#include <string>

namespace mlxcel {
namespace {

std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(JsonInput, AcceptsNestingUpToTheLimit) {
  std::string why;
  auto j = try_parse_json(nested(kMaxJsonDepth), &why);
  ASSERT_TRUE(j.has_value()) << why;
  EXPECT_TRUE(j->is_array());
}

TEST(JsonInput, RejectsDeepNestingBeforeParsing) {
  // 100,000 levels crashed the error path (recursive dump) before the check existed.
  std::string why;
  EXPECT_FALSE(try_parse_json(nested(100000), &why).has_value());
  EXPECT_EQ(why, "nested deeper than 128 levels at byte 128");
  EXPECT_EQ(json_depth_exceeded(nested(129)), std::optional<size_t>(128));
}

TEST(JsonInput, BracketsInsideStringsDoNotCount) {
  const std::string text = R"({"a": "[[[[[[[[[[\"{{{{{{{{", "b": [1]})";
  EXPECT_FALSE(json_depth_exceeded(text, 2).has_value());
  EXPECT_TRUE(json_depth_exceeded(text, 1).has_value());
}

TEST(JsonInput, NumberOverflowIsAnErrorNotAnException) {
  std::string why;
  EXPECT_FALSE(try_parse_json(R"({"x": 1e400})", &why).has_value());
  EXPECT_NE(why.find("number overflow"), std::string::npos) << why;
  EXPECT_EQ(why.find("[json.exception"), std::string::npos) << why;
}

TEST(JsonInput, SyntaxErrorNamesThePosition) {
  std::string why;
  EXPECT_FALSE(try_parse_json<nlohmann::ordered_json>("{\"a\": }", &why).has_value());
  EXPECT_NE(why.find("line 1, column 7"), std::string::npos) << why;
}

}  // namespace
}  // namespace mlxcel
