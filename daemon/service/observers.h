#pragma once

// The service's own subscribers to the results feed: the operator's log lines, the target counts
// behind `status`, and the waiters of `fetch --wait`. Each only updates its own state.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "results/feed.h"
#include "status/snapshot.h"

namespace fetchd::service {

// The journal: one line per state change (DOWN at warning, UP at info), and failed fetches at
// debug.
void log_event(const results::Event& event);

// Targets by state, kept up to date from the events alone: O(1) per event, never a walk.
class StateCounts {
 public:
  void on_event(const results::Event& event);
  // Without `runtime`, which the registry knows.
  const status::TargetCounts& counts() const { return counts_; }

 private:
  std::size_t& counter_for(results::State state);
  status::TargetCounts counts_{};
};

// Those waiting for the next result of a target (`fetch NAME --wait`): told the result once it is
// recorded, or nullptr when it never will be (the target was removed or changed, or the daemon is
// stopping).
class FetchWaits {
 public:
  using Done = std::function<void(std::shared_ptr<const results::FullResult>)>;
  void wait(const std::string& name, Done done);
  void on_event(const results::Event& event);
  std::size_t waiting() const { return waiting_.size(); }

 private:
  void finish(std::string_view name, const std::shared_ptr<const results::FullResult>& result);
  std::multimap<std::string, Done, std::less<>> waiting_;
};

}  // namespace fetchd::service
