// The fetchctl binary as a process, against a fake control server that answers as
// docs/control-protocol.md says and records what fetchctl sent: the request of every command, the
// human output, --json passthrough, and the exit status (0 ok, 1 refused, 2 usage, 3 unreachable).

#include <cerrno>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ctl/canned_replies.h"
#include "ctl/commands.h"
#include "ctl/fake_control_server.h"
#include "ctl/run_fetchctl.h"
#include "support/temp_dir.h"

namespace fetchd {
namespace {

using nlohmann::json;
using test::FetchctlOptions;
using test::FetchctlRun;
using Args = std::vector<std::string>;

class FetchctlTest : public ::testing::Test {
 protected:
  FetchctlTest() : dir_("fetchctl"), server_(dir_.path() / "fetchd.sock") {}

  FetchctlRun run(const Args& args, FetchctlOptions options = {}) {
    Args full = {"--socket", server_.path().string()};
    full.insert(full.end(), args.begin(), args.end());
    return test::run_fetchctl(full, options);
  }

  // The one request fetchctl sent, parsed.
  json only_request() const {
    const auto requests = server_.requests();
    EXPECT_EQ(requests.size(), 1u);
    if (requests.size() != 1)
      return nullptr;
    EXPECT_EQ(requests[0].find('\n'), std::string::npos);
    return json::parse(requests[0]);
  }

  test::TempDir dir_;
  test::FakeControlServer server_;
};

struct RequestCase {
  Args args;
  const char* request;
};

TEST_F(FetchctlTest, SendsEachCommandsRequestExactly) {
  const std::vector<RequestCase> cases = {
      {{"version"}, R"({"id":1,"cmd":"version"})"},
      {{"commands"}, R"({"id":1,"cmd":"help"})"},
      {{"status"}, R"({"id":1,"cmd":"status"})"},
      {{"list"}, R"({"id":1,"cmd":"list"})"},
      {{"list", "--state", "down", "--label", "env=prod"},
       R"({"id":1,"cmd":"list","args":{"state":"down","label":{"env":"prod"}}})"},
      {{"show", "www.163.com"}, R"({"id":1,"cmd":"show","args":{"name":"www.163.com"}})"},
      {{"show", "www.163.com", "--recent", "5"},
       R"({"id":1,"cmd":"show","args":{"name":"www.163.com","recent":5}})"},
      {{"add", "api", "https://api.example/health", "--interval", "10s", "--timeout", "3s",
        "--label", "env=prod", "--header", "X-Token: abc", "--method", "HEAD", "--insecure",
        "--expect-status", "200-299"},
       R"({"id":1,"cmd":"add","args":{"target":{"name":"api","url":"https://api.example/health",
           "interval":"10s","timeout":"3s","labels":{"env":"prod"},"headers":{"X-Token":"abc"},
           "method":"HEAD","tls":{"verify":false},"expect":{"status":"200-299"}}}})"},
      {{"add", "--json", R"({"name":"api","url":"https://api.example/","interval":"10s"})"},
       R"({"id":1,"cmd":"add","args":{"target":{"name":"api","url":"https://api.example/",
           "interval":"10s"}}})"},
      {{"remove", "api"}, R"({"id":1,"cmd":"remove","args":{"name":"api"}})"},
      {{"fetch", "api"}, R"({"id":1,"cmd":"fetch","args":{"name":"api"}})"},
      {{"fetch", "api", "--wait"}, R"({"id":1,"cmd":"fetch","args":{"name":"api","wait":true}})"},
      {{"reload"}, R"({"id":1,"cmd":"reload"})"},
      {{"silence", "api", "--for", "2h", "--comment", "deploy"},
       R"({"id":1,"cmd":"silence","args":{"name":"api","for":"2h","comment":"deploy"}})"},
      {{"silence", "--label", "env=prod", "--for", "30m"},
       R"({"id":1,"cmd":"silence","args":{"label":{"env":"prod"},"for":"30m"}})"},
      {{"silences"}, R"({"id":1,"cmd":"silences"})"},
      {{"unsilence", "3"}, R"({"id":1,"cmd":"unsilence","args":{"id":3}})"},
  };
  for (const auto& [args, expected] : cases) {
    test::TempDir dir("fetchctl-request");
    test::FakeControlServer server(dir.path() / "s.sock");
    server.reply_ok(json::parse(expected)["cmd"], json::object());
    Args full = {"--socket", server.path().string()};
    full.insert(full.end(), args.begin(), args.end());
    const auto result = test::run_fetchctl(full);
    EXPECT_EQ(result.exit_status, 0) << args[0] << ": " << result.err;
    const auto requests = server.requests();
    ASSERT_EQ(requests.size(), 1u) << args[0];
    EXPECT_EQ(json::parse(requests[0]), json::parse(expected)) << requests[0];
  }
}

