#include "control/watch.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <string_view>
#include <unordered_set>

#include "control/protocol.h"
#include "http/fetch_json.h"
#include "results/history.h"

namespace fetchd::control {

using nlohmann::json;

namespace {

// What one call for the stream's next piece takes from the queue at most.
constexpr std::size_t kPieceBytes = std::size_t{64} * 1024;

struct NameHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view name) const {
    return std::hash<std::string_view>{}(name);
  }
};
using NameSet = std::unordered_set<std::string, NameHash, std::equal_to<>>;

std::string now_text() {
  return http::format_utc(std::chrono::system_clock::now());
}

std::string line_of(const json& event) {
  return dump(event) + "\n";
}

}  // namespace

// ---- one watcher -------------------------------------------------------------------------------

class Watcher {
 public:
  Watcher(WatchFilter filter, std::size_t max_queued)
      : filter_(std::move(filter)),
        named_(filter_.targets.begin(), filter_.targets.end()),
        max_queued_(max_queued) {}

  const WatchFilter& filter() const { return filter_; }
  bool by_label() const { return !filter_.labels.empty(); }

  // Whether an event of `kind` about `name` (empty: about no target) is for this watcher.
  bool wants(WatchKind kind, std::string_view name) const {
    if (!filter_.wants(kind))
      return false;
    if (name.empty())
      return true;
    return (named_.empty() || named_.contains(name)) && (!by_label() || labelled_.contains(name));
  }
  // The targets whose labels match, kept as targets come and go.
  void note_target(std::string_view name, const std::map<std::string, std::string>& labels) {
    if (by_label() && matches(filter_.labels, labels))
      labelled_.emplace(name);
  }
  void forget_target(std::string_view name) {
    if (const auto found = labelled_.find(name); found != labelled_.end())
      labelled_.erase(found);
  }

  void set_wake(net::Wake wake) { wake_ = std::move(wake); }
  // What is queued may be written now.
  void wake() {
    wake_asked_ = false;
    writable_ = true;
    if (wake_)
      wake_();
  }

  // Queues a line; true when the watcher needs a wake for it (it has none asked for yet).
  bool push(const std::shared_ptr<const std::string>& line) {
    if (lines_ >= max_queued_) {
      if (queue_.empty() || queue_.back().line)
        queue_.push_back({nullptr, 0, std::chrono::system_clock::now()});
      ++queue_.back().dropped;
    } else {
      queue_.push_back({line, 0, {}});
      ++lines_;
    }
    if (writable_ || wake_asked_)
      return false;
    wake_asked_ = true;
    return true;
  }

  // The stream's next piece: what is queued, up to about kPieceBytes, once woken (empty: nothing
  // to write until the next wake). Lines that come while the piece is written wait for the next
  // wake, so they go out together.
  std::string next() {
    if (!writable_)
      return {};
    std::string piece;
    while (!queue_.empty() && piece.size() < kPieceBytes) {
      const Queued& front = queue_.front();
      if (front.line) {
        piece += *front.line;
        --lines_;
      } else {
        piece += line_of({{"event", "dropped"},
                          {"time", http::format_utc(front.since)},
                          {"count", front.dropped}});
      }
      queue_.pop_front();
    }
    writable_ = !queue_.empty();
    return piece;
  }

 private:
  // A line, or (line null) a gap of `dropped` events from `since` on.
  struct Queued {
    std::shared_ptr<const std::string> line;
    std::uint64_t dropped;
    std::chrono::system_clock::time_point since;
  };

  const WatchFilter filter_;
  const NameSet named_;
  const std::size_t max_queued_;
  NameSet labelled_;
  std::deque<Queued> queue_;
  std::size_t lines_ = 0;
  net::Wake wake_{};
  bool writable_ = false;    // woken, and not yet emptied
  bool wake_asked_ = false;  // in the hub's list for the next wake
};

// ---- the hub -----------------------------------------------------------------------------------

// The connection's stream holds its watcher; once the connection is gone, only the hub does (and,
// until the next wake, the list of those to wake).
bool WatchHub::orphaned(const std::shared_ptr<Watcher>& watcher) {
  return watcher.use_count() == 1;
}

WatchHub::WatchHub(const asio::any_io_executor& executor, Backend& backend, std::size_t max_queued)
    : backend_(backend), max_queued_(max_queued), wake_timer_(executor) {
  subscription_ =
      backend.feed().subscribe("watch", [this](const results::Event& event) { on_event(event); });
}

WatchHub::~WatchHub() = default;

json WatchHub::start(WatchFilter filter, const net::LiveReply& reply) {
  auto watcher = std::make_shared<Watcher>(std::move(filter), max_queued_);
  if (watcher->by_label()) {
    backend_.for_each_target([&](const TargetView& target) {
      watcher->note_target(target.config.name, target.config.labels);
    });
  }
  watcher->set_wake(
      reply("", [watcher]() -> std::optional<std::string> { return watcher->next(); }));
  std::erase_if(watchers_, orphaned);
  watchers_.push_back(watcher);

  const WatchFilter& watching = watcher->filter();
  json events = json::array();
  for (std::size_t kind = 0; kind < kWatchKinds; ++kind) {
    if (watching.kinds[kind])
      events.push_back(to_string(static_cast<WatchKind>(kind)));
  }
  json states = json::object();
  for (const auto& name : watching.targets) {
    const auto target = backend_.find_target(name);
    states[name] =
        target ? json(std::string(results::to_string(target->results.state()))) : json(nullptr);
  }
  return {
      {"watching", {{"targets", watching.targets}, {"label", watching.labels}, {"events", events}}},
      {"states", states}};
}

