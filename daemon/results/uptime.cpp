#include "results/uptime.h"

#include <algorithm>

namespace fetchd::results {

namespace {

using Clock = std::chrono::system_clock;
using std::chrono::hours;

constexpr std::int64_t kHourMs = 3'600'000;
constexpr std::int64_t kDayMs = 24 * kHourMs;

std::int64_t ms_of(Clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

}  // namespace

void Uptime::add(std::vector<Bucket>& ring, std::size_t size, std::int32_t index, bool success,
                 std::int32_t total_us) {
  if (ring.empty())
    ring.resize(size);
  Bucket& bucket = ring[static_cast<std::size_t>(index) % ring.size()];
  if (bucket.index > index)
    return;  // older than what the ring keeps there (the clock went back): not counted
  if (bucket.index != index)
    bucket = Bucket{.index = index};
  ++bucket.attempts;
  if (success) {
    ++bucket.successes;
    bucket.latency_sum_us += static_cast<std::uint64_t>(std::max(total_us, 0));
    bucket.latency_max_us = std::max(bucket.latency_max_us, total_us);
  }
}

void Uptime::record(Clock::time_point at, bool success, std::int32_t total_us) {
  const auto ms = ms_of(at);
  if (ms < 0)
    return;
  add(hours_, kUptimeHours + 1, static_cast<std::int32_t>(ms / kHourMs), success, total_us);
  add(daily_, days_ + 1, static_cast<std::int32_t>(ms / kDayMs), success, total_us);
}

UptimeWindow Uptime::sum(const std::vector<Bucket>& ring, std::int32_t newest, std::int32_t span,
                         double into_newest) {
  UptimeWindow window;
  if (ring.empty())
    return window;
  for (std::int32_t back = 0; back <= span; ++back) {
    const std::int32_t index = newest - back;
    if (index < 0)
      break;
    const Bucket& bucket = ring[static_cast<std::size_t>(index) % ring.size()];
    const double weight = back < span ? 1.0 : 1.0 - into_newest;
    if (bucket.index != index || weight <= 0)
      continue;
    window.attempts += weight * bucket.attempts;
    window.successes += weight * bucket.successes;
    window.latency_sum_us += weight * static_cast<double>(bucket.latency_sum_us);
    window.latency_max_us = std::max(window.latency_max_us, bucket.latency_max_us);
  }
  return window;
}

UptimeWindow Uptime::over(hours span, Clock::time_point now) const {
  const auto ms = ms_of(now);
  if (ms < 0 || span.count() <= 0)
    return {};
  if (span.count() <= static_cast<std::int64_t>(kUptimeHours)) {
    return sum(hours_, static_cast<std::int32_t>(ms / kHourMs),
               static_cast<std::int32_t>(span.count()),
               static_cast<double>(ms % kHourMs) / static_cast<double>(kHourMs));
  }
  const auto days =
      std::min<std::int64_t>((span.count() + 23) / 24, static_cast<std::int64_t>(days_));
  return sum(daily_, static_cast<std::int32_t>(ms / kDayMs), static_cast<std::int32_t>(days),
             static_cast<double>(ms % kDayMs) / static_cast<double>(kDayMs));
}

void Uptime::outage_began(Clock::time_point at, std::string reason) {
  if (outages_.size() == kMaxOutages)
    outages_.erase(outages_.begin());
  outages_.push_back({at, std::nullopt, std::move(reason)});
}

void Uptime::outage_ended(Clock::time_point at) {
  if (!outages_.empty() && !outages_.back().to)
    outages_.back().to = at;
}

std::vector<Outage> Uptime::outages(hours span, Clock::time_point now) const {
  std::vector<Outage> recent;
  for (const auto& outage : outages_) {
    if (outage.to.value_or(now) >= now - span)
      recent.push_back(outage);
  }
  return recent;
}

void Uptime::set_days(std::size_t days) {
  if (days == days_)
    return;
  days_ = days;
  if (daily_.empty())
    return;
  std::vector<Bucket> resized(days_ + 1);
  for (const auto& bucket : daily_) {
    if (bucket.index == Bucket::kUnused)
      continue;
    Bucket& slot = resized[static_cast<std::size_t>(bucket.index) % resized.size()];
    if (slot.index < bucket.index)
      slot = bucket;
  }
  daily_ = std::move(resized);
}

std::size_t Uptime::heap_bytes() const {
  std::size_t bytes = (hours_.capacity() + daily_.capacity()) * sizeof(Bucket);
  for (const auto& outage : outages_)
    bytes += sizeof(Outage) + outage.reason.capacity();
  return bytes;
}

}  // namespace fetchd::results
