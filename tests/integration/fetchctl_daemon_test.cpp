// fetchctl against the real fetchd, end to end: every control command through the fetchctl binary
// (FETCHCTL_BINARY) to the daemon process (FETCHD_BINARY) over its real control socket, with
// targets on a real nginx and on a refused port. What an operator sees: the human output, --json
// passthrough, and the exit status (0 ok, 1 refused by the daemon, 2 usage, 3 cannot connect);
// runtime targets across a restart; a second uid (nobody) that may read but not change.
//
// Conditions are waited for by polling fetchctl with a deadline, never with fixed sleeps; target
// intervals are short (200 ms) so that states settle fast. Targets that are fetched by hand have an
// interval of 1h, so that no scheduled fetch makes a manual one `busy`.

#include <cctype>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <netinet/in.h>
#include <optional>
#include <signal.h>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/version.h"
#include "ctl/run_fetchctl.h"
#include "support/fetchd_process.h"
#include "support/nginx.h"
#include "support/process.h"
#include "support/silent_socket.h"
#include "support/temp_dir.h"
#include "support/test_pki.h"

namespace fetchd {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::FetchctlOptions;
using test::FetchctlRun;
using Args = std::vector<std::string>;

constexpr std::string_view kRefusedUrl = "http://127.0.0.1:1/";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

std::vector<std::string> words_of(const std::string& line) {
  std::vector<std::string> words;
  std::istringstream in(line);
  for (std::string word; in >> word;)
    words.push_back(word);
  return words;
}

// True when `text` holds `prefix` followed by digits and a colon: "file:3:" then "12:".
bool has_line_and_column(const std::string& text, const std::string& prefix) {
  for (auto at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at + 1)) {
    auto end = at + prefix.size();
    const auto digits = end;
    while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end])) != 0)
      ++end;
    if (end > digits && end < text.size() && text[end] == ':')
      return true;
  }
  return false;
}

class FetchctlDaemonTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { nginx_ = new test::NginxServer(); }
  static void TearDownTestSuite() {
    delete nginx_;
    nginx_ = nullptr;
  }

  std::filesystem::path socket_path() const { return socket_dir_ / "fetchd.sock"; }
  std::filesystem::path config_path() const { return dir_.path() / "fetchd.json"; }
  std::filesystem::path state_dir() const { return dir_.path() / "state"; }

  json settings(const json& extra = json::object()) const {
    json settings = {{"state_dir", state_dir().string()},
                     {"control_socket", socket_path().string()},
                     {"log_level", "info"}};
    settings.update(extra);
    return settings;
  }

  void write_config(const json& targets, const json& extra_settings = json::object()) {
    test::write_file(config_path(), json{{"settings", settings(extra_settings)},
                                         {"defaults", {{"interval", "1s"}, {"timeout", "2s"}}},
                                         {"targets", targets}}
                                        .dump(2));
  }

  // Targets fetched every 200 ms: the nginx index, a refused port, nginx over TLS (verified with
  // the test CA).
  static json web(const std::string& name = "web") {
    return {{"name", name},
            {"url", nginx_->url("/")},
            {"interval", "200ms"},
            {"labels", {{"env", "prod"}}}};
  }
  static json refused(const std::string& name = "closed") {
    return {
        {"name", name}, {"url", kRefusedUrl}, {"interval", "200ms"}, {"labels", {{"env", "dev"}}}};
  }
  static json secure() {
    return {{"name", "secure"},
            {"url", nginx_->url("/", true)},
            {"interval", "200ms"},
            {"tls", {{"ca_file", test::test_pki().ca_cert}}},
            {"labels", {{"env", "staging"}}}};
  }

  std::unique_ptr<test::ChildProcess> start_daemon() {
    return test::start_daemon({FETCHD_BINARY, "--config", config_path().string()},
                              dir_.path() / "daemon.log", socket_path());
  }

  // fetchctl --socket <the daemon's> ARGS...
  FetchctlRun ctl(const Args& args, FetchctlOptions options = {}) const {
    Args full = {"--socket", socket_path().string()};
    full.insert(full.end(), args.begin(), args.end());
    options.timeout = 10s;
    return test::run_fetchctl(full, options);
  }

  // fetchctl --json ARGS...: the reply, parsed; null when there was none.
  json reply(const Args& args) const {
    Args full = {"--json"};
    full.insert(full.end(), args.begin(), args.end());
    const auto run = ctl(full);
    return json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  }

  // True once `list --json` gives each named target its state.
  bool states_become(const std::map<std::string, std::string>& expected) const {
    json last;
    const bool reached = test::eventually([&] {
      last = reply({"list"});
      std::size_t matched = 0;
      for (const auto& target : last["result"]["targets"]) {
        const auto found = expected.find(target.value("name", ""));
        matched += found != expected.end() && target.value("state", "") == found->second;
      }
      return matched == expected.size();
    });
    EXPECT_TRUE(reached) << "states never became as expected; last list: " << last;
    return reached;
  }

  static test::NginxServer* nginx_;
  test::TempDir dir_{"fetchctl-daemon"};
  std::filesystem::path socket_dir_ = dir_.path();
};

test::NginxServer* FetchctlDaemonTest::nginx_ = nullptr;

#define EXPECT_CONTAINS(text, needle)                                                       \
  EXPECT_NE((text).find(needle), std::string::npos) << "missing: " << (needle) << "\nin:\n" \
                                                    << (text)

// ---- read: version, commands, status, list, show ----------------------------------------------

