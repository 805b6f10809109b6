#include "alerts/notifier.h"

#include <fstream>
#include <functional>
#include <sstream>

#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include "dns/resolver.h"
#include "support/temp_dir.h"

namespace fetchd::alerts {
namespace {

using namespace std::chrono_literals;
using WallClock = std::chrono::system_clock;

// The notifier with command routes that append "KIND NAME STATE" to a file each, a registry the
// test records attempts into, and a clock the test moves: holds, storms, repeats and back-offs are
// stepped over rather than waited for (the notifier still ticks on the loop's real timers).
class NotifierTest : public ::testing::Test {
 protected:
  NotifierTest() : registry_(feed_, 10) {}
  ~NotifierTest() override {
    if (notifier_)
      notifier_->stop();
  }

  config::CommandConfig command(const std::string& name, const std::string& script) {
    config::CommandConfig route;
    route.route.name = name;
    route.argv = {"/bin/sh", "-c", script, (dir_.path() / name).string()};
    return route;
  }
  config::CommandConfig recorder(const std::string& name) {
    return command(name, R"(echo "$FETCHD_KIND $FETCHD_NAME $FETCHD_STATE" >> "$0")");
  }

  void start(NotifierMemory memory = {}) {
    notifier_ =
        std::make_shared<Notifier>(io_.get_executor(), fetcher_, registry_, silences_, config_,
                                   dir_.path(), std::move(memory), [this] { return now_; });
    notifier_->start(feed_);
    run_for(10ms);
  }
  void restart() {
    notifier_->stop();
    auto memory = load_notifier_memory(dir_.path());
    ASSERT_TRUE(memory) << memory.error().message;
    start(std::move(memory).value());
  }

  void add(const std::string& name, std::map<std::string, std::string> labels = {}) {
    auto target = std::make_shared<config::TargetConfig>();
    target->name = name;
    target->fetch.url = http::parse_url("http://127.0.0.1:9/" + name).value();
    target->labels = std::move(labels);
    registry_.put(std::move(target), nullptr, registry::Keep::nothing, now_);
  }
  void record(const std::string& name, bool ok) {
    http::FetchResult result;
    result.started = now_;
    http::Hop hop;
    hop.url = http::parse_url("http://127.0.0.1:9/").value();
    if (ok) {
      hop.status = 200;
      hop.reason = "OK";
    } else {
      hop.error = {http::ErrorClass::connect, http::Phase::connect,
                   "connect to 127.0.0.1:9: Connection refused"};
    }
    result.hops.push_back(std::move(hop));
    registry_.record(name, result);
  }

  void run_for(std::chrono::milliseconds duration) {
    io_.restart();
    io_.run_for(duration);
  }
  // Steps the clock past the hold, then runs the loop until `route` has `lines` lines (or 5 s).
  std::vector<std::string> lines_after(const std::string& route, std::size_t lines,
                                       std::chrono::seconds step = kHold + 1s) {
    now_ += step;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (read(route).size() < lines && std::chrono::steady_clock::now() < deadline)
      run_for(20ms);
    return read(route);
  }
  // Runs the loop until `done` holds (or 5 s): a command's end is not bound to a tick.
  bool run_until(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done() && std::chrono::steady_clock::now() < deadline)
      run_for(20ms);
    return done();
  }
  // Runs the loop for a while that would have delivered anything due (ticks are 250 ms).
  std::vector<std::string> settled(const std::string& route) {
    run_for(700ms);
    return read(route);
  }
  std::vector<std::string> read(const std::string& route) const {
    std::ifstream in(dir_.path() / route);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
      lines.push_back(line);
    return lines;
  }
  RouteStats stats_of(const std::string& key) const {
    for (auto& stats : notifier_->stats()) {
      if (stats.route == key)
        return stats;
    }
    return {};
  }

