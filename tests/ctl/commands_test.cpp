// fetchctl's command table: each command's request from its arguments, usage errors, and help
// generated from the table (pure functions, compiled into the tests).

#include "ctl/commands.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace fetchd::ctl {
namespace {

using nlohmann::json;

json request_of(const std::string& command, const Args& args) {
  const Command* found = find_command(command);
  EXPECT_NE(found, nullptr) << command;
  if (found == nullptr || found->build == nullptr)
    return nullptr;
  auto request = found->build(args);
  EXPECT_TRUE(request.has_value()) << command << ": " << (request ? "" : request.error().message);
  if (!request)
    return nullptr;
  return json::parse(request_line(*request, 7));
}

std::string error_of(const std::string& command, const Args& args) {
  auto request = find_command(command)->build(args);
  return request ? std::string("(no error)") : request.error().message;
}

TEST(CtlCommands, EveryCommandsRequest) {
  EXPECT_EQ(request_of("version", {}), json::parse(R"({"id":7,"cmd":"version"})"));
  EXPECT_EQ(request_of("status", {}), json::parse(R"({"id":7,"cmd":"status"})"));
  EXPECT_EQ(request_of("commands", {}), json::parse(R"({"id":7,"cmd":"help"})"));
  EXPECT_EQ(request_of("reload", {}), json::parse(R"({"id":7,"cmd":"reload"})"));
  EXPECT_EQ(request_of("list", {}), json::parse(R"({"id":7,"cmd":"list"})"));
  EXPECT_EQ(request_of("list", {"--state", "down", "--label", "env=prod", "--label=tier=web"}),
            json::parse(R"({"id":7,"cmd":"list","args":{"state":"down",
                           "label":{"env":"prod","tier":"web"}}})"));
  EXPECT_EQ(request_of("show", {"www.163.com"}),
            json::parse(R"({"id":7,"cmd":"show","args":{"name":"www.163.com"}})"));
  EXPECT_EQ(request_of("show", {"--recent", "3", "api"}),
            json::parse(R"({"id":7,"cmd":"show","args":{"name":"api","recent":3}})"));
  EXPECT_EQ(request_of("remove", {"api"}),
            json::parse(R"({"id":7,"cmd":"remove","args":{"name":"api"}})"));
  EXPECT_EQ(request_of("fetch", {"api"}),
            json::parse(R"({"id":7,"cmd":"fetch","args":{"name":"api"}})"));
  EXPECT_EQ(request_of("fetch", {"api", "--wait"}),
            json::parse(R"({"id":7,"cmd":"fetch","args":{"name":"api","wait":true}})"));
  EXPECT_TRUE(find_command("fetch")->build({"api", "--wait"})->waits_for_fetch);
  EXPECT_FALSE(find_command("fetch")->build({"api"})->waits_for_fetch);
}

TEST(CtlCommands, WatchAndWaitAreWatchRequestsThatStream) {
  EXPECT_EQ(request_of("watch", {}), json::parse(R"({"id":7,"cmd":"watch"})"));
  EXPECT_EQ(request_of("watch", {"api", "web", "--label", "env=prod", "--events", "state, reload"}),
            json::parse(R"({"id":7,"cmd":"watch","args":{"targets":["api","web"],
                           "label":{"env":"prod"},"events":["state","reload"]}})"));
  EXPECT_EQ(request_of("wait", {"api"}),
            json::parse(R"({"id":7,"cmd":"watch","args":{"targets":["api"],"events":["state"]}})"));
  const auto wait = find_command("wait")->build({"api", "--state", "down", "--timeout", "2m"});
  ASSERT_TRUE(wait);
  EXPECT_TRUE(wait->streams);
  EXPECT_EQ(wait->awaited_state, "down");
  EXPECT_EQ(wait->wait_timeout, std::chrono::minutes(2));
  const auto defaults = find_command("wait")->build({"api"});
  EXPECT_EQ(defaults->awaited_state, "up");
  EXPECT_EQ(defaults->wait_timeout, std::chrono::seconds(30));
  EXPECT_TRUE(find_command("watch")->build({})->streams);
  EXPECT_TRUE(find_command("watch")->build({})->awaited_state.empty());

  EXPECT_EQ(error_of("watch", {"--events", "state,results"}),
            "--events \"state,results\": expected kinds among result, state, added, removed, "
            "reload, separated by commas");
  EXPECT_EQ(error_of("wait", {}), "missing NAME");
  EXPECT_EQ(error_of("wait", {"a", "b"}), "unexpected argument \"b\"");
  EXPECT_EQ(error_of("wait", {"a", "--state", "sideways"}),
            "--state \"sideways\": expected up, down or unknown");
  EXPECT_EQ(error_of("wait", {"a", "--timeout", "soon"}).rfind("--timeout: expected a duration", 0),
            0u);
}

