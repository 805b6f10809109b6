#include "scheduler/in_flight_limit.h"

#include <algorithm>
#include <cstdint>

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

namespace fetchd::scheduler {

// A waiter sleeps on a timer that never expires by itself; admit() hands it the permit and cancels
// the timer to wake it.
struct InFlightLimit::Waiter {
  Waiter(const asio::any_io_executor& executor, std::uint64_t arrival)
      : wake(executor, asio::steady_timer::time_point::max()), order(arrival) {}
  asio::steady_timer wake;
  std::uint64_t order;  // arrival, to admit the older of the two lanes' heads first
  bool granted = false;
};

struct InFlightLimit::State {
  std::size_t limit;
  std::size_t in_use = 0;
  std::size_t slow_in_use = 0;
  std::uint64_t arrivals = 0;
  std::list<Waiter*> prompt_waiters;
  std::list<Waiter*> slow_waiters;

  std::size_t slow_limit() const { return std::max<std::size_t>(limit / 2, 1); }
  bool slow_lane_open() const { return slow_in_use < slow_limit(); }
  std::list<Waiter*>& queue(Lane lane) {
    return lane == Lane::slow ? slow_waiters : prompt_waiters;
  }

  void take(Lane lane) {
    ++in_use;
    if (lane == Lane::slow)
      ++slow_in_use;
  }
  void give_back(Lane lane) {
    --in_use;
    if (lane == Lane::slow)
      --slow_in_use;
  }

  void admit() {
    while (in_use < limit) {
      const bool slow_ready = !slow_waiters.empty() && slow_lane_open();
      const bool prompt_ready = !prompt_waiters.empty();
      if (!slow_ready && !prompt_ready)
        return;
      const bool slow_first = slow_ready && (!prompt_ready || slow_waiters.front()->order <
                                                                  prompt_waiters.front()->order);
      const Lane lane = slow_first ? Lane::slow : Lane::prompt;
      auto& waiters = queue(lane);
      Waiter* next = waiters.front();
      waiters.pop_front();
      next->granted = true;
      take(lane);
      next->wake.cancel();
    }
  }
};

InFlightLimit::InFlightLimit(std::size_t limit) : state_(std::make_shared<State>()) {
  state_->limit = limit;
}

void InFlightLimit::Permit::reset() {
  if (!state_)
    return;
  auto state = std::move(state_);
  state->give_back(lane_);
  state->admit();
}

asio::awaitable<InFlightLimit::Permit> InFlightLimit::acquire(Lane lane) {
  auto state = state_;
  auto& waiters = state->queue(lane);
  const bool lane_open = lane == Lane::prompt || state->slow_lane_open();
  if (state->in_use < state->limit && lane_open && waiters.empty()) {
    state->take(lane);
    co_return Permit(state, lane);
  }
  Waiter waiter(co_await asio::this_coro::executor, state->arrivals++);
  // Leaves the queue however this frame ends, destroyed unresumed included; a permit granted to a
  // frame that never resumes goes back.
  struct Place {
    State& state;
    Waiter& waiter;
    Lane lane;
    std::list<Waiter*>::iterator position;
    ~Place() {
      if (!waiter.granted) {
        state.queue(lane).erase(position);
      } else if (!claimed) {
        state.give_back(lane);
        state.admit();
      }
    }
    bool claimed = false;
  } place{*state, waiter, lane, waiters.insert(waiters.end(), &waiter)};
  co_await waiter.wake.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  if (!waiter.granted)
    co_return Permit();  // cancelled from outside before a permit came
  place.claimed = true;
  co_return Permit(state, lane);
}

void InFlightLimit::set_limit(std::size_t limit) {
  state_->limit = limit;
  state_->admit();
}

std::size_t InFlightLimit::in_use() const {
  return state_->in_use;
}
std::size_t InFlightLimit::waiting() const {
  return state_->prompt_waiters.size() + state_->slow_waiters.size();
}
std::size_t InFlightLimit::limit() const {
  return state_->limit;
}
std::size_t InFlightLimit::slow_limit() const {
  return state_->slow_limit();
}
std::size_t InFlightLimit::slow_in_use() const {
  return state_->slow_in_use;
}
std::size_t InFlightLimit::slow_waiting() const {
  return state_->slow_waiters.size();
}

}  // namespace fetchd::scheduler
