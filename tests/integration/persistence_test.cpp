// Results across restarts, with the real daemon against a real nginx: a clean restart keeps each
// target's state and since, totals, history and uptime, and logs no state change again; the
// reload rules apply to what changed while it was stopped; and `kill -9` while 1,000 targets
// record results loses at most the flush interval, counted from nginx's own access log.

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <random>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/fetchd_process.h"
#include "support/nginx.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace fetchd {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// The control protocol over one connection, requests written 50 at a time and their replies read
// (the daemon closes a connection that lets too many reply bytes pile up unread).
std::vector<json> ask(const std::filesystem::path& socket_path, const std::vector<json>& requests) {
  std::vector<json> replies;
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  socket_path.string().copy(address.sun_path, sizeof(address.sun_path) - 1);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return replies;
  }
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string buffer;
  char chunk[65536];
  for (std::size_t sent = 0; sent < requests.size() && replies.size() == sent;) {
    std::string out;
    for (const auto end = std::min(sent + 50, requests.size()); sent < end; ++sent)
      out += requests[sent].dump() + "\n";
    if (::write(fd, out.data(), out.size()) != static_cast<ssize_t>(out.size()))
      break;
    while (replies.size() < sent) {
      const auto newline = buffer.find('\n');
      if (newline != std::string::npos) {
        replies.push_back(json::parse(buffer.substr(0, newline), nullptr, false));
        buffer.erase(0, newline + 1);
        continue;
      }
      const auto got = ::read(fd, chunk, sizeof(chunk));
      if (got <= 0)
        break;
      buffer.append(chunk, static_cast<std::size_t>(got));
    }
  }
  ::close(fd);
  return replies;
}

json show_request(const std::string& name, int recent = 100) {
  return {{"cmd", "show"}, {"args", {{"name", name}, {"recent", recent}}}};
}

class PersistenceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { nginx_ = new test::NginxServer(); }
  static void TearDownTestSuite() {
    delete nginx_;
    nginx_ = nullptr;
  }

  std::filesystem::path socket() const { return dir_.path() / "fetchd.sock"; }
  std::filesystem::path log() const { return dir_.path() / "daemon.log"; }

  void write_config(const json& targets, const std::string& interval,
                    const std::string& flush = "1s") const {
    const json config = {{"settings",
                          {{"state_dir", (dir_.path() / "state").string()},
                           {"control_socket", socket().string()},
                           {"results_flush", flush}}},
                         {"defaults", {{"interval", interval}, {"timeout", "2s"}}},
                         {"targets", targets}};
    test::write_file(dir_.path() / "fetchd.json", config.dump());
  }

  // This start's own lines of the log all starts share.
  std::string run_output(const test::ChildProcess& daemon) const {
    return daemon.output().substr(log_offset_);
  }

  std::unique_ptr<test::ChildProcess> start() {
    std::error_code error;
    const auto size = std::filesystem::file_size(log(), error);
    log_offset_ = error ? 0 : static_cast<std::size_t>(size);
    return test::start_daemon({FETCHD_BINARY, "--config", (dir_.path() / "fetchd.json").string()},
                              log(), socket());
  }

  json show(const std::string& name) const {
    const auto replies = ask(socket(), {show_request(name)});
    return replies.empty() ? json() : replies[0];
  }

  static test::NginxServer* nginx_;
  test::TempDir dir_{"fetchd-persistence"};
  std::size_t log_offset_ = 0;
};

test::NginxServer* PersistenceTest::nginx_ = nullptr;

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
    ++count;
  return count;
}