  test::TempDir dir_{"fetchd-notifier"};
  asio::io_context io_;
  dns::Resolver resolver_{io_.get_executor()};
  http::Fetcher fetcher_{resolver_};
  results::Feed feed_;
  registry::Registry registry_;
  Silences silences_;
  config::AlertsConfig config_;
  WallClock::time_point now_ = WallClock::now();
  std::shared_ptr<Notifier> notifier_;
};

TEST_F(NotifierTest, DownOnceUpOnlyAfterDownAndRemovedWhileDown) {
  config_.commands = {recorder("log")};
  add("a");
  add("b");
  start();
  record("a", true);
  record("b", true);
  now_ += kHold + 1s;
  EXPECT_TRUE(settled("log").empty()) << "unknown to UP is not a notification";
  record("a", false);
  record("a", false);  // still DOWN: no second notification
  EXPECT_EQ(lines_after("log", 1), (std::vector<std::string>{"change a DOWN"}));
  record("a", true);
  EXPECT_EQ(lines_after("log", 2), (std::vector<std::string>{"change a DOWN", "change a UP"}));
  record("b", false);
  EXPECT_EQ(lines_after("log", 3).back(), "change b DOWN");
  registry_.remove("b");
  EXPECT_EQ(lines_after("log", 4).back(), "change b REMOVED");
  EXPECT_EQ(stats_of("command:log").sent, 4u);
}

TEST_F(NotifierTest, MatchSilencesAndRepeatInterval) {
  auto core = recorder("core");
  core.route.match.labels = {{"team", "core"}};
  core.route.repeat_interval = 1h;
  config_.commands = {core};
  add("web", {{"team", "core"}});
  add("db", {{"team", "data"}});
  add("quiet", {{"team", "core"}});
  start();
  Silence silence;
  silence.name = "quiet";
  silence.created = now_;
  silence.until = now_ + 2h;
  ASSERT_TRUE(silences_.add(silence));
  for (const auto* name : {"web", "db", "quiet"})
    record(name, false);
  EXPECT_EQ(lines_after("core", 1), (std::vector<std::string>{"change web DOWN"}));
  EXPECT_EQ(settled("core").size(), 1u) << "db does not match, quiet is silenced";
  // An hour later, still DOWN: repeated; the silenced one is not.
  EXPECT_EQ(lines_after("core", 2, 1h).back(), "repeat web DOWN");
  // The silence ends: quiet, still DOWN, is told now.
  silences_.remove(1);
  notifier_->silence_lifted();
  EXPECT_EQ(lines_after("core", 3, 0s).back(), "change quiet DOWN");
}

TEST_F(NotifierTest, AStormIsOneSummaryAndOneMoreWhenItIsOver) {
  config_.storm_threshold = 3;
  config_.commands = {recorder("log")};
  for (int i = 0; i < 6; ++i)
    add("t" + std::to_string(i));
  start();
  for (int i = 0; i < 6; ++i)
    record("t" + std::to_string(i), true);
  run_for(10ms);
  for (int i = 0; i < 6; ++i)
    record("t" + std::to_string(i), false);
  EXPECT_EQ(lines_after("log", 1), (std::vector<std::string>{"storm  STORM"}));
  record("t0", true);  // within the storm: folded into it
  EXPECT_EQ(settled("log").size(), 1u);
  // A minute later the storm is over: a closing summary; then changes are told one by one.
  EXPECT_EQ(lines_after("log", 2, 61s).size(), 2u);
  record("t1", true);
  EXPECT_EQ(lines_after("log", 3).back(), "change t1 UP");
}

TEST_F(NotifierTest, FailuresAreRetriedWithBackOffUntilMaxAge) {
  // Fails until the file "ok" exists, then records.
  auto flaky = command("flaky", R"(test -e "$0.ok" && echo "$FETCHD_NAME" >> "$0")");
  flaky.route.max_age = 10min;
  auto never = command("never", "exit 1");
  never.route.max_age = 1min;
  config_.commands = {flaky, never};
  add("a");
  start();
  record("a", false);
  now_ += kHold + 1s;
  EXPECT_TRUE(run_until([&] { return stats_of("command:flaky").failed >= 1; }));
  std::ofstream(dir_.path() / "flaky.ok").put('\n');
  // The back-off (at most 1 s after the first failure) has passed: delivered, once.
  EXPECT_EQ(lines_after("flaky", 1, 2s), (std::vector<std::string>{"a"}));
  EXPECT_EQ(settled("flaky").size(), 1u);
  // max_age passed: the other route gives up.
  now_ += 2min;
  EXPECT_TRUE(run_until([&] { return stats_of("command:never").dropped >= 1; }));
  EXPECT_EQ(stats_of("command:never").dropped, 1u);
  EXPECT_EQ(stats_of("command:never").queued, 0u);
}

TEST_F(NotifierTest, WhatWasToldAndWhatIsPendingSurviveARestart) {
  auto later = command("later", R"(test -e "$0.ok" && echo "$FETCHD_NAME $FETCHD_ID" >> "$0")");
  config_.commands = {recorder("log"), later};
  add("a");
  add("b");
  start();
  record("a", false);
  record("b", false);
  EXPECT_EQ(lines_after("log", 2).size(), 2u);
  ASSERT_TRUE(run_until([&] { return stats_of("command:later").failed >= 1; }));
  restart();
  // Still DOWN: nothing new; the pending deliveries go out once the command works.
  EXPECT_EQ(settled("log").size(), 2u);
  std::ofstream(dir_.path() / "later.ok").put('\n');
  const auto delivered = lines_after("later", 2, 2s);
  ASSERT_EQ(delivered.size(), 2u);
  // The notifier has taken the command's end (a delivery still in flight at a stop is sent
  // again after the start, with the same id).
  ASSERT_TRUE(run_until([&] { return stats_of("command:later").queued == 0; }));
  // Recovered while "stopped": told it recovered at the next start.
  notifier_->stop();
  record("a", true);
  restart();
  EXPECT_EQ(lines_after("log", 3, 0s).back(), "change a UP");
  EXPECT_EQ(settled("later").size(), 3u);
}

}  // namespace
}  // namespace fetchd::alerts
