#pragma once

// `watch`: a control connection turned into a stream of events, one JSON line each
// (docs/control-protocol.md, "watch"). One hub per control server subscribes to the results feed
// and formats each event once; every watcher whose filter wants it queues the same line. A watcher
// queues at most kMaxQueuedEvents lines: past that it counts what it drops, and its client reads a
// `dropped` event with the count where the gap is. A slow reader costs its own queue, never the
// loop or the other watchers. Watchers with new lines are woken together, every 10 ms with up to
// 100 watchers and 10 ms more per 100 more (at most 100 ms), so that each makes one write per
// interval however many events come; they are woken kWakeSlice at a time, other work running in
// between.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "common/expected.h"
#include "control/backend.h"
#include "control/filters.h"
#include "net/listener.h"
#include "results/feed.h"

namespace fetchd::control {

inline constexpr std::size_t kMaxQueuedEvents = 4096;
inline constexpr std::size_t kWakeSlice = 64;

class Watcher;

class WatchHub {
 public:
  // Subscribes to backend.feed(). Each watcher queues at most `max_queued` lines. Wakes watchers
  // on `executor` (the loop's).
  WatchHub(const asio::any_io_executor& executor, Backend& backend,
           std::size_t max_queued = kMaxQueuedEvents);
  ~WatchHub();
  WatchHub(const WatchHub&) = delete;
  WatchHub& operator=(const WatchHub&) = delete;

  // Streams the events `filter` wants into `reply` (reserved after the request's own reply) from
  // now on, until the connection closes. Returns the request's result: the filter in effect and,
  // for each target named in it, its state now (null when there is no such target yet), so that
  // a client waiting for a state loses nothing between asking and watching.
  nlohmann::json start(WatchFilter filter, const net::LiveReply& reply);

 private:
  static bool orphaned(const std::shared_ptr<Watcher>& watcher);
  static std::optional<WatchKind> kind_of(const results::Event& event);
  std::string format(const results::Event& event, WatchKind kind) const;
  void on_event(const results::Event& event);
  std::chrono::milliseconds write_interval() const;
  void wake_after(std::chrono::milliseconds delay);
  void wake_some();

  Backend& backend_;
  const std::size_t max_queued_;
  std::vector<std::shared_ptr<Watcher>> watchers_;
  std::vector<std::shared_ptr<Watcher>> to_wake_;  // lines came since their last wake
  std::vector<std::shared_ptr<Watcher>> waking_;   // this round's, woken a slice at a time
  asio::steady_timer wake_timer_;
  bool wake_scheduled_ = false;
  results::Feed::Subscription subscription_;
};

}  // namespace fetchd::control
