#include "scheduler/in_flight_limit.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

namespace fetchd::scheduler {

// A waiter sleeps on a timer that never expires by itself; release() hands it the permit and
// cancels the timer to wake it.
struct InFlightLimit::Waiter {
  explicit Waiter(const asio::any_io_executor& executor)
      : wake(executor, asio::steady_timer::time_point::max()) {}
  asio::steady_timer wake;
  bool granted = false;
};

asio::awaitable<InFlightLimit::Permit> InFlightLimit::acquire() {
  if (in_use_ < limit_ && waiters_.empty()) {
    ++in_use_;
    co_return Permit(this);
  }
  Waiter waiter(co_await asio::this_coro::executor);
  const auto position = waiters_.insert(waiters_.end(), &waiter);
  co_await waiter.wake.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  if (!waiter.granted) {
    // Cancelled from outside before a permit came.
    waiters_.erase(position);
    co_return Permit();
  }
  co_return Permit(this);
}

void InFlightLimit::release() {
  --in_use_;
  admit_waiters();
}

void InFlightLimit::set_limit(std::size_t limit) {
  limit_ = limit;
  admit_waiters();
}

void InFlightLimit::admit_waiters() {
  while (in_use_ < limit_ && !waiters_.empty()) {
    Waiter* next = waiters_.front();
    waiters_.pop_front();
    next->granted = true;
    ++in_use_;
    next->wake.cancel();
  }
}

}  // namespace fetchd::scheduler
