#include "service/fetch_rate.h"

#include <algorithm>

namespace fetchd::service {

std::int64_t FetchRate::second_of(Clock::time_point when) const {
  return std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::seconds>(when - start_).count());
}

void FetchRate::record(Clock::time_point now) {
  const std::int64_t second = second_of(now);
  Bucket& bucket = buckets_[static_cast<std::size_t>(second) % buckets_.size()];
  if (bucket.second != second)
    bucket = Bucket{second, 0};
  ++bucket.count;
}

double FetchRate::per_second(Clock::time_point now) const {
  const std::int64_t current = second_of(now);
  const auto elapsed = std::chrono::duration<double>(now - start_).count();
  if (current < kWindowSeconds) {
    // Young: everything so far (the current second included) over the time so far.
    std::uint64_t total = 0;
    for (const auto& bucket : buckets_) {
      if (bucket.second >= 0 && bucket.second <= current)
        total += bucket.count;
    }
    return static_cast<double>(total) / std::max(elapsed, 1.0);
  }
  // The last kWindowSeconds complete seconds: [current - 60, current - 1].
  std::uint64_t total = 0;
  for (const auto& bucket : buckets_) {
    if (bucket.second >= current - kWindowSeconds && bucket.second < current)
      total += bucket.count;
  }
  return static_cast<double>(total) / static_cast<double>(kWindowSeconds);
}

}  // namespace fetchd::service
