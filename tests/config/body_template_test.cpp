#include "config/body_template.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace fetchd::config {
namespace {

std::string fill(std::string_view field) {
  if (field == "name")
    return "web \"1\"\n";
  if (field == "labels.team")
    return "a&b c";
  return "<" + std::string(field) + ">";
}

TEST(BodyTemplate, FillsEachPlaceholderEscapedForTheContentType) {
  const auto json_body = BodyTemplate::parse(
      R"({"text": "{name} is {state}", "team": "{labels.team}"})", BodyEscape::json);
  ASSERT_TRUE(json_body) << json_body.error().message;
  const auto rendered = json_body->render(fill);
  EXPECT_EQ(rendered, R"({"text": "web \"1\"\n is <state>", "team": "a&b c"})");
  EXPECT_EQ(nlohmann::json::parse(rendered)["text"], "web \"1\"\n is <state>");

  const auto form = BodyTemplate::parse("title={name}&team={labels.team}", BodyEscape::form);
  ASSERT_TRUE(form);
  EXPECT_EQ(form->render(fill), "title=web+%221%22%0A&team=a%26b+c");

  const auto text = BodyTemplate::parse("{name}", BodyEscape::none);
  ASSERT_TRUE(text);
  EXPECT_EQ(text->render(fill), "web \"1\"\n");
}

TEST(BodyTemplate, BracesThatAreNotPlaceholdersAreText) {
  const auto parsed = BodyTemplate::parse(R"({"a": {}, "b": "{{name}}", "c": "{ name }", "d": "{")",
                                          BodyEscape::none);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->render(fill), R"({"a": {}, "b": "{name}", "c": "{ name }", "d": "{")");
}

TEST(BodyTemplate, UnknownPlaceholdersAreRefusedWithTheirOffset) {
  const auto parsed = BodyTemplate::parse("ok {name} {hostname}", BodyEscape::none);
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find(R"(unknown placeholder "{hostname}" at byte 10)"),
            std::string::npos)
      << parsed.error().message;
  EXPECT_FALSE(BodyTemplate::parse("{labels.}", BodyEscape::none));
  EXPECT_FALSE(BodyTemplate::parse("{labels.9x}", BodyEscape::none));
  EXPECT_TRUE(BodyTemplate::parse("{labels.env_1}", BodyEscape::none));
}

TEST(BodyTemplate, ContentTypesChooseTheEscaping) {
  EXPECT_EQ(escape_for_content_type("application/json"), BodyEscape::json);
  EXPECT_EQ(escape_for_content_type("Application/JSON; charset=utf-8"), BodyEscape::json);
  EXPECT_EQ(escape_for_content_type("application/vnd.api+json"), BodyEscape::json);
  EXPECT_EQ(escape_for_content_type("application/x-www-form-urlencoded"), BodyEscape::form);
  EXPECT_EQ(escape_for_content_type("text/plain"), BodyEscape::none);
  EXPECT_EQ(escape_for_content_type("text/markdown"), BodyEscape::none);
}

}  // namespace
}  // namespace fetchd::config