TEST_F(FetchctlDaemonTest, VersionCommandsStatusListAndShowDescribeTheRunningDaemon) {
  write_config(json::array({web(), refused(), secure()}));
  auto daemon = start_daemon();
  ASSERT_TRUE(states_become({{"web", "up"}, {"closed", "down"}, {"secure", "up"}}));

  const auto version = ctl({"version"});
  EXPECT_EQ(version.exit_status, 0) << version.err;
  EXPECT_EQ(version.out, "fetchctl " + std::string(kVersion) + "\nfetchd   " +
                             std::string(kVersion) + " (control protocol 1)\n");
  EXPECT_EQ(version.err, "");

  const auto commands = ctl({"commands"});
  EXPECT_EQ(commands.exit_status, 0) << commands.err;
  const auto command_lines = lines_of(commands.out);
  ASSERT_EQ(command_lines.size(), 14u) << commands.out;  // the heading and the daemon's 13
  EXPECT_EQ(words_of(command_lines[0]), Args({"USAGE", "ACCESS", "SUMMARY"}));
  EXPECT_CONTAINS(commands.out, "\nadd TARGET ");
  EXPECT_CONTAINS(commands.out, "\nreload ");

  const auto status = ctl({"status"});
  EXPECT_EQ(status.exit_status, 0) << status.err;
  EXPECT_EQ(status.out.rfind("fetchd " + std::string(kVersion) + ", pid " +
                                 std::to_string(daemon->pid()) + ", up ",
                             0),
            0u)
      << status.out;
  EXPECT_CONTAINS(status.out, "\ntargets      3: 2 up, 1 down, 0 unknown, 0 disabled\n");
  EXPECT_CONTAINS(status.out, "\nfetches      ");
  EXPECT_CONTAINS(status.out, "\nconfig       " + config_path().string() + "\n");
  EXPECT_CONTAINS(status.out, "\nlast reload  none since start\n");

  // list: an aligned table, sorted by name.
  const auto list = ctl({"list"});
  EXPECT_EQ(list.exit_status, 0) << list.err;
  EXPECT_EQ(list.out.find('\033'), std::string::npos) << "no colour on a pipe";
  const auto rows = lines_of(list.out);
  ASSERT_EQ(rows.size(), 4u) << list.out;
  EXPECT_EQ(words_of(rows[0]),
            Args({"NAME", "STATE", "CODE", "LATENCY", "CHECKED", "FAILS", "UPTIME"}));
  const auto state_column = rows[0].find("STATE");
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"closed", "down"}, {"secure", "up"}, {"web", "up"}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto& row = rows[i + 1];
    const auto& [name, state] = expected[i];
    EXPECT_EQ(row.size(), rows[0].size()) << "aligned:\n" << list.out;
    EXPECT_EQ(row.rfind(name + " ", 0), 0u) << list.out;
    EXPECT_EQ(row.substr(state_column, state.size() + 1), state + " ") << list.out;
    const auto words = words_of(row);  // CHECKED may be two words ("just now")
    ASSERT_GE(words.size(), 7u) << row;
    EXPECT_EQ(words[2], name == "closed" ? "connect" : "200") << row;
    const auto& fails = words[words.size() - 2];
    if (name == "closed")
      EXPECT_GE(std::stoi(fails), 1) << row;
    else
      EXPECT_EQ(fails, "0") << row;
    EXPECT_EQ(words.back(), name == "closed" ? "0.00%" : "100%") << row;
  }

  const auto down = ctl({"list", "--state", "down"});
  EXPECT_EQ(down.exit_status, 0) << down.err;
  ASSERT_EQ(lines_of(down.out).size(), 2u) << down.out;
  EXPECT_EQ(words_of(lines_of(down.out)[1])[0], "closed");

  const auto prod = ctl({"list", "--label", "env=prod"});
  EXPECT_EQ(prod.exit_status, 0) << prod.err;
  ASSERT_EQ(lines_of(prod.out).size(), 2u) << prod.out;
  EXPECT_EQ(words_of(lines_of(prod.out)[1])[0], "web");

  const auto none = ctl({"list", "--state", "down", "--label", "env=prod"});
  EXPECT_EQ(none.exit_status, 0) << none.err;
  EXPECT_EQ(none.out, "no targets match\n");

  // show: the lesson's header lines, timings, the state.
  const auto shown = ctl({"show", "web"});
  EXPECT_EQ(shown.exit_status, 0) << shown.err;
  const std::string& out = shown.out;
  EXPECT_EQ(out.rfind("web  " + nginx_->url("/") + "\n", 0), 0u) << out;
  EXPECT_CONTAINS(out, "\nsource       config, " + config_path().string() + "\n");
  EXPECT_CONTAINS(out, "\nlabels       env=prod\n");
  EXPECT_CONTAINS(out, "\n127.0.0.1 header > HTTP/1.1 200 OK\n");
  EXPECT_CONTAINS(out, "\n127.0.0.1 header > Server: nginx");
  EXPECT_CONTAINS(out, "\n127.0.0.1 header > Content-Length: 1024\n");
  EXPECT_CONTAINS(out, "\nlatest       ");
  EXPECT_CONTAINS(out, "): 200 OK\n127.0.0.1 header > HTTP/1.1 200 OK\n");
  EXPECT_CONTAINS(out, "\nremote       127.0.0.1:" + std::to_string(nginx_->http_port()) + "\n");
  EXPECT_CONTAINS(out, "\ntimings      dns ");
  EXPECT_CONTAINS(out, "  first byte ");
  EXPECT_CONTAINS(out, "\nbody         1024 bytes\n");
  EXPECT_CONTAINS(out, "\nstate        up since ");
  EXPECT_CONTAINS(out, "\nlatency      min ");
  EXPECT_CONTAINS(out, "\nrecent results, oldest first:\n");
  EXPECT_EQ(out.find("\ntls "), std::string::npos) << "plain HTTP has no TLS block:\n" << out;

  const auto tls = ctl({"show", "secure", "--recent", "1"});
  EXPECT_EQ(tls.exit_status, 0) << tls.err;
  EXPECT_CONTAINS(tls.out, "\n127.0.0.1 header > HTTP/1.1 200 OK\n");
  EXPECT_CONTAINS(tls.out, "  tls ");  // the TLS handshake's timing
  EXPECT_CONTAINS(tls.out, "\ntls          TLSv1.");
  EXPECT_CONTAINS(tls.out, "\n  subject    CN=fetchd test valid\n");
  EXPECT_CONTAINS(tls.out, "\n  issuer     CN=");
  EXPECT_CONTAINS(tls.out, "\n  not after  20");
  EXPECT_CONTAINS(tls.out, "\n  chain      earliest not after 20");

  const auto failing = ctl({"show", "closed"});
  EXPECT_EQ(failing.exit_status, 0) << failing.err;
  EXPECT_CONTAINS(failing.out, "\nerror        connect: ");
  EXPECT_CONTAINS(failing.out, "Connection refused");
  EXPECT_CONTAINS(failing.out, "\nstate        down since ");
  EXPECT_EQ(failing.out.find(" header > "), std::string::npos) << failing.out;

  const auto missing = ctl({"show", "nope"});
  EXPECT_EQ(missing.exit_status, 1);
  EXPECT_EQ(missing.out, "");
  EXPECT_EQ(missing.err, "fetchctl: not_found: no target named \"nope\"\n");

  // A usage error never reaches the daemon.
  const auto usage = ctl({"list", "--state", "sideways"});
  EXPECT_EQ(usage.exit_status, 2);
  EXPECT_CONTAINS(usage.err, "--state \"sideways\": expected up, down or unknown");
  EXPECT_EQ(test::stop_daemon(*daemon).exit_status, 0);
}