std::optional<WatchKind> WatchHub::kind_of(const results::Event& event) {
  switch (event.kind) {
    case results::EventKind::recorded:
      if (!event.result)
        return std::nullopt;
      return event.change != nullptr ? WatchKind::state : WatchKind::result;
    case results::EventKind::added:
      return WatchKind::added;
    case results::EventKind::removed:
      return WatchKind::removed;
    case results::EventKind::reloaded:
      return WatchKind::reload;
    case results::EventKind::stopping:
    case results::EventKind::skipped:
      break;
  }
  return std::nullopt;
}

std::string WatchHub::format(const results::Event& event, WatchKind kind) const {
  const auto kind_name = to_string(kind);
  if (kind == WatchKind::reload) {
    return line_of(
        {{"event", kind_name}, {"time", now_text()}, {"ok", event.ok}, {"summary", event.detail}});
  }
  if (kind == WatchKind::added || kind == WatchKind::removed) {
    return line_of({{"event", kind_name},
                    {"time", now_text()},
                    {"target", event.name},
                    {"state", results::to_string(event.state)},
                    {"enabled", event.enabled}});
  }
  const auto& full = *event.result;
  const auto entry = results::make_compact_entry(full.result, !full.failed_expectation.empty());
  json body = {{"event", kind_name},
               {"time", http::format_utc(full.result.started)},
               {"target", event.name},
               {"state", results::to_string(event.state)},
               {"outcome", results::to_string(full.outcome)},
               {"status", entry.status != 0 ? json(entry.status) : json(nullptr)},
               {"total_us", entry.total_us != results::CompactEntry::kAbsent ? json(entry.total_us)
                                                                             : json(nullptr)},
               {"reason", full.reason()}};
  if (const auto* change = event.change) {
    body["from"] = results::to_string(change->from);
    body["from_lasted_us"] = change->previous_state_lasted.count();
    json from_reason = nullptr;
    if (change->from == results::State::down) {
      // Back up: why it was down is the latest failure, the attempt before this success.
      const auto target = backend_.find_target(event.name);
      if (const auto failure = target ? target->results.latest_failure() : nullptr)
        from_reason = failure->reason();
    }
    body["from_reason"] = std::move(from_reason);
  }
  return line_of(body);
}

void WatchHub::on_event(const results::Event& event) {
  if (watchers_.empty())
    return;
  const auto kind = kind_of(event);
  if (!kind)
    return;
  // A new target's labels, for the watchers that filter by label; looked up once.
  std::optional<std::map<std::string, std::string>> labels;
  std::shared_ptr<const std::string> line;  // formatted once, for the first watcher that wants it
  bool expired = false;
  for (const auto& watcher : watchers_) {
    if (orphaned(watcher)) {
      expired = true;
      continue;
    }
    if (*kind == WatchKind::added && watcher->by_label()) {
      if (!labels) {
        const auto target = backend_.find_target(event.name);
        labels = target ? target->config.labels : std::map<std::string, std::string>{};
      }
      watcher->note_target(event.name, *labels);
    }
    if (watcher->wants(*kind, event.name)) {
      if (!line)
        line = std::make_shared<const std::string>(format(event, *kind));
      if (watcher->push(line))
        to_wake_.push_back(watcher);
    }
    if (*kind == WatchKind::removed)
      watcher->forget_target(event.name);
  }
  if (expired)
    std::erase_if(watchers_, orphaned);
  if (!to_wake_.empty() && !wake_scheduled_) {
    wake_scheduled_ = true;
    wake_after(write_interval());
  }
}

std::chrono::milliseconds WatchHub::write_interval() const {
  constexpr std::chrono::milliseconds kStep{10};
  return std::min(kStep * static_cast<int>(1 + watchers_.size() / 100), kStep * 10);
}

void WatchHub::wake_after(std::chrono::milliseconds delay) {
  wake_timer_.expires_after(delay);
  // The timer is cancelled with the hub: then the handler must not touch it.
  wake_timer_.async_wait([this](const std::error_code& error) {
    if (!error)
      wake_some();
  });
}

// One slice of this round's watchers; those that asked meanwhile wait for the next round.
void WatchHub::wake_some() {
  if (waking_.empty()) {
    waking_.swap(to_wake_);
    std::reverse(waking_.begin(), waking_.end());  // woken from the back, in the order they asked
  }
  for (std::size_t i = 0; i < kWakeSlice && !waking_.empty(); ++i) {
    if (!orphaned(waking_.back()))
      waking_.back()->wake();
    waking_.pop_back();
  }
  if (!waking_.empty())
    wake_after(std::chrono::milliseconds(0));
  else if (!to_wake_.empty())
    wake_after(write_interval());
  else
    wake_scheduled_ = false;
}

}  // namespace fetchd::control
