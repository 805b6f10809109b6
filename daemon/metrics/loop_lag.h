#pragma once

// How late the event loop runs timers: a timer due every 100 ms notes how late it fired; the gauge
// is the most over the last 10 s (fetchd_loop_lag_seconds). A stall of the loop — a slow handler,
// a scrape slice too large — shows here whatever caused it.

#include <array>
#include <chrono>
#include <cstddef>

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>

namespace fetchd::metrics {

class LoopLag {
 public:
  static constexpr std::chrono::milliseconds kPeriod{100};
  static constexpr std::size_t kSamples = 100;  // 10 s of periods

  explicit LoopLag(const asio::any_io_executor& executor) : timer_(executor) {}
  void start();
  void stop();
  double max_seconds() const;

 private:
  void arm();

  asio::steady_timer timer_;
  std::chrono::steady_clock::time_point due_{};
  std::array<std::chrono::steady_clock::duration, kSamples> samples_{};
  std::size_t next_ = 0;
  bool stopped_ = false;
};

}  // namespace fetchd::metrics
