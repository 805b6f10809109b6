#pragma once

// The compact history of a target: one small fixed-size entry per attempt, kept in a ring of the
// newest N. Built from a full http::FetchResult; the full result itself is kept only for the latest
// attempt and the latest failure (see target_results.h).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "http/fetch_result.h"

namespace fetchd::results {

// What became of one attempt: ok, the fetch's error class, or a completed fetch that failed one of
// the target's expectations. The values of the error classes match http::ErrorClass.
enum class Outcome : std::uint8_t {
  ok,
  dns,
  connect,
  timeout,
  tls,
  protocol,
  too_large,
  io,
  cancelled,
  expectation,
};

inline constexpr std::size_t kOutcomeCount = static_cast<std::size_t>(Outcome::expectation) + 1;

// "ok", "dns", ..., "cancelled", "expectation".
std::string_view to_string(Outcome outcome);

// The outcome of a fetch result, with `failed_expectation` non-empty when a completed fetch failed
// an expectation. A fetch error wins over an expectation. A result without hops counts as `io`.
Outcome outcome_of(const http::FetchResult& result, bool failed_expectation);

// Whether an outcome counts toward the up/down state: ok is a success, cancelled (the fetch was
// stopped from outside: shutdown, target removed or changed) counts neither way, the rest fail.
inline bool is_success(Outcome outcome) {
  return outcome == Outcome::ok;
}
inline bool is_failure(Outcome outcome) {
  return outcome != Outcome::ok && outcome != Outcome::cancelled;
}

// One attempt in 32 bytes. Times are wall-clock milliseconds since the Unix epoch (the fetch's
// start); timings are microseconds, -1 when the phase did not run (e.g. no DNS for an IP literal,
// no TLS for http), saturated at INT32_MAX (35 minutes, far beyond any timeout).
struct CompactEntry {
  static constexpr std::int32_t kAbsent = -1;

  std::int64_t time_ms = 0;
  std::int32_t dns_us = kAbsent;
  std::int32_t connect_us = kAbsent;
  std::int32_t tls_us = kAbsent;
  std::int32_t first_byte_us = kAbsent;  // request written -> first response byte
  std::int32_t total_us = kAbsent;       // the whole fetch, redirects included
  std::uint16_t status = 0;              // 0: no response head arrived
  Outcome outcome = Outcome::ok;

  std::chrono::system_clock::time_point time() const {
    return std::chrono::system_clock::time_point(std::chrono::milliseconds(time_ms));
  }
  bool operator==(const CompactEntry&) const = default;
};

static_assert(sizeof(CompactEntry) == 32, "history entries must stay compact");

// The compact form of a result. The phase timings and status are the last hop's (the response that
// counted); total is the whole fetch's, redirects included.
CompactEntry make_compact_entry(const http::FetchResult& result, bool failed_expectation);

// The newest `capacity` entries, oldest first. Storage grows as entries arrive (doubling, capped at
// the capacity exactly), so a target that was never fetched costs no entries.
class History {
 public:
  explicit History(std::size_t capacity = 0);

  void push(const CompactEntry& entry);

  std::size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  std::size_t capacity() const { return capacity_; }

  // i = 0 is the oldest kept entry, size() - 1 the newest.
  const CompactEntry& operator[](std::size_t i) const;
  const CompactEntry* newest() const;

  // The newest `count` entries (or fewer), oldest first.
  std::vector<CompactEntry> newest(std::size_t count) const;

  // Room for `count` more entries (up to the capacity), allocated at once: for a history read back
  // whole rather than grown one attempt at a time.
  void reserve(std::size_t count);

  // Changes the capacity, keeping the newest entries that fit.
  void set_capacity(std::size_t capacity);

  // Bytes held outside the object (for memory accounting).
  std::size_t heap_bytes() const { return entries_.capacity() * sizeof(CompactEntry); }

 private:
  std::vector<CompactEntry> entries_;
  std::uint32_t capacity_ = 0;
  std::uint32_t oldest_ = 0;  // index of the oldest entry; non-zero only once the ring is full
};

}  // namespace fetchd::results
