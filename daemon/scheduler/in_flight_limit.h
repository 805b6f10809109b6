#pragma once

// A counting semaphore for coroutines on one executor: at most `limit` holders at once; the rest
// wait in FIFO order. Waiting honours per-operation cancellation (a removed target stops waiting at
// once).
//
// Two lanes, for fairness: a fetch of a target that was slow last time (it used half its timeout or
// more: silence, a drip, a stalled name) asks in the `slow` lane, which may hold at most half the
// permits (slow_limit()). Without the cap, thousands of silent targets each holding a permit for
// their whole timeout take every permit, and a target that answers in a millisecond waits behind
// all of them for minutes. With it, half the permits always turn over at the speed of the targets
// that answer. Within the limits, waiters are admitted oldest first across both lanes.
//
// Its state is shared with the permits and the waiters, because coroutine frames can be destroyed
// without being resumed (when the io_context is destroyed with work pending), in any order, after
// the limit itself is gone: each frame's permit and queue place must then clean up safely.

#include <cstddef>
#include <list>
#include <memory>
#include <utility>

#include <asio/awaitable.hpp>

namespace fetchd::scheduler {

class InFlightLimit {
  struct State;

 public:
  explicit InFlightLimit(std::size_t limit);
  InFlightLimit(const InFlightLimit&) = delete;
  InFlightLimit& operator=(const InFlightLimit&) = delete;

  enum class Lane { prompt, slow };

  // Held while a fetch runs; releasing it (destruction) admits the next waiter. Being a value, it
  // is released however the holder's coroutine ends, cancellation included.
  class Permit {
   public:
    Permit() = default;
    Permit(std::shared_ptr<State> state, Lane lane) : state_(std::move(state)), lane_(lane) {}
    Permit(Permit&& other) noexcept = default;
    Permit& operator=(Permit&& other) noexcept {
      if (this != &other) {
        reset();
        state_ = std::move(other.state_);
        lane_ = other.lane_;
      }
      return *this;
    }
    ~Permit() { reset(); }
    explicit operator bool() const { return state_ != nullptr; }
    void reset();

   private:
    std::shared_ptr<State> state_;
    Lane lane_ = Lane::prompt;
  };

  // A held permit, or an empty one if the wait was cancelled.
  asio::awaitable<Permit> acquire(Lane lane = Lane::prompt);

  // Takes effect as permits are released; waiters are admitted at once if the limit grew.
  void set_limit(std::size_t limit);

  std::size_t in_use() const;
  std::size_t waiting() const;
  std::size_t limit() const;
  // Permits the slow lane may hold at once: half the limit, at least one.
  std::size_t slow_limit() const;
  std::size_t slow_in_use() const;
  std::size_t slow_waiting() const;

 private:
  struct Waiter;
  std::shared_ptr<State> state_;
};

}  // namespace fetchd::scheduler
