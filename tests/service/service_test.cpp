#include "service/service.h"

#include <fstream>
#include <map>

#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include "support/run_until.h"
#include "support/scripted_server.h"
#include "support/temp_dir.h"

namespace fetchd::service {
namespace {

using namespace std::chrono_literals;
namespace step = test::step;

class ServiceTest : public ::testing::Test {
 protected:
  std::string target_json(const std::string& name, const std::string& extra = "") {
    return R"({"name": ")" + name + R"(", "url": ")" + server_.url("/" + name) +
           R"(", "interval": "100ms")" + extra + "}";
  }

  void write_config(const std::string& targets) {
    test::write_file(config_path(), R"({"settings": {"state_dir": ")" + state_dir().string() +
                                        R"(", "control_socket": ")" +
                                        (dir_.path() / "fetchd.sock").string() +
                                        R"("}, "targets": [)" + targets + "]}");
  }

  std::filesystem::path config_path() const { return dir_.path() / "fetchd.json"; }
  std::filesystem::path state_dir() const { return dir_.path() / "state"; }

  std::unique_ptr<Service> start_service() {
    auto loaded = config::load_config(config_path());
    EXPECT_TRUE(loaded) << loaded.error_text();
    auto service = std::make_unique<Service>(io_, config_path(), std::move(*loaded.value));
    service->start();
    return service;
  }

  std::uint64_t attempts(const Service& service, const std::string& name) {
    const auto* entry = service.registry().find(name);
    return entry == nullptr ? 0 : entry->results.totals().attempts;
  }

  ReloadReport reload(Service& service) {
    std::optional<ReloadReport> report;
    service.reload([&](const ReloadReport& done) { report = done; });
    EXPECT_TRUE(test::run_until(
        io_, [&] { return report.has_value(); }, 10s));
    return report.value_or(ReloadReport{});
  }

  void stop(std::unique_ptr<Service>& service) {
    service->shutdown();
    io_.poll();
    service.reset();
  }

  asio::io_context io_;
  test::TempDir dir_{"fetchd-service"};
  test::ScriptedServer server_{
      io_.get_executor(), [](std::size_t) {
        return test::respond_with("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
      }};
};

TEST_F(ServiceTest, FetchesEveryEnabledTargetPeriodically) {
  write_config(target_json("a") + "," + target_json("off", R"(, "enabled": false)"));
  auto service = start_service();
  ASSERT_TRUE(test::run_until(
      io_, [&] { return attempts(*service, "a") >= 3; }, 10s));
  EXPECT_EQ(service->registry().find("a")->results.state(), results::State::up);
  EXPECT_TRUE(service->registry().contains("off"));
  EXPECT_EQ(attempts(*service, "off"), 0u);
  EXPECT_FALSE(service->registry().find("off")->job);
  stop(service);
}

