// fetchctl's command line: global options, durations, the argument cursor (pure functions,
// compiled into the tests).

#include "ctl/options.h"

#include <gtest/gtest.h>

namespace fetchd::ctl {
namespace {

using Args = std::vector<std::string>;

TEST(CtlOptions, GlobalOptionsComeBeforeTheCommand) {
  auto parsed = parse_invocation(
      {"--socket", "/tmp/s.sock", "--json", "--timeout=1m30s", "show", "api", "--recent", "3"},
      nullptr);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_EQ(parsed->global.socket, "/tmp/s.sock");
  EXPECT_TRUE(parsed->global.json);
  EXPECT_EQ(parsed->global.timeout, std::chrono::milliseconds(90'000));
  EXPECT_EQ(parsed->command, "show");
  EXPECT_EQ(parsed->args, (Args{"api", "--recent", "3"}));
}

TEST(CtlOptions, JsonIsTakenAfterTheCommandTooButNotFromAdd) {
  auto list = parse_invocation({"list", "--state", "down", "--json"}, nullptr);
  ASSERT_TRUE(list.has_value());
  EXPECT_TRUE(list->global.json);
  EXPECT_EQ(list->args, (Args{"--state", "down"}));
  // After "--" it is an argument; for add it is add's own option (the target's document).
  EXPECT_FALSE(parse_invocation({"show", "--", "--json"}, nullptr)->global.json);
  auto add = parse_invocation({"add", "--json", "{}"}, nullptr);
  EXPECT_FALSE(add->global.json);
  EXPECT_EQ(add->args, (Args{"--json", "{}"}));
}

TEST(CtlOptions, SocketFromEnvironmentUnlessGiven) {
  EXPECT_EQ(parse_invocation({"list"}, nullptr)->global.socket, "/run/fetchd/control.sock");
  EXPECT_EQ(parse_invocation({"list"}, "")->global.socket, "/run/fetchd/control.sock");
  EXPECT_EQ(parse_invocation({"list"}, "/e.sock")->global.socket, "/e.sock");
  EXPECT_EQ(parse_invocation({"--socket=/o.sock", "list"}, "/e.sock")->global.socket, "/o.sock");
  EXPECT_FALSE(parse_invocation({"list"}, "/e.sock")->global.timeout.has_value());
}

TEST(CtlOptions, GlobalOptionErrors) {
  EXPECT_EQ(parse_invocation({"--bogus", "list"}, nullptr).error().message,
            "unknown option \"--bogus\"");
  EXPECT_EQ(parse_invocation({"--socket"}, nullptr).error().message, "--socket needs a path");
  EXPECT_EQ(parse_invocation({"--timeout", "0s", "list"}, nullptr).error().message,
            "--timeout must be more than 0s");
  EXPECT_FALSE(parse_invocation({"--timeout", "1.5s", "list"}, nullptr).has_value());
  EXPECT_FALSE(parse_invocation({"--socket", std::string(108, 'x'), "list"}, nullptr).has_value());
  EXPECT_TRUE(parse_invocation({"--socket", std::string(107, 'x'), "list"}, nullptr).has_value());
  auto empty = parse_invocation({}, nullptr);
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(empty->command, "");
}

TEST(CtlOptions, ArgCursorReadsOptionsBothWays) {
  const Args args = {"--state", "down", "--label=env=prod", "name", "--", "--odd-name"};
  ArgCursor cursor(args);
  std::string value;
  EXPECT_TRUE(cursor.option("--state", value));
  EXPECT_EQ(value, "down");
  EXPECT_FALSE(cursor.option("--state", value));
  EXPECT_TRUE(cursor.option("--label", value));
  EXPECT_EQ(value, "env=prod");
  EXPECT_TRUE(cursor.positional(value));
  EXPECT_EQ(value, "name");
  EXPECT_TRUE(cursor.positional(value));
  EXPECT_EQ(value, "--odd-name");
  EXPECT_FALSE(cursor.more());

  const Args missing = {"--state"};
  ArgCursor short_cursor(missing);
  EXPECT_FALSE(short_cursor.option("--state", value));
  EXPECT_EQ(short_cursor.error(), "--state needs a value");
}

}  // namespace
}  // namespace fetchd::ctl
