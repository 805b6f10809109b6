#include "results/store.h"

#include <gtest/gtest.h>

#include "results/fake_results.h"

namespace fetchd::results {
namespace {

using namespace std::chrono_literals;
using test::kEpoch;

std::vector<std::string> names(const ResultsStore& store) {
  std::vector<std::string> out;
  store.for_each([&](const std::string& name, const TargetResults&) { out.push_back(name); });
  return out;
}

TEST(ResultsStore, AddsRemovesAndIteratesInNameOrder) {
  ResultsStore store;
  EXPECT_EQ(store.history_length(), kDefaultHistoryLength);
  store.add("www.sohu.com", FlapPolicy{}, kEpoch);
  store.add("api.example", FlapPolicy{}, kEpoch);
  store.add("www.163.com", FlapPolicy{}, kEpoch);
  store.add("Zeta", FlapPolicy{}, kEpoch);
  EXPECT_EQ(store.size(), 4u);
  EXPECT_EQ(names(store),
            (std::vector<std::string>{"Zeta", "api.example", "www.163.com", "www.sohu.com"}));
  EXPECT_TRUE(store.contains("api.example"));
  EXPECT_TRUE(store.remove("api.example"));
  EXPECT_FALSE(store.remove("api.example"));
  EXPECT_FALSE(store.contains("api.example"));
  EXPECT_EQ(store.find("api.example"), nullptr);
  EXPECT_EQ(names(store), (std::vector<std::string>{"Zeta", "www.163.com", "www.sohu.com"}));
}

TEST(ResultsStore, RecordNamesTheChange) {
  ResultsStore store;
  store.add("api.example", FlapPolicy{}, kEpoch);
  auto change = store.record("api.example", test::failure(kEpoch + 1s));
  ASSERT_TRUE(change);
  EXPECT_EQ(change->name, "api.example");
  EXPECT_EQ(change->to, State::down);
  EXPECT_EQ(format_log_line(*change),
            "api.example is DOWN: connect to 10.0.0.1:443: Connection refused; was UNKNOWN for 1s");
  EXPECT_FALSE(store.record("api.example", test::failure(kEpoch + 2s)));
  EXPECT_EQ(store.find("api.example")->totals().attempts, 2u);
}

TEST(ResultsStore, DropsResultsForTargetsNoLongerTracked) {
  ResultsStore store;
  EXPECT_FALSE(store.record("gone", test::failure(kEpoch)));
  EXPECT_FALSE(store.record_skipped("gone"));
  EXPECT_EQ(store.size(), 0u);
}

TEST(ResultsStore, CountsSkips) {
  ResultsStore store;
  store.add("a", FlapPolicy{}, kEpoch);
  EXPECT_TRUE(store.record_skipped("a"));
  EXPECT_TRUE(store.record_skipped("a", 2));
  EXPECT_EQ(store.find("a")->totals().skipped, 3u);
  EXPECT_EQ(store.find("a")->totals().attempts, 0u);
  EXPECT_TRUE(store.find("a")->history().empty());
}

TEST(ResultsStore, ReAddingKeepsHistoryAndAppliesThePolicy) {
  ResultsStore store;
  store.add("a", FlapPolicy{}, kEpoch);
  store.record("a", test::success(kEpoch + 1s));
  store.record("a", test::success(kEpoch + 2s));
  TargetResults& kept = store.add("a", FlapPolicy{2, 3}, kEpoch + 1h);  // Keep::history default
  EXPECT_EQ(kept.policy(), (FlapPolicy{2, 3}));
  EXPECT_EQ(kept.state(), State::up);
  EXPECT_EQ(kept.summary().state_since, kEpoch + 1s);
  EXPECT_EQ(kept.history().size(), 2u);
  EXPECT_NE(kept.latest(), nullptr);
  // The new down_after applies: one failure no longer takes it down.
  EXPECT_FALSE(store.record("a", test::failure(kEpoch + 3s)));
  EXPECT_TRUE(store.record("a", test::failure(kEpoch + 4s)));
}

TEST(ResultsStore, ReAddingWithKeepNothingStartsOver) {
  ResultsStore store;
  store.add("a", FlapPolicy{}, kEpoch);
  store.record("a", test::failure(kEpoch + 1s));
  store.record_skipped("a");
  TargetResults& fresh = store.add("a", FlapPolicy{}, kEpoch + 1h, Keep::nothing);
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(fresh.state(), State::unknown);
  EXPECT_EQ(fresh.summary().state_since, kEpoch + 1h);
  EXPECT_EQ(fresh.totals(), Totals{});
  EXPECT_TRUE(fresh.history().empty());
  EXPECT_EQ(fresh.latest(), nullptr);
  EXPECT_EQ(fresh.latest_failure(), nullptr);
  EXPECT_EQ(store.find("a"), &fresh);
}

TEST(ResultsStore, HistoryLengthAppliesToExistingAndNewTargets) {
  ResultsStore store(4);
  store.add("a", FlapPolicy{}, kEpoch);
  for (int i = 1; i <= 6; ++i)
    store.record("a", test::success(kEpoch + std::chrono::seconds(i)));
  EXPECT_EQ(store.find("a")->history().size(), 4u);
  store.set_history_length(2);
  EXPECT_EQ(store.history_length(), 2u);
  const History& history = store.find("a")->history();
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].time(), kEpoch + 5s);
  EXPECT_EQ(history[1].time(), kEpoch + 6s);
  EXPECT_EQ(store.add("b", FlapPolicy{}, kEpoch).history().capacity(), 2u);
  // Keep::nothing also takes the store's length.
  EXPECT_EQ(store.add("a", FlapPolicy{}, kEpoch, Keep::nothing).history().capacity(), 2u);
}

}  // namespace
}  // namespace fetchd::results
