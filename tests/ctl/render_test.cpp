// fetchctl's human output of each command (pure functions of a reply and a fixed "now", compiled
// into the tests).

#include "ctl/render.h"

#include <gtest/gtest.h>

#include "ctl/canned_replies.h"

namespace fetchd::ctl {
namespace {

using nlohmann::json;
using std::chrono::seconds;

RenderContext at_fixed_now(bool colour = false) {
  return {.now = test::fixed_now(), .colour = colour};
}

TEST(CtlRender, ListIsAnAlignedTableSortedByName) {
  const std::string out = render_list(test::list_result(test::fixed_now()), {}, at_fixed_now());
  EXPECT_EQ(out,
            "NAME         STATE    CODE  LATENCY  CHECKED    FAILS  UPTIME\n"
            "api          down      dns        -  5m12s ago     12  50.00%\n"
            "douban       unknown     -        -  -              0       -\n"
            "www.163.com  up        200   12.3ms  12s ago        0  99.98%\n");
}

TEST(CtlRender, ListColoursStateOnlyWhenAsked) {
  const auto result = test::list_result(test::fixed_now());
  const std::string plain = render_list(result, {}, at_fixed_now(false));
  EXPECT_EQ(plain.find('\033'), std::string::npos);
  const std::string coloured = render_list(result, {}, at_fixed_now(true));
  EXPECT_NE(coloured.find("\033[31mdown\033[0m     "), std::string::npos) << coloured;
  EXPECT_NE(coloured.find("\033[32mup\033[0m       "), std::string::npos) << coloured;
  EXPECT_NE(coloured.find("\033[33munknown\033[0m  "), std::string::npos) << coloured;
  // Only the STATE cells are coloured.
  std::size_t escapes = 0;
  for (auto at = coloured.find('\033'); at != std::string::npos; at = coloured.find('\033', at + 1))
    ++escapes;
  EXPECT_EQ(escapes, 6u);
}

TEST(CtlRender, ListShowsDisabledAndEmpty) {
  json result = test::list_result(test::fixed_now());
  result["targets"][0]["enabled"] = false;
  EXPECT_NE(render_list(result, {}, at_fixed_now()).find("www.163.com  disabled"),
            std::string::npos);
  const json empty = {{"targets", json::array()}};
  EXPECT_EQ(render_list(empty, {}, at_fixed_now()), "no targets\n");
  EXPECT_EQ(render_list(empty, {.cmd = "list", .args = {{"state", "down"}}}, at_fixed_now()),
            "no targets match\n");
}

TEST(CtlRender, ShowPrintsHeaderLinesTheWayTheLessonDoes) {
  const std::string out = render_show(test::show_result(test::fixed_now()), {}, at_fixed_now());
  EXPECT_EQ(out,
            "www.163.com  http://www.163.com/\n"
            "source       config, /etc/fetchd/fetchd.json\n"
            "labels       lesson=async-io\n"
            "\n"
            "latest       2026-11-25T13:59:48.000Z (12s ago): 200 OK\n"
            "www.163.com header > HTTP/1.1 301 Moved Permanently\n"
            "www.163.com header > Location: https://www.163.com/\n"
            "www.163.com header > HTTP/1.1 200 OK\n"
            "www.163.com header > Server: nginx\n"
            "www.163.com header > Content-Type: text/html\n"
            "www.163.com header > Content-Length: 1024\n"
            "remote       203.0.113.7:443\n"
            "timings      dns 0.40ms  connect 1.2ms  tls 2.3ms  first byte 3.0ms  total 7.1ms\n"
            "redirects    1 (9.1ms in all)\n"
            "body         1024 bytes\n"
            "tls          TLSv1.3 TLS_AES_256_GCM_SHA384\n"
            "  subject    CN=www.163.com\n"
            "  issuer     CN=Test CA\n"
            "  not after  2027-03-01T00:00:00.000Z\n"
            "  chain      earliest not after 2027-01-15T00:00:00.000Z\n"
            "last failure 2026-11-25T13:58:30.000Z (1m30s ago): expectation failed: status 503 not "
            "in 200-399\n"
            "\n"
            "state        up since 2026-11-25T13:59:00.000Z (1m ago)\n"
            "fails        0 in a row (down after 1, up after 1)\n"
            "totals       10 attempts: 9 ok, 1 failed, 0 cancelled, 0 skipped\n"
            "latency      min 4.1ms  p50 5.1ms  p95 9.1ms  max 12.0ms  (9 samples)\n"
            "uptime       1h 90.00%  24h 99.99%  7d 100%  30d -\n"
            "outages      2 outages in the last 7 days, oldest first:\n"
            "  2026-11-25T13:58:30.000Z to 2026-11-25T13:59:00.000Z (30s): expectation failed: "
            "status 503\n"
            "  2026-11-25T13:59:55.000Z to still down (5s): connect: refused\n"
            "\n"
            "recent results, oldest first:\n"
            "  TIME                      AGE        OUTCOME      CODE     DNS  CONNECT  TLS  FIRST "
            "BYTE  TOTAL\n"
            "  2026-11-25T13:58:30.000Z  1m30s ago  expectation   503  0.40ms    1.2ms    -       "
            "3.0ms  5.1ms\n"
            "  2026-11-25T13:59:00.000Z  1m ago     ok            200  0.40ms    1.2ms    -       "
            "3.0ms  4.1ms\n"
            "  2026-11-25T13:59:48.000Z  12s ago    ok            200  0.40ms    1.2ms    -       "
            "3.0ms  9.1ms\n");
}

TEST(CtlRender, ShowOfAFailure) {
  json result = test::show_result(test::fixed_now());
  result["latest"] = test::full_result_failed(test::fixed_now());
  result["latest"]["fetch"]["error"] = {
      {"class", "timeout"}, {"phase", "read"}, {"message", "no response within 5s"}};
  const std::string out = render_show(result, {}, at_fixed_now());
  EXPECT_NE(out.find("www.163.com header > HTTP/1.1 503 Service Unavailable\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("\nerror        timeout (read): no response within 5s\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("\nexpectation  status 503 not in 200-399\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("last failure"), std::string::npos) << "the latest is the failure";
}

TEST(CtlRender, ShowBeforeTheFirstFetch) {
  json result = test::show_result(test::fixed_now());
  result["latest"] = nullptr;
  result["latest_failure"] = nullptr;
  result["recent"] = json::array();
  result["summary"]["latency_us"] = nullptr;
  const std::string out = render_show(result, {}, at_fixed_now());
  EXPECT_NE(out.find("\nlatest       not fetched yet\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("recent"), std::string::npos) << out;
  EXPECT_EQ(out.find("latency"), std::string::npos) << out;
}

TEST(CtlRender, TextFromTheDaemonCannotDriveTheTerminal) {
  json result = test::show_result(test::fixed_now());
  result["latest"]["fetch"]["headers"] = test::header_list({{"X-Evil", "a\033]0;owned\007b"}});
  const std::string out = render_show(result, {}, at_fixed_now());
  EXPECT_NE(out.find("www.163.com header > X-Evil: a?]0;owned?b\n"), std::string::npos) << out;
  EXPECT_EQ(out.find('\033'), std::string::npos);
}

TEST(CtlRender, WatchEventsAreOneLineEachWithTheTimeOfDay) {
  const auto render = [](const char* event, bool colour = false) {
    return render_event(json::parse(event), at_fixed_now(colour));
  };
  EXPECT_EQ(render(R"({"event":"result","time":"2026-11-25T12:00:01.204Z","target":"web",
                      "state":"up","outcome":"ok","status":200,"total_us":412,"reason":"200 OK"})"),
            "12:00:01.204 web UP 200 0.41ms\n");
  EXPECT_EQ(render(R"({"event":"state","time":"2026-11-25T12:00:01.204Z","target":"web",
                      "state":"up","outcome":"ok","status":200,"total_us":412,"reason":"200 OK",
                      "from":"down","from_lasted_us":192000000,
                      "from_reason":"connect to 10.0.0.1:80: Connection refused"})"),
            "12:00:01.204 web UP 200 0.41ms (was DOWN 3m12s: connect to 10.0.0.1:80: Connection "
            "refused)\n");
  EXPECT_EQ(render(R"({"event":"state","time":"2026-11-25T12:00:02.000Z","target":"api",
                      "state":"down","outcome":"expectation","status":500,"total_us":900,
                      "reason":"expectation failed: status 500 not in 200-399","from":"up",
                      "from_lasted_us":7200000000,"from_reason":null})",
                   true),
            "12:00:02.000 api \033[31mDOWN\033[0m expectation failed: status 500 not in 200-399 "
            "(was \033[32mUP\033[0m 2h)\n");
  EXPECT_EQ(render(R"({"event":"added","time":"2026-11-25T12:00:03.000Z","target":"new",
                      "state":"unknown","enabled":false})"),
            "12:00:03.000 new added (unknown, disabled)\n");
  EXPECT_EQ(render(R"({"event":"removed","time":"2026-11-25T12:00:03.000Z","target":"old",
                      "state":"up","enabled":true})"),
            "12:00:03.000 old removed\n");
  EXPECT_EQ(render(R"({"event":"reload","time":"2026-11-25T12:00:04.000Z","ok":false,
                      "summary":"refused: fetchd.json:3:5: bad\nand more"})"),
            "12:00:04.000 reload refused: fetchd.json:3:5: bad\n");
  EXPECT_EQ(render(R"({"event":"dropped","time":"2026-11-25T12:00:05.000Z","count":17})"),
            "12:00:05.000 dropped 17 events here: fetchctl did not read them fast enough\n");
  EXPECT_EQ(render(R"({"event":"result","time":"x","target":"t\u001b[2J","state":"down",
                      "reason":"r"})"),
            "x t?[2J DOWN r\n")
      << "text from the daemon cannot drive the terminal";
}

