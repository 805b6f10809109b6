#include "registry/registry.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace fetchd::registry {

namespace {

results::FlapPolicy policy_of(const config::TargetConfig& target) {
  return results::FlapPolicy{static_cast<std::uint32_t>(target.down_after),
                             static_cast<std::uint32_t>(target.up_after)};
}

}  // namespace

void Registry::publish_membership(results::EventKind kind, const Entry& entry, bool results_kept) {
  feed_.publish({.kind = kind,
                 .name = entry.name(),
                 .state = entry.results.state(),
                 .enabled = entry.config->enabled,
                 .results_kept = results_kept});
}

Entry& Registry::put(std::shared_ptr<const config::TargetConfig> config,
                     nlohmann::json runtime_document, Keep keep, Clock::time_point now) {
  const std::string& name = config->name;
  auto found = entries_.find(name);
  bool kept = false;
  if (found == entries_.end()) {
    const bool runtime = !runtime_document.is_null();
    auto policy = policy_of(*config);
    found = entries_
                .try_emplace(
                    name, Entry{std::move(config),
                                std::move(runtime_document),
                                results::TargetResults(policy, history_length_, now, uptime_days_),
                                {}})
                .first;
    found->second.results.set_duration_buckets(duration_buckets_);
    if (runtime)
      runtime_.push_back(&found->second);
  } else {
    Entry& entry = found->second;
    publish_membership(results::EventKind::removed, entry, keep == Keep::history);
    if (keep == Keep::history) {
      kept = true;
      entry.results.set_policy(policy_of(*config));
    } else {
      entry.results =
          results::TargetResults(policy_of(*config), history_length_, now, uptime_days_);
      entry.results.set_duration_buckets(duration_buckets_);
    }
    const bool was_runtime = entry.runtime();
    entry.config = std::move(config);
    entry.runtime_document = std::move(runtime_document);
    if (was_runtime && !entry.runtime())
      std::erase(runtime_, &entry);
    else if (!was_runtime && entry.runtime())
      runtime_.push_back(&entry);
  }
  publish_membership(results::EventKind::added, found->second, kept);
  return found->second;
}

Entry& Registry::adopt(std::shared_ptr<const config::TargetConfig> config,
                       nlohmann::json runtime_document, results::TargetResults results) {
  results.set_policy(policy_of(*config));
  results.set_history_length(history_length_);
  results.set_uptime_days(uptime_days_);
  results.set_duration_buckets(duration_buckets_);
  const bool runtime = !runtime_document.is_null();
  std::string name = config->name;
  auto [found, inserted] = entries_.try_emplace(
      std::move(name),
      Entry{std::move(config), std::move(runtime_document), std::move(results), {}});
  if (!inserted)
    throw std::logic_error("adopt: \"" + found->first + "\" is already tracked");
  if (runtime)
    runtime_.push_back(&found->second);
  publish_membership(results::EventKind::added, found->second, true);
  return found->second;
}

bool Registry::remove(std::string_view name) {
  const auto found = entries_.find(name);
  if (found == entries_.end())
    return false;
  publish_membership(results::EventKind::removed, found->second);
  if (found->second.runtime())
    std::erase(runtime_, &found->second);
  entries_.erase(found);
  return true;
}

const Entry* Registry::find(std::string_view name) const {
  const auto found = entries_.find(name);
  return found == entries_.end() ? nullptr : &found->second;
}

void Registry::record(std::string_view name, const http::FetchResult& result) {
  const auto found = entries_.find(name);
  if (found == entries_.end())
    return;
  Entry& entry = found->second;
  auto failed = config::check_expectations(entry.config->expect, result);
  auto change = entry.results.record(results::Attempt{result, failed.value_or("")});
  if (change)
    change->name = entry.name();
  feed_.publish({.kind = results::EventKind::recorded,
                 .name = entry.name(),
                 .state = entry.results.state(),
                 .enabled = entry.config->enabled,
                 .result = entry.results.latest(),
                 .change = change ? &*change : nullptr});
}

void Registry::record_skipped(std::string_view name, std::uint64_t slots) {
  const auto found = entries_.find(name);
  if (found == entries_.end())
    return;
  found->second.results.record_skipped(slots);
  feed_.publish({.kind = results::EventKind::skipped,
                 .name = found->second.name(),
                 .state = found->second.results.state(),
                 .enabled = found->second.config->enabled,
                 .slots = slots});
}

void Registry::set_duration_buckets(std::vector<double> bounds) {
  duration_buckets_ = std::make_shared<const std::vector<double>>(std::move(bounds));
  for (auto& [name, entry] : entries_)
    entry.results.set_duration_buckets(duration_buckets_);
}

void Registry::set_uptime_days(std::size_t days) {
  uptime_days_ = days;
  for (auto& [name, entry] : entries_)
    entry.results.set_uptime_days(days);
}

void Registry::set_history_length(std::size_t length) {
  history_length_ = length;
  for (auto& [name, entry] : entries_)
    entry.results.set_history_length(length);
}

}  // namespace fetchd::registry
