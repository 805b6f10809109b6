#include "results/results_json.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "results/fake_results.h"

namespace fetchd::results {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::kEpoch;

TEST(ResultsJson, CompactEntry) {
  const auto success = make_compact_entry(test::ok_result(kEpoch + 250ms), false);
  EXPECT_EQ(to_json(success), json::parse(R"({
    "time": "2024-05-01T12:00:00.250Z", "outcome": "ok", "status": 200,
    "timings_us": {"dns": 100, "connect": 200, "tls_handshake": 700, "first_byte": 400,
                   "total": 1500}})"));
  const auto failure = make_compact_entry(test::error_result(kEpoch), false);
  EXPECT_EQ(to_json(failure), json::parse(R"({
    "time": "2024-05-01T12:00:00.000Z", "outcome": "connect", "status": null,
    "timings_us": {"dns": 100, "connect": null, "tls_handshake": null, "first_byte": null,
                   "total": 300}})"));
}

TEST(ResultsJson, SummaryOfANewTarget) {
  TargetResults results(FlapPolicy{3, 2}, 100, kEpoch);
  EXPECT_EQ(to_json(results.summary()), json::parse(R"({
    "state": "unknown", "state_since": "2024-05-01T12:00:00.000Z",
    "consecutive_successes": 0, "consecutive_failures": 0,
    "totals": {"attempts": 0, "successes": 0, "failures": 0, "cancelled": 0, "skipped": 0},
    "last_success": null, "last_failure": null, "last": null, "latency_us": null,
    "down_after": 3, "up_after": 2, "history": {"size": 0, "length": 100}})"));
}

TEST(ResultsJson, SummaryAfterAttempts) {
  TargetResults results(FlapPolicy{}, 100, kEpoch);
  results.record(test::success(kEpoch + 1s, 2ms));
  results.record(test::success(kEpoch + 2s, 4ms));
  results.record(test::failure(kEpoch + 3s));
  results.record_skipped();
  const json summary = to_json(results.summary());
  EXPECT_EQ(summary["state"], "down");
  EXPECT_EQ(summary["state_since"], "2024-05-01T12:00:03.000Z");
  EXPECT_EQ(summary["consecutive_failures"], 1);
  EXPECT_EQ(summary["totals"], json::parse(R"({"attempts": 3, "successes": 2, "failures": 1,
                                               "cancelled": 0, "skipped": 1})"));
  EXPECT_EQ(summary["last_success"], "2024-05-01T12:00:02.000Z");
  EXPECT_EQ(summary["last_failure"], "2024-05-01T12:00:03.000Z");
  EXPECT_EQ(summary["last"]["outcome"], "connect");
  EXPECT_EQ(summary["latency_us"],
            json::parse(R"({"samples": 2, "min": 2000, "p50": 2000, "p95": 4000, "max": 4000})"));
  EXPECT_EQ(summary["history"], json::parse(R"({"size": 3, "length": 100})"));
}

TEST(ResultsJson, FullResultWrapsTheFetch) {
  TargetResults results(FlapPolicy{}, 100, kEpoch);
  results.record(test::expectation_failure(kEpoch, "status 500 not in 200-399"));
  ASSERT_NE(results.latest(), nullptr);
  const json full = to_json(*results.latest());
  EXPECT_EQ(full["outcome"], "expectation");
  EXPECT_EQ(full["ok"], false);
  EXPECT_EQ(full["reason"], "expectation failed: status 500 not in 200-399");
  EXPECT_EQ(full["failed_expectation"], "status 500 not in 200-399");
  // The fetch itself completed: http::to_json says so.
  EXPECT_EQ(full["fetch"]["ok"], true);
  EXPECT_EQ(full["fetch"]["status"], 500);
  EXPECT_EQ(full["fetch"]["reason"], "Internal Server Error");
  EXPECT_EQ(full["fetch"]["headers"], json::parse(R"([["Server", "nginx"],
                                                      ["Content-Type", "text/html"]])"));
  EXPECT_EQ(full["fetch"]["started"], "2024-05-01T12:00:00.000Z");
}

TEST(ResultsJson, Show) {
  TargetResults results(FlapPolicy{}, 100, kEpoch);
  EXPECT_EQ(to_json(results, 10), json::parse(R"({
    "summary": )" + to_json(results.summary()).dump() +
                                              R"(,
    "latest": null, "latest_failure": null, "recent": []})"));

  results.record(test::failure(kEpoch + 1s));
  for (int i = 2; i <= 5; ++i)
    results.record(test::success(kEpoch + std::chrono::seconds(i)));
  const json show = to_json(results, 3);
  EXPECT_EQ(show["summary"], to_json(results.summary()));
  EXPECT_EQ(show["latest"]["outcome"], "ok");
  EXPECT_EQ(show["latest"]["failed_expectation"], nullptr);
  EXPECT_EQ(show["latest"]["fetch"]["started"], "2024-05-01T12:00:05.000Z");
  EXPECT_EQ(show["latest_failure"]["outcome"], "connect");
  EXPECT_EQ(show["latest_failure"]["reason"], "connect to 10.0.0.1:443: Connection refused");
  ASSERT_TRUE(show["recent"].is_array());
  ASSERT_EQ(show["recent"].size(), 3u);
  EXPECT_EQ(show["recent"][0]["time"], "2024-05-01T12:00:03.000Z");  // oldest first
  EXPECT_EQ(show["recent"][2]["time"], "2024-05-01T12:00:05.000Z");
  EXPECT_EQ(to_json(results, 0)["recent"], json::array());
  EXPECT_EQ(to_json(results, 1000)["recent"].size(), 5u);
}

}  // namespace
}  // namespace fetchd::results