TEST(CtlRender, Status) {
  EXPECT_EQ(render_status(test::status_result(test::fixed_now()), {}, at_fixed_now()),
            "fetchd 0.1.0, pid 1234, up 1h (since 2026-11-25T13:00:00.000Z)\n"
            "targets      5: 3 up, 1 down, 1 unknown, 0 disabled (1 added at runtime)\n"
            "fetches      2 in flight (at most 256), 4.2/s, 1234 done, 3 skipped\n"
            "config       /etc/fetchd/fetchd.json, /etc/fetchd/conf.d/10-api.json\n"
            "last reload  applied 2m ago: 1 added, 0 removed, 0 changed, 3 unchanged\n");
  json refused = test::status_result(test::fixed_now());
  refused["last_reload"] = {{"ok", false},
                            {"at", test::utc(test::fixed_now() - seconds(30))},
                            {"summary", "refused"},
                            {"errors", {"/etc/fetchd/fetchd.json:1:1: invalid JSON"}}};
  refused["last_reload"].erase("summary");
  EXPECT_NE(
      render_status(refused, {}, at_fixed_now())
          .find("last reload  refused 30s ago\n  /etc/fetchd/fetchd.json:1:1: invalid JSON\n"),
      std::string::npos);
  json never = test::status_result(test::fixed_now());
  never["last_reload"] = nullptr;
  EXPECT_NE(render_status(never, {}, at_fixed_now()).find("last reload  none since start\n"),
            std::string::npos);
}