TEST(CtlCommands, RequestLineIsOneLineInProtocolOrder) {
  const auto request = find_command("show")->build({"api"});
  EXPECT_EQ(request_line(*request, 1), R"({"id":1,"cmd":"show","args":{"name":"api"}})");
}

TEST(CtlCommands, AddFromOptions) {
  EXPECT_EQ(request_of("add", {"api", "https://api.example/health"}),
            json::parse(R"({"id":7,"cmd":"add","args":{"target":
                           {"name":"api","url":"https://api.example/health"}}})"));
  EXPECT_EQ(request_of("add", {"api", "https://api.example/", "--interval", "10s", "--timeout=2s",
                               "--label", "env=prod", "--label", "tier=web", "--header",
                               "X-Token:  abc ", "--header", "Accept: text/html", "--method",
                               "head", "--insecure", "--expect-status", "200-299,301,3xx"}),
            json::parse(R"({"id":7,"cmd":"add","args":{"target":{
                "name":"api","url":"https://api.example/","interval":"10s","timeout":"2s",
                "labels":{"env":"prod","tier":"web"},
                "headers":{"X-Token":"abc","Accept":"text/html"},
                "method":"HEAD","tls":{"verify":false},
                "expect":{"status":["200-299",301,"3xx"]}}}})"));
  EXPECT_EQ(
      request_of("add", {"a", "http://a/", "--expect-status", "204"})["args"]["target"]["expect"],
      json::parse(R"({"status":204})"));
}

