#pragma once

// Completed fetches per second over the last minute, for `status`: one counter per second of a
// steady clock in a ring, so recording is O(1) and the memory fixed however many targets run.

#include <array>
#include <chrono>
#include <cstdint>

namespace fetchd::service {

class FetchRate {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::int64_t kWindowSeconds = 60;

  explicit FetchRate(Clock::time_point start) : start_(start) {}

  void record(Clock::time_point now);
  // Over the last 60 complete seconds; before a minute has passed, over the time since start (at
  // least one second, so the first fetches do not read as a huge rate).
  double per_second(Clock::time_point now) const;

 private:
  struct Bucket {
    std::int64_t second = -1;  // seconds since start_; -1: never used
    std::uint64_t count = 0;
  };
  std::int64_t second_of(Clock::time_point when) const;

  Clock::time_point start_;
  // One more than the window: the current (incomplete) second has its own bucket.
  std::array<Bucket, kWindowSeconds + 1> buckets_{};
};

}  // namespace fetchd::service