TEST_F(FetchctlTest, ListIsAnAlignedTable) {
  server_.reply_ok("list", test::list_result(std::chrono::system_clock::now()));
  const auto result = run({"list"});
  ASSERT_EQ(result.exit_status, 0) << result.err;
  EXPECT_EQ(result.err, "");
  // Ages depend on the clock; everything else is exact.
  std::vector<std::string> lines;
  for (std::size_t start = 0; start < result.out.size();) {
    const auto end = result.out.find('\n', start);
    lines.push_back(result.out.substr(start, end - start));
    start = end + 1;
  }
  ASSERT_EQ(lines.size(), 4u) << result.out;
  EXPECT_EQ(lines[0], "NAME         STATE    CODE  LATENCY  CHECKED    FAILS  UPTIME");
  EXPECT_EQ(lines[1].substr(0, 37), "api          down      dns        -  ");
  EXPECT_EQ(lines[2], "douban       unknown     -        -  -              0       -");
  EXPECT_EQ(lines[3].substr(0, 37), "www.163.com  up        200   12.3ms  ");
  EXPECT_EQ(lines[3].substr(37, 4), "12s ") << "or 13s on a slow machine: " << lines[3];
  for (const auto& line : lines)
    EXPECT_EQ(line.size(), lines[0].size()) << "aligned: " << line;
  EXPECT_EQ(result.out.find('\033'), std::string::npos) << "no colour on a pipe";
}

TEST_F(FetchctlTest, ColourOnlyOnATerminalWithoutNoColor) {
  server_.reply_ok("list", test::list_result(std::chrono::system_clock::now()));
  const auto on_tty = run({"list"}, {.env = {{"TERM", "xterm"}}, .stdout_tty = true});
  ASSERT_EQ(on_tty.exit_status, 0) << on_tty.err;
  EXPECT_NE(on_tty.out.find("\033[31mdown\033[0m"), std::string::npos) << on_tty.out;
  EXPECT_NE(on_tty.out.find("\033[32mup\033[0m"), std::string::npos) << on_tty.out;

  const auto no_color =
      run({"list"}, {.env = {{"TERM", "xterm"}, {"NO_COLOR", "1"}}, .stdout_tty = true});
  ASSERT_EQ(no_color.exit_status, 0) << no_color.err;
  EXPECT_NE(no_color.out.find("down"), std::string::npos);
  EXPECT_EQ(no_color.out.find('\033'), std::string::npos) << no_color.out;
}

