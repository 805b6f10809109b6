#pragma once

// The results of every target, by name. The scheduler adds a target when its job starts and removes
// it when the job stops; the control socket reads it. Iteration is in name order.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "results/target_results.h"

namespace fetchd::results {

// What a reload does to a target that is already tracked.
enum class Keep {
  history,  // keep everything (state, streaks, totals, latest, history); apply the new policy
  nothing,  // start over as a new target: unknown, empty history
};

class ResultsStore {
 public:
  explicit ResultsStore(std::size_t history_length = kDefaultHistoryLength)
      : history_length_(history_length) {}

  // Starts tracking `name` (unknown since `now`) and returns its results. When it is already
  // tracked, `keep` decides: Keep::history only applies `policy`; Keep::nothing starts over.
  TargetResults& add(const std::string& name, FlapPolicy policy,
                     std::chrono::system_clock::time_point now, Keep keep = Keep::history);
  // False when it was not tracked.
  bool remove(std::string_view name);

  bool contains(std::string_view name) const { return find(name) != nullptr; }
  TargetResults* find(std::string_view name);
  const TargetResults* find(std::string_view name) const;
  std::size_t size() const { return targets_.size(); }

  // Records an attempt of `name`; the state change (if any) carries the name. An attempt for a name
  // that is not tracked (removed while its fetch was finishing) is dropped: nullopt.
  std::optional<StateChange> record(std::string_view name, Attempt attempt);
  // Overruns of `name` (see TargetResults::record_skipped); false when `name` is not tracked.
  bool record_skipped(std::string_view name, std::uint64_t slots = 1);

  // The daemon-wide history length, applied to every target (keeping each one's newest entries).
  void set_history_length(std::size_t length);
  std::size_t history_length() const { return history_length_; }

  // Calls fn(const std::string& name, const TargetResults&) for every target in name order.
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const auto& [name, results] : targets_)
      fn(name, results);
  }

 private:
  std::size_t history_length_;
  std::map<std::string, TargetResults, std::less<>> targets_;
};

}  // namespace fetchd::results
