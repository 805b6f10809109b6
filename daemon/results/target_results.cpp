#include "results/target_results.h"

#include <algorithm>
#include <utility>

namespace fetchd::results {

namespace {

// The error's message, prefixed by its class unless the message already starts with that word
// ("connect to 10.0.0.1:81: Connection refused").
std::string error_reason(Outcome outcome, const std::string& message) {
  const std::string_view word = to_string(outcome);
  if (message.empty())
    return std::string(word);
  const bool starts_with_word =
      message.starts_with(word) &&
      (message.size() == word.size() || message[word.size()] == ' ' || message[word.size()] == ':');
  if (starts_with_word)
    return message;
  return std::string(word) + ": " + message;
}

std::uint32_t increment(std::uint32_t count) {
  return count == UINT32_MAX ? count : count + 1;
}

std::chrono::microseconds elapsed(std::chrono::system_clock::time_point from,
                                  std::chrono::system_clock::time_point to) {
  return std::max(std::chrono::microseconds(0),
                  std::chrono::duration_cast<std::chrono::microseconds>(to - from));
}

}  // namespace

std::string FullResult::reason() const {
  if (result.hops.empty())
    return "io: no response";
  const http::Hop& hop = result.last();
  if (outcome == Outcome::expectation)
    return "expectation failed: " + failed_expectation;
  if (outcome != Outcome::ok)
    return error_reason(outcome, hop.error.message);
  if (hop.status == 0)
    return "ok";
  std::string text = std::to_string(hop.status);
  if (!hop.reason.empty())
    text += " " + hop.reason;
  return text;
}

std::optional<Latency> latency_of(const History& history) {
  // Reused between calls: `list` computes this for every target.
  thread_local std::vector<std::int32_t> totals;
  totals.clear();
  for (std::size_t i = 0; i < history.size(); ++i) {
    const CompactEntry& entry = history[i];
    if (entry.outcome == Outcome::ok && entry.total_us != CompactEntry::kAbsent)
      totals.push_back(entry.total_us);
  }
  if (totals.empty())
    return std::nullopt;
  std::sort(totals.begin(), totals.end());
  // Nearest rank: the ceil(p/100 * n)-th smallest, 1-based.
  const auto rank = [](std::size_t percent) {
    const std::size_t r = (percent * totals.size() + 99) / 100;
    return totals[std::max<std::size_t>(r, 1) - 1];
  };
  Latency latency;
  latency.samples = static_cast<std::uint32_t>(totals.size());
  latency.min_us = totals.front();
  latency.p50_us = rank(50);
  latency.p95_us = rank(95);
  latency.max_us = totals.back();
  return latency;
}

TargetResults::TargetResults(FlapPolicy policy, std::size_t history_length,
                             std::chrono::system_clock::time_point since, std::size_t uptime_days)
    : policy_(policy), state_since_(since), history_(history_length), uptime_(uptime_days) {}

std::optional<StateChange> TargetResults::record(Attempt attempt) {
  auto full = std::make_shared<FullResult>();
  full->outcome = outcome_of(attempt.result, !attempt.failed_expectation.empty());
  full->failed_expectation = std::move(attempt.failed_expectation);
  full->result = std::move(attempt.result);
  for (auto& hop : full->result.hops)
    hop.body = std::string();
  const Outcome outcome = full->outcome;
  const auto at = full->result.started;

  const auto entry = make_compact_entry(full->result, outcome == Outcome::expectation);
  history_.push(entry);
  ++totals_.attempts;
  ++totals_.by_outcome[static_cast<std::size_t>(outcome)];
  latest_ = full;

  if (!is_success(outcome) && !is_failure(outcome)) {
    ++totals_.cancelled;
    return std::nullopt;
  }
  uptime_.record(at, is_success(outcome), entry.total_us);
  if (durations_) {
    durations_->observe(
        std::chrono::duration<double>(std::chrono::microseconds(full->result.total)).count());
  }

  State decided = state_;
  std::uint32_t streak = 0;
  if (is_success(outcome)) {
    ++totals_.successes;
    last_success_ = at;
    if (consecutive_successes_ == 0) {
      previous_streak_ = consecutive_failures_;
      consecutive_failures_ = 0;
    }
    consecutive_successes_ = increment(consecutive_successes_);
    streak = consecutive_successes_;
    if (streak >= std::max<std::uint32_t>(policy_.up_after, 1))
      decided = State::up;
  } else {
    ++totals_.failures;
    last_failure_ = at;
    latest_failure_ = full;
    if (consecutive_failures_ == 0) {
      previous_streak_ = consecutive_successes_;
      consecutive_successes_ = 0;
    }
    consecutive_failures_ = increment(consecutive_failures_);
    streak = consecutive_failures_;
    if (streak >= std::max<std::uint32_t>(policy_.down_after, 1))
      decided = State::down;
  }
  if (decided == state_)
    return std::nullopt;

  StateChange change;
  change.from = state_;
  change.to = decided;
  change.at = at;
  change.reason = full->reason();
  change.streak = streak;
  change.previous_streak = previous_streak_;
  change.previous_state_lasted = elapsed(state_since_, at);
  if (decided == State::down)
    uptime_.outage_began(at, change.reason);
  else if (state_ == State::down)
    uptime_.outage_ended(at);
  state_ = decided;
  state_since_ = at;
  ++totals_.state_changes;
  return change;
}

void DurationHistogram::observe(double seconds) {
  const auto& upper = *bounds;
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(upper.begin(), upper.end(), seconds) - upper.begin());
  ++counts[bucket];
  sum_seconds += seconds;
  ++count;
}

void TargetResults::set_duration_buckets(std::shared_ptr<const std::vector<double>> bounds) {
  if (!bounds || bounds->empty()) {
    durations_.reset();
    return;
  }
  const std::size_t buckets = bounds->size() + 1;
  durations_ = std::make_unique<DurationHistogram>(
      DurationHistogram{std::move(bounds), std::vector<std::uint64_t>(buckets), 0, 0});
}

Summary TargetResults::summary() const {
  Summary summary;
  summary.state = state_;
  summary.state_since = state_since_;
  summary.consecutive_successes = consecutive_successes_;
  summary.consecutive_failures = consecutive_failures_;
  summary.totals = totals_;
  summary.last_success = last_success_;
  summary.last_failure = last_failure_;
  if (const CompactEntry* newest = history_.newest())
    summary.last = *newest;
  else if (latest_)
    summary.last = make_compact_entry(latest_->result, latest_->outcome == Outcome::expectation);
  summary.latency = latency_of(history_);
  summary.policy = policy_;
  summary.history_size = history_.size();
  summary.history_length = history_.capacity();
  return summary;
}

}  // namespace fetchd::results
