#pragma once

// A counting semaphore for coroutines on one executor: at most `limit` holders at once; the rest
// wait in FIFO order. Waiting honours per-operation cancellation (a removed target stops waiting at
// once).

#include <cstddef>
#include <list>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

namespace fetchd::scheduler {

class InFlightLimit {
 public:
  explicit InFlightLimit(std::size_t limit) : limit_(limit) {}
  InFlightLimit(const InFlightLimit&) = delete;
  InFlightLimit& operator=(const InFlightLimit&) = delete;

  // Held while a fetch runs; releasing it (destruction) admits the next waiter. Being a value, it
  // is released however the holder's coroutine ends, cancellation included.
  class Permit {
   public:
    Permit() = default;
    explicit Permit(InFlightLimit* owner) : owner_(owner) {}
    Permit(Permit&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)) {}
    Permit& operator=(Permit&& other) noexcept {
      if (this != &other) {
        reset();
        owner_ = std::exchange(other.owner_, nullptr);
      }
      return *this;
    }
    ~Permit() { reset(); }
    explicit operator bool() const { return owner_ != nullptr; }
    void reset() {
      if (owner_ != nullptr)
        std::exchange(owner_, nullptr)->release();
    }

   private:
    InFlightLimit* owner_ = nullptr;
  };

  // A held permit, or an empty one if the wait was cancelled.
  asio::awaitable<Permit> acquire();

  // Takes effect as permits are released; waiters are admitted at once if the limit grew.
  void set_limit(std::size_t limit);

  std::size_t in_use() const { return in_use_; }
  std::size_t waiting() const { return waiters_.size(); }
  std::size_t limit() const { return limit_; }

 private:
  struct Waiter;
  void release();
  void admit_waiters();

  std::size_t limit_;
  std::size_t in_use_ = 0;
  std::list<Waiter*> waiters_;
};

}  // namespace fetchd::scheduler