TEST(CtlRender, FetchWithAndWithoutWait) {
  const Request request{.cmd = "fetch", .args = {{"name", "www.163.com"}, {"wait", true}}};
  EXPECT_EQ(render_fetch({{"started", true}}, request, at_fixed_now()),
            "fetch of www.163.com started\n");
  const std::string out =
      render_fetch({{"result", test::full_result_ok(test::fixed_now())}}, request, at_fixed_now());
  EXPECT_EQ(out.rfind("www.163.com  2026-11-25T13:59:48.000Z (12s ago): 200 OK\n"
                      "www.163.com header > HTTP/1.1 301 Moved Permanently\n",
                      0),
            0u)
      << out;
  EXPECT_NE(out.find("\n  chain "), std::string::npos) << "the whole result: " << out;
  EXPECT_EQ(out.find("state"), std::string::npos) << "no summary: " << out;
}

TEST(CtlRender, ReloadSaysWhatChanged) {
  EXPECT_EQ(
      render_reload(
          {{"added", {"x"}}, {"removed", json::array()}, {"changed", {"y", "z"}}, {"unchanged", 3}},
          {}, at_fixed_now()),
      "reloaded: 1 added, 0 removed, 2 changed, 3 unchanged\n"
      "  added      x\n"
      "  changed    y, z\n");
  EXPECT_EQ(render_reload({{"added", json::array()},
                           {"removed", json::array()},
                           {"changed", json::array()},
                           {"unchanged", 4}},
                          {}, at_fixed_now()),
            "reloaded: no changes (4 unchanged)\n");
}