TEST(CtlCommands, AddFromJson) {
  EXPECT_EQ(request_of("add", {"--json", R"({"name":"api","url":"https://api.example/",
                                             "expect":{"body_contains":"ok"}})"}),
            json::parse(R"({"id":7,"cmd":"add","args":{"target":{"name":"api",
                           "url":"https://api.example/","expect":{"body_contains":"ok"}}}})"));
  EXPECT_EQ(request_of("add", {"--json", R"("http://www.163.com/")"}),
            json::parse(R"({"id":7,"cmd":"add","args":{"target":"http://www.163.com/"}})"));
  EXPECT_EQ(error_of("add", {"--json", "{nope"}), "--json: TARGET is not valid JSON");
  EXPECT_EQ(error_of("add", {"--json", "[1]"}),
            "--json: TARGET must be an object ({\"name\": ..., \"url\": ...}) or a URL string");
  EXPECT_EQ(error_of("add", {"api", "--json", "{}"}),
            "add --json TARGET takes no other arguments (put every setting in TARGET)");
}

TEST(CtlCommands, UsageErrorsSayWhatIsWrong) {
  EXPECT_EQ(error_of("show", {}), "missing NAME");
  EXPECT_EQ(error_of("show", {"a", "b"}), "unexpected argument \"b\"");
  EXPECT_EQ(error_of("show", {"a", "--recent", "x"}),
            "--recent \"x\": expected a whole number of results");
  EXPECT_EQ(error_of("show", {"a", "--recent"}), "--recent needs a value");
  EXPECT_EQ(error_of("list", {"--state", "sideways"}),
            "--state \"sideways\": expected up, down or unknown");
  EXPECT_EQ(error_of("list", {"--label", "novalue"}), "--label \"novalue\": expected KEY=VALUE");
  EXPECT_EQ(error_of("list", {"--label", "a=1", "--label", "a=2"}), "--label a given twice");
  EXPECT_EQ(error_of("list", {"--socket", "/s"}),
            "unknown option \"--socket\" (global options go before the command: fetchctl "
            "--socket COMMAND ...)");
  EXPECT_EQ(error_of("list", {"down"}), "unexpected argument \"down\"");
  EXPECT_EQ(error_of("status", {"--verbose"}), "unknown option \"--verbose\"");
  EXPECT_EQ(error_of("fetch", {"a", "--now"}), "unknown option \"--now\"");
  EXPECT_EQ(error_of("add", {"api"}), "missing URL");
  EXPECT_EQ(error_of("add", {}), "missing NAME and URL");
  EXPECT_EQ(error_of("add", {"a", "http://a/", "x"}), "unexpected argument \"x\"");
  EXPECT_EQ(error_of("add", {"a", "http://a/", "--interval", "5"}),
            "--interval: expected a duration like \"10s\", found \"5\": missing unit (use ms, s, "
            "m or h)");
  EXPECT_EQ(error_of("add", {"a", "http://a/", "--method", "POST"}),
            "--method \"POST\": expected GET or HEAD");
  EXPECT_EQ(error_of("add", {"a", "http://a/", "--header", "NoColon"}),
            "--header \"NoColon\": expected 'NAME: VALUE'");
  EXPECT_EQ(error_of("add", {"a", "http://a/", "--header", "A: 1", "--header", "a: 2"}),
            "--header a given twice");
  EXPECT_EQ(error_of("add", {"a", "http://a/", "--expect-status", "2xx,600"}),
            "--expect-status \"2xx,600\": expected codes (200), ranges (200-299) or classes (2xx), "
            "separated by commas");
}

TEST(CtlCommands, SilenceSilencesAndUnsilence) {
  EXPECT_EQ(request_of("silence", {"web", "--for", "2h"}),
            json::parse(R"({"id":7,"cmd":"silence","args":{"name":"web","for":"2h"}})"));
  EXPECT_EQ(request_of("silence", {"--label", "env=prod", "--label=team=core", "--for=1h30m",
                                   "--comment", "disk swap"}),
            json::parse(R"({"id":7,"cmd":"silence","args":{"label":{"env":"prod","team":"core"},
                           "for":"1h30m","comment":"disk swap"}})"));
  EXPECT_EQ(request_of("silence", {"--for", "1m", "web", "--label", "env=prod"}),
            json::parse(R"({"id":7,"cmd":"silence","args":{"name":"web","label":{"env":"prod"},
                           "for":"1m"}})"));
  EXPECT_EQ(request_of("silences", {}), json::parse(R"({"id":7,"cmd":"silences"})"));
  EXPECT_EQ(request_of("unsilence", {"12"}),
            json::parse(R"({"id":7,"cmd":"unsilence","args":{"id":12}})"));

  EXPECT_EQ(error_of("silence", {"--for", "2h"}), "missing NAME or --label KEY=VALUE");
  EXPECT_EQ(error_of("silence", {"web"}), "missing --for DUR (how long: 1m to 8760h)");
  EXPECT_EQ(error_of("silence", {"web", "api", "--for", "2h"}),
            "unexpected argument \"api\" (one NAME; --label for several targets)");
  EXPECT_EQ(error_of("silence", {"web", "--for", "30s"}),
            "--for \"30s\": a silence lasts from 1m to 8760h (a year)");
  EXPECT_EQ(error_of("silence", {"web", "--for", "8761h"}),
            "--for \"8761h\": a silence lasts from 1m to 8760h (a year)");
  EXPECT_EQ(error_of("silence", {"web", "--for", "2 hours"}).rfind("--for: expected a duration", 0),
            0u);
  EXPECT_EQ(error_of("silence", {"web", "--for", "2h", "--comment", std::string(1001, 'x')}),
            "--comment: at most 1000 bytes");
  EXPECT_EQ(error_of("silence", {"--label", "env", "--for", "2h"}),
            "--label \"env\": expected KEY=VALUE");
  EXPECT_EQ(error_of("silences", {"web"}), "unexpected argument \"web\"");
  EXPECT_EQ(error_of("unsilence", {}), "missing ID");
  EXPECT_EQ(error_of("unsilence", {"x1"}),
            "ID \"x1\": expected a silence's id (a number; see fetchctl silences)");
  EXPECT_EQ(error_of("unsilence", {"0"}),
            "ID \"0\": expected a silence's id (a number; see fetchctl silences)");
  EXPECT_EQ(error_of("unsilence", {"1", "2"}), "unexpected argument \"2\"");
}

TEST(CtlCommands, TableLookupIsExact) {
  EXPECT_NE(find_command("list"), nullptr);
  EXPECT_EQ(find_command("lis"), nullptr);
  EXPECT_EQ(find_command("LIST"), nullptr);
  EXPECT_EQ(find_command(""), nullptr);
}

TEST(CtlCommands, HelpComesFromTheTable) {
  const std::string usage = usage_text();
  for (const auto& command : commands()) {
    EXPECT_NE(usage.find("  " + std::string(command.name)), std::string::npos) << command.name;
    EXPECT_NE(usage.find(command.summary), std::string::npos) << command.name;
    const std::string help = command_help(command);
    EXPECT_EQ(help.rfind("usage: fetchctl [OPTIONS] " + std::string(command.name), 0), 0u) << help;
    EXPECT_NE(help.find(command.details), std::string::npos) << command.name;
  }
  EXPECT_NE(
      command_help(*find_command("add")).find("\n       fetchctl [OPTIONS] add --json TARGET"),
      std::string::npos);
}

}  // namespace
}  // namespace fetchd::ctl