// ---- add and remove
// ------------------------------------------------------------------------------

TEST_F(FetchctlDaemonTest, AddListRemoveAndTheirRefusals) {
  write_config(json::array({web()}));
  auto daemon = start_daemon();

  const auto added =
      ctl({"add", "api", nginx_->url("/"), "--interval", "200ms", "--label", "team=core"});
  EXPECT_EQ(added.exit_status, 0) << added.err;
  EXPECT_EQ(added.out, "added api\n");
  EXPECT_EQ(added.err, "");
  ASSERT_TRUE(states_become({{"api", "up"}, {"web", "up"}}));
  const auto listed = ctl({"list", "--label", "team=core"});
  EXPECT_EQ(listed.exit_status, 0) << listed.err;
  const auto rows = lines_of(listed.out);
  ASSERT_EQ(rows.size(), 2u) << listed.out;
  EXPECT_EQ(words_of(rows[1])[0], "api");
  EXPECT_EQ(words_of(rows[1])[1], "up");
  const auto shown = ctl({"show", "api"});
  EXPECT_EQ(shown.exit_status, 0) << shown.err;
  EXPECT_CONTAINS(shown.out, "\nsource       runtime\n");
  EXPECT_CONTAINS(shown.out, "\nlabels       team=core\n");

  const auto again = ctl({"add", "api", nginx_->url("/"), "--interval", "1s"});
  EXPECT_EQ(again.exit_status, 1);
  EXPECT_EQ(again.out, "");
  EXPECT_EQ(again.err.rfind("fetchctl: conflict: ", 0), 0u) << again.err;
  EXPECT_CONTAINS(again.err, "api");

  // add --json: a target object exactly as in the configuration; and one over TLS, unverified.
  const auto from_json =
      ctl({"add", "--json",
           json{{"name", "json-api"}, {"url", nginx_->url("/")}, {"interval", "200ms"}}.dump()});
  EXPECT_EQ(from_json.exit_status, 0) << from_json.err;
  EXPECT_EQ(from_json.out, "added json-api\n");
  const auto insecure =
      ctl({"add", "insecure", nginx_->url("/", true), "--interval", "200ms", "--insecure"});
  EXPECT_EQ(insecure.exit_status, 0) << insecure.err;
  ASSERT_TRUE(states_become({{"json-api", "up"}, {"insecure", "up"}}));
  const auto tls = ctl({"show", "insecure"});
  EXPECT_EQ(tls.exit_status, 0) << tls.err;
  EXPECT_CONTAINS(tls.out, "\n127.0.0.1 header > HTTP/1.1 200 OK\n");
  EXPECT_CONTAINS(tls.out, "\ntls          TLSv1.");
  EXPECT_CONTAINS(tls.out, "\n  subject    CN=fetchd test valid\n");

  const auto invalid = ctl({"add", "--json", R"({"name": "bad", "url": "gopher://x/"})"});
  EXPECT_EQ(invalid.exit_status, 1);
  EXPECT_EQ(invalid.err.rfind("fetchctl: invalid_target: ", 0), 0u) << invalid.err;

  const auto status = ctl({"status"});
  EXPECT_CONTAINS(status.out,
                  "\ntargets      4: 4 up, 0 down, 0 unknown, 0 disabled (3 added at "
                  "runtime)\n");

  const auto removed = ctl({"remove", "api"});
  EXPECT_EQ(removed.exit_status, 0) << removed.err;
  EXPECT_EQ(removed.out, "removed api\n");
  const auto gone = ctl({"show", "api"});
  EXPECT_EQ(gone.exit_status, 1);
  EXPECT_CONTAINS(gone.err, "not_found");
  const auto twice = ctl({"remove", "api"});
  EXPECT_EQ(twice.exit_status, 1);
  EXPECT_EQ(twice.err, "fetchctl: not_found: no target named \"api\"\n");

  const auto configured = ctl({"remove", "web"});
  EXPECT_EQ(configured.exit_status, 1);
  EXPECT_EQ(configured.out, "");
  EXPECT_EQ(configured.err.rfind("fetchctl: config_target: ", 0), 0u) << configured.err;
  EXPECT_CONTAINS(configured.err, config_path().string());
  EXPECT_EQ(ctl({"show", "web"}).exit_status, 0);
  EXPECT_EQ(test::stop_daemon(*daemon).exit_status, 0);
}

// ---- fetch -------------------------------------------------------------------------------------

TEST_F(FetchctlDaemonTest, FetchRunsATargetNowAndWaitPrintsTheResult) {
  test::SilentSocket silent{test::SilentSocket::Protocol::tcp};
  json manual = web("manual");
  manual["interval"] = "1h";
  json manual_refused = refused("manual-closed");
  manual_refused["interval"] = "1h";
  json off = web("off");
  off["enabled"] = false;
  write_config(json::array({manual,
                            manual_refused,
                            off,
                            {{"name", "hang"}, {"url", silent.url()}, {"interval", "1h"}}}));
  auto daemon = start_daemon();

  const auto waited = ctl({"fetch", "manual", "--wait"});
  EXPECT_EQ(waited.exit_status, 0) << waited.err;
  EXPECT_EQ(waited.out.rfind("manual       ", 0), 0u) << waited.out;
  EXPECT_CONTAINS(waited.out, "\n127.0.0.1 header > HTTP/1.1 200 OK\n");
  EXPECT_CONTAINS(waited.out, "\n127.0.0.1 header > Server: nginx");
  EXPECT_CONTAINS(waited.out, "\ntimings      dns ");
  EXPECT_CONTAINS(waited.out, "\nbody         1024 bytes\n");
  // Recorded like any fetch.
  const auto shown = ctl({"show", "manual"});
  EXPECT_CONTAINS(shown.out, "\nstate        up since ");
  EXPECT_CONTAINS(shown.out, "\ntotals       1 attempts: 1 ok, 0 failed");

  // The fetch itself failing is still an answered command: its error is the output, and the exit
  // status (4) tells a script, with --json too.
  const auto failed = ctl({"fetch", "manual-closed", "--wait"});
  EXPECT_EQ(failed.exit_status, 4) << failed.err;
  EXPECT_EQ(failed.err, "");
  EXPECT_CONTAINS(failed.out, "\nerror        connect: ");
  EXPECT_CONTAINS(failed.out, "Connection refused");

  const auto failed_json = ctl({"--json", "fetch", "manual-closed", "--wait"});
  EXPECT_EQ(failed_json.exit_status, 4) << failed_json.err;
  EXPECT_CONTAINS(failed_json.out, "\"ok\":false");

  const auto started = ctl({"fetch", "manual"});
  EXPECT_EQ(started.exit_status, 0) << started.err;
  EXPECT_EQ(started.out, "fetch of manual started\n");
  EXPECT_TRUE(test::eventually([&] {
    return reply({"show", "manual"})["result"]["summary"]["totals"].value("attempts", 0) == 2;
  }));

  EXPECT_EQ(ctl({"fetch", "hang"}).exit_status, 0);
  const auto busy = ctl({"fetch", "hang", "--wait"});
  EXPECT_EQ(busy.exit_status, 1);
  EXPECT_EQ(busy.err, "fetchctl: busy: a fetch of \"hang\" is already running\n");

  const auto disabled = ctl({"fetch", "off"});
  EXPECT_EQ(disabled.exit_status, 1);
  EXPECT_EQ(disabled.err.rfind("fetchctl: disabled: ", 0), 0u) << disabled.err;

  const auto unknown = ctl({"fetch", "nope", "--wait"});
  EXPECT_EQ(unknown.exit_status, 1);
  EXPECT_EQ(unknown.out, "");
  EXPECT_EQ(unknown.err, "fetchctl: not_found: no target named \"nope\"\n");
  EXPECT_EQ(test::stop_daemon(*daemon).exit_status, 0);
}

// ---- watch and wait ----------------------------------------------------------------------------

// `later` is fetched only when asked (interval 1h) and is down until its page exists: the test
// decides when its state changes, after the watching fetchctl has connected (the daemon's debug
// line names the client's pid).
TEST_F(FetchctlDaemonTest, WatchFollowsEventsAndWaitExitsOnceTheStateIsReachedOrOneOnTimeout) {
  const auto page = nginx_->docroot() / "later.html";
  std::filesystem::remove(page);
  json later = {{"name", "later"},
                {"url", nginx_->url("/later.html")},
                {"interval", "1h"},
                {"labels", {{"env", "test"}}}};
  write_config(json::array({web(), refused(), later}), {{"log_level", "debug"}});
  auto daemon = start_daemon();
  EXPECT_EQ(ctl({"fetch", "later", "--wait"}).exit_status, 4);
  ASSERT_TRUE(states_become({{"web", "up"}, {"closed", "down"}, {"later", "down"}}));

  // Already in the state: at once, silently.
  const auto up = ctl({"wait", "web"});
  EXPECT_EQ(up.exit_status, 0) << up.err;
  EXPECT_EQ(up.out, "");
  const auto timed_out = ctl({"wait", "closed", "--timeout", "300ms"});
  EXPECT_EQ(timed_out.exit_status, 1);
  EXPECT_EQ(timed_out.err, "fetchctl: closed did not become up within 300ms\n");
  const auto missing = ctl({"wait", "nope"});
  EXPECT_EQ(missing.exit_status, 1);
  EXPECT_EQ(missing.err, "fetchctl: no target named \"nope\"\n");
  EXPECT_EQ(ctl({"wait", "closed", "--state", "up", "--bogus"}).exit_status, 2);

  // A wait and two watches in the background, then the change.
  const auto run_in_background = [&](const std::string& name, Args args) {
    Args argv = {FETCHCTL_BINARY, "--socket", socket_path().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto child = std::make_unique<test::ChildProcess>(argv, dir_.path() / (name + ".out"),
                                                      std::vector<std::string>{"NO_COLOR=1"});
    EXPECT_TRUE(daemon->wait_for_output("from pid " + std::to_string(child->pid()) + ",", 10s));
    return child;
  };
  auto waiter = run_in_background("wait", {"wait", "later", "--timeout", "20s"});
  auto watcher = run_in_background("watch", {"watch", "--label", "env=test"});
  auto json_watcher =
      run_in_background("watch-json", {"--json", "watch", "later", "--events", "state"});
  test::write_file(page, "now it answers\n");
  EXPECT_EQ(ctl({"fetch", "later", "--wait"}).exit_status, 0);
  EXPECT_EQ(waiter->wait_exit(10s), std::optional<int>(0)) << waiter->output();
  EXPECT_CONTAINS(waiter->output(), " later UP 200 ");
  EXPECT_CONTAINS(waiter->output(), "(was DOWN ");
  EXPECT_CONTAINS(waiter->output(), "expectation failed: status 404");

  // The down period is an outage, and the uptime counts both attempts (near: an hour may have
  // begun between them, and the window counts the part of the older hour it covers).
  const auto shown = reply({"show", "later"})["result"];
  EXPECT_EQ(shown["uptime"]["1h"]["attempts"], 2) << shown["uptime"];
  EXPECT_EQ(shown["uptime"]["1h"]["successes"], 1);
  EXPECT_NEAR(shown["uptime"]["1h"]["ratio"].get<double>(), 0.5, 0.001);
  ASSERT_EQ(shown["outages"].size(), 1u) << shown["outages"];
  EXPECT_TRUE(shown["outages"][0]["to"].is_string());
  EXPECT_EQ(
      shown["outages"][0]["reason"].get<std::string>().rfind("expectation failed: status 404", 0),
      0u);
  const auto listed = ctl({"list"});
  EXPECT_CONTAINS(listed.out, " UPTIME\n");
  EXPECT_CONTAINS(ctl({"show", "later"}).out, "\nuptime       1h ");

  ASSERT_TRUE(json_watcher->wait_for_output("\n", 10s));
  const auto event =
      json::parse(json_watcher->output().substr(0, json_watcher->output().find('\n')));
  EXPECT_EQ(event["event"], "state");
  EXPECT_EQ(event["target"], "later");
  EXPECT_EQ(event["state"], "up");
  EXPECT_EQ(event["from"], "down");
  EXPECT_EQ(event["status"], 200);

  // The label watch sees later's result and a reload; not web's or closed's results.
  test::write_file(page, "still answering\n");
  daemon->signal(SIGHUP);
  ASSERT_TRUE(watcher->wait_for_output(" reload: 0 added, 0 removed, 0 changed, 3 unchanged", 10s))
      << watcher->output();
  EXPECT_CONTAINS(watcher->output(), " later UP 200 ");
  EXPECT_EQ(watcher->output().find(" web "), std::string::npos) << watcher->output();
  EXPECT_EQ(watcher->output().find(" closed "), std::string::npos) << watcher->output();

  // The watches end when fetchd stops: exit status 3, and why.
  EXPECT_EQ(test::stop_daemon(*daemon).exit_status, 0);
  EXPECT_EQ(watcher->wait_exit(10s), std::optional<int>(3));
  EXPECT_CONTAINS(watcher->output(), "fetchctl: fetchd closed the connection (is it stopping?)");
  std::filesystem::remove(page);
}

// ---- reload ------------------------------------------------------------------------------------

TEST_F(FetchctlDaemonTest, ReloadPrintsWhatChangedAndABrokenFileIsRefusedWhileServing) {
  write_config(json::array({web(), refused()}));
  auto daemon = start_daemon();
  ASSERT_TRUE(states_become({{"web", "up"}, {"closed", "down"}}));

  json changed = web();
  changed["interval"] = "300ms";
  write_config(json::array({changed, web("web2")}));
  const auto reload = ctl({"reload"});
  EXPECT_EQ(reload.exit_status, 0) << reload.err;
  EXPECT_EQ(reload.out,
            "reloaded: 1 added, 1 removed, 1 changed, 0 unchanged\n"
            "  added      web2\n"
            "  removed    closed\n"
            "  changed    web\n");
  ASSERT_TRUE(states_become({{"web", "up"}, {"web2", "up"}}));
  const auto nothing = ctl({"reload"});
  EXPECT_EQ(nothing.exit_status, 0) << nothing.err;
  EXPECT_EQ(nothing.out, "reloaded: no changes (2 unchanged)\n");

  // Line 3 holds the mistake.
  test::write_file(config_path(), "{\"settings\": " + settings().dump() +
                                      ",\n \"targets\": [\n   {\"name\": \"web\", \"url\": 5}]}\n");
  const auto broken = ctl({"reload"});
  EXPECT_EQ(broken.exit_status, 1);
  EXPECT_EQ(broken.out, "");
  EXPECT_EQ(broken.err.rfind("fetchctl: config_invalid: ", 0), 0u) << broken.err;
  EXPECT_TRUE(has_line_and_column(broken.err, "\n  " + config_path().string() + ":3:"))
      << broken.err;

  // The daemon keeps serving with the configuration it had.
  const auto status = ctl({"status"});
  EXPECT_EQ(status.exit_status, 0) << status.err;
  EXPECT_CONTAINS(status.out, "\nlast reload  refused ");
  EXPECT_TRUE(has_line_and_column(status.out, "\n  " + config_path().string() + ":3:"))
      << status.out;
  EXPECT_CONTAINS(status.out, "\ntargets      2: 2 up, 0 down");
  const auto list = ctl({"list"});
  EXPECT_EQ(list.exit_status, 0) << list.err;
  EXPECT_EQ(lines_of(list.out).size(), 3u) << list.out;
  const auto before = reply({"show", "web"})["result"]["summary"]["totals"].value("attempts", 0);
  EXPECT_TRUE(test::eventually([&] {
    return reply({"show", "web"})["result"]["summary"]["totals"].value("attempts", 0) > before;
  })) << "still fetching";
  EXPECT_EQ(test::stop_daemon(*daemon).exit_status, 0);
}

// ---- --json ------------------------------------------------------------------------------------

TEST_F(FetchctlDaemonTest, JsonPrintsTheDaemonsReplyLineForEveryCommand) {
  json manual = web("manual");
  manual["interval"] = "1h";
  write_config(json::array({web(), manual}));
  auto daemon = start_daemon();
  ASSERT_TRUE(states_become({{"web", "up"}}));

  const std::vector<Args> commands = {
      {"version"},
      {"commands"},
      {"status"},
      {"list"},
      {"list", "--state", "up", "--label", "env=prod"},
      {"show", "web", "--recent", "2"},
      {"fetch", "manual", "--wait"},
      {"add", "extra", nginx_->url("/"), "--interval", "1s"},
      {"remove", "extra"},
      {"reload"},
      {"silence", "web", "--for", "1h"},
      {"silences"},
      {"unsilence", "1"},
  };
  for (const auto& args : commands) {
    Args full = {"--json"};
    full.insert(full.end(), args.begin(), args.end());
    const auto run = ctl(full);
    EXPECT_EQ(run.exit_status, 0) << args[0] << ": " << run.err;
    EXPECT_EQ(run.err, "");
    ASSERT_FALSE(run.out.empty()) << args[0];
    EXPECT_EQ(run.out.find('\n'), run.out.size() - 1) << "one line: " << run.out;
    const auto parsed = json::parse(run.out, nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(parsed.is_object()) << run.out;
    EXPECT_EQ(parsed.value("ok", false), true) << run.out;
    EXPECT_EQ(parsed.value("id", 0), 1) << run.out;
    EXPECT_TRUE(parsed.contains("result")) << run.out;
  }
  EXPECT_EQ(reply({"version"})["result"], json({{"version", kVersion}, {"protocol", 1}}));
  EXPECT_EQ(reply({"list", "--state", "up", "--label", "env=prod"})["result"]["targets"].size(),
            2u);
  EXPECT_EQ(reply({"fetch", "manual", "--wait"})["result"]["result"]["fetch"]["status"], 200);

  // A refusal is the daemon's error reply, on stdout, and exit 1.
  const auto refused = ctl({"--json", "show", "nope"});
  EXPECT_EQ(refused.exit_status, 1);
  EXPECT_EQ(refused.err, "");
  const auto parsed = json::parse(refused.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_EQ(parsed.value("ok", true), false) << refused.out;
  EXPECT_EQ(parsed["error"]["code"], "not_found") << refused.out;
  EXPECT_EQ(test::stop_daemon(*daemon).exit_status, 0);
}

// ---- no daemon ---------------------------------------------------------------------------------

TEST_F(FetchctlDaemonTest, NoDaemonIsExitThreeWithTheSocketPathAndAdvice) {
  write_config(json::array({web()}));
  auto daemon = start_daemon();
  EXPECT_EQ(ctl({"status"}).exit_status, 0);

  // Killed: the socket file stays, nothing answers on it.
  daemon->signal(SIGKILL);
  EXPECT_EQ(daemon->wait_exit(5s), 128 + SIGKILL);
  ASSERT_TRUE(std::filesystem::exists(std::filesystem::symlink_status(socket_path())));
  const auto stale = ctl({"status"});
  EXPECT_EQ(stale.exit_status, 3);
  EXPECT_EQ(stale.out, "");
  EXPECT_EQ(stale.err, "fetchctl: connection refused at " + socket_path().string() +
                           ": a stale socket, fetchd is not running (systemctl start fetchd)\n");

  // Started again (it replaces the stale file), then stopped cleanly: the socket is gone.
  daemon = start_daemon();
  EXPECT_EQ(ctl({"status"}).exit_status, 0);
  EXPECT_EQ(test::stop_daemon(*daemon).exit_status, 0);
  ASSERT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(socket_path())));
  const std::string missing = "fetchctl: no fetchd control socket at " + socket_path().string() +
                              " — is fetchd running? (systemctl status fetchd)\n";
  for (const Args& args : std::vector<Args>{{"status"}, {"list"}, {"show", "web"}, {"reload"}}) {
    const auto run = ctl(args);
    EXPECT_EQ(run.exit_status, 3) << args[0];
    EXPECT_EQ(run.out, "") << args[0];
    EXPECT_EQ(run.err, missing) << args[0];
  }
  // The socket from the environment, as scripts set it.
  const auto from_env = test::run_fetchctl({"--json", "status"},
                                           {.env = {{"FETCHD_SOCKET", socket_path().string()}}});
  EXPECT_EQ(from_env.exit_status, 3);
  EXPECT_EQ(from_env.out, "");
  EXPECT_EQ(from_env.err, missing);
  // version still says fetchctl's own.
  const auto version = ctl({"version"});
  EXPECT_EQ(version.exit_status, 3);
  EXPECT_EQ(version.out, "fetchctl " + std::string(kVersion) + "\n");
  EXPECT_EQ(version.err, missing);
}

// ---- restart -----------------------------------------------------------------------------------

TEST_F(FetchctlDaemonTest, AnAddedTargetSurvivesADaemonRestart) {
  write_config(json::array({web()}));
  auto daemon = start_daemon();
  const auto added = ctl({"add", "api", nginx_->url("/"), "--interval", "200ms", "--label", "k=v"});
  ASSERT_EQ(added.exit_status, 0) << added.err;
  ASSERT_TRUE(states_become({{"api", "up"}}));
  EXPECT_EQ(test::stop_daemon(*daemon).exit_status, 0);
  EXPECT_EQ(ctl({"show", "api"}).exit_status, 3);

  daemon = start_daemon();
  const auto shown = ctl({"show", "api"});
  EXPECT_EQ(shown.exit_status, 0) << shown.err;
  EXPECT_EQ(shown.out.rfind("api  " + nginx_->url("/") + "\n", 0), 0u) << shown.out;
  EXPECT_CONTAINS(shown.out, "\nsource       runtime\n");
  EXPECT_CONTAINS(shown.out, "\nlabels       k=v\n");
  ASSERT_TRUE(states_become({{"api", "up"}, {"web", "up"}}));
  const auto status = ctl({"status"});
  EXPECT_CONTAINS(status.out,
                  "\ntargets      2: 2 up, 0 down, 0 unknown, 0 disabled (1 added at "
                  "runtime)\n");
  // Still a runtime target: it can be removed, and stays removed.
  EXPECT_EQ(ctl({"remove", "api"}).exit_status, 0);
  EXPECT_EQ(test::stop_daemon(*daemon).exit_status, 0);
  daemon = start_daemon();
  const auto after = ctl({"show", "api"});
  EXPECT_EQ(after.exit_status, 1);
  EXPECT_CONTAINS(after.err, "not_found");
  EXPECT_EQ(test::stop_daemon(*daemon).exit_status, 0);
}

// ---- silences ----------------------------------------------------------------------------------

TEST_F(FetchctlDaemonTest, SilenceShowsInShowListAndSilencesSurvivesARestartAndIsLifted) {
  write_config(json::array({web(), refused()}));
  auto daemon = start_daemon();
  ASSERT_TRUE(states_become({{"web", "up"}, {"closed", "down"}}));

  const auto silenced = ctl({"silence", "closed", "--for", "2h", "--comment", "port closed"});
  EXPECT_EQ(silenced.exit_status, 0) << silenced.err;
  EXPECT_EQ(silenced.out.rfind("silence 1: closed until 20", 0), 0u) << silenced.out;
  EXPECT_CONTAINS(silenced.out, " (in 1h59m");  // 2h from when it was made, rounded down
  const auto by_label = ctl({"silence", "--label", "env=prod", "--for", "30m"});
  EXPECT_EQ(by_label.exit_status, 0) << by_label.err;
  EXPECT_CONTAINS(by_label.out, "silence 2: env=prod until ");
  EXPECT_CONTAINS(by_label.out, "\n  covers 1 target now\n");

  // A name that is no target is refused; labels nothing has are kept.
  const auto typo = ctl({"silence", "clsoed", "--for", "2h"});
  EXPECT_EQ(typo.exit_status, 1);
  EXPECT_EQ(typo.err,
            "fetchctl: not_found: no target named \"clsoed\" (to silence targets "
            "before they exist, use labels)\n");
  const auto later = ctl({"silence", "--label", "env=later", "--for", "1h"});
  EXPECT_EQ(later.exit_status, 0) << later.err;
  EXPECT_CONTAINS(later.out, "\n  no target has these labels now");
  // Usage errors never reach the daemon.
  const auto short_one = ctl({"silence", "closed", "--for", "30s"});
  EXPECT_EQ(short_one.exit_status, 2);
  EXPECT_CONTAINS(short_one.err, "a silence lasts from 1m to 8760h");

  const auto listed = ctl({"silences"});
  EXPECT_EQ(listed.exit_status, 0) << listed.err;
  const auto rows = lines_of(listed.out);
  ASSERT_EQ(rows.size(), 4u) << listed.out;
  EXPECT_EQ(words_of(rows[0]), Args({"ID", "COVERS", "UNTIL", "LEFT", "COMMENT"}));
  EXPECT_EQ(words_of(rows[1])[0], "1");
  EXPECT_EQ(words_of(rows[1])[1], "closed");
  EXPECT_CONTAINS(rows[1], "  port closed");
  EXPECT_EQ(words_of(rows[2])[1], "env=prod");
  EXPECT_EQ(words_of(rows[3])[1], "env=later");

  const auto shown = ctl({"show", "closed"});
  EXPECT_EQ(shown.exit_status, 0) << shown.err;
  EXPECT_CONTAINS(shown.out, "\nsilenced     until 20");
  EXPECT_CONTAINS(shown.out, " by silence 1 (port closed)\n");
  const auto list = ctl({"list"});
  const auto list_rows = lines_of(list.out);
  ASSERT_EQ(list_rows.size(), 3u) << list.out;
  EXPECT_EQ(words_of(list_rows[0]).back(), "SILENCED");
  const auto silenced_column = list_rows[0].find("SILENCED");
  EXPECT_EQ(list_rows[1].substr(silenced_column), "#1, 1h59m left") << list.out;  // closed
  EXPECT_EQ(list_rows[2].substr(silenced_column, 5), "#2, 2") << list.out;  // web, by its label
  // Fetching and recording go on: the silenced target is still fetched.
  const auto fetched = reply({"show", "closed"})["result"]["summary"]["totals"]["attempts"];
  EXPECT_TRUE(test::eventually([&] {
    return reply({"show", "closed"})["result"]["summary"]["totals"]["attempts"] > fetched;
  }));

  // Across a restart: the same silences, and ids go on from where they were.
  const auto before = reply({"silences"})["result"];
  EXPECT_EQ(test::stop_daemon(*daemon).exit_status, 0);
  daemon = start_daemon();
  EXPECT_EQ(reply({"silences"})["result"], before);
  EXPECT_EQ(reply({"show", "closed"})["result"]["silenced"]["id"], 1);

  const auto lifted = ctl({"unsilence", "1"});
  EXPECT_EQ(lifted.exit_status, 0) << lifted.err;
  EXPECT_EQ(lifted.out, "lifted silence 1 (closed)\n");
  const auto again = ctl({"unsilence", "1"});
  EXPECT_EQ(again.exit_status, 1);
  EXPECT_EQ(again.err.rfind("fetchctl: not_found: no silence 1", 0), 0u) << again.err;
  EXPECT_EQ(ctl({"show", "closed"}).out.find("\nsilenced "), std::string::npos);
  EXPECT_EQ(reply({"silence", "closed", "--for", "1m"})["result"]["silence"]["id"], 4);
  EXPECT_EQ(test::stop_daemon(*daemon).exit_status, 0);
  const auto log = daemon->output();  // of every start: the file is appended to
  EXPECT_CONTAINS(log, "silence 1 (name \"closed\") until ");
  EXPECT_CONTAINS(log, "silence 1 (name \"closed\") lifted");
}

// Silences expire by themselves: one the file says ended while fetchd was stopped is dropped at
// start, and one ending a second after the start is removed then (the daemon's timer, polled for
// with a deadline). The file is written here because a silence asked for lasts a minute at least.
TEST_F(FetchctlDaemonTest, SilencesExpireByThemselves) {
  write_config(json::array({web(), refused()}));
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const auto silence = [&](int id, const char* name, std::int64_t until_ms) {
    return json{{"id", id},
                {"name", name},
                {"labels", json::object()},
                {"created_ms", now_ms - 3'600'000},
                {"until_ms", until_ms},
                {"comment", ""}};
  };
  std::filesystem::create_directories(state_dir());
  test::write_file(state_dir() / "silences.json",
                   json{{"version", 1},
                        {"next_id", 10},
                        {"silences",
                         {silence(7, "web", now_ms - 1000), silence(8, "closed", now_ms + 1500),
                          silence(9, "web", now_ms + 3'600'000)}}}
                       .dump());
  auto daemon = start_daemon();
  const auto ids = [&] {
    std::vector<int> out;
    auto listed = reply({"silences"});  // kept: the loop reads into it
    for (const auto& item : listed["result"]["silences"])
      out.push_back(item.value("id", 0));
    return out;
  };
  const auto first = ids();
  EXPECT_TRUE(first == std::vector<int>({8, 9}) || first == std::vector<int>({9}))
      << first.size() << "\n"
      << daemon->output();
  EXPECT_TRUE(test::eventually([&] { return ids() == std::vector<int>({9}); }, 10s));
  EXPECT_TRUE(reply({"show", "closed"})["result"]["silenced"].is_null());
  EXPECT_EQ(test::stop_daemon(*daemon).exit_status, 0);
  const auto log = daemon->output();  // of every start: the file is appended to
  EXPECT_CONTAINS(log, "silence 7 (name \"web\") expired while fetchd was stopped");
  EXPECT_CONTAINS(log, "silence 8 (name \"closed\") expired\n");

  // The expiry was saved: 8 is not back after a restart; a damaged file refuses the start.
  daemon = start_daemon();
  EXPECT_EQ(ids(), std::vector<int>({9}));
  EXPECT_EQ(test::stop_daemon(*daemon).exit_status, 0);
}

// ---- a second uid ------------------------------------------------------------------------------

TEST_F(FetchctlDaemonTest, ASecondUidMayReadButNotChange) {
  if (::geteuid() != 0)
    GTEST_SKIP() << "needs root to run fetchctl as nobody (setpriv --reuid=nobody)";
  std::string setpriv;
  for (const char* path : {"/usr/bin/setpriv", "/bin/setpriv"}) {
    if (::access(path, X_OK) == 0) {
      setpriv = path;
      break;
    }
  }
  if (setpriv.empty())
    GTEST_SKIP() << "setpriv (util-linux) is not installed";
  const FetchctlOptions as_nobody{
      .wrapper = {setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"}};

  // nobody must reach the socket: a world-searchable directory, a world-writable socket.
  test::TempDir open_dir("fetchctl-daemon-open");
  std::filesystem::permissions(open_dir.path(), std::filesystem::perms(0755));
  socket_dir_ = open_dir.path();
  write_config(json::array({web()}), {{"socket_mode", "0666"}});
  auto daemon = start_daemon();
  ASSERT_TRUE(states_become({{"web", "up"}}));

  const auto status = ctl({"status"}, as_nobody);
  EXPECT_EQ(status.exit_status, 0) << status.err;
  EXPECT_CONTAINS(status.out, "\ntargets      1: 1 up");
  EXPECT_EQ(ctl({"list"}, as_nobody).exit_status, 0);
  const auto shown = ctl({"show", "web"}, as_nobody);
  EXPECT_EQ(shown.exit_status, 0) << shown.err;
  EXPECT_CONTAINS(shown.out, "\n127.0.0.1 header > HTTP/1.1 200 OK\n");

  const auto add = ctl({"add", "api", nginx_->url("/"), "--interval", "1s"}, as_nobody);
  EXPECT_EQ(add.exit_status, 1);
  EXPECT_EQ(add.out, "");
  EXPECT_EQ(add.err.rfind("fetchctl: permission_denied: \"add\" changes the daemon", 0), 0u)
      << add.err;
  for (const Args& args : std::vector<Args>{{"remove", "web"},
                                            {"fetch", "web"},
                                            {"reload"},
                                            {"silence", "web", "--for", "1h"},
                                            {"unsilence", "1"}}) {
    const auto run = ctl(args, as_nobody);
    EXPECT_EQ(run.exit_status, 1) << args[0];
    EXPECT_EQ(run.err.rfind("fetchctl: permission_denied: ", 0), 0u) << run.err;
  }
  EXPECT_EQ(ctl({"show", "api"}).exit_status, 1) << "nothing was added";
  // root may.
  EXPECT_EQ(ctl({"add", "api", nginx_->url("/"), "--interval", "1s"}).exit_status, 0);
  EXPECT_EQ(test::stop_daemon(*daemon).exit_status, 0);

  // With the socket closed to others (0660), nobody cannot connect at all: exit 3, and why.
  write_config(json::array({web()}), {{"socket_mode", "0660"}});
  daemon = start_daemon();
  const auto denied = ctl({"status"}, as_nobody);
  EXPECT_EQ(denied.exit_status, 3);
  EXPECT_EQ(denied.err.rfind("fetchctl: permission denied connecting to " + socket_path().string() +
                                 " (socket mode 0660, group ",
                             0),
            0u)
      << denied.err;
  // The fix it names: join the socket's group, unless that group is root (the daemon's, here
  // when the tests run as root), which nobody should join for this.
  EXPECT_CONTAINS(denied.err, ::getgid() == 0 ? "set settings.socket_group" : "usermod -aG ");
  EXPECT_EQ(test::stop_daemon(*daemon).exit_status, 0);
}

}  // namespace
}  // namespace fetchd
