// Uptime over days: hourly and daily buckets, windows that slide pro rata over their oldest
// bucket, rings that reuse their slots, outages; and TargetResults feeding them.

#include "results/uptime.h"

#include <gtest/gtest.h>

#include "results/fake_results.h"
#include "results/target_results.h"

namespace fetchd::results {
namespace {

using namespace std::chrono_literals;
using test::kEpoch;  // 2024-05-01T12:00:00Z, on the hour

TEST(Uptime, AWindowCountsTheAttemptsInIt) {
  Uptime uptime;
  for (int minute = 0; minute < 60; ++minute)
    uptime.record(kEpoch + std::chrono::minutes(minute), minute % 10 != 0, 1000 + minute);
  const auto hour = uptime.over(1h, kEpoch + 59min + 59s);
  EXPECT_DOUBLE_EQ(hour.attempts, 60);
  EXPECT_DOUBLE_EQ(hour.successes, 54);
  EXPECT_DOUBLE_EQ(*hour.ratio(), 0.9);
  EXPECT_EQ(hour.latency_max_us, 1059);
  EXPECT_NEAR(*hour.latency_mean_us(), 1000 + (59.0 * 60 / 2 - (0 + 10 + 20 + 30 + 40 + 50)) / 54,
              1e-9);
  EXPECT_FALSE(Uptime().over(1h, kEpoch).ratio()) << "no attempts: no ratio";
}

// At 12:30, "the last hour" is all of the 12:00 bucket and half of the 11:00 one.
TEST(Uptime, TheOldestBucketCountsForThePartOfItTheWindowCovers) {
  Uptime uptime;
  for (int i = 0; i < 10; ++i)
    uptime.record(kEpoch - 1h + std::chrono::minutes(i), false, 0);  // 11:00-11:09, failures
  for (int i = 0; i < 10; ++i)
    uptime.record(kEpoch + std::chrono::minutes(i), true, 500);  // 12:00-12:09, successes
  const auto window = uptime.over(1h, kEpoch + 30min);
  EXPECT_DOUBLE_EQ(window.attempts, 15);
  EXPECT_DOUBLE_EQ(window.successes, 10);
  const auto later = uptime.over(1h, kEpoch + 59min);
  EXPECT_NEAR(later.attempts, 10 + 10.0 / 60, 1e-9);
  EXPECT_DOUBLE_EQ(uptime.over(2h, kEpoch + 59min).attempts, 20);
}

TEST(Uptime, HoursCoverTwoDaysAndDaysTheConfiguredNumber) {
  Uptime uptime(7);
  for (int hour = 0; hour < 24 * 10; ++hour)
    uptime.record(kEpoch - std::chrono::hours(hour), true, 100);  // one an hour, ten days back
  // At 12:30: the 24 attempts of 13:00 yesterday to 12:00 today, and half the bucket of 12:00
  // yesterday (its attempt at 12:00 sharp is before the window: the pro rata estimate).
  const auto now = kEpoch + 30min;
  EXPECT_DOUBLE_EQ(uptime.over(24h, now).attempts, 24.5);
  EXPECT_DOUBLE_EQ(uptime.over(48h, now).attempts, 48.5);
  // 7 days: the 7 days kept, the oldest whole (the ring keeps 8 slots for the partial one).
  const auto week = uptime.over(7 * 24h, now);
  EXPECT_GT(week.attempts, 6 * 24);
  EXPECT_LE(week.attempts, 7 * 24 + 24);
  // 30 days asked, 7 kept: what is kept.
  EXPECT_DOUBLE_EQ(uptime.over(30 * 24h, now).attempts, week.attempts);
  uptime.set_days(30);
  EXPECT_DOUBLE_EQ(uptime.over(7 * 24h, now).attempts, week.attempts)
      << "growing keeps the days kept";
  uptime.set_days(2);
  EXPECT_LT(uptime.over(7 * 24h, now).attempts, 3 * 24 + 1) << "shrinking keeps the newest";
}

TEST(Uptime, SlotsAreReusedAndAnAttemptOlderThanTheSlotIsNotCounted) {
  Uptime uptime;
  uptime.record(kEpoch, false, 0);
  // 49 hours later the hourly slot of kEpoch holds the new hour.
  uptime.record(kEpoch + 49h, true, 100);
  EXPECT_DOUBLE_EQ(uptime.over(1h, kEpoch + 49h + 1min).attempts, 1);
  EXPECT_DOUBLE_EQ(uptime.over(48h, kEpoch + 49h + 1min).successes, 1);
  uptime.record(kEpoch + 1min, false, 0);  // the clock went back two days: not counted
  EXPECT_DOUBLE_EQ(uptime.over(48h, kEpoch + 49h + 1min).attempts, 1);
}

TEST(Uptime, OutagesOfTheLastWeekWithTheirReason) {
  Uptime uptime;
  uptime.outage_began(kEpoch - 10 * 24h, "too old");
  uptime.outage_ended(kEpoch - 10 * 24h + 5min);
  uptime.outage_began(kEpoch - 1h, "connect: refused");
  uptime.outage_ended(kEpoch - 1h + 3min);
  uptime.outage_began(kEpoch, "timeout");
  const auto outages = uptime.outages(7 * 24h, kEpoch + 1min);
  ASSERT_EQ(outages.size(), 2u);
  EXPECT_EQ(outages[0].reason, "connect: refused");
  EXPECT_EQ(outages[0].from, kEpoch - 1h);
  EXPECT_EQ(outages[0].to, kEpoch - 1h + 3min);
  EXPECT_EQ(outages[1].reason, "timeout");
  EXPECT_FALSE(outages[1].to) << "still going on";
  for (int i = 0; i < 100; ++i)
    uptime.outage_began(kEpoch + std::chrono::minutes(i), "flap");
  EXPECT_EQ(uptime.outages(7 * 24h, kEpoch + 2h).size(), kMaxOutages);
}

TEST(Uptime, TargetResultsRecordEveryCountedAttemptAndEachDownPeriod) {
  TargetResults results(FlapPolicy{}, 10, kEpoch);
  results.record(test::success(kEpoch));
  results.record(test::failure(kEpoch + 1min));
  results.record(test::failure(kEpoch + 2min));
  results.record(test::success(kEpoch + 3min));
  auto cancelled = test::error_result(kEpoch + 4min, http::ErrorClass::cancelled, "cancelled");
  results.record(Attempt{cancelled, ""});
  const auto window = results.uptime().over(1h, kEpoch + 5min);
  EXPECT_DOUBLE_EQ(window.attempts, 4) << "cancelled counts neither way";
  EXPECT_DOUBLE_EQ(window.successes, 2);
  const auto outages = results.uptime().outages(24h, kEpoch + 5min);
  ASSERT_EQ(outages.size(), 1u);
  EXPECT_EQ(outages[0].from, kEpoch + 1min);
  EXPECT_EQ(outages[0].to, kEpoch + 3min);
  EXPECT_EQ(outages[0].reason, "connect to 10.0.0.1:443: Connection refused");
}

TEST(Uptime, ATargetNeverFetchedCostsNoBuckets) {
  Uptime uptime;
  EXPECT_DOUBLE_EQ(uptime.over(30 * 24h, kEpoch).attempts, 0);
  EXPECT_EQ(uptime.heap_bytes(), 0u);
  uptime.record(kEpoch, true, 1);
  // 48 + 1 hours and 30 + 1 days of 24 bytes: the figure the README gives.
  EXPECT_EQ(uptime.heap_bytes(), (49u + 31u) * 24u);
}

}  // namespace
}  // namespace fetchd::results