TEST(CtlRender, ReloadAndStatusNameTheSettingsThatWaitForARestart) {
  EXPECT_EQ(render_reload({{"added", json::array()},
                           {"removed", json::array()},
                           {"changed", json::array()},
                           {"unchanged", 4},
                           {"pending_restart", {"control_socket", "dns_servers"}}},
                          {}, at_fixed_now()),
            "reloaded: no changes (4 unchanged)\n"
            "  needs restart control_socket, dns_servers (changed; the running values are kept)\n");
  json status = {{"last_reload",
                  {{"ok", true},
                   {"at", "2024-05-01T11:58:00.000Z"},
                   {"summary", "0 added, 0 removed, 0 changed, 4 unchanged"},
                   {"errors", json::array()},
                   {"pending_restart", {"state_dir"}}}}};
  EXPECT_NE(render_status(status, {}, at_fixed_now())
                .find("needs restart state_dir (changed; the running values are kept)\n"),
            std::string::npos)
      << render_status(status, {}, at_fixed_now());
}

TEST(CtlRender, VersionCommandsAddRemove) {
  EXPECT_EQ(render_version({{"version", "0.1.0"}, {"protocol", 1}}, {}, at_fixed_now()),
            "fetchctl 0.1.0\nfetchd   0.1.0 (control protocol 1)\n");
  const json commands = {
      {"commands",
       {{{"name", "version"}, {"usage", "version"}, {"access", "read"}, {"summary", "versions"}},
        {{"name", "show"},
         {"usage", "show NAME [recent K]"},
         {"access", "read"},
         {"summary", "one target"}},
        {{"name", "add"}, {"usage", "add TARGET"}, {"access", "admin"}, {"summary", "add one"}}}}};
  EXPECT_EQ(render_commands(commands, {}, at_fixed_now()),
            "USAGE                 ACCESS  SUMMARY\n"
            "version               read    versions\n"
            "show NAME [recent K]  read    one target\n"
            "add TARGET            admin   add one\n");
  EXPECT_EQ(render_add({{"name", "api"}}, {}, at_fixed_now()), "added api\n");
  EXPECT_EQ(render_remove({{"name", "api"}}, {}, at_fixed_now()), "removed api\n");
}

TEST(CtlRender, RefusalsNameTheCodeAndEveryDetail) {
  EXPECT_EQ(render_error({{"code", "not_found"}, {"message", "no target named \"x\""}}),
            "fetchctl: not_found: no target named \"x\"\n");
  EXPECT_EQ(render_error({{"code", "config_invalid"},
                          {"message", "the configuration is invalid"},
                          {"details", {"/etc/a.json:1:2: /x: bad", "/etc/b.json:3:4: /y: bad"}}}),
            "fetchctl: config_invalid: the configuration is invalid\n"
            "  /etc/a.json:1:2: /x: bad\n"
            "  /etc/b.json:3:4: /y: bad\n");
}

TEST(CtlRender, UnexpectedShapesPrintAsDashesInsteadOfFailing) {
  const json odd = {{"targets", {{{"name", 5}, {"state", json::array()}, {"latency_us", "fast"}}}}};
  EXPECT_NO_THROW(render_list(odd, {}, at_fixed_now()));
  EXPECT_NO_THROW(render_show(json::array(), {}, at_fixed_now()));
  EXPECT_NO_THROW(
      render_show({{"latest", {{"fetch", {{"headers", {1, 2}}}}}}}, {}, at_fixed_now()));
  EXPECT_NO_THROW(render_status(json(), {}, at_fixed_now()));
  EXPECT_NO_THROW(render_reload({{"added", 3}}, {}, at_fixed_now()));
  EXPECT_NO_THROW(render_error(json("x")));
}

