#include "service/fetch_rate.h"

#include <gtest/gtest.h>

namespace fetchd::service {
namespace {

using namespace std::chrono_literals;

TEST(FetchRate, YoungRatesUseTheTimeSinceStartButAtLeastASecond) {
  const auto start = FetchRate::Clock::time_point{} + 1h;
  FetchRate rate(start);
  EXPECT_EQ(rate.per_second(start), 0.0);
  for (int i = 0; i < 5; ++i)
    rate.record(start + 100ms);
  EXPECT_DOUBLE_EQ(rate.per_second(start + 200ms), 5.0);
  for (int i = 0; i < 15; ++i)
    rate.record(start + 3500ms);
  EXPECT_DOUBLE_EQ(rate.per_second(start + 4s), 5.0);
}

TEST(FetchRate, AfterAMinuteOnlyTheLastSixtyCompleteSecondsCount) {
  const auto start = FetchRate::Clock::time_point{} + 1h;
  FetchRate rate(start);
  // 2 per second for 100 seconds, then silence.
  for (int second = 0; second < 100; ++second) {
    rate.record(start + std::chrono::seconds(second) + 10ms);
    rate.record(start + std::chrono::seconds(second) + 900ms);
  }
  EXPECT_DOUBLE_EQ(rate.per_second(start + 100s + 500ms), 2.0);
  EXPECT_DOUBLE_EQ(rate.per_second(start + 130s), 1.0);  // 30 of the 60 seconds had fetches
  EXPECT_DOUBLE_EQ(rate.per_second(start + 161s), 0.0);
  EXPECT_DOUBLE_EQ(rate.per_second(start + 1000s), 0.0);  // stale buckets are never counted
}

}  // namespace
}  // namespace fetchd::service
