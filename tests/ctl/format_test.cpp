// fetchctl's text primitives: latencies, ages, the daemon's times, tables (pure functions, compiled
// into the tests).

#include "ctl/format.h"

#include <gtest/gtest.h>

#include "ctl/canned_replies.h"

namespace fetchd::ctl {
namespace {

using std::chrono::seconds;

TEST(CtlFormat, Latency) {
  EXPECT_EQ(format_latency(0), "0.00ms");
  EXPECT_EQ(format_latency(430), "0.43ms");
  EXPECT_EQ(format_latency(12345), "12.3ms");
  EXPECT_EQ(format_latency(999'949), "999.9ms");
  EXPECT_EQ(format_latency(1'250'000), "1.25s");
}

TEST(CtlFormat, RelativeTimes) {
  const auto now = test::fixed_now();
  EXPECT_EQ(format_relative(now, now), "just now");
  EXPECT_EQ(format_relative(now - std::chrono::milliseconds(400), now), "just now");
  EXPECT_EQ(format_relative(now - seconds(12), now), "12s ago");
  EXPECT_EQ(format_relative(now - seconds(312), now), "5m12s ago");
  EXPECT_EQ(format_relative(now - seconds(3 * 3600 + 5 * 60 + 7), now), "3h5m ago");
  EXPECT_EQ(format_relative(now - seconds(2 * 86400 + 3 * 3600), now), "2d3h ago");
  EXPECT_EQ(format_relative(now + seconds(3), now), "in 3s");
}

TEST(CtlFormat, ParsesTheDaemonsTimes) {
  EXPECT_EQ(parse_time("2026-11-25T14:00:00.000Z"), test::fixed_now());
  EXPECT_EQ(parse_time("2026-11-25T14:00:00Z"), test::fixed_now());
  EXPECT_EQ(parse_time("2026-11-25T13:59:47.250Z"),
            test::fixed_now() - std::chrono::milliseconds(12'750));
  EXPECT_EQ(parse_time(test::utc(test::fixed_now() - seconds(5))), test::fixed_now() - seconds(5));
  EXPECT_FALSE(parse_time("").has_value());
  EXPECT_FALSE(parse_time("yesterday").has_value());
  EXPECT_FALSE(parse_time("2026-11-25 14:00:00Z").has_value());
  EXPECT_FALSE(parse_time("2026-11-25T14:00:00.0x0Z").has_value());
  EXPECT_FALSE(parse_time("2026-11-25T14:00:00+01:00").has_value());
  // Found by the ctl_render fuzzer: the year 4052 overflowed system_clock's nanoseconds (UB).
  EXPECT_FALSE(parse_time("4052-11-25T11:54:48.000Z").has_value());
  EXPECT_FALSE(parse_time("1969-12-31T23:59:59Z").has_value());
  EXPECT_TRUE(parse_time("2261-12-31T23:59:59Z").has_value());
}

TEST(CtlFormat, TableAlignsPlainTextAndKeepsColourOutOfWidths) {
  const std::string table =
      format_table({{"A"}, {"NUM", true}, {"LAST"}},
                   {{{"x"}, {"1"}, {"long text"}}, {{"wider", "\033[31m"}, {"12345"}, {""}}});
  EXPECT_EQ(table,
            "A        NUM  LAST\n"
            "x          1  long text\n"
            "\033[31mwider\033[0m  12345\n");
}

}  // namespace
}  // namespace fetchd::ctl
