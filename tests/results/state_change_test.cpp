#include "results/state_change.h"

#include <gtest/gtest.h>

namespace fetchd::results {
namespace {

using namespace std::chrono_literals;

TEST(ResultsLogLine, Down) {
  StateChange change;
  change.name = "api.example";
  change.from = State::up;
  change.to = State::down;
  change.reason = "connect refused";
  change.streak = 1;
  change.previous_streak = 3;
  change.previous_state_lasted = 2h + 13min + 5s;
  EXPECT_EQ(format_log_line(change),
            "api.example is DOWN: connect refused after 3 successes; was UP for 2h13m");
}

TEST(ResultsLogLine, UpAgain) {
  StateChange change;
  change.name = "api.example";
  change.from = State::down;
  change.to = State::up;
  change.reason = "200 OK";
  change.streak = 1;
  change.previous_streak = 4;
  change.previous_state_lasted = 5min + 2s + 300ms;
  EXPECT_EQ(format_log_line(change),
            "api.example is UP again: 200 OK after 4 failures; was DOWN for 5m2s");
}

TEST(ResultsLogLine, NamesTheDecidingStreakWhenLongerThanOne) {
  StateChange change;
  change.name = "db";
  change.from = State::up;
  change.to = State::down;
  change.reason = "timeout: timed out after 10000 ms during connect";
  change.streak = 3;
  change.previous_streak = 1;
  change.previous_state_lasted = 45s;
  EXPECT_EQ(format_log_line(change),
            "db is DOWN: timeout: timed out after 10000 ms during connect (3 failures in a row) "
            "after 1 success; was UP for 45s");
  change.from = State::down;
  change.to = State::up;
  change.reason = "204 No Content";
  change.streak = 2;
  change.previous_streak = 1;
  change.previous_state_lasted = 850ms;
  EXPECT_EQ(format_log_line(change),
            "db is UP again: 204 No Content (2 successes in a row) after 1 failure; was DOWN for "
            "850ms");
}

TEST(ResultsLogLine, FromUnknownWithoutAPreviousStreak) {
  StateChange change;
  change.name = "www.163.com";
  change.from = State::unknown;
  change.to = State::up;
  change.reason = "200 OK";
  change.streak = 1;
  change.previous_state_lasted = 1200ms;
  EXPECT_EQ(format_log_line(change), "www.163.com is UP: 200 OK; was UNKNOWN for 1s");
  change.to = State::down;
  change.reason = "dns: www.163.com: Domain name not found";
  EXPECT_EQ(format_log_line(change),
            "www.163.com is DOWN: dns: www.163.com: Domain name not found; was UNKNOWN for 1s");
}

TEST(ResultsLogLine, StateNames) {
  EXPECT_EQ(to_string(State::unknown), "unknown");
  EXPECT_EQ(to_string(State::up), "up");
  EXPECT_EQ(to_string(State::down), "down");
  EXPECT_EQ(parse_state("down"), State::down);
  EXPECT_EQ(parse_state("up"), State::up);
  EXPECT_EQ(parse_state("unknown"), State::unknown);
  EXPECT_EQ(parse_state("DOWN"), std::nullopt);
  EXPECT_EQ(parse_state(""), std::nullopt);
}

}  // namespace
}  // namespace fetchd::results