TEST_F(FetchctlTest, ShowPrintsTheLessonsHeaderLines) {
  server_.reply_ok("show", test::show_result(std::chrono::system_clock::now()));
  const auto result = run({"show", "www.163.com"});
  ASSERT_EQ(result.exit_status, 0) << result.err;
  const std::string& out = result.out;
  for (const char* expected : {
           "www.163.com  http://www.163.com/\n",
           "\nwww.163.com header > HTTP/1.1 301 Moved Permanently\n"
           "www.163.com header > Location: https://www.163.com/\n"
           "www.163.com header > HTTP/1.1 200 OK\n"
           "www.163.com header > Server: nginx\n"
           "www.163.com header > Content-Type: text/html\n"
           "www.163.com header > Content-Length: 1024\n",
           "\ntimings      dns 0.40ms  connect 1.2ms  tls 2.3ms  first byte 3.0ms  total 7.1ms",
           "\ntls          TLSv1.3 TLS_AES_256_GCM_SHA384\n",
           "\n  subject    CN=www.163.com\n",
           "\n  issuer     CN=Test CA\n",
           "\n  not after  2027-03-01T00:00:00.000Z\n",
           "\n  chain      earliest not after 2027-01-15T00:00:00.000Z\n",
           "\nlast failure ",
           "\nstate        up since ",
           "\ntotals       10 attempts: 9 ok, 1 failed, 0 cancelled, 0 skipped\n",
           "\nlatency      min 4.1ms  p50 5.1ms  p95 9.1ms  max 12.0ms  (9 samples)\n",
           "\nrecent results, oldest first:\n",
       }) {
    EXPECT_NE(out.find(expected), std::string::npos) << "missing:\n"
                                                     << expected << "\nin:\n"
                                                     << out;
  }
}

TEST_F(FetchctlTest, StatusVersionReloadFetchOutput) {
  server_.reply_ok("status", test::status_result(std::chrono::system_clock::now()));
  server_.reply_ok("version", {{"version", "0.1.0"}, {"protocol", 1}});
  server_.reply_ok(
      "reload",
      {{"added", {"x"}}, {"removed", json::array()}, {"changed", json::array()}, {"unchanged", 3}});
  server_.on("fetch", [](const json& request) -> std::optional<std::string> {
    const json result =
        request["args"].value("wait", false)
            ? json{{"result", test::full_result_ok(std::chrono::system_clock::now())}}
            : json{{"started", true}};
    return json{{"id", request["id"]}, {"ok", true}, {"result", result}}.dump();
  });

  const auto status = run({"status"});
  EXPECT_EQ(status.exit_status, 0);
  EXPECT_EQ(status.out.rfind("fetchd 0.1.0, pid 1234, up 1h (since ", 0), 0u) << status.out;
  EXPECT_NE(status.out.find("\ntargets      5: 3 up, 1 down, 1 unknown, 0 disabled"),
            std::string::npos)
      << status.out;

  const auto version = run({"version"});
  EXPECT_EQ(version.exit_status, 0);
  EXPECT_EQ(version.out, "fetchctl 0.1.0\nfetchd   0.1.0 (control protocol 1)\n");

  const auto reload = run({"reload"});
  EXPECT_EQ(reload.exit_status, 0);
  EXPECT_EQ(reload.out,
            "reloaded: 1 added, 0 removed, 0 changed, 3 unchanged\n"
            "  added      x\n");

  const auto started = run({"fetch", "www.163.com"});
  EXPECT_EQ(started.exit_status, 0);
  EXPECT_EQ(started.out, "fetch of www.163.com started\n");

  const auto waited = run({"fetch", "www.163.com", "--wait"});
  EXPECT_EQ(waited.exit_status, 0) << waited.err;
  EXPECT_EQ(waited.out.rfind("www.163.com  ", 0), 0u) << waited.out;
  EXPECT_NE(waited.out.find("www.163.com header > HTTP/1.1 200 OK\n"), std::string::npos)
      << waited.out;
}

TEST_F(FetchctlTest, JsonPrintsTheReplyLineAsIs) {
  // Odd spacing and key order: passed through untouched, not re-serialised.
  const std::string line =
      R"({"ok": true,  "id": 1, "result": {"version": "9.9.9", "protocol": 1}})";
  server_.on("version", [&](const json&) -> std::optional<std::string> { return line; });
  const auto result = run({"--json", "version"});
  EXPECT_EQ(result.exit_status, 0) << result.err;
  EXPECT_EQ(result.out, line + "\n");
  EXPECT_EQ(result.err, "");

  server_.reply_error("show", "not_found", "no target named \"x\"");
  const auto refused = run({"--json", "show", "x"});
  EXPECT_EQ(refused.exit_status, 1);
  EXPECT_EQ(json::parse(refused.out)["error"]["code"], "not_found");
}

