#include "results/store.h"

#include <utility>

namespace fetchd::results {

TargetResults& ResultsStore::add(const std::string& name, FlapPolicy policy,
                                 std::chrono::system_clock::time_point now, Keep keep) {
  auto found = targets_.find(name);
  if (found == targets_.end())
    return targets_.try_emplace(name, policy, history_length_, now).first->second;
  if (keep == Keep::history) {
    found->second.set_policy(policy);
  } else {
    found->second = TargetResults(policy, history_length_, now);
  }
  return found->second;
}

bool ResultsStore::remove(std::string_view name) {
  auto found = targets_.find(name);
  if (found == targets_.end())
    return false;
  targets_.erase(found);
  return true;
}

TargetResults* ResultsStore::find(std::string_view name) {
  auto found = targets_.find(name);
  return found == targets_.end() ? nullptr : &found->second;
}

const TargetResults* ResultsStore::find(std::string_view name) const {
  auto found = targets_.find(name);
  return found == targets_.end() ? nullptr : &found->second;
}

std::optional<StateChange> ResultsStore::record(std::string_view name, Attempt attempt) {
  auto found = targets_.find(name);
  if (found == targets_.end())
    return std::nullopt;
  auto change = found->second.record(std::move(attempt));
  if (change)
    change->name = found->first;
  return change;
}

bool ResultsStore::record_skipped(std::string_view name, std::uint64_t slots) {
  TargetResults* results = find(name);
  if (results == nullptr)
    return false;
  results->record_skipped(slots);
  return true;
}

void ResultsStore::set_history_length(std::size_t length) {
  history_length_ = length;
  for (auto& [name, results] : targets_)
    results.set_history_length(length);
}

}  // namespace fetchd::results