// count_targets() is kept up to date on state changes and counted again after the target set
// changes; every figure must match what the targets' states say at that moment.
TEST_F(ServiceTest, CountsFollowStateChangesAndChangesOfTheTargetSet) {
  bool failing = false;
  test::ScriptedServer flaky(io_.get_executor(), [&failing](std::size_t) {
    return test::respond_with(failing ? "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n"
                                      : "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  });
  const auto flaky_target = R"({"name": "flaky", "url": ")" + flaky.url("/") +
                            R"(", "interval": "100ms", "expect": {"status": [200]}})";
  write_config(flaky_target + "," + target_json("bad", R"(, "expect": {"status": [204]})") + "," +
               target_json("off", R"(, "enabled": false)"));
  auto service = start_service();
  const auto state_of = [&](const std::string& name) {
    const auto* entry = service->registry().find(name);
    return entry == nullptr ? results::State::unknown : entry->results.state();
  };
  const auto counts_are = [&](std::size_t total, std::size_t up, std::size_t down,
                              std::size_t unknown, std::size_t disabled) {
    const auto counts = service->count_targets();
    EXPECT_EQ(counts.total, total);
    EXPECT_EQ(counts.up, up);
    EXPECT_EQ(counts.down, down);
    EXPECT_EQ(counts.unknown, unknown);
    EXPECT_EQ(counts.disabled, disabled);
  };

  counts_are(3, 0, 0, 2, 1);  // counted once here, then only updated
  ASSERT_TRUE(test::run_until(io_, [&] {
    return state_of("flaky") == results::State::up && state_of("bad") == results::State::down;
  }));
  counts_are(3, 1, 1, 0, 1);
  failing = true;
  ASSERT_TRUE(test::run_until(io_, [&] { return state_of("flaky") == results::State::down; }));
  counts_are(3, 0, 2, 0, 1);
  failing = false;
  ASSERT_TRUE(test::run_until(io_, [&] { return state_of("flaky") == results::State::up; }));
  counts_are(3, 1, 1, 0, 1);

  ASSERT_TRUE(service->add_target(nlohmann::json::parse(target_json("added"))));
  counts_are(4, 1, 1, 1, 1);
  EXPECT_EQ(service->count_targets().runtime, 1u);
  ASSERT_TRUE(test::run_until(io_, [&] { return state_of("added") == results::State::up; }));
  counts_are(4, 2, 1, 0, 1);
  ASSERT_FALSE(service->remove_target("added"));
  counts_are(3, 1, 1, 0, 1);
  EXPECT_EQ(service->count_targets().runtime, 0u);

  // A reload that enables "off" and drops "bad".
  write_config(flaky_target + "," + target_json("off"));
  reload(*service);
  counts_are(2, 1, 0, 1, 0);
  ASSERT_TRUE(test::run_until(io_, [&] { return state_of("off") == results::State::up; }));
  counts_are(2, 2, 0, 0, 0);
  stop(service);
}

TEST_F(ServiceTest, FailedExpectationMakesTheTargetDown) {
  write_config(target_json("a", R"(, "expect": {"status": [204]})"));
  auto service = start_service();
  ASSERT_TRUE(test::run_until(
      io_, [&] { return attempts(*service, "a") >= 1; }, 10s));
  const auto* results = &service->registry().find("a")->results;
  EXPECT_EQ(results->state(), results::State::down);
  ASSERT_TRUE(results->latest());
  EXPECT_NE(results->latest()->failed_expectation.find("200"), std::string::npos)
      << results->latest()->failed_expectation;
  stop(service);
}

TEST_F(ServiceTest, ReloadAppliesTheDifferenceAndKeepsUnchangedHistory) {
  write_config(target_json("same") + "," + target_json("changed") + "," + target_json("gone"));
  auto service = start_service();
  ASSERT_TRUE(test::run_until(
      io_, [&] { return attempts(*service, "same") >= 3 && attempts(*service, "changed") >= 3; }));
  write_config(target_json("same") + "," + target_json("changed", R"(, "timeout": "3s")") + "," +
               target_json("new"));
  const auto before_same = attempts(*service, "same");
  const auto report = reload(*service);
  ASSERT_TRUE(report.ok) << report.errors;
  EXPECT_EQ(report.added, std::vector<std::string>{"new"});
  EXPECT_EQ(report.removed, std::vector<std::string>{"gone"});
  EXPECT_EQ(report.changed, std::vector<std::string>{"changed"});
  EXPECT_EQ(report.unchanged, 1u);
  EXPECT_GE(attempts(*service, "same"), before_same);  // history kept, not started over
  EXPECT_FALSE(service->registry().contains("gone"));
  EXPECT_EQ(service->registry().find("gone"), nullptr);  // its job went with its entry
  EXPECT_EQ(service->scheduler().stats().jobs, service->registry().size());
  EXPECT_EQ(service->registry().find("changed")->config->fetch.timeout, 3s);
  EXPECT_EQ(service->registry().find("changed")->job.spec().target->timeout, 3s);
  ASSERT_TRUE(test::run_until(io_, [&] { return attempts(*service, "new") >= 1; }));
  stop(service);
}

