#pragma once

// Persistence: the results store (state/results_store.h) as a consumer of the feed. Every
// recorded attempt, skipped run, target added or changed and target removed is queued to the
// store, which writes it off the loop. When the store asks for a snapshot, the registry is walked
// in name order a slice at a time (at most ~2 ms each, then as long for the rest of the loop, and
// waiting while the writer is behind), so the loop never stalls for it. A write error is logged
// once when it begins and once when writing works again; status shows it meanwhile.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "registry/registry.h"
#include "results/feed.h"
#include "state/results_store.h"

namespace fetchd::service {

class Persistence {
 public:
  Persistence(asio::io_context& loop, results::Feed& feed, const registry::Registry& registry,
              std::unique_ptr<state::ResultsStore> store, std::chrono::milliseconds check_every);
  Persistence(const Persistence&) = delete;
  Persistence& operator=(const Persistence&) = delete;
  ~Persistence();

  // A stored target that is no longer tracked (dropped from the configuration while the daemon
  // was stopped): removed from the store.
  void forget(std::string_view name) { store_->removed(name); }
  state::ResultsStoreStats stats() const { return store_->stats(); }
  // Ends the subscription and any snapshot in progress, writes and syncs what is queued.
  void stop();

 private:
  void on_event(const results::Event& event);
  void schedule_check();
  void check();
  void take_snapshot();
  // One slice of the snapshot; schedules the next, or ends it.
  void snapshot_slice();

  const registry::Registry& registry_;
  std::unique_ptr<state::ResultsStore> store_;
  std::chrono::milliseconds check_every_;
  asio::steady_timer timer_;        // the periodic check
  asio::steady_timer slice_timer_;  // the next slice of a snapshot
  std::string snapshot_after_;      // the last name the snapshot in progress visited
  std::optional<std::string> reported_error_;
  bool stopped_ = false;
  results::Feed::Subscription subscription_;
};

}  // namespace fetchd::service
