#include "scheduler/scheduler.h"

#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include "support/run_until.h"
#include "support/scripted_server.h"

namespace fetchd::scheduler {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace step = test::step;

struct Observed {
  std::string name;
  Clock::time_point started;
  Clock::time_point finished;
  http::FetchResult result;
};

class SchedulerTest : public ::testing::Test {
 protected:
  JobSpec job(const std::string& name, const test::ScriptedServer& server,
              std::chrono::milliseconds interval,
              const std::function<void(http::Target&)>& adjust = {}) {
    auto target = http::make_target(server.url("/" + name));
    EXPECT_TRUE(target);
    if (adjust)
      adjust(*target);
    return JobSpec{name, std::make_shared<const http::Target>(*target), interval};
  }

  Callbacks recording() {
    return Callbacks{
        .on_result =
            [this](const std::string& name, const http::FetchResult& result) {
              const auto now = Clock::now();
              observed_.push_back({name, now - result.total, now, result});
            },
        .on_skipped = [this](const std::string&, std::uint64_t slots) { skipped_ += slots; }};
  }

  std::size_t count_for(const std::string& name) const {
    return static_cast<std::size_t>(std::count_if(
        observed_.begin(), observed_.end(), [&](const Observed& o) { return o.name == name; }));
  }

  asio::io_context io_;
  dns::Resolver resolver_{io_.get_executor()};
  http::Fetcher fetcher_{resolver_};
  std::vector<Observed> observed_;
  std::uint64_t skipped_ = 0;
};

TEST(FirstOffset, IsDeterministicWithinTheIntervalAndSpread) {
  constexpr auto kInterval = 2000ms;
  std::array<int, 10> buckets{};
  for (int i = 0; i < 10000; ++i) {
    const std::string name = "target-" + std::to_string(i);
    const auto offset = first_offset(name, kInterval);
    ASSERT_EQ(offset, first_offset(name, kInterval));
    ASSERT_GE(offset, 0ms);
    ASSERT_LT(offset, kInterval);
    ++buckets[static_cast<std::size_t>(offset / (kInterval / 10))];
  }
  for (const int count : buckets) {
    EXPECT_GT(count, 850);
    EXPECT_LT(count, 1150);
  }
}

TEST(WakeTime, IsTheFirstGridPointAtOrAfterTheDueTime) {
  const Clock::time_point step(kWakeGrid * 1000);
  EXPECT_EQ(wake_time(step), step);
  EXPECT_EQ(wake_time(step + 1ns), step + kWakeGrid);
  EXPECT_EQ(wake_time(step + kWakeGrid - 1ns), step + kWakeGrid);
  // Any due time: woken late by less than one step, on the grid, and together with every other
  // job due in the same step.
  const auto now = Clock::now();
  for (auto due = now; due < now + 3 * kWakeGrid; due += 997us) {
    const auto wake = wake_time(due);
    EXPECT_GE(wake, due);
    EXPECT_LT(wake - due, kWakeGrid);
    EXPECT_EQ(wake.time_since_epoch() % kWakeGrid, Clock::duration::zero());
    EXPECT_EQ(wake_time(wake - kWakeGrid + 1ns), wake);
  }
}

TEST_F(SchedulerTest, FetchesAtAFixedRateWithoutDrift) {
  test::ScriptedServer server(io_.get_executor(),
                              test::respond_with("HTTP/1.1 204 No Content\r\n\r\n"));
  Scheduler scheduler(io_.get_executor(), fetcher_, 16, recording());
  const auto steady = scheduler.start(job("steady", server, 50ms));
  ASSERT_TRUE(test::run_until(
      io_, [&] { return observed_.size() == 12; }, 10s));
  scheduler.stop_all();
  for (const auto& o : observed_)
    ASSERT_TRUE(o.result.ok()) << o.result.error().message;
  // Each start lands on its slot: first + k * interval, so errors do not accumulate.
  const auto first = observed_.front().started;
  for (std::size_t k = 1; k < observed_.size(); ++k) {
    const auto expected = first + static_cast<int>(k) * 50ms;
    EXPECT_LT(std::chrono::abs(observed_[k].started - expected), 15ms) << k;
  }
  EXPECT_EQ(skipped_, 0u);
}

TEST_F(SchedulerTest, LatenessIsReadOncePerStartInOrder) {
  test::ScriptedServer server(io_.get_executor(),
                              test::respond_with("HTTP/1.1 204 No Content\r\n\r\n"));
  Scheduler scheduler(io_.get_executor(), fetcher_, 16, recording());
  const auto steady = scheduler.start(job("steady", server, 20ms));
  ASSERT_TRUE(test::run_until(
      io_, [&] { return observed_.size() == 3; }, 10s));
  std::uint64_t cursor = 0;
  std::vector<std::int64_t> samples;
  EXPECT_EQ(scheduler.read_lateness(cursor, samples), 0u);
  EXPECT_EQ(cursor, scheduler.stats().fetches_started);
  EXPECT_EQ(samples.size(), cursor);
  ASSERT_TRUE(test::run_until(
      io_, [&] { return observed_.size() == 6; }, 10s));
  scheduler.stop_all();
  const auto first_read = samples.size();
  scheduler.read_lateness(cursor, samples);
  EXPECT_EQ(samples.size(), scheduler.stats().fetches_started);
  EXPECT_GT(samples.size(), first_read);
  EXPECT_EQ(scheduler.recent_lateness_us(), samples);  // all within the last minute
}

TEST_F(SchedulerTest, AnOverrunningTargetIsSkippedNeverRunTwice) {
  // Each response takes 130 ms; the interval is 50 ms.
  test::ScriptedServer server(
      io_.get_executor(),
      test::Script{step::ReadRequest{}, step::Pause{130ms},
                   step::Send{"HTTP/1.1 204 No Content\r\n\r\n"}, step::Close{}});
  Scheduler scheduler(io_.get_executor(), fetcher_, 16, recording());
  const auto slow = scheduler.start(job("slow", server, 50ms));
  std::size_t most_open = 0;
  ASSERT_TRUE(test::run_until(
      io_,
      [&] {
        most_open = std::max(most_open, server.open_connections());
        return observed_.size() == 5;
      },
      10s));
  scheduler.stop_all();
  EXPECT_EQ(most_open, 1u);
  for (std::size_t k = 1; k < observed_.size(); ++k) {
    EXPECT_GE(observed_[k].started, observed_[k - 1].finished) << k;
  }
  EXPECT_GE(skipped_, 4u * 2);  // each 130 ms fetch passes two 50 ms slots
}

TEST_F(SchedulerTest, MaxInFlightBoundsConcurrentFetches) {
  test::ScriptedServer server(
      io_.get_executor(),
      test::Script{step::ReadRequest{}, step::Pause{40ms},
                   step::Send{"HTTP/1.1 204 No Content\r\n\r\n"}, step::Close{}});
  Scheduler scheduler(io_.get_executor(), fetcher_, 3, recording());
  std::vector<JobHandle> jobs;
  for (int i = 0; i < 12; ++i)
    jobs.push_back(scheduler.start(job("t" + std::to_string(i), server, 100ms)));
  std::size_t most_open = 0;
  std::size_t most_in_flight = 0;
  ASSERT_TRUE(test::run_until(
      io_,
      [&] {
        most_open = std::max(most_open, server.open_connections());
        most_in_flight = std::max(most_in_flight, scheduler.stats().in_flight);
        return observed_.size() >= 36;
      },
      20s));
  scheduler.stop_all();
  EXPECT_LE(most_open, 3u);
  EXPECT_EQ(most_in_flight, 3u);
  for (int i = 0; i < 12; ++i)
    EXPECT_GE(count_for("t" + std::to_string(i)), 1u) << i;
}

// Issue 10's fairness fault: silent targets, each holding a permit for its whole timeout, took
// every permit and the targets that answer waited behind them. After their first timeout the
// silent ones hold at most half the permits, and the answering target keeps its schedule.
TEST_F(SchedulerTest, SilentTargetsCannotStarveOnesThatAnswer) {
  test::ScriptedServer silent(io_.get_executor(), test::Script{step::ReadRequest{}, step::Hang{}});
  test::ScriptedServer prompt(io_.get_executor(),
                              test::respond_with("HTTP/1.1 204 No Content\r\n\r\n"));
  Scheduler scheduler(io_.get_executor(), fetcher_, 4, recording());
  std::vector<JobHandle> jobs;
  for (int i = 0; i < 12; ++i) {
    jobs.push_back(scheduler.start(job("silent" + std::to_string(i), silent, 50ms,
                                       [](http::Target& t) { t.timeout = 200ms; })));
  }
  // Every silent target has timed out once: from now on they ask in the slow lane.
  ASSERT_TRUE(test::run_until(
      io_, [&] { return observed_.size() >= 12; }, 20s));
  jobs.push_back(scheduler.start(job("answers", prompt, 50ms)));
  std::size_t most_slow = 0;
  ASSERT_TRUE(test::run_until(
      io_,
      [&] {
        most_slow = std::max(most_slow, scheduler.stats().slow_in_flight);
        return count_for("answers") >= 10;
      },
      20s));
  scheduler.stop_all();
  EXPECT_LE(most_slow, 2u);
  // Ten fetches of a 50 ms schedule: had it waited behind the silent ones (4 permits, 12 targets of
  // 200 ms each), every fetch would have started 600 ms late.
  std::vector<Clock::time_point> starts;
  for (const auto& o : observed_) {
    if (o.name == "answers")
      starts.push_back(o.started);
  }
  EXPECT_LT(starts.back() - starts.front(), 9 * 50ms + 300ms);
}

TEST_F(SchedulerTest, StoppingAJobCancelsItsFetchAtOnceAndReportsNothing) {
  test::ScriptedServer server(io_.get_executor(), test::Script{step::ReadRequest{}, step::Hang{}});
  Scheduler scheduler(io_.get_executor(), fetcher_, 16, recording());
  auto spec = job("hanging", server, 20ms, [](http::Target& target) { target.timeout = 30s; });
  auto hanging = scheduler.start(spec);
  ASSERT_TRUE(test::run_until(
      io_, [&] { return server.open_connections() == 1; }, 5s));
  hanging = {};
  EXPECT_FALSE(hanging);
  EXPECT_EQ(scheduler.stats().jobs, 0u);
  ASSERT_TRUE(test::run_until(
      io_, [&] { return server.open_connections() == 0; }, 1s));
  EXPECT_TRUE(observed_.empty());
  EXPECT_EQ(scheduler.stats().in_flight, 0u);
  EXPECT_EQ(scheduler.fetch_now(hanging), Scheduler::Trigger::not_found);
}

// The registry drops an entry, and with it the handle: the job stops as it would on stop.
TEST_F(SchedulerTest, DroppingTheHandleStopsTheJob) {
  test::ScriptedServer server(io_.get_executor(), test::Script{step::ReadRequest{}, step::Hang{}});
  Scheduler scheduler(io_.get_executor(), fetcher_, 16, recording());
  {
    const auto dropped =
        scheduler.start(job("hanging", server, 20ms, [](http::Target& t) { t.timeout = 30s; }));
    ASSERT_TRUE(test::run_until(
        io_, [&] { return server.open_connections() == 1; }, 5s));
  }
  ASSERT_TRUE(test::run_until(
      io_, [&] { return server.open_connections() == 0; }, 1s));
  EXPECT_TRUE(observed_.empty());
  EXPECT_EQ(scheduler.stats().jobs, 0u);
}

TEST_F(SchedulerTest, RestartingAJobReplacesItsSettings) {
  test::ScriptedServer server(io_.get_executor(),
                              test::respond_with("HTTP/1.1 204 No Content\r\n\r\n"));
  Scheduler scheduler(io_.get_executor(), fetcher_, 16, recording());
  auto a = scheduler.start(job("a", server, 30ms));
  ASSERT_TRUE(test::run_until(
      io_, [&] { return observed_.size() >= 1; }, 5s));
  auto changed =
      job("a", server, 30ms, [](http::Target& target) { target.url.target = "/changed"; });
  a = scheduler.start(changed);
  EXPECT_EQ(scheduler.stats().jobs, 1u);
  EXPECT_EQ(a.spec().target->url.target, "/changed");
  const auto before = observed_.size();
  ASSERT_TRUE(test::run_until(
      io_, [&] { return observed_.size() >= before + 2; }, 5s));
  scheduler.stop_all();
  EXPECT_EQ(observed_.back().result.last().url.target, "/changed");
  EXPECT_EQ(scheduler.stats().jobs, 0u);
}

}  // namespace
}  // namespace fetchd::scheduler

