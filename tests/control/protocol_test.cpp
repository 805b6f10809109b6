#include "control/protocol.h"

#include <gtest/gtest.h>

namespace fetchd::control {
namespace {

using nlohmann::json;

std::string error_of(std::string_view line) {
  const auto parsed = parse_request(line);
  if (!parsed.error)
    return "(none)";
  EXPECT_EQ(parsed.error->code, "bad_request") << line;
  return parsed.error->message;
}

TEST(Protocol, ParsesARequestWithIdCmdAndArgs) {
  const auto parsed = parse_request(R"({"id": 7, "cmd": "show", "args": {"name": "www.163.com"}})");
  ASSERT_FALSE(parsed.error) << parsed.error->message;
  EXPECT_EQ(parsed.request.id, 7);
  EXPECT_EQ(parsed.request.cmd, "show");
  EXPECT_EQ(parsed.request.args, json({{"name", "www.163.com"}}));
}

TEST(Protocol, IdAndArgsAreOptionalAndAnIdMayBeAnyValue) {
  auto parsed = parse_request(R"({"cmd": "version"})");
  ASSERT_FALSE(parsed.error);
  EXPECT_TRUE(parsed.request.id.is_null());
  EXPECT_EQ(parsed.request.args, json::object());
  parsed = parse_request(R"({"id": {"a": [1, "x"]}, "cmd": "help"})"
                         "\r");
  ASSERT_FALSE(parsed.error);
  EXPECT_EQ(parsed.request.id, json::parse(R"({"a": [1, "x"]})"));
}

TEST(Protocol, EveryMalformedRequestIsABadRequestWithItsReason) {
  EXPECT_EQ(error_of("{\"cmd\": \"version\"\xff}"), "request is not valid UTF-8 (byte 17)");
  EXPECT_EQ(error_of("\x01\x02\x03garbage"),
            "request is not JSON: parse error at line 1, column 1: syntax error while parsing "
            "value - invalid literal; last read: '<U+0001>'");
  EXPECT_EQ(error_of(R"({"cmd": "version")"),
            "request is not JSON: parse error at line 1, column 18: syntax error while parsing "
            "object - unexpected end of input; expected '}'");
  EXPECT_EQ(error_of("[1]"), "expected a JSON object {\"cmd\": ...}, found an array");
  EXPECT_EQ(error_of("\"version\""), "expected a JSON object {\"cmd\": ...}, found string");
  EXPECT_EQ(error_of("{}"), "missing \"cmd\"");
  EXPECT_EQ(error_of(R"({"cmd": 5})"), "\"cmd\" must be a string, found 5");
  EXPECT_EQ(error_of(R"({"cmd": "list", "args": [1]})"), "\"args\" must be an object, found [1]");
  EXPECT_EQ(error_of(R"({"cmd": "list", "arg": {}})"),
            "unknown key \"arg\" (a request has id, cmd and args)");
  EXPECT_EQ(error_of(std::string(40, '[') + std::string(40, ']')),
            "request nests arrays or objects deeper than 32 levels");
}

TEST(Protocol, ANumberOutOfDoubleRangeAnywhereIsABadRequestNotAnException) {
  EXPECT_EQ(error_of(R"({"cmd":"version","id":1e400})"),
            "request is not JSON: number overflow parsing '1e400'");
  EXPECT_EQ(error_of(R"({"cmd":"list","args":{"x":[-1e999]}})"),
            "request is not JSON: number overflow parsing '-1e999'");
}

TEST(Protocol, TheIdSurvivesAnErrorInTheRestOfTheRequest) {
  const auto parsed = parse_request(R"({"id": "abc", "cmd": 1})");
  ASSERT_TRUE(parsed.error);
  EXPECT_EQ(parsed.request.id, "abc");
}

TEST(Protocol, DepthCountsOnlyOutsideStrings) {
  const std::string id = "\"" + std::string(100, '[') + "\\\"" + "\"";
  const auto parsed = parse_request(R"({"id": )" + id + R"(, "cmd": "version"})");
  EXPECT_FALSE(parsed.error) << parsed.error->message;
}

TEST(Protocol, FormatsRepliesAsOneLineEachWithTheIdFirst) {
  EXPECT_EQ(format_result(7, {{"version", "0.1.0"}}),
            "{\"id\":7,\"ok\":true,\"result\":{\"version\":\"0.1.0\"}}\n");
  EXPECT_EQ(format_failure(nullptr, {"not_found", "no target named \"x\"", {}}),
            "{\"id\":null,\"ok\":false,\"error\":{\"code\":\"not_found\",\"message\":\"no target "
            "named \\\"x\\\"\"}}\n");
  EXPECT_EQ(format_failure("r", {"config_invalid", "bad", {"a:1: x", "b:2: y"}}),
            "{\"id\":\"r\",\"ok\":false,\"error\":{\"code\":\"config_invalid\",\"details\":[\"a:1: "
            "x\",\"b:2: y\"],\"message\":\"bad\"}}\n");
}

TEST(Protocol, InvalidUtf8InAReplyIsReplacedNeverThrown) {
  const auto line = format_result(nullptr, {{"header", std::string("caf\xe9")}});
  EXPECT_EQ(line, "{\"id\":null,\"ok\":true,\"result\":{\"header\":\"caf\xef\xbf\xbd\"}}\n");
}

TEST(Protocol, Utf8Validation) {
  EXPECT_EQ(invalid_utf8_at("plain ascii"), std::nullopt);
  EXPECT_EQ(invalid_utf8_at("\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80"), std::nullopt);
  EXPECT_EQ(invalid_utf8_at("ab\x80"), 2u);            // a lone continuation byte
  EXPECT_EQ(invalid_utf8_at("\xc0\xaf"), 0u);          // overlong '/'
  EXPECT_EQ(invalid_utf8_at("x\xed\xa0\x80"), 1u);     // a surrogate
  EXPECT_EQ(invalid_utf8_at("\xf4\x90\x80\x80"), 0u);  // over U+10FFFF
  EXPECT_EQ(invalid_utf8_at("\xe4\xbd"), 0u);          // truncated
  EXPECT_EQ(invalid_utf8_at(std::string_view("a\0b", 3)), std::nullopt);
}

}  // namespace
}  // namespace fetchd::control
