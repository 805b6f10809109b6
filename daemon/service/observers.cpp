#include "service/observers.h"

#include <spdlog/spdlog.h>

namespace fetchd::service {

void log_event(const results::Event& event) {
  if (event.kind != results::EventKind::recorded)
    return;
  if (const auto& result = event.result->result; !result.ok()) {
    spdlog::debug("{}: {} ({})", event.name, result.error().message,
                  http::to_string(result.error().error_class));
  }
  if (event.change == nullptr)
    return;
  const auto line = results::format_log_line(*event.change);
  if (event.change->to == results::State::down) {
    spdlog::warn("{}", line);
  } else {
    spdlog::info("{}", line);
  }
}

std::size_t& StateCounts::counter_for(results::State state) {
  switch (state) {
    case results::State::up:
      return counts_.up;
    case results::State::down:
      return counts_.down;
    case results::State::unknown:
      break;
  }
  return counts_.unknown;
}

void StateCounts::on_event(const results::Event& event) {
  // A disabled target is counted apart whatever its results say.
  std::size_t& slot = event.enabled ? counter_for(event.state) : counts_.disabled;
  switch (event.kind) {
    case results::EventKind::added:
      ++counts_.total;
      ++slot;
      break;
    case results::EventKind::removed:
      --counts_.total;
      --slot;
      break;
    case results::EventKind::recorded:
      if (event.change != nullptr && event.enabled) {
        --counter_for(event.change->from);
        ++slot;
      }
      break;
    case results::EventKind::stopping:
    case results::EventKind::reloaded:
    case results::EventKind::skipped:
      break;
  }
}

void FetchWaits::wait(const std::string& name, Done done) {
  waiting_.emplace(name, std::move(done));
}

void FetchWaits::on_event(const results::Event& event) {
  switch (event.kind) {
    case results::EventKind::recorded:
      return finish(event.name, event.result);
    case results::EventKind::removed:
      return finish(event.name, nullptr);
    case results::EventKind::stopping: {
      auto all = std::move(waiting_);
      waiting_.clear();
      for (auto& [name, done] : all)
        done(nullptr);
      return;
    }
    case results::EventKind::added:
    case results::EventKind::reloaded:
    case results::EventKind::skipped:
      return;
  }
}

void FetchWaits::finish(std::string_view name,
                        const std::shared_ptr<const results::FullResult>& result) {
  auto [first, last] = waiting_.equal_range(name);
  if (first == last)
    return;
  // Out of the map before any is called: a waiter may start another wait.
  std::vector<Done> done;
  for (auto waiter = first; waiter != last; ++waiter)
    done.push_back(std::move(waiter->second));
  waiting_.erase(first, last);
  for (auto& callback : done)
    callback(result);
}

}  // namespace fetchd::service
