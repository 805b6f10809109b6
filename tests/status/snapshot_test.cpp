#include "status/snapshot.h"

#include <numeric>

#include <gtest/gtest.h>

namespace fetchd::status {
namespace {

TEST(Lateness, PercentilesOfTheSamplesInAnyOrder) {
  std::vector<std::int64_t> samples(1000);
  std::iota(samples.rbegin(), samples.rend(), 1);  // 1000, 999, ..., 1
  EXPECT_EQ(lateness_of(samples), (Lateness{.p50_us = 500, .p99_us = 990, .max_us = 1000}));
  EXPECT_EQ(lateness_of({7}), (Lateness{.p50_us = 7, .p99_us = 7, .max_us = 7}));
  EXPECT_EQ(lateness_of({}), Lateness{});
}

TEST(Snapshot, UptimeIsTheMonotonicTimeRunningWhateverTheWallClockSays) {
  Snapshot snapshot;
  snapshot.started = std::chrono::system_clock::now() + std::chrono::hours(1);  // a step back
  snapshot.running_for = std::chrono::seconds(42);
  EXPECT_EQ(snapshot.uptime_s(), 42);
}

}  // namespace
}  // namespace fetchd::status