TEST_F(FetchctlTest, RefusalExitsOneWithCodeMessageAndDetails) {
  server_.reply_error("show", "not_found", "no target named \"x\"");
  const auto missing = run({"show", "x"});
  EXPECT_EQ(missing.exit_status, 1);
  EXPECT_EQ(missing.out, "");
  EXPECT_EQ(missing.err, "fetchctl: not_found: no target named \"x\"\n");

  server_.reply_error("reload", "config_invalid",
                      "the configuration is invalid and was not applied",
                      {"/etc/fetchd/fetchd.json:4:5: /targets/0/interval: expected a duration",
                       "/etc/fetchd/conf.d/20-b.json:3:5: /targets/0: duplicate target name"});
  const auto reload = run({"reload"});
  EXPECT_EQ(reload.exit_status, 1);
  EXPECT_EQ(reload.err,
            "fetchctl: config_invalid: the configuration is invalid and was not applied\n"
            "  /etc/fetchd/fetchd.json:4:5: /targets/0/interval: expected a duration\n"
            "  /etc/fetchd/conf.d/20-b.json:3:5: /targets/0: duplicate target name\n");
}

TEST_F(FetchctlTest, BusyOnConnectIsARefusal) {
  server_.greet_and_close(
      R"x({"id":null,"ok":false,"error":{"code":"busy","message":"too many clients (64)"}})x");
  const auto result = run({"status"});
  EXPECT_EQ(result.exit_status, 1) << result.err;
  EXPECT_EQ(result.err, "fetchctl: busy: too many clients (64)\n");
}