TEST(CtlRender, ListAddsASilencedColumnOnlyWhenSomeTargetIsSilenced) {
  json result = test::list_result(test::fixed_now());
  result["targets"][1]["silenced"] = nullptr;
  for (auto& target : result["targets"]) {
    if (target["name"] == "api")
      target["silenced"] = {{"id", 3}, {"until", test::utc(test::fixed_now() + seconds(7140))}};
  }
  EXPECT_EQ(render_list(result, {}, at_fixed_now()),
            "NAME         STATE    CODE  LATENCY  CHECKED    FAILS  UPTIME  SILENCED\n"
            "api          down      dns        -  5m12s ago     12  50.00%  #3, 1h59m left\n"
            "douban       unknown     -        -  -              0       -  -\n"
            "www.163.com  up        200   12.3ms  12s ago        0  99.98%  -\n");
}

TEST(CtlRender, ShowSaysWhenATargetIsSilenced) {
  json result = test::show_result(test::fixed_now());
  result["silenced"] = {{"id", 3},
                        {"name", "www.163.com"},
                        {"labels", json::object()},
                        {"created", test::utc(test::fixed_now() - seconds(60))},
                        {"until", test::utc(test::fixed_now() + seconds(7200))},
                        {"comment", "disk swap"}};
  const std::string out = render_show(result, {}, at_fixed_now());
  EXPECT_NE(out.find("\nlabels       lesson=async-io\n"
                     "silenced     until 2026-11-25T16:00:00.000Z (in 2h) by silence 3 (disk "
                     "swap)\n\n"),
            std::string::npos)
      << out;
  result["silenced"]["comment"] = "";
  EXPECT_NE(render_show(result, {}, at_fixed_now())
                .find("silenced     until 2026-11-25T16:00:00.000Z (in 2h) by silence 3\n"),
            std::string::npos);
  result["silenced"] = nullptr;
  EXPECT_EQ(render_show(result, {}, at_fixed_now()).find("silenced"), std::string::npos);
}

TEST(CtlRender, SilenceSilencesAndUnsilence) {
  const auto until = test::utc(test::fixed_now() + seconds(7200));
  const json by_name = {{"id", 3},
                        {"name", "web"},
                        {"labels", json::object()},
                        {"created", test::utc(test::fixed_now())},
                        {"until", until},
                        {"comment", "disk swap"}};
  EXPECT_EQ(render_silence({{"silence", by_name}, {"matching", 1}}, {}, at_fixed_now()),
            "silence 3: web until 2026-11-25T16:00:00.000Z (in 2h)\n");
  json by_labels = by_name;
  by_labels["id"] = 4;
  by_labels["name"] = nullptr;
  by_labels["labels"] = {{"env", "prod"}, {"team", "core"}};
  by_labels["comment"] = "";
  EXPECT_EQ(render_silence({{"silence", by_labels}, {"matching", 2}}, {}, at_fixed_now()),
            "silence 4: env=prod team=core until 2026-11-25T16:00:00.000Z (in 2h)\n"
            "  covers 2 targets now\n");
  EXPECT_EQ(render_silence({{"silence", by_labels}, {"matching", 0}}, {}, at_fixed_now()),
            "silence 4: env=prod team=core until 2026-11-25T16:00:00.000Z (in 2h)\n"
            "  no target has these labels now (targets added with them later are silenced)\n");

  EXPECT_EQ(render_silences({{"silences", {by_name, by_labels}}}, {}, at_fixed_now()),
            "ID  COVERS              UNTIL                     LEFT  COMMENT\n"
            " 3  web                 2026-11-25T16:00:00.000Z    2h  disk swap\n"
            " 4  env=prod team=core  2026-11-25T16:00:00.000Z    2h\n");
  EXPECT_EQ(render_silences({{"silences", json::array()}}, {}, at_fixed_now()), "no silences\n");
  EXPECT_EQ(render_unsilence({{"silence", by_name}}, {}, at_fixed_now()),
            "lifted silence 3 (web)\n");
  // Control characters from the daemon never reach the terminal.
  json hostile = by_name;
  hostile["comment"] = "\033[2J";
  EXPECT_EQ(render_silences({{"silences", {hostile}}}, {}, at_fixed_now()).find('\033'),
            std::string::npos);
}

}  // namespace
}  // namespace fetchd::ctl
