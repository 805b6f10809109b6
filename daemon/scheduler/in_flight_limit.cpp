#include "scheduler/in_flight_limit.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

namespace fetchd::scheduler {

// A waiter sleeps on a timer that never expires by itself; admit() hands it the permit and cancels
// the timer to wake it.
struct InFlightLimit::Waiter {
  explicit Waiter(const asio::any_io_executor& executor)
      : wake(executor, asio::steady_timer::time_point::max()) {}
  asio::steady_timer wake;
  bool granted = false;
};

struct InFlightLimit::State {
  std::size_t limit;
  std::size_t in_use = 0;
  std::list<Waiter*> waiters;

  void admit() {
    while (in_use < limit && !waiters.empty()) {
      Waiter* next = waiters.front();
      waiters.pop_front();
      next->granted = true;
      ++in_use;
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
  --state->in_use;
  state->admit();
}

asio::awaitable<InFlightLimit::Permit> InFlightLimit::acquire() {
  auto state = state_;
  if (state->in_use < state->limit && state->waiters.empty()) {
    ++state->in_use;
    co_return Permit(state);
  }
  Waiter waiter(co_await asio::this_coro::executor);
  // Leaves the queue however this frame ends, destroyed unresumed included; a permit granted to a
  // frame that never resumes goes back.
  struct Place {
    State& state;
    Waiter& waiter;
    std::list<Waiter*>::iterator position;
    ~Place() {
      if (!waiter.granted) {
        state.waiters.erase(position);
      } else if (!claimed) {
        --state.in_use;
        state.admit();
      }
    }
    bool claimed = false;
  } place{*state, waiter, state->waiters.insert(state->waiters.end(), &waiter)};
  co_await waiter.wake.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  if (!waiter.granted)
    co_return Permit();  // cancelled from outside before a permit came
  place.claimed = true;
  co_return Permit(state);
}

void InFlightLimit::set_limit(std::size_t limit) {
  state_->limit = limit;
  state_->admit();
}

std::size_t InFlightLimit::in_use() const {
  return state_->in_use;
}
std::size_t InFlightLimit::waiting() const {
  return state_->waiters.size();
}
std::size_t InFlightLimit::limit() const {
  return state_->limit;
}

}  // namespace fetchd::scheduler