TEST_F(PersistenceTest, ARestartKeepsStateSinceTotalsHistoryAndUptimeAndLogsNoChangeAgain) {
  const json web = {{"name", "web"}, {"url", nginx_->url("/")}};
  const json closed = {{"name", "closed"}, {"url", "http://127.0.0.1:1/"}};
  write_config(json::array({web, closed}), "100ms");
  auto daemon = start();
  ASSERT_TRUE(test::eventually(
      [&] {
        const auto a = show("web");
        const auto b = show("closed");
        return a.value("ok", false) && b.value("ok", false) &&
               a["result"]["summary"]["totals"]["attempts"].get<int>() >= 5 &&
               b["result"]["summary"]["totals"]["attempts"].get<int>() >= 5;
      },
      10s))
      << daemon->output();
  const json web_before = show("web")["result"];
  const json closed_before = show("closed")["result"];
  ASSERT_EQ(test::stop_daemon(*daemon).exit_status, 0) << daemon->output();
  const std::string first_run = run_output(*daemon);
  ASSERT_EQ(count_of(first_run, "closed is DOWN"), 1u) << first_run;
  ASSERT_EQ(count_of(first_run, "web is UP"), 1u) << first_run;

  // What the first run ended with (the store is whole after a clean stop), read back at once.
  daemon = start();
  const json web_after = show("web")["result"];
  const json closed_after = show("closed")["result"];
  EXPECT_NE(run_output(*daemon).find("results restored for 2 targets"), std::string::npos)
      << daemon->output();

  EXPECT_EQ(closed_after["summary"]["state"], "down");
  EXPECT_EQ(web_after["summary"]["state"], "up");
  // Since when: the moment of the first run's change, not this start.
  EXPECT_EQ(closed_after["summary"]["state_since"], closed_before["summary"]["state_since"]);
  EXPECT_EQ(web_after["summary"]["state_since"], web_before["summary"]["state_since"]);
  // What the first run recorded after the reads above (the last fetches, cancelled at the stop)
  // comes on top.
  const auto before_attempts = web_before["summary"]["totals"]["attempts"].get<int>();
  const auto after_attempts = web_after["summary"]["totals"]["attempts"].get<int>();
  EXPECT_GE(after_attempts, before_attempts);
  EXPECT_LE(after_attempts, before_attempts + 3);
  EXPECT_EQ(web_after["summary"]["totals"]["successes"].get<int>() +
                web_after["summary"]["totals"]["cancelled"].get<int>(),
            after_attempts);
  EXPECT_EQ(web_after["summary"]["history"]["size"], after_attempts);
  EXPECT_EQ(web_after["uptime"]["1h"]["attempts"],
            web_after["summary"]["totals"]["successes"].get<int>());
  // The history is the first run's, entry for entry, then what came after.
  const json& recent_before = web_before["recent"];
  ASSERT_GE(web_after["recent"].size(), recent_before.size());
  for (std::size_t i = 0; i < recent_before.size(); ++i)
    EXPECT_EQ(web_after["recent"][i], recent_before[i]) << i;
  EXPECT_EQ(closed_after["outages"].size(), 1u) << closed_after.dump();
  EXPECT_EQ(closed_after["latest_failure"]["reason"].get<std::string>().substr(0, 10),
            "connect to");
  ASSERT_TRUE(test::eventually(
      [&] {
        return show("web")["result"]["summary"]["totals"]["attempts"] >
               web_after["summary"]["totals"]["attempts"];
      },
      10s));
  ASSERT_EQ(test::stop_daemon(*daemon).exit_status, 0);
  const std::string second_run = run_output(*daemon);
  // The states came back as they were: nothing changed, nothing is logged again.
  EXPECT_EQ(count_of(second_run, "closed is DOWN"), 0u) << second_run;
  EXPECT_EQ(count_of(second_run, "web is UP"), 0u) << second_run;

  // While stopped, closed's URL changed and web was removed: closed starts over, web is dropped
  // from the store (it does not come back with its old results when added again later).
  const json moved = {{"name", "closed"}, {"url", "http://127.0.0.1:2/"}};
  write_config(json::array({moved}), "100ms");
  daemon = start();
  EXPECT_TRUE(daemon->wait_for_output("closed is DOWN", 10s, 2)) << daemon->output();
  EXPECT_NE(run_output(*daemon).find("results restored for 0 targets"), std::string::npos)
      << daemon->output();
  EXPECT_NE(run_output(*daemon).find("dropped those of 1 target no longer configured"),
            std::string::npos);
  ASSERT_EQ(test::stop_daemon(*daemon).exit_status, 0);
  write_config(json::array({moved, web}), "100ms");
  daemon = start();
  // web starts over: from unknown, so its first success is a change again.
  EXPECT_TRUE(daemon->wait_for_output("web is UP", 10s, 2)) << daemon->output();
  EXPECT_NE(run_output(*daemon).find("results restored for 1 target from"), std::string::npos)
      << daemon->output();
  ASSERT_EQ(test::stop_daemon(*daemon).exit_status, 0);
}

