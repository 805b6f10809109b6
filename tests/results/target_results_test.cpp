#include "results/target_results.h"

#include <gtest/gtest.h>

#include "results/fake_results.h"

namespace fetchd::results {
namespace {

using namespace std::chrono_literals;
using test::kEpoch;

constexpr auto kStep = 10s;

char letter(State state) {
  switch (state) {
    case State::unknown:
      return 'u';
    case State::up:
      return 'U';
    case State::down:
      return 'D';
  }
  return '?';
}

// Feeds a sequence (S success, F connect failure, E failed expectation, C cancelled; one attempt
// every 10 s from kEpoch) and returns the state after each attempt, e.g. "uUUD".
std::string run(TargetResults& results, std::string_view sequence,
                std::vector<StateChange>* changes = nullptr) {
  std::string states;
  auto time = kEpoch;
  for (char kind : sequence) {
    time += kStep;
    Attempt attempt;
    switch (kind) {
      case 'S':
        attempt = test::success(time);
        break;
      case 'F':
        attempt = test::failure(time);
        break;
      case 'E':
        attempt = test::expectation_failure(time, "status 500 not in 200-399");
        break;
      case 'C':
        attempt = test::cancelled(time);
        break;
      default:
        ADD_FAILURE() << "bad step " << kind;
        continue;
    }
    const State before = results.state();
    auto change = results.record(std::move(attempt));
    if (change) {
      EXPECT_EQ(change->from, before);
      EXPECT_EQ(change->to, results.state());
      EXPECT_NE(change->from, change->to);
      if (changes)
        changes->push_back(*change);
    } else {
      EXPECT_EQ(results.state(), before);
    }
    states += letter(results.state());
  }
  return states;
}

std::string run(FlapPolicy policy, std::string_view sequence,
                std::vector<StateChange>* changes = nullptr) {
  TargetResults results(policy, kDefaultHistoryLength, kEpoch);
  return run(results, sequence, changes);
}

TEST(StateMachine, Table) {
  const struct {
    std::uint32_t down_after;
    std::uint32_t up_after;
    const char* sequence;
    const char* states;
  } cases[] = {
      // Defaults: every attempt decides.
      {1, 1, "S", "U"},
      {1, 1, "F", "D"},
      {1, 1, "SFSF", "UDUD"},
      {1, 1, "SSSFFS", "UUUDDU"},
      {1, 1, "E", "D"},
      // 0 means 1.
      {0, 0, "SF", "UD"},
      // down_after=3, up_after=2: from unknown, the first decisive streak decides.
      {3, 2, "S", "u"},
      {3, 2, "SS", "uU"},
      {3, 2, "FF", "uu"},
      {3, 2, "FFF", "uuD"},
      {3, 2, "FFSS", "uuuU"},
      {3, 2, "SFFF", "uuuD"},
      // Flapping from unknown never decides.
      {3, 2, "SFSFSFSF", "uuuuuuuu"},
      {3, 2, "FFSFFSFFS", "uuuuuuuuu"},
      // Flapping while up: short failure streaks do not take it down.
      {3, 2, "SSFFSFFSF", "uUUUUUUUU"},
      {3, 2, "SSFFSFFF", "uUUUUUUD"},
      // Down, one success is not enough to come back; two are.
      {3, 2, "SSFFFSFSS", "uUUUDDDDU"},
      {3, 2, "FFFSFSFSS", "uuDDDDDDU"},
      // Long streaks change nothing more.
      {3, 2, "SSSSSS", "uUUUUU"},
      {3, 2, "FFFFFF", "uuDDDD"},
      // Failed expectations are failures.
      {3, 2, "SSEFE", "uUUUD"},
      // Cancelled attempts count neither way and do not break a streak.
      {3, 2, "C", "u"},
      {3, 2, "SCS", "uuU"},
      {3, 2, "SSFFCF", "uUUUUD"},
      {3, 2, "SSFCFSF", "uUUUUUU"},
      {1, 1, "SCCC", "UUUU"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(run(FlapPolicy{c.down_after, c.up_after}, c.sequence), c.states)
        << "down_after=" << c.down_after << " up_after=" << c.up_after << " " << c.sequence;
  }
}

TEST(StateMachine, ChangeCarriesStreaksTimesAndReason) {
  std::vector<StateChange> changes;
  // Attempts at +10s, +20s, ...: UP decided at +20s, DOWN at +80s, UP again at +120s.
  EXPECT_EQ(run(FlapPolicy{3, 2}, "SSSFSFFFFSS", &changes), "uUUUUUUDDDU");
  ASSERT_EQ(changes.size(), 3u);

  EXPECT_EQ(changes[0].name, "");
  EXPECT_EQ(changes[0].from, State::unknown);
  EXPECT_EQ(changes[0].to, State::up);
  EXPECT_EQ(changes[0].at, kEpoch + 20s);
  EXPECT_EQ(changes[0].reason, "200 OK");
  EXPECT_EQ(changes[0].streak, 2u);
  EXPECT_EQ(changes[0].previous_streak, 0u);
  EXPECT_EQ(changes[0].previous_state_lasted, 20s);

  EXPECT_EQ(changes[1].from, State::up);
  EXPECT_EQ(changes[1].to, State::down);
  EXPECT_EQ(changes[1].at, kEpoch + 80s);
  EXPECT_EQ(changes[1].reason, "connect to 10.0.0.1:443: Connection refused");
  EXPECT_EQ(changes[1].streak, 3u);
  EXPECT_EQ(changes[1].previous_streak, 1u);  // the lone success at +50s
  EXPECT_EQ(changes[1].previous_state_lasted, 60s);

  EXPECT_EQ(changes[2].from, State::down);
  EXPECT_EQ(changes[2].to, State::up);
  EXPECT_EQ(changes[2].at, kEpoch + 110s);
  EXPECT_EQ(changes[2].streak, 2u);
  EXPECT_EQ(changes[2].previous_streak, 4u);
  EXPECT_EQ(changes[2].previous_state_lasted, 30s);
}

TEST(StateMachine, TheOperatorsLogLines) {
  TargetResults results(FlapPolicy{}, kDefaultHistoryLength, kEpoch);
  for (int i = 0; i < 3; ++i)
    results.record(test::success(kEpoch + std::chrono::seconds(i)));
  const auto down_at = kEpoch + 2s + 2h + 13min + 7s;
  auto down = results.record(test::failure(down_at));
  ASSERT_TRUE(down);
  down->name = "api.example";
  EXPECT_EQ(format_log_line(*down),
            "api.example is DOWN: connect to 10.0.0.1:443: Connection refused after 3 successes; "
            "was UP for 2h13m");
  for (int i = 1; i < 4; ++i)
    EXPECT_FALSE(results.record(test::failure(down_at + std::chrono::seconds(i))));
  auto up = results.record(test::success(down_at + 5min + 2s));
  ASSERT_TRUE(up);
  up->name = "api.example";
  EXPECT_EQ(format_log_line(*up),
            "api.example is UP again: 200 OK after 4 failures; was DOWN for 5m2s");
  auto expectation =
      results.record(test::expectation_failure(down_at + 6min, "status 500 not in 200-399"));
  ASSERT_TRUE(expectation);
  expectation->name = "api.example";
  EXPECT_EQ(format_log_line(*expectation),
            "api.example is DOWN: expectation failed: status 500 not in 200-399 after 1 success; "
            "was UP for 58s");
}

TEST(StateMachine, ReasonsStartWithTheOutcome) {
  const auto reason_of = [](Attempt attempt) {
    TargetResults results(FlapPolicy{}, 10, kEpoch);
    auto change = results.record(std::move(attempt));
    return change ? change->reason : std::string("(no change)");
  };
  EXPECT_EQ(reason_of(Attempt{test::ok_result(kEpoch, 204, "No Content"), ""}), "204 No Content");
  EXPECT_EQ(reason_of(Attempt{test::ok_result(kEpoch, 200, ""), ""}), "200");
  EXPECT_EQ(reason_of(Attempt{test::error_result(kEpoch, http::ErrorClass::dns,
                                                 "x.example: Domain name not found"),
                              ""}),
            "dns: x.example: Domain name not found");
  EXPECT_EQ(reason_of(Attempt{test::error_result(kEpoch, http::ErrorClass::connect,
                                                 "cannot open a socket: Too many open files"),
                              ""}),
            "connect: cannot open a socket: Too many open files");
  EXPECT_EQ(reason_of(Attempt{
                test::error_result(kEpoch, http::ErrorClass::connect, "connection reset"), ""}),
            "connect: connection reset");
  EXPECT_EQ(reason_of(Attempt{test::error_result(kEpoch, http::ErrorClass::io, ""), ""}), "io");
  EXPECT_EQ(reason_of(Attempt{test::error_result(kEpoch, http::ErrorClass::timeout,
                                                 "timed out after 500 ms during connect"),
                              "ignored: the fetch failed"}),
            "timeout: timed out after 500 ms during connect");
  EXPECT_EQ(reason_of(Attempt{http::FetchResult{}, ""}), "io: no response");
}

TEST(StateMachine, PolicyChangeKeepsStateAndStreaks) {
  TargetResults results(FlapPolicy{3, 1}, 10, kEpoch);
  EXPECT_EQ(run(results, "SFF"), "UUU");
  results.set_policy(FlapPolicy{2, 1});
  EXPECT_EQ(results.state(), State::up);  // applies from the next attempt on
  std::vector<StateChange> changes;
  EXPECT_EQ(run(results, "F", &changes), "D");
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].streak, 3u);
}

TEST(TargetResults, StartsUnknownAndEmpty) {
  TargetResults results(FlapPolicy{2, 3}, 50, kEpoch);
  const Summary summary = results.summary();
  EXPECT_EQ(summary.state, State::unknown);
  EXPECT_EQ(summary.state_since, kEpoch);
  EXPECT_EQ(summary.totals, Totals{});
  EXPECT_FALSE(summary.last_success);
  EXPECT_FALSE(summary.last_failure);
  EXPECT_FALSE(summary.last);
  EXPECT_FALSE(summary.latency);
  EXPECT_EQ(summary.policy, (FlapPolicy{2, 3}));
  EXPECT_EQ(summary.history_size, 0u);
  EXPECT_EQ(summary.history_length, 50u);
  EXPECT_EQ(results.latest(), nullptr);
  EXPECT_EQ(results.latest_failure(), nullptr);
  EXPECT_EQ(results.history().heap_bytes(), 0u);
}

TEST(TargetResults, KeepsLatestAndLatestFailureInFull) {
  TargetResults results(FlapPolicy{}, 10, kEpoch);
  results.record(test::success(kEpoch + 1s));
  ASSERT_NE(results.latest(), nullptr);
  EXPECT_EQ(results.latest()->outcome, Outcome::ok);
  EXPECT_EQ(results.latest()->result.last().headers.size(), 2u);
  EXPECT_EQ(results.latest_failure(), nullptr);

  results.record(test::failure(kEpoch + 2s));
  ASSERT_NE(results.latest_failure(), nullptr);
  EXPECT_EQ(results.latest(), results.latest_failure());  // one object, not two copies
  EXPECT_EQ(results.latest_failure()->outcome, Outcome::connect);

  auto held = results.latest_failure();  // a reader holding on while results arrive
  results.record(test::success(kEpoch + 3s));
  results.record(test::success(kEpoch + 4s));
  EXPECT_EQ(results.latest()->result.started, kEpoch + 4s);
  EXPECT_EQ(results.latest()->outcome, Outcome::ok);
  EXPECT_EQ(results.latest_failure(), held);
  EXPECT_EQ(held->result.started, kEpoch + 2s);

  results.record(test::expectation_failure(kEpoch + 5s, "status 500 not in 200-399"));
  EXPECT_EQ(results.latest_failure()->outcome, Outcome::expectation);
  EXPECT_EQ(results.latest_failure()->failed_expectation, "status 500 not in 200-399");
  EXPECT_EQ(results.latest_failure()->result.last().status, 500);

  // A cancelled attempt is the latest, but not a failure.
  results.record(test::cancelled(kEpoch + 6s));
  EXPECT_EQ(results.latest()->outcome, Outcome::cancelled);
  EXPECT_EQ(results.latest_failure()->outcome, Outcome::expectation);
}

TEST(TargetResults, DropsTheBodyButKeepsItsSize) {
  TargetResults results(FlapPolicy{}, 10, kEpoch);
  results.record(test::success(kEpoch));
  ASSERT_NE(results.latest(), nullptr);
  EXPECT_TRUE(results.latest()->result.last().body.empty());
  EXPECT_EQ(results.latest()->result.last().body_bytes, 5u);
}

TEST(TargetResults, CountsTotalsAndTimes) {
  TargetResults results(FlapPolicy{}, 3, kEpoch);
  run(results, "SSFCSEF");  // attempts at +10s .. +70s
  results.record_skipped();
  results.record_skipped(4);
  const Summary summary = results.summary();
  EXPECT_EQ(summary.totals.attempts, 7u);
  EXPECT_EQ(summary.totals.successes, 3u);
  EXPECT_EQ(summary.totals.failures, 3u);
  EXPECT_EQ(summary.totals.cancelled, 1u);
  EXPECT_EQ(summary.totals.skipped, 5u);
  EXPECT_EQ(summary.last_success, kEpoch + 50s);
  EXPECT_EQ(summary.last_failure, kEpoch + 70s);
  EXPECT_EQ(summary.consecutive_failures, 2u);
  EXPECT_EQ(summary.consecutive_successes, 0u);
  EXPECT_EQ(summary.state, State::down);
  EXPECT_EQ(summary.state_since, kEpoch + 60s);
  ASSERT_TRUE(summary.last);
  EXPECT_EQ(summary.last->time(), kEpoch + 70s);
  EXPECT_EQ(summary.last->outcome, Outcome::connect);
  EXPECT_EQ(summary.history_size, 3u);
  // Skips are not attempts: nothing in the history for them.
  EXPECT_EQ(results.history()[0].time(), kEpoch + 50s);
}

TEST(TargetResults, LatencyPercentilesOverSuccessesInTheHistory) {
  TargetResults results(FlapPolicy{}, 100, kEpoch);
  // 1..100 ms in shuffled order, with failures in between that must not count.
  for (int i = 0; i < 100; ++i) {
    const int ms = (i * 37) % 100 + 1;
    results.record(test::success(kEpoch + std::chrono::seconds(i), std::chrono::milliseconds(ms)));
  }
  auto latency = results.summary().latency;
  ASSERT_TRUE(latency);
  EXPECT_EQ(*latency, (Latency{100, 1'000, 50'000, 95'000, 100'000}));

  // Failures push the oldest successes out of the ring but are not samples themselves.
  for (int i = 0; i < 90; ++i)
    results.record(test::failure(kEpoch + 200s + std::chrono::seconds(i)));
  latency = results.summary().latency;
  ASSERT_TRUE(latency);
  EXPECT_EQ(latency->samples, 10u);
}

TEST(TargetResults, LatencyNearestRank) {
  const auto latency_for = [](std::vector<int> millis) {
    TargetResults results(FlapPolicy{}, 100, kEpoch);
    for (std::size_t i = 0; i < millis.size(); ++i)
      results.record(
          test::success(kEpoch + std::chrono::seconds(i), std::chrono::milliseconds(millis[i])));
    return results.summary().latency;
  };
  EXPECT_EQ(latency_for({7}), (Latency{1, 7'000, 7'000, 7'000, 7'000}));
  EXPECT_EQ(latency_for({40, 10, 30, 20}), (Latency{4, 10'000, 20'000, 40'000, 40'000}));
  // 20 samples: p95 is the 19th smallest, p50 the 10th.
  std::vector<int> twenty;
  for (int i = 20; i >= 1; --i)
    twenty.push_back(i);
  EXPECT_EQ(latency_for(twenty), (Latency{20, 1'000, 10'000, 19'000, 20'000}));

  TargetResults only_failures(FlapPolicy{}, 100, kEpoch);
  run(only_failures, "FFE");
  EXPECT_FALSE(only_failures.summary().latency);
}

TEST(TargetResults, HistoryLengthChangeKeepsNewest) {
  TargetResults results(FlapPolicy{}, 5, kEpoch);
  run(results, "SSSSSSSF");  // +10s .. +80s; the ring holds +40s .. +80s
  results.set_history_length(2);
  ASSERT_EQ(results.history().size(), 2u);
  EXPECT_EQ(results.history()[0].time(), kEpoch + 70s);
  EXPECT_EQ(results.history()[1].time(), kEpoch + 80s);
  EXPECT_EQ(results.summary().history_length, 2u);
  EXPECT_EQ(results.summary().totals.attempts, 8u);  // totals are not history
}

TEST(TargetResults, EmptyObjectIsSmall) {
  // 100,000 targets must fit in 16 KiB each with full history (100 x 32 B entries, the latest
  // result and failure) and uptime (about 1.9 KB of buckets); the object itself is a small part
  // of it (a third of it the counters by outcome that metrics export, 80 B the uptime's rings).
  EXPECT_LE(sizeof(TargetResults), 352u);
}

}  // namespace
}  // namespace fetchd::results
