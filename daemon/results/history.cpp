#include "results/history.h"

#include <algorithm>
#include <limits>

namespace fetchd::results {

namespace {

std::int32_t to_us(std::chrono::microseconds duration) {
  const auto count = duration.count();
  if (count < 0)
    return 0;
  return static_cast<std::int32_t>(
      std::min<std::int64_t>(count, std::numeric_limits<std::int32_t>::max()));
}

std::int32_t to_us(const std::optional<std::chrono::microseconds>& duration) {
  return duration ? to_us(*duration) : CompactEntry::kAbsent;
}

}  // namespace

std::string_view to_string(Outcome outcome) {
  switch (outcome) {
    case Outcome::ok:
      return "ok";
    case Outcome::dns:
      return "dns";
    case Outcome::connect:
      return "connect";
    case Outcome::timeout:
      return "timeout";
    case Outcome::tls:
      return "tls";
    case Outcome::protocol:
      return "protocol";
    case Outcome::too_large:
      return "too_large";
    case Outcome::io:
      return "io";
    case Outcome::cancelled:
      return "cancelled";
    case Outcome::expectation:
      return "expectation";
  }
  return "unknown";
}

Outcome outcome_of(const http::FetchResult& result, bool failed_expectation) {
  if (result.hops.empty())
    return Outcome::io;
  switch (result.error().error_class) {
    case http::ErrorClass::none:
      return failed_expectation ? Outcome::expectation : Outcome::ok;
    case http::ErrorClass::dns:
      return Outcome::dns;
    case http::ErrorClass::connect:
      return Outcome::connect;
    case http::ErrorClass::timeout:
      return Outcome::timeout;
    case http::ErrorClass::tls:
      return Outcome::tls;
    case http::ErrorClass::protocol:
      return Outcome::protocol;
    case http::ErrorClass::too_large:
      return Outcome::too_large;
    case http::ErrorClass::io:
      return Outcome::io;
    case http::ErrorClass::cancelled:
      return Outcome::cancelled;
  }
  return Outcome::io;
}

CompactEntry make_compact_entry(const http::FetchResult& result, bool failed_expectation) {
  CompactEntry entry;
  entry.time_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(result.started.time_since_epoch())
          .count();
  entry.outcome = outcome_of(result, failed_expectation);
  entry.total_us = to_us(result.total);
  if (!result.hops.empty()) {
    const http::Hop& hop = result.last();
    entry.dns_us = to_us(hop.timings.dns);
    entry.connect_us = to_us(hop.timings.connect);
    entry.tls_us = to_us(hop.timings.tls_handshake);
    entry.first_byte_us = to_us(hop.timings.first_byte);
    if (hop.status > 0 && hop.status <= std::numeric_limits<std::uint16_t>::max())
      entry.status = static_cast<std::uint16_t>(hop.status);
  }
  return entry;
}

History::History(std::size_t capacity)
    : capacity_(static_cast<std::uint32_t>(
          std::min<std::size_t>(capacity, std::numeric_limits<std::uint32_t>::max()))) {}

void History::push(const CompactEntry& entry) {
  if (capacity_ == 0)
    return;
  if (entries_.size() < capacity_) {
    if (entries_.size() == entries_.capacity()) {
      entries_.reserve(std::min<std::size_t>(capacity_, std::max<std::size_t>(4, 2 * size())));
    }
    entries_.push_back(entry);
    return;
  }
  entries_[oldest_] = entry;
  oldest_ = (oldest_ + 1) % capacity_;
}

const CompactEntry& History::operator[](std::size_t i) const {
  return entries_[(oldest_ + i) % entries_.size()];
}

const CompactEntry* History::newest() const {
  return entries_.empty() ? nullptr : &(*this)[entries_.size() - 1];
}

std::vector<CompactEntry> History::newest(std::size_t count) const {
  count = std::min(count, entries_.size());
  std::vector<CompactEntry> out;
  out.reserve(count);
  for (std::size_t i = entries_.size() - count; i < entries_.size(); ++i)
    out.push_back((*this)[i]);
  return out;
}

void History::reserve(std::size_t count) {
  entries_.reserve(std::min<std::size_t>(capacity_, entries_.size() + count));
}

void History::set_capacity(std::size_t capacity) {
  capacity = std::min<std::size_t>(capacity, std::numeric_limits<std::uint32_t>::max());
  if (capacity == capacity_)
    return;
  std::vector<CompactEntry> kept = newest(capacity);
  kept.shrink_to_fit();
  entries_ = std::move(kept);
  oldest_ = 0;
  capacity_ = static_cast<std::uint32_t>(capacity);
}

}  // namespace fetchd::results
