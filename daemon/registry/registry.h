#pragma once

// One entry per target: its effective configuration and where it came from, and its results.
// The service plans against it and applies the difference of a reload to it; the scheduler runs
// one job per enabled entry; the control socket reads it. Every attempt is recorded here, judged
// against the entry's expectations, and published on the results feed — the one place results
// enter the daemon.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "http/fetch_result.h"
#include "results/feed.h"
#include "results/target_results.h"
#include "scheduler/scheduler.h"

namespace fetchd::registry {

// What putting a target that is already tracked does to its results.
enum class Keep {
  history,  // keep everything (state, streaks, totals, latest, history); apply the new policy
  nothing,  // start over as a new target: unknown, empty history
};

struct Entry {
  // Immutable and shared: a configuration target is the same object as in the target list the
  // next reload is planned against, so it is held once however many readers hold it.
  std::shared_ptr<const config::TargetConfig> config;
  // Runtime targets only: the object the operator sent, re-read against each configuration's
  // defaults; null for a target of the configuration files.
  nlohmann::json runtime_document;
  results::TargetResults results;
  scheduler::JobHandle job;  // empty while the target is disabled

  bool runtime() const { return !runtime_document.is_null(); }
  const std::string& name() const { return config->name; }
};

class Registry {
 public:
  using Clock = std::chrono::system_clock;

  Registry(results::Feed& feed, std::size_t history_length)
      : feed_(feed), history_length_(history_length) {}
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Tracks `config` (unknown since `now`), or replaces the entry of that name, whose results
  // `keep` decides. Publishes `removed` for an entry replaced, then `added`.
  Entry& put(std::shared_ptr<const config::TargetConfig> config, nlohmann::json runtime_document,
             Keep keep, Clock::time_point now);
  // Tracks a new `config` with results kept from before (restored from the state directory at
  // start), under the entry's policy and the registry's settings. Publishes `added`.
  Entry& adopt(std::shared_ptr<const config::TargetConfig> config, nlohmann::json runtime_document,
               results::TargetResults results);
  // Publishes `removed`; false when `name` is not tracked.
  bool remove(std::string_view name);

  const Entry* find(std::string_view name) const;
  bool contains(std::string_view name) const { return find(name) != nullptr; }
  std::size_t size() const { return entries_.size(); }
  // Runtime entries in the order they were added.
  const std::vector<const Entry*>& runtime_entries() const { return runtime_; }

  // Calls fn(const Entry&) for every entry in name order.
  template <class Fn>
  void for_each(Fn&& fn) const {
    for (const auto& [name, entry] : entries_)
      fn(entry);
  }
  // Calls fn(const Entry&) in name order for the entries after the name `after` ("": from the
  // first) while it returns true: a walk in slices, resumed after a suspension from the last name
  // seen, whatever was added or removed meanwhile.
  template <class Fn>
  void for_each_after(std::string_view after, Fn&& fn) const {
    for (auto it = after.empty() ? entries_.begin() : entries_.upper_bound(after);
         it != entries_.end(); ++it) {
      if (!fn(it->second))
        return;
    }
  }

  // Judges a completed attempt against the entry's expectations, records it and publishes it. An
  // attempt for a name no longer tracked (removed while its fetch was finishing) is dropped.
  void record(std::string_view name, const http::FetchResult& result);
  // Overruns (see TargetResults::record_skipped), published; dropped when `name` is not tracked.
  void record_skipped(std::string_view name, std::uint64_t slots);

  // The daemon-wide history length, applied to every entry (keeping each one's newest results).
  void set_history_length(std::size_t length);
  std::size_t history_length() const { return history_length_; }
  void set_uptime_days(std::size_t days);
  std::size_t uptime_days() const { return uptime_days_; }
  // Upper bounds (seconds) of every entry's duration histogram from now on; empty: none. Entries
  // already tracked start their histogram over.
  void set_duration_buckets(std::vector<double> bounds);
  const std::vector<double>& duration_buckets() const { return *duration_buckets_; }

 private:
  void publish_membership(results::EventKind kind, const Entry& entry, bool results_kept = false);

  results::Feed& feed_;
  std::size_t history_length_;
  std::size_t uptime_days_ = results::kDefaultUptimeDays;
  std::shared_ptr<const std::vector<double>> duration_buckets_ =
      std::make_shared<const std::vector<double>>();
  std::map<std::string, Entry, std::less<>> entries_;
  std::vector<const Entry*> runtime_;  // an index into entries_, kept by put() and remove()
};

}  // namespace fetchd::registry