TEST_F(ServiceTest, InvalidReloadKeepsTheRunningConfiguration) {
  write_config(target_json("a"));
  auto service = start_service();
  test::write_file(config_path(), "{\"targets\": [\n  {\"name\": \"a\",, }\n]}");
  const auto report = reload(*service);
  EXPECT_FALSE(report.ok);
  EXPECT_NE(report.errors.find("fetchd.json:2:"), std::string::npos) << report.errors;
  ASSERT_TRUE(service->snapshot().last_reload);
  EXPECT_FALSE(service->snapshot().last_reload->ok);
  EXPECT_TRUE(service->registry().find("a")->job);
  const auto before = attempts(*service, "a");
  ASSERT_TRUE(test::run_until(io_, [&] { return attempts(*service, "a") >= before + 2; }));
  stop(service);
}

TEST_F(ServiceTest, RuntimeTargetsArePersistedAndSurviveARestart) {
  write_config(target_json("configured"));
  auto service = start_service();
  EXPECT_TRUE(service->add_target(nlohmann::json::parse(target_json("added"))));
  const auto conflict = service->add_target(nlohmann::json::parse(target_json("configured")));
  ASSERT_FALSE(conflict);
  EXPECT_EQ(conflict.error().reason, control::AddRefused::conflict);
  const auto invalid = service->add_target(nlohmann::json{{"name", "x"}, {"url", "ftp://x/"}});
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().reason, control::AddRefused::invalid_target);
  const auto config_target = service->remove_target("configured");
  ASSERT_TRUE(config_target);
  EXPECT_EQ(config_target->reason, control::RemoveRefused::config_target);
  EXPECT_NE(config_target->message.find("fetchd.json"), std::string::npos);
  EXPECT_EQ(service->remove_target("nope")->reason, control::RemoveRefused::not_found);
  ASSERT_TRUE(test::run_until(io_, [&] { return attempts(*service, "added") >= 1; }));
  stop(service);

  auto restarted = start_service();
  EXPECT_TRUE(restarted->registry().find("added")->runtime());
  EXPECT_TRUE(restarted->registry().find("added")->job);
  EXPECT_FALSE(restarted->remove_target("added"));
  stop(restarted);
  auto again = start_service();
  EXPECT_FALSE(again->registry().contains("added"));
  stop(again);
}

TEST_F(ServiceTest, AConfigTargetTakingARuntimeNameWinsAndTheStateFileFollows) {
  write_config(target_json("configured"));
  auto service = start_service();
  ASSERT_TRUE(service->add_target(nlohmann::json::parse(target_json("shared"))));
  write_config(target_json("configured") + "," + target_json("shared", R"(, "timeout": "2s")"));
  const auto report = reload(*service);
  ASSERT_TRUE(report.ok) << report.errors;
  EXPECT_FALSE(service->registry().find("shared")->runtime());
  EXPECT_EQ(service->registry().find("shared")->config->fetch.timeout, 2s);
  std::ifstream state(state_dir() / "targets.json");
  const auto document = nlohmann::json::parse(state);
  EXPECT_TRUE(document["targets"].empty()) << document.dump();
  stop(service);
}

TEST_F(ServiceTest, AConfigTargetTakingARuntimeNameWinsEvenWithTheSameSettings) {
  write_config(target_json("configured"));
  auto service = start_service();
  ASSERT_TRUE(service->add_target(nlohmann::json::parse(target_json("shared"))));
  write_config(target_json("configured") + "," + target_json("shared"));
  const auto report = reload(*service);
  ASSERT_TRUE(report.ok) << report.errors;
  EXPECT_FALSE(service->registry().find("shared")->runtime());
  EXPECT_EQ(service->count_targets().runtime, 0u);
  EXPECT_EQ(service->remove_target("shared")->reason, control::RemoveRefused::config_target);
  std::ifstream state(state_dir() / "targets.json");
  EXPECT_TRUE(nlohmann::json::parse(state)["targets"].empty());
  stop(service);
}