TEST_F(FetchctlTest, UsageErrorsExitTwoWithUsageAndSendNothing) {
  struct Case {
    Args args;
    const char* message;
  };
  const std::vector<Case> cases = {
      {{}, "fetchctl: missing COMMAND\n"},
      {{"frobnicate"}, "fetchctl: unknown command \"frobnicate\"\n"},
      {{"lst"}, "fetchctl: unknown command \"lst\" (did you mean \"list\"?)\n"},
      {{"help", "silense"}, "fetchctl: unknown command \"silense\" (did you mean \"silence\"?)\n"},
      {{"--verbose", "list"}, "fetchctl: unknown option \"--verbose\"\n"},
      {{"show"}, "fetchctl: show: missing NAME\n"},
      {{"list", "--timeout", "2s"},
       "fetchctl: list: unknown option \"--timeout\" (global options go before the command: "
       "fetchctl --timeout COMMAND ...)\n"},
      {{"add", "api", "https://api.example/", "--interval", "often"},
       "fetchctl: add: --interval: expected a duration like \"10s\", found \"often\": expected "
       "a number at \"often\"\n"},
      {{"silence", "api"}, "fetchctl: silence: missing --for DUR (how long: 1m to 8760h)\n"},
      {{"unsilence", "three"},
       "fetchctl: unsilence: ID \"three\": expected a silence's id (a number; see fetchctl "
       "silences)\n"},
      {{"--timeout", "soon", "status"},
       "fetchctl: --timeout: expected a duration like \"10s\", found \"soon\": expected a number "
       "at \"soon\"\n"},
  };
  for (const auto& [args, message] : cases) {
    const auto result = run(args);
    EXPECT_EQ(result.exit_status, 2) << message;
    EXPECT_EQ(result.out, "");
    EXPECT_EQ(result.err.rfind(message, 0), 0u) << result.err;
    EXPECT_NE(result.err.find("usage: fetchctl"), std::string::npos) << result.err;
  }
  EXPECT_TRUE(server_.requests().empty());
  // A mistyped command gets three lines, not the whole help.
  const auto typo = run({"lst"});
  EXPECT_EQ(typo.err,
            "fetchctl: unknown command \"lst\" (did you mean \"list\"?)\n"
            "usage: fetchctl [--socket PATH] [--json] [--timeout DUR] COMMAND [ARGS]\n"
            "Try 'fetchctl --help'.\n");

  const auto big = run({"add", "--json", json{{"url", std::string(70'000, 'a')}}.dump()});
  EXPECT_EQ(big.exit_status, 2);
  EXPECT_NE(big.err.find("fetchd accepts at most 65536"), std::string::npos) << big.err;
  EXPECT_TRUE(server_.requests().empty());
}

TEST_F(FetchctlTest, HelpForEveryCommandFromTheTable) {
  const auto top = run({"--help"});
  EXPECT_EQ(top.exit_status, 0);
  EXPECT_EQ(top.out.rfind("usage: fetchctl [--socket PATH] [--json] [--timeout DUR] COMMAND", 0),
            0u);
  for (const auto& command : ctl::commands()) {
    const std::string name(command.name);
    const std::string expected = "usage: fetchctl [OPTIONS] " + name;
    for (const Args& args : {Args{name, "--help"}, Args{name, "-h"}, Args{"help", name}}) {
      const auto result = run(args);
      EXPECT_EQ(result.exit_status, 0) << args[0] << " " << args[1];
      EXPECT_EQ(result.out.rfind(expected, 0), 0u) << result.out;
      EXPECT_NE(result.out.find(command.summary), std::string::npos) << result.out;
    }
    EXPECT_NE(top.out.find("\n  " + name), std::string::npos) << name;
  }
  EXPECT_TRUE(server_.requests().empty());
}

TEST_F(FetchctlTest, SocketFromTheEnvironmentAndDefault) {
  server_.reply_ok("version", {{"version", "0.1.0"}, {"protocol", 1}});
  const auto from_env =
      test::run_fetchctl({"version"}, {.env = {{"FETCHD_SOCKET", server_.path().string()}}});
  EXPECT_EQ(from_env.exit_status, 0) << from_env.err;
  EXPECT_EQ(server_.requests().size(), 1u);

  const auto overridden =
      test::run_fetchctl({"--socket", (dir_.path() / "other.sock").string(), "version"},
                         {.env = {{"FETCHD_SOCKET", server_.path().string()}}});
  EXPECT_EQ(overridden.exit_status, 3);
  EXPECT_EQ(server_.requests().size(), 1u);
}

TEST_F(FetchctlTest, MissingSocketExitsThreeAndSaysSo) {
  const std::string path = (dir_.path() / "nothing-here.sock").string();
  const auto result = test::run_fetchctl({"--socket", path, "status"});
  EXPECT_EQ(result.exit_status, 3);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(result.err, "fetchctl: no fetchd control socket at " + path +
                            " — is fetchd running? (systemctl status fetchd)\n");
}

TEST_F(FetchctlTest, StaleSocketExitsThreeAsRefused) {
  // A socket file nobody listens on: what a crashed daemon leaves behind.
  const std::string path = (dir_.path() / "stale.sock").string();
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
  ::close(fd);
  const auto result = test::run_fetchctl({"--socket", path, "status"});
  EXPECT_EQ(result.exit_status, 3);
  EXPECT_EQ(result.err, "fetchctl: connection refused at " + path +
                            ": a stale socket, fetchd is not running (systemctl start fetchd)\n");

  const std::string file = (dir_.path() / "plain-file").string();
  test::write_file(file, "x");
  const auto not_socket = test::run_fetchctl({"--socket", file, "status"});
  EXPECT_EQ(not_socket.exit_status, 3);
  EXPECT_EQ(not_socket.err,
            "fetchctl: " + file + " is not a socket — check --socket or $FETCHD_SOCKET\n");
}

TEST_F(FetchctlTest, PermissionDeniedExitsThreeWithTheFix) {
  // As root, connect() is never denied: run fetchctl as nobody.
  FetchctlOptions as_other_user;
  if (::geteuid() == 0) {
    if (::access("/usr/bin/setpriv", X_OK) != 0)
      GTEST_SKIP() << "running as root and setpriv (util-linux) is missing: cannot get EACCES";
    as_other_user.wrapper = {"/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup",
                             "--clear-groups"};
  }
  // The socket itself is fine; its directory cannot be searched.
  test::TempDir open_dir("fetchctl-eacces");
  ASSERT_EQ(::chmod(open_dir.path().c_str(), 0755), 0);
  const auto locked = open_dir.path() / "locked";
  ASSERT_EQ(::mkdir(locked.c_str(), 0755), 0);
  test::FakeControlServer hidden(locked / "fetchd.sock");
  ASSERT_EQ(::chmod(locked.c_str(), 0), 0);
  const auto in_locked_dir =
      test::run_fetchctl({"--socket", hidden.path().string(), "status"}, as_other_user);
  ASSERT_EQ(::chmod(locked.c_str(), 0755), 0);
  EXPECT_EQ(in_locked_dir.exit_status, 3) << in_locked_dir.err;
  EXPECT_EQ(in_locked_dir.err,
            "fetchctl: permission denied connecting to " + hidden.path().string() +
                " (a directory on the way is not searchable by you) — add yourself to group "
                "fetchd (sudo usermod -aG fetchd \"$USER\", then log in again), or check the mode "
                "of the socket and its directory\n");

  // The socket's own mode keeps others out.
  test::FakeControlServer owner_only(open_dir.path() / "owner-only.sock");
  ASSERT_EQ(::chmod(owner_only.path().c_str(), 0600), 0);
  const auto by_mode =
      test::run_fetchctl({"--socket", owner_only.path().string(), "status"}, as_other_user);
  EXPECT_EQ(by_mode.exit_status, 3) << by_mode.err;
  EXPECT_NE(by_mode.err.find("permission denied connecting to " + owner_only.path().string() +
                             " (socket mode 0600, group "),
            std::string::npos)
      << by_mode.err;
  // Joining group root is never the advice: a root-group socket gets what to change instead.
  if (::getgid() == 0) {
    EXPECT_NE(by_mode.err.find("the socket belongs to group root: set settings.socket_group"),
              std::string::npos)
        << by_mode.err;
    EXPECT_EQ(by_mode.err.find("usermod"), std::string::npos) << by_mode.err;
  } else {
    EXPECT_NE(by_mode.err.find("add yourself to group "), std::string::npos) << by_mode.err;
  }
  EXPECT_TRUE(hidden.requests().empty());
  EXPECT_TRUE(owner_only.requests().empty());
}

TEST_F(FetchctlTest, NoReplyWithinTheTimeoutExitsThree) {
  server_.on("status", [](const json&) -> std::optional<std::string> { return std::nullopt; });
  const auto result = run({"--timeout", "200ms", "status"});
  EXPECT_EQ(result.exit_status, 3);
  EXPECT_EQ(result.err, "fetchctl: no reply from fetchd within 200ms (--timeout to wait longer)\n");
  EXPECT_EQ(server_.requests().size(), 1u);
}

TEST_F(FetchctlTest, BrokenRepliesExitThree) {
  server_.on("status", [](const json&) -> std::optional<std::string> { return "not json"; });
  const auto garbage = run({"status"});
  EXPECT_EQ(garbage.exit_status, 3);
  EXPECT_EQ(garbage.err, "fetchctl: not a control protocol reply from fetchd: not json\n");

  server_.on("version", [](const json&) -> std::optional<std::string> {
    return R"({"id":99,"ok":true,"result":{}})";
  });
  const auto wrong_id = run({"version"});
  EXPECT_EQ(wrong_id.exit_status, 3);
  EXPECT_NE(wrong_id.err.find("for another request"), std::string::npos) << wrong_id.err;
  EXPECT_EQ(wrong_id.out, "fetchctl 0.1.0\n") << "the client's own version still prints";
}

}  // namespace
}  // namespace fetchd