// nginx's access log: per target (the query "?t=NAME"), the times its requests were answered.
std::map<std::string, std::vector<double>> served(const std::filesystem::path& log) {
  std::map<std::string, std::vector<double>> times;
  std::ifstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    const auto space = line.find(' ');
    const auto query = line.find("?t=");
    if (space == std::string::npos || query == std::string::npos)
      continue;
    times[line.substr(query + 3)].push_back(std::stod(line.substr(0, space)));
  }
  return times;
}

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

TEST_F(PersistenceTest, KillDashNineLosesAtMostTheFlushIntervalOf1000Targets) {
  constexpr int kTargets = 1000;
  constexpr int kKills = 4;
  const auto flush = 300ms;
  // The writer's own lateness on a loaded CI machine (ASan, two cores shared with other tests).
  const double slack_s = 0.5;
  json targets = json::array();
  std::vector<std::string> names;
  for (int i = 0; i < kTargets; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "t%04d", i);
    names.emplace_back(name);
    targets.push_back({{"name", name}, {"url", nginx_->url(std::string("/?t=") + name)}});
  }
  write_config(targets, "1s", "300ms");
  std::vector<json> requests;
  for (const auto& name : names)
    requests.push_back(show_request(name, 0));

  std::mt19937 random(12345);
  std::uniform_int_distribution<int> run_ms(1200, 2500);
  std::vector<double> kills;
  for (int round = 0; round <= kKills; ++round) {
    auto daemon = start();
    const auto replies = ask(socket(), requests);
    ASSERT_EQ(replies.size(), names.size()) << daemon->output_tail(40);
    if (round > 0) {
      // Restored: every request nginx answered but in the flush interval (and slack) before
      // each kill so far, and none it never answered.
      const auto answered = served(nginx_->access_log());
      const double window = std::chrono::duration<double>(flush).count() + slack_s;
      const auto may_be_lost = [&](double t) {
        return t >= kills.back() || std::any_of(kills.begin(), kills.end(), [&](double kill) {
                 return t > kill - window && t <= kill;
               });
      };
      std::size_t short_targets = 0;
      std::size_t restored_total = 0;
      std::vector<std::size_t> kept(names.size());
      for (std::size_t i = 0; i < names.size(); ++i) {
        const json& summary = replies[i]["result"]["summary"];
        const auto attempts = summary["totals"]["attempts"].get<std::size_t>();
        restored_total += attempts;
        const auto& times =
            answered.count(names[i]) ? answered.at(names[i]) : std::vector<double>{};
        const auto at_least = static_cast<std::size_t>(
            std::count_if(times.begin(), times.end(), [&](double t) { return !may_be_lost(t); }));
        // Only this round's start may have fetched since the kill: before reading, at most one.
        EXPECT_LE(attempts, times.size()) << names[i];
        if (attempts < at_least)
          ++short_targets;
        kept[i] = at_least;
        EXPECT_EQ(summary["totals"]["successes"], attempts) << names[i];
        EXPECT_EQ(summary["history"]["size"], std::min<std::size_t>(attempts, 100)) << names[i];
      }
      EXPECT_EQ(short_targets, 0u) << "round " << round << ": targets missing results older than "
                                   << "the flush interval before the kill";
      EXPECT_GT(restored_total, 0u) << round;
      // A target with a result kept from before logs no change to UP again (one whose every
      // result fell in the flush interval starts from unknown, and rightly logs it).
      std::size_t again = 0;
      const std::string this_run = run_output(*daemon);
      for (std::size_t i = 0; i < names.size(); ++i) {
        if (kept[i] > 0)
          again += this_run.find(names[i] + " is UP") == std::string::npos ? 0 : 1;
      }
      EXPECT_EQ(again, 0u) << daemon->output_tail(20);
      if (round == kKills) {
        ASSERT_EQ(test::stop_daemon(*daemon).exit_status, 0);
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(run_ms(random)));
    daemon->signal(SIGKILL);
    kills.push_back(seconds_now());
    ASSERT_TRUE(daemon->wait_exit(5000ms));
  }
}

}  // namespace
}  // namespace fetchd