// A consumer of results is one registration on the feed: it sees every target added and every
// attempt recorded, and one that throws changes nothing for recording or for the others.
TEST_F(ServiceTest, FeedSubscribersSeeEveryResultAndAThrowingOneHarmsNothing) {
  write_config(target_json("a") + "," + target_json("b"));
  auto loaded = config::load_config(config_path());
  ASSERT_TRUE(loaded) << loaded.error_text();
  auto service = std::make_unique<Service>(io_, config_path(), std::move(*loaded.value));
  std::vector<std::string> added;
  std::map<std::string, std::uint64_t> recorded;
  std::uint64_t thrown = 0;
  auto throwing = service->feed().subscribe("thrower", [&](const results::Event& event) {
    if (event.kind == results::EventKind::recorded) {
      ++thrown;
      throw std::runtime_error("a subscriber's bug");
    }
  });
  auto counting = service->feed().subscribe("test", [&](const results::Event& event) {
    if (event.kind == results::EventKind::added)
      added.emplace_back(event.name);
    if (event.kind == results::EventKind::recorded) {
      ASSERT_TRUE(event.result);
      ++recorded[std::string(event.name)];
    }
  });
  service->start();
  EXPECT_EQ(added, (std::vector<std::string>{"a", "b"}));
  ASSERT_TRUE(test::run_until(
      io_, [&] { return recorded["a"] >= 3 && recorded["b"] >= 3; }, 10s));
  // Every attempt recorded reached the later subscriber although the earlier one threw each time.
  EXPECT_EQ(attempts(*service, "a") + attempts(*service, "b"), recorded["a"] + recorded["b"]);
  EXPECT_EQ(service->feed().failures(), thrown);
  EXPECT_EQ(service->registry().find("a")->results.state(), results::State::up);
  EXPECT_EQ(service->count_targets().up, 2u);
  throwing.reset();
  counting.reset();
  stop(service);
}

TEST_F(ServiceTest, AWaitedFetchGetsItsOwnResultOrNullWhenTheTargetChanges) {
  test::ScriptedServer stalling(io_.get_executor(),
                                test::Script{step::ReadRequest{}, step::Pause{30s}});
  const auto targets = [&](const std::string& timeout) {
    return R"({"name": "a", "url": ")" + server_.url("/a") +
           R"(", "interval": "1h"}, {"name": "stalled", "url": ")" + stalling.url("/") +
           R"(", "interval": "1h", "timeout": ")" + timeout + R"("})";
  };
  write_config(targets("20s"));
  auto service = start_service();
  std::vector<std::shared_ptr<const results::FullResult>> got;
  const auto collect = [&](std::shared_ptr<const results::FullResult> result) {
    got.push_back(std::move(result));
  };
  ASSERT_EQ(service->fetch_now("a", collect), control::FetchNow::started);
  ASSERT_TRUE(test::run_until(
      io_, [&] { return !got.empty(); }, 10s));
  ASSERT_TRUE(got[0]);
  EXPECT_EQ(got[0], service->registry().find("a")->results.latest());

  got.clear();
  ASSERT_EQ(service->fetch_now("stalled", collect), control::FetchNow::started);
  EXPECT_EQ(service->fetch_now("stalled", collect), control::FetchNow::busy);
  write_config(targets("25s"));  // changed: its job restarts, the fetch in flight is dropped
  const auto report = reload(*service);
  EXPECT_EQ(report.changed, std::vector<std::string>{"stalled"});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], nullptr);
  stop(service);
}

TEST_F(ServiceTest, AReloadNamesTheSettingsOnlyARestartApplies) {
  write_config(target_json("a"));
  auto service = start_service();
  test::write_file(config_path(), R"({"settings": {"state_dir": ")" + state_dir().string() +
                                      R"(", "control_socket": ")" +
                                      (dir_.path() / "other.sock").string() +
                                      R"(", "dns_servers": ["127.0.0.1"]}, "targets": [)" +
                                      target_json("a") + "]}");
  const auto report = reload(*service);
  ASSERT_TRUE(report.ok) << report.errors;
  EXPECT_EQ(report.pending_restart, (std::vector<std::string>{"control_socket", "dns_servers"}));
  // In effect: the running values.
  EXPECT_EQ(service->config().settings.control_socket, (dir_.path() / "fetchd.sock").string());
  EXPECT_EQ(service->snapshot().last_reload->pending_restart, report.pending_restart);
  stop(service);
}

}  // namespace
}  // namespace fetchd::service
