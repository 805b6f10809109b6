#include "config/json_text.h"

#include <gtest/gtest.h>

namespace fetchd::config {
namespace {

TEST(ConfigJsonText, PositionCountsLinesAndCharacters) {
  const std::string text = "{\n  \"a\": \"\xc3\xa9t\xc3\xa9\", \"b\": 1\n}";
  EXPECT_EQ(position_at(text, 0), (TextPosition{1, 1}));
  EXPECT_EQ(position_at(text, 2), (TextPosition{2, 1}));
  EXPECT_EQ(position_at(text, text.find("\"b\"")), (TextPosition{2, 15}));  // é counts once
  EXPECT_EQ(position_at(text, 10'000), (TextPosition{3, 2}));
}

TEST(ConfigJsonText, LocatesMembersAndElements) {
  const std::string text =
      "{\n"
      "  \"targets\": [\n"
      "    \"http://a.test/\",\n"
      "    {\"url\": \"http://b.test/\", \"a/b\": {\"c~d\": []}}\n"
      "  ],\n"
      "  \"x\\u0079\": 1\n"
      "}\n";
  const auto found = locate(text, {"", "/targets", "/targets/0", "/targets/1", "/targets/1/url",
                                   "/targets/1/a~1b/c~0d", "/xy", "/targets/2", "/nothing"});
  EXPECT_EQ(found.at(""), (TextPosition{1, 1}));
  EXPECT_EQ(found.at("/targets"), (TextPosition{2, 3}));
  EXPECT_EQ(found.at("/targets/0"), (TextPosition{3, 5}));
  EXPECT_EQ(found.at("/targets/1"), (TextPosition{4, 5}));
  EXPECT_EQ(found.at("/targets/1/url"), (TextPosition{4, 6}));
  EXPECT_EQ(found.at("/targets/1/a~1b/c~0d"), (TextPosition{4, 39}));
  EXPECT_EQ(found.at("/xy"), (TextPosition{6, 3}));
  EXPECT_EQ(found.count("/targets/2"), 0u);
  EXPECT_EQ(found.count("/nothing"), 0u);
}

TEST(ConfigJsonText, FindsDuplicateKeysInAnyObject) {
  const std::string text =
      "{\"a\": 1, \"b\": {\"c\": 1, \"c\": 2}, \"a\": [{\"d\": 1, \"d\": 1}], \"e\": {}}";
  const auto duplicates = find_duplicate_keys(text);
  ASSERT_EQ(duplicates.size(), 3u);
  EXPECT_EQ(duplicates[0].pointer, "/b/c");
  EXPECT_EQ(duplicates[0].position, (TextPosition{1, 24}));
  EXPECT_EQ(duplicates[1].pointer, "/a");
  EXPECT_EQ(duplicates[2].pointer, "/a/0/d");
  EXPECT_TRUE(
      find_duplicate_keys("[1, {\"a\": {\"a\": 1}}, \"{\\\"a\\\": 1, \\\"a\\\": 2}\"]").empty());
}

TEST(ConfigJsonText, DeepNestingDoesNotRecurse) {
  const std::string text = std::string(200'000, '[') + std::string(200'000, ']');
  EXPECT_TRUE(find_duplicate_keys(text).empty());
  EXPECT_EQ(locate(text, {"/0/0/0"}).at("/0/0/0"), (TextPosition{1, 4}));
}

}  // namespace
}  // namespace fetchd::config
