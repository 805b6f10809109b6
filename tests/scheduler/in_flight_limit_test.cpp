#include "scheduler/in_flight_limit.h"

#include <vector>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include "support/run_until.h"

namespace fetchd::scheduler {
namespace {

using namespace std::chrono_literals;

// Holds a permit until `hold` is cancelled, recording the order permits were granted in.
asio::awaitable<void> holder(InFlightLimit& limit, int id, std::vector<int>& granted,
                             asio::steady_timer& hold,
                             InFlightLimit::Lane lane = InFlightLimit::Lane::prompt) {
  auto permit = co_await limit.acquire(lane);
  if (!permit)
    co_return;
  granted.push_back(id);
  co_await hold.async_wait(asio::use_awaitable);
}

TEST(InFlightLimit, AdmitsAtMostTheLimitInFifoOrder) {
  asio::io_context io;
  InFlightLimit limit(2);
  std::vector<int> granted;
  std::vector<std::unique_ptr<asio::steady_timer>> holds;
  int finished = 0;
  for (int i = 0; i < 5; ++i) {
    holds.push_back(
        std::make_unique<asio::steady_timer>(io, asio::steady_timer::time_point::max()));
    asio::co_spawn(io, holder(limit, i, granted, *holds.back()),
                   [&](std::exception_ptr) { ++finished; });
  }
  ASSERT_TRUE(test::run_until(io, [&] { return granted.size() == 2; }));
  io.poll();
  EXPECT_EQ(granted, (std::vector<int>{0, 1}));
  EXPECT_EQ(limit.in_use(), 2u);
  EXPECT_EQ(limit.waiting(), 3u);

  holds[1]->cancel();
  ASSERT_TRUE(test::run_until(io, [&] { return granted.size() == 3; }));
  EXPECT_EQ(granted.back(), 2);
  EXPECT_EQ(limit.in_use(), 2u);

  limit.set_limit(4);
  ASSERT_TRUE(test::run_until(io, [&] { return granted.size() == 5; }));
  EXPECT_EQ(granted, (std::vector<int>{0, 1, 2, 3, 4}));
  for (auto& hold : holds)
    hold->cancel();
  ASSERT_TRUE(test::run_until(io, [&] { return finished == 5; }));
  EXPECT_EQ(limit.in_use(), 0u);
}

TEST(InFlightLimit, CancelledWaiterLeavesTheQueueWithoutAPermit) {
  asio::io_context io;
  InFlightLimit limit(1);
  std::vector<int> granted;
  asio::steady_timer first_hold(io, asio::steady_timer::time_point::max());
  asio::steady_timer second_hold(io, asio::steady_timer::time_point::max());
  asio::cancellation_signal cancel_second;
  bool second_done = false;
  asio::co_spawn(io, holder(limit, 1, granted, first_hold), [](std::exception_ptr) {});
  asio::co_spawn(io, holder(limit, 2, granted, second_hold),
                 asio::bind_cancellation_slot(cancel_second.slot(),
                                              [&](std::exception_ptr) { second_done = true; }));
  ASSERT_TRUE(test::run_until(io, [&] { return limit.waiting() == 1; }));
  cancel_second.emit(asio::cancellation_type::terminal);
  ASSERT_TRUE(test::run_until(io, [&] { return second_done; }));
  EXPECT_EQ(limit.waiting(), 0u);
  EXPECT_EQ(limit.in_use(), 1u);
  first_hold.cancel();
  ASSERT_TRUE(test::run_until(io, [&] { return limit.in_use() == 0; }));
  EXPECT_EQ(granted, (std::vector<int>{1}));
}

using Lane = InFlightLimit::Lane;

// Holders in either lane, each holding its permit until its timer is cancelled.
struct Holders {
  struct Seen {
    std::vector<int> granted;  // ids in the order their permits came
    std::vector<std::unique_ptr<asio::steady_timer>> holds;
    int finished = 0;
  };
  Holders(asio::io_context& on, InFlightLimit& of) : io(on), limit(of) {}
  void start(int id, Lane lane) {
    seen.holds.push_back(
        std::make_unique<asio::steady_timer>(io, asio::steady_timer::time_point::max()));
    asio::co_spawn(io, holder(limit, id, seen.granted, *seen.holds.back(), lane),
                   [this](std::exception_ptr) { ++seen.finished; });
  }
  asio::io_context& io;
  InFlightLimit& limit;
  Seen seen;
};

// The fairness regression (issue 10): 10,000 silent targets took all 256 permits and a target that
// answers waited behind them for a minute. The slow lane now holds at most half.
TEST(InFlightLimit, SlowLaneHoldsAtMostHalfAndPromptWaitersPassIt) {
  asio::io_context io;
  InFlightLimit limit(4);
  EXPECT_EQ(limit.slow_limit(), 2u);
  Holders holders(io, limit);
  auto& [granted, holds, finished] = holders.seen;
  const auto start = [&holders](int id, Lane lane) { holders.start(id, lane); };
  for (int i = 0; i < 6; ++i)
    start(i, Lane::slow);
  ASSERT_TRUE(test::run_until(io, [&] { return granted.size() == 2; }));
  io.poll();
  EXPECT_EQ(granted, (std::vector<int>{0, 1}));
  EXPECT_EQ(limit.slow_in_use(), 2u);
  EXPECT_EQ(limit.slow_waiting(), 4u);

  // Prompt fetches arriving after the slow ones still start at once, up to the limit.
  start(10, Lane::prompt);
  start(11, Lane::prompt);
  start(12, Lane::prompt);
  ASSERT_TRUE(test::run_until(io, [&] { return granted.size() == 4; }));
  io.poll();
  EXPECT_EQ(granted, (std::vector<int>{0, 1, 10, 11}));
  EXPECT_EQ(limit.in_use(), 4u);

  // A freed prompt permit goes to the oldest waiter that may take it: the slow lane is full, so
  // the prompt one, although slow waiters arrived earlier.
  holds[6]->cancel();  // id 10
  ASSERT_TRUE(test::run_until(io, [&] { return granted.size() == 5; }));
  EXPECT_EQ(granted.back(), 12);
  // A freed slow permit with no prompt waiter left goes to the next slow waiter, in order.
  holds[0]->cancel();  // id 0
  ASSERT_TRUE(test::run_until(io, [&] { return granted.size() == 6; }));
  EXPECT_EQ(granted.back(), 2);
  EXPECT_EQ(limit.slow_in_use(), 2u);

  limit.set_limit(16);
  ASSERT_TRUE(test::run_until(io, [&] { return granted.size() == 9; }));
  EXPECT_EQ(limit.slow_in_use(), 5u);  // 1 to 5; 0 has finished
  for (auto& hold : holds)
    hold->cancel();
  ASSERT_TRUE(test::run_until(io, [&] { return finished == 9; }));
  EXPECT_EQ(limit.in_use(), 0u);
  EXPECT_EQ(limit.slow_in_use(), 0u);
}

TEST(InFlightLimit, OldestWaiterFirstAcrossLanesWhenBothMayTakeThePermit) {
  asio::io_context io;
  InFlightLimit limit(2);  // slow lane: 1
  Holders holders(io, limit);
  auto& [granted, holds, finished] = holders.seen;
  const auto start = [&holders](int id, Lane lane) { holders.start(id, lane); };
  start(0, Lane::prompt);
  start(1, Lane::prompt);
  start(2, Lane::slow);
  start(3, Lane::prompt);
  ASSERT_TRUE(test::run_until(io, [&] { return limit.waiting() == 2; }));
  holds[0]->cancel();
  ASSERT_TRUE(test::run_until(io, [&] { return granted.size() == 3; }));
  EXPECT_EQ(granted.back(), 2);  // the slow waiter came first and its lane was free
  holds[1]->cancel();
  ASSERT_TRUE(test::run_until(io, [&] { return granted.size() == 4; }));
  EXPECT_EQ(granted.back(), 3);
  for (auto& hold : holds)
    hold->cancel();
  ASSERT_TRUE(test::run_until(io, [&] { return finished == 4; }));
}

// Holds a permit (or waits for one) on a timer of its own frame that never fires.
asio::awaitable<void> hold_forever(InFlightLimit& limit) {
  auto permit = co_await limit.acquire();
  asio::steady_timer never(co_await asio::this_coro::executor,
                           asio::steady_timer::time_point::max());
  co_await never.async_wait(asio::use_awaitable);
}

// Regression (found by ASan in CI): destroying the io_context with work pending destroys coroutine
// frames unresumed, in any order, after whoever owned the limit is gone.
TEST(InFlightLimit, FramesDestroyedUnresumedAfterTheLimitAreSafe) {
  auto io = std::make_unique<asio::io_context>();
  auto limit = std::make_unique<InFlightLimit>(1);
  for (int i = 0; i < 4; ++i) {
    asio::co_spawn(*io, hold_forever(*limit), [](std::exception_ptr) {});
  }
  ASSERT_TRUE(test::run_until(*io, [&] { return limit->waiting() == 3; }));
  limit.reset();
  io.reset();
}

}  // namespace
}  // namespace fetchd::scheduler
