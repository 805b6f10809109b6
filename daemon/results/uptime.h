#pragma once

// Uptime over days, per target, in fixed memory: every attempt that counted (a success or a
// failure; not cancelled) lands in an hourly bucket (the last 48 hours) and a daily one (the last
// `days`, settings.uptime_days), each with its attempts, successes and the successes' latency
// (sum and maximum). A window ("the last 24 hours") adds the buckets it covers and the part of
// the oldest one it overlaps, pro rata, so it slides smoothly instead of jumping at each hour.
// And the outages: the down periods of the last days, with why each began. Times are the wall
// clock's, as the attempts'; nothing here reads a clock.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "results/history.h"

namespace fetchd::results {

struct Codec;

inline constexpr std::size_t kDefaultUptimeDays = 30;
inline constexpr std::size_t kUptimeHours = 48;
// Outages kept per target, the newest; older ones fall out of `outages` (7 days) anyway.
inline constexpr std::size_t kMaxOutages = 32;

struct UptimeWindow {
  double attempts = 0;  // fractional where the window covers part of a bucket
  double successes = 0;
  double latency_sum_us = 0;             // of the successes
  std::int32_t latency_max_us = 0;       // over the buckets it touches, whole
  std::optional<double> ratio() const {  // successes / attempts; none without attempts
    return attempts > 0 ? std::optional<double>(successes / attempts) : std::nullopt;
  }
  std::optional<double> latency_mean_us() const {
    return successes > 0 ? std::optional<double>(latency_sum_us / successes) : std::nullopt;
  }
};

struct Outage {
  std::chrono::system_clock::time_point from{};
  std::optional<std::chrono::system_clock::time_point> to{};  // none while it lasts
  std::string reason{};                                       // of the attempt that began it
};

class Uptime {
 public:
  explicit Uptime(std::size_t days = kDefaultUptimeDays) : days_(days) {}

  // An attempt that counted, at `at` (its start); `total_us` is its whole duration.
  void record(std::chrono::system_clock::time_point at, bool success, std::int32_t total_us);
  // The state went down at `at` because of `reason`; went up (or unknown) at `at`.
  void outage_began(std::chrono::system_clock::time_point at, std::string reason);
  void outage_ended(std::chrono::system_clock::time_point at);

  // The last `span` before `now`: hourly buckets up to 48 hours, daily ones beyond (as many as
  // are kept).
  UptimeWindow over(std::chrono::hours span, std::chrono::system_clock::time_point now) const;
  // Outages that began or were still going on in the last `span` before `now`, oldest first.
  std::vector<Outage> outages(std::chrono::hours span,
                              std::chrono::system_clock::time_point now) const;

  // Keeps what still fits.
  void set_days(std::size_t days);

  // Bytes held outside the object (for the README's accounting).
  std::size_t heap_bytes() const;

 private:
  friend struct Codec;  // the persisted form (results/codec.h)

  // One hour or one day: `index` is hours or days since the epoch (kUnused: never filled).
  struct Bucket {
    static constexpr std::int32_t kUnused = INT32_MIN;
    std::int32_t index = kUnused;  // hours since 1970 fit until the year 200,000
    std::uint32_t attempts = 0;
    std::uint32_t successes = 0;
    std::int32_t latency_max_us = 0;
    std::uint64_t latency_sum_us = 0;
  };
  static_assert(sizeof(Bucket) == 24, "uptime buckets must stay compact");
  static void add(std::vector<Bucket>& ring, std::size_t size, std::int32_t index, bool success,
                  std::int32_t total_us);
  // The `span` buckets before `newest` in full, `newest` itself (the current, partial one) and
  // the oldest one's part that the window covers: 1 - into_newest of it.
  static UptimeWindow sum(const std::vector<Bucket>& ring, std::int32_t newest, std::int32_t span,
                          double into_newest);

  std::size_t days_;
  // Rings by index % size, allocated at the first attempt; one bucket more than the span, for the
  // part of the oldest that a window of the whole span covers.
  std::vector<Bucket> hours_;    // kUptimeHours + 1
  std::vector<Bucket> daily_;    // days_ + 1
  std::vector<Outage> outages_;  // oldest first, at most kMaxOutages
};

}  // namespace fetchd::results
