#pragma once

// Everything fetchd keeps about one target's results: the latest result and the latest failure in
// full, a compact history ring, totals, uptime over days with the outages, and the up/down state
// with flap control. It is told what
// happened (record, record_skipped) and returns what changed; it never logs and never reads a
// clock.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/fetch_result.h"
#include "results/history.h"
#include "results/state_change.h"
#include "results/uptime.h"

namespace fetchd::results {

struct Codec;

inline constexpr std::size_t kDefaultHistoryLength = 100;

// Flap control: how many attempts in a row it takes to change the state. From unknown, the first
// streak that reaches its threshold decides.
struct FlapPolicy {
  std::uint32_t down_after = 1;  // consecutive failures before DOWN (0 is treated as 1)
  std::uint32_t up_after = 1;    // consecutive successes before UP (0 is treated as 1)
  bool operator==(const FlapPolicy&) const = default;
};

// One completed attempt as handed in by the caller.
struct Attempt {
  http::FetchResult result{};
  // Non-empty when the fetch completed but failed an expectation: what failed, e.g.
  // "status 500 not in 200-399". Ignored (kept, but not the outcome) when the fetch itself failed.
  std::string failed_expectation{};
};

// An attempt kept in full. The response body is dropped (body_bytes and body_truncated stay): it
// served the expectations, and keeping up to max_body_bytes per target would dwarf everything else.
struct FullResult {
  http::FetchResult result{};
  std::string failed_expectation{};
  Outcome outcome = Outcome::ok;

  // As in StateChange::reason: "200 OK", "dns: x.example: Domain name not found", "expectation
  // failed: status 500 not in 200-399".
  std::string reason() const;
};

struct Totals {
  std::uint64_t attempts = 0;   // successes + failures + cancelled
  std::uint64_t successes = 0;  // outcome ok
  std::uint64_t failures = 0;   // an error class other than cancelled, or a failed expectation
  std::uint64_t cancelled = 0;  // stopped from outside; counts neither way
  std::uint64_t skipped = 0;    // overruns: the previous fetch was still running; not an attempt
  std::array<std::uint64_t, kOutcomeCount> by_outcome{};  // attempts, indexed by Outcome
  std::uint64_t state_changes = 0;                        // unknown → up counts as one
  std::uint64_t of(Outcome outcome) const { return by_outcome[static_cast<std::size_t>(outcome)]; }
  bool operator==(const Totals&) const = default;
};

// Total latency over the history, of successful attempts only (outcome ok): failures end early
// (refused) or late (timeout) and would say nothing about how fast the service answers. Percentiles
// are nearest-rank: the smallest value with at least p% of the samples at or below it.
struct Latency {
  std::uint32_t samples = 0;
  std::int32_t min_us = 0;
  std::int32_t p50_us = 0;
  std::int32_t p95_us = 0;
  std::int32_t max_us = 0;
  bool operator==(const Latency&) const = default;
};

std::optional<Latency> latency_of(const History& history);

struct Summary {
  State state = State::unknown;
  std::chrono::system_clock::time_point state_since{};  // when tracking began, while unknown
  std::uint32_t consecutive_successes = 0;
  std::uint32_t consecutive_failures = 0;
  Totals totals{};
  std::optional<std::chrono::system_clock::time_point> last_success{};
  std::optional<std::chrono::system_clock::time_point> last_failure{};
  std::optional<CompactEntry> last{};  // the latest attempt
  std::optional<Latency> latency{};    // none until a successful attempt is in the history
  FlapPolicy policy{};
  std::size_t history_size = 0;
  std::size_t history_length = 0;
};

// Total fetch time of every attempt that counted (not cancelled) in buckets of upper bounds given
// by the daemon (settings.metrics_buckets), for the metrics' histogram. Counts per bucket, not
// cumulative; the last count is over the largest bound (+Inf).
struct DurationHistogram {
  std::shared_ptr<const std::vector<double>> bounds;  // seconds, ascending; shared by all targets
  std::vector<std::uint64_t> counts;                  // bounds->size() + 1
  double sum_seconds = 0;
  std::uint64_t count = 0;
  void observe(double seconds);
};

class TargetResults {
 public:
  // `since`: when tracking began (the unknown state's start).
  TargetResults(FlapPolicy policy, std::size_t history_length,
                std::chrono::system_clock::time_point since,
                std::size_t uptime_days = kDefaultUptimeDays);

  // Records a completed attempt and returns the state change it caused, if any. Every attempt goes
  // into the history and becomes the latest; failures also become the latest failure.
  std::optional<StateChange> record(Attempt attempt);

  // The scheduler found the previous fetch still running and skipped `slots` runs: counted, not
  // attempts.
  void record_skipped(std::uint64_t slots = 1) { totals_.skipped += slots; }

  // New thresholds apply from the next attempt on; the state and the streaks are kept.
  void set_policy(FlapPolicy policy) { policy_ = policy; }
  // Keeps the newest entries that fit.
  void set_history_length(std::size_t length) { history_.set_capacity(length); }
  void set_uptime_days(std::size_t days) { uptime_.set_days(days); }
  // Starts a histogram over these bounds (empty: none is kept); counts so far are dropped.
  void set_duration_buckets(std::shared_ptr<const std::vector<double>> bounds);
  const DurationHistogram* durations() const { return durations_.get(); }

  State state() const { return state_; }
  const FlapPolicy& policy() const { return policy_; }
  const Totals& totals() const { return totals_; }
  std::chrono::system_clock::time_point state_since() const { return state_since_; }
  const History& history() const { return history_; }
  const Uptime& uptime() const { return uptime_; }
  Summary summary() const;

  // Shared and immutable, so a reader (the control socket) can hold one across a suspension while
  // new results arrive. The latest failure is the same object as the latest when that failed.
  std::shared_ptr<const FullResult> latest() const { return latest_; }
  std::shared_ptr<const FullResult> latest_failure() const { return latest_failure_; }

 private:
  friend struct Codec;  // the persisted form (results/codec.h)

  FlapPolicy policy_;
  State state_ = State::unknown;
  std::chrono::system_clock::time_point state_since_;
  std::uint32_t consecutive_successes_ = 0;
  std::uint32_t consecutive_failures_ = 0;
  std::uint32_t previous_streak_ = 0;  // the other kind's streak before the current one
  Totals totals_;
  std::optional<std::chrono::system_clock::time_point> last_success_;
  std::optional<std::chrono::system_clock::time_point> last_failure_;
  History history_;
  Uptime uptime_;
  std::shared_ptr<const FullResult> latest_;
  std::shared_ptr<const FullResult> latest_failure_;
  // Apart, so a target without one (settings.metrics_buckets empty) pays a pointer.
  std::unique_ptr<DurationHistogram> durations_;
};

}  // namespace fetchd::results
