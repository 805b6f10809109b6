#include "registry/registry.h"

#include <gtest/gtest.h>

#include "results/fake_results.h"

namespace fetchd::registry {
namespace {

using namespace std::chrono_literals;
using results::FlapPolicy;
using results::State;
using results::test::kEpoch;

std::shared_ptr<const config::TargetConfig> target(const std::string& name,
                                                   FlapPolicy policy = {}) {
  auto config = std::make_shared<config::TargetConfig>();
  config->name = name;
  config->down_after = static_cast<int>(policy.down_after);
  config->up_after = static_cast<int>(policy.up_after);
  return config;
}

std::vector<std::string> names(const Registry& registry) {
  std::vector<std::string> out;
  registry.for_each([&](const Entry& entry) { out.push_back(entry.name()); });
  return out;
}

// A test subscriber: what the feed delivered, as "<kind> <name>[ <from>-><to>]".
struct Recorder {
  explicit Recorder(results::Feed& feed)
      : subscription(feed.subscribe("test", [this](const results::Event& event) {
          static constexpr const char* kKinds[] = {"recorded", "added",    "removed",
                                                   "stopping", "reloaded", "skipped"};
          std::string line =
              std::string(kKinds[static_cast<int>(event.kind)]) + " " + std::string(event.name);
          if (event.change != nullptr) {
            line += " " + std::string(results::to_string(event.change->from)) + "->" +
                    std::string(results::to_string(event.change->to));
            changes.push_back(*event.change);
          }
          lines.push_back(line);
        })) {}
  std::vector<std::string> lines;
  std::vector<results::StateChange> changes;
  results::Feed::Subscription subscription;
};

class RegistryTest : public ::testing::Test {
 protected:
  Entry& put(const std::string& name, FlapPolicy policy = {}, Keep keep = Keep::history,
             Registry::Clock::time_point now = kEpoch) {
    return registry_.put(target(name, policy), nullptr, keep, now);
  }
  results::Feed feed_;
  Registry registry_{feed_, results::kDefaultHistoryLength};
  Recorder recorder_{feed_};
};

TEST_F(RegistryTest, AddsRemovesAndIteratesInNameOrder) {
  EXPECT_EQ(registry_.history_length(), results::kDefaultHistoryLength);
  put("www.sohu.com");
  put("api.example");
  put("www.163.com");
  put("Zeta");
  EXPECT_EQ(registry_.size(), 4u);
  EXPECT_EQ(names(registry_),
            (std::vector<std::string>{"Zeta", "api.example", "www.163.com", "www.sohu.com"}));
  EXPECT_TRUE(registry_.contains("api.example"));
  EXPECT_TRUE(registry_.remove("api.example"));
  EXPECT_FALSE(registry_.remove("api.example"));
  EXPECT_FALSE(registry_.contains("api.example"));
  EXPECT_EQ(registry_.find("api.example"), nullptr);
  EXPECT_EQ(names(registry_), (std::vector<std::string>{"Zeta", "www.163.com", "www.sohu.com"}));
  EXPECT_EQ(recorder_.lines,
            (std::vector<std::string>{"added www.sohu.com", "added api.example",
                                      "added www.163.com", "added Zeta", "removed api.example"}));
}

TEST_F(RegistryTest, RecordJudgesNamesAndPublishesTheChange) {
  put("api.example");
  registry_.record("api.example", results::test::error_result(kEpoch + 1s));
  ASSERT_EQ(recorder_.changes.size(), 1u);
  EXPECT_EQ(recorder_.changes[0].name, "api.example");
  EXPECT_EQ(recorder_.changes[0].to, State::down);
  EXPECT_EQ(format_log_line(recorder_.changes[0]),
            "api.example is DOWN: connect to 10.0.0.1:443: Connection refused; was UNKNOWN for 1s");
  registry_.record("api.example", results::test::error_result(kEpoch + 2s));
  EXPECT_EQ(recorder_.changes.size(), 1u);
  EXPECT_EQ(registry_.find("api.example")->results.totals().attempts, 2u);
  // A 500 misses the default expectation (200-399): judged by the registry, not the caller.
  registry_.record("api.example", results::test::ok_result(kEpoch + 3s, 500, "Oops"));
  EXPECT_EQ(registry_.find("api.example")->results.latest()->failed_expectation,
            "status 500 not in 200-399");
  EXPECT_EQ(recorder_.lines,
            (std::vector<std::string>{"added api.example", "recorded api.example unknown->down",
                                      "recorded api.example", "recorded api.example"}));
}

TEST_F(RegistryTest, DropsResultsForTargetsNoLongerTracked) {
  registry_.record("gone", results::test::error_result(kEpoch));
  registry_.record_skipped("gone", 1);
  EXPECT_EQ(registry_.size(), 0u);
  EXPECT_TRUE(recorder_.lines.empty());
}

TEST_F(RegistryTest, CountsSkips) {
  put("a");
  registry_.record_skipped("a", 1);
  registry_.record_skipped("a", 2);
  EXPECT_EQ(registry_.find("a")->results.totals().skipped, 3u);
  EXPECT_EQ(registry_.find("a")->results.totals().attempts, 0u);
  EXPECT_TRUE(registry_.find("a")->results.history().empty());
  // Published, for the results store to count them too.
  EXPECT_EQ(std::vector<std::string>(recorder_.lines.end() - 2, recorder_.lines.end()),
            (std::vector<std::string>{"skipped a", "skipped a"}));
}

TEST_F(RegistryTest, MembershipEventsSayWhetherTheResultsWereKept) {
  std::vector<std::string> kept;
  const auto subscription = feed_.subscribe("kept", [&](const results::Event& event) {
    if (event.kind == results::EventKind::added || event.kind == results::EventKind::removed)
      kept.push_back(std::string(event.name) + (event.results_kept ? " kept" : " new"));
  });
  put("a");
  put("a", FlapPolicy{2, 3}, Keep::history, kEpoch + 1h);
  put("a", FlapPolicy{}, Keep::nothing, kEpoch + 2h);
  auto restored = results::TargetResults(FlapPolicy{}, 10, kEpoch);
  restored.record(results::Attempt{results::test::ok_result(kEpoch + 1s), ""});
  const Entry& adopted =
      registry_.adopt(target("b", FlapPolicy{4, 5}), nullptr, std::move(restored));
  EXPECT_EQ(adopted.results.state(), State::up);
  EXPECT_EQ(adopted.results.policy(), (FlapPolicy{4, 5}));
  EXPECT_EQ(kept,
            (std::vector<std::string>{"a new", "a kept", "a kept", "a new", "a new", "b kept"}));
}

TEST_F(RegistryTest, ReplacingKeepsHistoryAndAppliesThePolicy) {
  put("a");
  registry_.record("a", results::test::ok_result(kEpoch + 1s));
  registry_.record("a", results::test::ok_result(kEpoch + 2s));
  const auto& kept = put("a", FlapPolicy{2, 3}, Keep::history, kEpoch + 1h).results;
  EXPECT_EQ(kept.policy(), (FlapPolicy{2, 3}));
  EXPECT_EQ(kept.state(), State::up);
  EXPECT_EQ(kept.summary().state_since, kEpoch + 1s);
  EXPECT_EQ(kept.history().size(), 2u);
  EXPECT_NE(kept.latest(), nullptr);
  // The new down_after applies: one failure no longer takes it down.
  recorder_.changes.clear();
  registry_.record("a", results::test::error_result(kEpoch + 3s));
  EXPECT_TRUE(recorder_.changes.empty());
  registry_.record("a", results::test::error_result(kEpoch + 4s));
  EXPECT_EQ(recorder_.changes.size(), 1u);
}

TEST_F(RegistryTest, ReplacingWithKeepNothingStartsOver) {
  put("a");
  registry_.record("a", results::test::error_result(kEpoch + 1s));
  registry_.record_skipped("a", 1);
  const Entry& fresh = put("a", FlapPolicy{}, Keep::nothing, kEpoch + 1h);
  EXPECT_EQ(registry_.size(), 1u);
  EXPECT_EQ(fresh.results.state(), State::unknown);
  EXPECT_EQ(fresh.results.summary().state_since, kEpoch + 1h);
  EXPECT_EQ(fresh.results.totals(), results::Totals{});
  EXPECT_TRUE(fresh.results.history().empty());
  EXPECT_EQ(fresh.results.latest(), nullptr);
  EXPECT_EQ(fresh.results.latest_failure(), nullptr);
  EXPECT_EQ(registry_.find("a"), &fresh);
  // The one replaced is gone for the feed's subscribers before the new one arrives.
  EXPECT_EQ(std::vector<std::string>(recorder_.lines.end() - 2, recorder_.lines.end()),
            (std::vector<std::string>{"removed a", "added a"}));
}

TEST_F(RegistryTest, HistoryLengthAppliesToExistingAndNewTargets) {
  registry_.set_history_length(4);
  put("a");
  for (int i = 1; i <= 6; ++i)
    registry_.record("a", results::test::ok_result(kEpoch + std::chrono::seconds(i)));
  EXPECT_EQ(registry_.find("a")->results.history().size(), 4u);
  registry_.set_history_length(2);
  EXPECT_EQ(registry_.history_length(), 2u);
  const auto& history = registry_.find("a")->results.history();
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].time(), kEpoch + 5s);
  EXPECT_EQ(history[1].time(), kEpoch + 6s);
  EXPECT_EQ(put("b").results.history().capacity(), 2u);
  // Keep::nothing also takes the registry's length.
  EXPECT_EQ(put("a", FlapPolicy{}, Keep::nothing).results.history().capacity(), 2u);
}

TEST_F(RegistryTest, RuntimeEntriesAreIndexedInTheOrderTheyWereAdded) {
  registry_.put(target("z"), nlohmann::json{{"url", "http://z/"}}, Keep::nothing, kEpoch);
  put("configured");
  registry_.put(target("b"), nlohmann::json{{"url", "http://b/"}}, Keep::nothing, kEpoch);
  const auto runtime_names = [&] {
    std::vector<std::string> out;
    for (const auto* entry : registry_.runtime_entries())
      out.push_back(entry->name());
    return out;
  };
  EXPECT_EQ(runtime_names(), (std::vector<std::string>{"z", "b"}));
  EXPECT_FALSE(registry_.find("configured")->runtime());
  // A configuration target taking a runtime name replaces it and leaves the index.
  put("z");
  EXPECT_EQ(runtime_names(), (std::vector<std::string>{"b"}));
  registry_.remove("b");
  EXPECT_TRUE(registry_.runtime_entries().empty());
}

}  // namespace
}  // namespace fetchd::registry
