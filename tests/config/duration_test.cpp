#include "config/duration.h"

#include <gtest/gtest.h>

namespace fetchd::config {
namespace {

using std::chrono::milliseconds;

TEST(Duration, ParsesEachUnitAndCombinations) {
  const struct {
    const char* text;
    long long ms;
  } cases[] = {
      {"250ms", 250},           {"30s", 30'000},     {"5m", 300'000},
      {"1h", 3'600'000},        {"0s", 0},           {"1m30s", 90'000},
      {"2s500ms", 2'500},       {"1h5m", 3'900'000}, {"1h0m1s", 3'601'000},
      {"1h2m3s4ms", 3'723'004}, {"90s", 90'000},     {"007s", 7'000},
  };
  for (const auto& c : cases) {
    auto parsed = parse_duration(c.text);
    ASSERT_TRUE(parsed) << c.text << ": " << parsed.error().message;
    EXPECT_EQ(parsed->count(), c.ms) << c.text;
  }
}

TEST(Duration, RejectsWithAReason) {
  const struct {
    const char* text;
    const char* message;
  } cases[] = {
      {"", "empty duration"},
      {"30", "missing unit (use ms, s, m or h)"},
      {"30x", "unknown unit \"x\" (use ms, s, m or h)"},
      {"30sec", "unknown unit \"sec\" (use ms, s, m or h)"},
      {"30S", "unknown unit \"S\" (use ms, s, m or h)"},
      {"1.5s", "fractions are not supported (write \"1500ms\" for 1.5s)"},
      {"-5s", "negative durations are not allowed"},
      {"s", "expected a number at \"s\""},
      {" 5s", "expected a number at \" 5s\""},
      {"5s ", "expected a number at \" \""},
      {"30s1m", "units must go from largest to smallest, each at most once (\"1m30s\")"},
      {"1s1s", "units must go from largest to smallest, each at most once (\"1m30s\")"},
      {"10001h", "too long (at most 10000h)"},
      {"99999999999999999999ms", "too long (at most 10000h)"},
  };
  for (const auto& c : cases) {
    auto parsed = parse_duration(c.text);
    ASSERT_FALSE(parsed) << c.text;
    EXPECT_EQ(parsed.error().message, c.message) << c.text;
  }
}

TEST(Duration, FormatsTheShortestFormThatReadsBack) {
  EXPECT_EQ(format_duration(milliseconds(0)), "0s");
  EXPECT_EQ(format_duration(milliseconds(250)), "250ms");
  EXPECT_EQ(format_duration(milliseconds(30'000)), "30s");
  EXPECT_EQ(format_duration(milliseconds(90'000)), "1m30s");
  EXPECT_EQ(format_duration(milliseconds(3'600'000)), "1h");
  EXPECT_EQ(format_duration(milliseconds(3'601'500)), "1h1s500ms");
  for (long long ms : {1LL, 999LL, 1'000LL, 61'001LL, 86'400'000LL, 36'000'000'000LL}) {
    auto back = parse_duration(format_duration(milliseconds(ms)));
    ASSERT_TRUE(back) << ms;
    EXPECT_EQ(back->count(), ms);
  }
}

TEST(Duration, FormatsForPeople) {
  using namespace std::chrono_literals;
  const struct {
    std::chrono::microseconds duration;
    const char* text;
  } cases[] = {
      {-5s, "0ms"},
      {0us, "0ms"},
      {999us, "0ms"},
      {1ms, "1ms"},
      {850ms, "850ms"},
      {999999us, "999ms"},
      {1s, "1s"},
      {45s, "45s"},
      {59999ms, "59s"},
      {60s, "1m"},
      {5min + 2s, "5m2s"},
      {59min + 59s, "59m59s"},
      {1h, "1h"},
      {2h + 13min, "2h13m"},
      {2h + 13min + 59s, "2h13m"},
      {23h + 59min, "23h59m"},
      {24h, "1d"},
      {76h, "3d4h"},
      {24h * 400, "400d"},
  };
  for (const auto& c : cases)
    EXPECT_EQ(format_for_people(c.duration), c.text) << c.duration.count() << "us";
}

// fetchctl's ages and uptimes come in whole seconds.
TEST(Duration, FormatsWholeSecondsForPeople) {
  using namespace std::chrono_literals;
  EXPECT_EQ(format_for_people(0s, Precision::seconds), "0s");
  EXPECT_EQ(format_for_people(999ms, Precision::seconds), "0s");
  EXPECT_EQ(format_for_people(42s, Precision::seconds), "42s");
  EXPECT_EQ(format_for_people(312s, Precision::seconds), "5m12s");
  EXPECT_EQ(format_for_people(1h, Precision::seconds), "1h");
  EXPECT_EQ(format_for_people(51h, Precision::seconds), "2d3h");
}

}  // namespace
}  // namespace fetchd::config
