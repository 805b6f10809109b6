#include "service/persistence.h"

#include <utility>

#include <spdlog/spdlog.h>

namespace fetchd::service {

namespace {

// A slice of the snapshot ends after this long (checked every few targets), and the next begins
// as long after: a snapshot takes at most half the loop, however busy the rest of it is.
constexpr auto kSliceTime = std::chrono::milliseconds(2);
constexpr std::size_t kTargetsBetweenClockReads = 16;
// Snapshot bytes the writer may be behind before the walk waits for it.
constexpr std::size_t kMaxBacklog = std::size_t{16} << 20;
constexpr auto kBacklogWait = std::chrono::milliseconds(5);

}  // namespace

Persistence::Persistence(asio::io_context& loop, results::Feed& feed,
                         const registry::Registry& registry,
                         std::unique_ptr<state::ResultsStore> store,
                         std::chrono::milliseconds check_every)
    : registry_(registry),
      store_(std::move(store)),
      check_every_(check_every),
      timer_(loop),
      slice_timer_(loop),
      subscription_(
          feed.subscribe("persistence", [this](const results::Event& event) { on_event(event); })) {
  schedule_check();
}

Persistence::~Persistence() {
  stop();
}

void Persistence::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  subscription_.reset();
  timer_.cancel();
  slice_timer_.cancel();
  store_->close();
}

void Persistence::on_event(const results::Event& event) {
  switch (event.kind) {
    case results::EventKind::recorded:
      if (event.result)
        store_->result(event.name, event.result);
      return;
    case results::EventKind::skipped:
      store_->skipped(event.name, event.slots);
      return;
    case results::EventKind::added: {
      const auto* entry = registry_.find(event.name);
      if (entry == nullptr)
        return;
      store_->put(event.name, entry->config->fetch.url.to_string(), entry->results.policy(),
                  entry->results.state_since(), !event.results_kept);
      return;
    }
    case results::EventKind::removed:
      // A change that keeps the results is removed and added again: the put says it all.
      if (!event.results_kept)
        store_->removed(event.name);
      return;
    case results::EventKind::stopping:
    case results::EventKind::reloaded:
      return;
  }
}

void Persistence::schedule_check() {
  timer_.expires_after(check_every_);
  // A callback already queued when stop() cancels runs with success: stopped_ ends it.
  timer_.async_wait([this](std::error_code error) {
    if (!error && !stopped_)
      check();
  });
}

void Persistence::check() {
  const auto stats = store_->stats();
  if (stats.error && stats.error != reported_error_) {
    if (!reported_error_) {
      spdlog::error(
          "results store: {}; results stay in memory and fetching goes on, but a restart now "
          "would lose them",
          *stats.error);
    }
    reported_error_ = stats.error;
  } else if (!stats.error && reported_error_) {
    spdlog::info("results store: writing to {} works again", store_->dir().string());
    reported_error_.reset();
  }
  if (store_->wants_snapshot())
    take_snapshot();
  schedule_check();
}

void Persistence::take_snapshot() {
  store_->begin_snapshot();
  snapshot_after_.clear();
  snapshot_slice();
}

void Persistence::snapshot_slice() {
  const auto next = [this](std::chrono::milliseconds after) {
    slice_timer_.expires_after(after);
    slice_timer_.async_wait([this](std::error_code error) {
      if (!error && !stopped_)
        snapshot_slice();
    });
  };
  if (store_->snapshot_backlog() > kMaxBacklog)
    return next(kBacklogWait);
  const auto deadline = std::chrono::steady_clock::now() + kSliceTime;
  std::size_t visited = 0;
  bool finished = true;
  registry_.for_each_after(snapshot_after_, [&](const registry::Entry& entry) {
    if (visited > 0 && visited % kTargetsBetweenClockReads == 0 &&
        std::chrono::steady_clock::now() >= deadline) {
      finished = false;
      return false;
    }
    store_->snapshot_target(entry.name(), entry.config->fetch.url.to_string(), entry.results);
    snapshot_after_ = entry.name();
    ++visited;
    return true;
  });
  if (!finished)
    return next(kSliceTime);
  store_->end_snapshot();
  snapshot_after_.clear();
}

}  // namespace fetchd::service