namespace fetchd::scheduler {
namespace {

TEST_F(SchedulerTest, FetchNowRunsOnceOutsideTheScheduleAndIsBusyMeanwhile) {
  test::ScriptedServer server(
      io_.get_executor(),
      test::Script{step::ReadRequest{}, step::Pause{100ms},
                   step::Send{"HTTP/1.1 204 No Content\r\n\r\n"}, step::Close{}});
  Scheduler scheduler(io_.get_executor(), fetcher_, 16, recording());
  const auto hourly = scheduler.start(job("hourly", server, std::chrono::hours(1)));
  std::optional<http::FetchResult> triggered;
  EXPECT_EQ(scheduler.fetch_now(hourly, [&](const http::FetchResult& r) { triggered = r; }),
            Scheduler::Trigger::started);
  EXPECT_EQ(scheduler.fetch_now(hourly), Scheduler::Trigger::busy);
  EXPECT_EQ(scheduler.fetch_now(JobHandle{}), Scheduler::Trigger::not_found);
  ASSERT_TRUE(test::run_until(
      io_, [&] { return triggered.has_value(); }, 5s));
  EXPECT_TRUE(triggered->ok()) << triggered->error().message;
  ASSERT_EQ(observed_.size(), 1u);  // reported like a scheduled fetch too
  EXPECT_EQ(scheduler.fetch_now(hourly), Scheduler::Trigger::started);
  scheduler.stop_all();
  ASSERT_TRUE(test::run_until(
      io_, [&] { return server.open_connections() == 0; }, 2s));
  EXPECT_EQ(observed_.size(), 1u);  // the stopped one reports nothing
}

}  // namespace
}  // namespace fetchd::scheduler
