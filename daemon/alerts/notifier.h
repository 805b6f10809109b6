#pragma once

// Webhooks and commands (alerts.webhooks, alerts.commands): each a route that is told when a
// target it matches goes DOWN (after flap control) and when it is UP again, with the delivery made
// trustworthy.
//
// - One notification per change: a route is told UP (or that the target is no longer monitored)
//   only if it was told DOWN, so it never hears of a recovery it did not know was needed. While
//   DOWN, repeated every repeat_interval if the route sets one.
// - Changes are held kHold before they are routed. If more than alerts.storm_threshold changes
//   came within the last minute when they are, each route gets one summary of the storm instead,
//   and one more when the storm is over (fewer changes than the threshold in a minute). The
//   routes still learn each target's state, so a later recovery is told one by one.
// - A silence covering the target suppresses its DOWN (and repeats); a recovery of a DOWN the route
//   was told is still told. When a silence ends, targets still DOWN are told then.
// - Each route delivers in order, one at a time: a webhook POST/PUT (or a command) with a timeout;
//   a failure is retried with exponential back-off and jitter (1 s doubling to 5 min) until the
//   notification is max_age old. Each carries an id, the same across retries and restarts, as the
//   Idempotency-Key header (FETCHD_ID for commands), so a receiver can drop a duplicate. A webhook
//   answering 4xx (but 408 and 429) refused it for good: dropped and logged. A failing route logs
//   once when it starts failing and once when it delivers again.
// - What each route was told and what it still has to deliver live in <state_dir>/alerts.json,
//   written (atomically, off the loop) within a second of a change and at stop: after a restart, a
//   target still DOWN is not told again, a recovery meanwhile is told, and a pending delivery goes
//   out once. (After a crash, a delivery made in its last second may go out again with the same
//   id.)

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>
#include <nlohmann/json_fwd.hpp>

#include "alerts/silences.h"
#include "common/expected.h"
#include "config/config.h"
#include "http/fetcher.h"
#include "registry/registry.h"
#include "results/feed.h"

namespace fetchd::alerts {

// Changes are held this long before they are routed, so that a storm's first changes are part of
// its summary.
inline constexpr std::chrono::seconds kHold{2};
inline constexpr std::chrono::minutes kStormWindow{1};
// Targets named in a storm summary at most (the counts cover every one).
inline constexpr std::size_t kStormTargetsNamed = 100;
// Notifications one route holds at most; beyond that the oldest are dropped.
inline constexpr std::size_t kMaxQueuedPerRoute = 100'000;

// One notification to one route.
struct Notice {
  using Clock = std::chrono::system_clock;
  std::string id;             // the idempotency key: 32 hex digits
  std::string kind;           // "change", "repeat" (still DOWN), "storm"
  std::string name;           // the target ("" for a storm)
  std::string state;          // "DOWN", "UP", "REMOVED" (no longer monitored), "STORM"
  std::string previous;       // the state before: "UP", "DOWN", "UNKNOWN"
  Clock::time_point since{};  // the state began (the storm's first change)
  std::string reason;
  std::string url;
  std::string status;  // of the deciding response; "" when none came
  std::map<std::string, std::string> labels;
  std::string summary;  // one line for a human
  // A storm's changes: counts, and the first kStormTargetsNamed targets with their state.
  std::size_t changes = 0;
  std::size_t down = 0;
  std::size_t up = 0;
  std::size_t down_now = 0;
  std::vector<std::pair<std::string, std::string>> targets;
  Clock::time_point created{};
  std::uint32_t attempts = 0;
  Clock::time_point next_try{};
};

nlohmann::json to_json(const Notice& notice);
Expected<Notice> notice_from_json(const nlohmann::json& value);

// What a route has been told and has still to deliver: kept in <state_dir>/alerts.json.
struct RouteMemory {
  struct Told {
    std::chrono::system_clock::time_point since{};      // the DOWN state's since
    std::chrono::system_clock::time_point last_sent{};  // for repeat_interval
  };
  std::map<std::string, Told, std::less<>> down;  // targets the route was told are DOWN
  std::deque<Notice> queue;                       // undelivered, in order
};
// By route key ("webhook:NAME", "command:NAME").
using NotifierMemory = std::map<std::string, RouteMemory, std::less<>>;

// The file's path, and reading it back: a missing file is empty; a damaged one (or of another
// version) is an error naming the file and what is wrong.
std::filesystem::path notifier_memory_path(const std::filesystem::path& state_dir);
Expected<NotifierMemory> load_notifier_memory(const std::filesystem::path& state_dir);

struct RouteStats {
  std::string route;  // "webhook:NAME", "command:NAME"
  std::string url;    // the webhook's URL, the command's program
  std::uint64_t sent = 0;
  std::uint64_t failed = 0;   // attempts that failed (each retry counts)
  std::uint64_t dropped = 0;  // refused for good, too old, or over the queue's bound
  std::optional<std::chrono::system_clock::time_point> last_success{};
  std::size_t queued = 0;
};

class Notifier : public std::enable_shared_from_this<Notifier> {
 public:
  using Clock = std::chrono::system_clock;

  Notifier(
      const asio::any_io_executor& executor, http::Fetcher& fetcher,
      const registry::Registry& registry, const Silences& silences,
      const config::AlertsConfig& config, std::filesystem::path state_dir, NotifierMemory memory,
      // The wall clock; tests pass their own to step over holds, storms and back-offs.
      std::function<Clock::time_point()> now = [] { return Clock::now(); });
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;
  ~Notifier();

  // Subscribes, and once the loop runs (after the targets are added) compares what each route
  // was told with the targets' states: DOWN ones not told are told, told ones no longer DOWN are
  // told they recovered.
  void start(results::Feed& feed);
  // A reload: routes are kept by kind and name (with what they were told and their queue);
  // a route no longer configured is dropped with its queue.
  void configure(const config::AlertsConfig& config);
  // A silence ended: the targets it covered that are still DOWN are told now.
  void silence_lifted();
  // Ends the subscription, the timer and every delivery in flight (killing commands), and writes
  // the state file one last time (blocking: at shutdown).
  void stop();

  std::vector<RouteStats> stats() const;
  std::size_t queued() const;

 private:
  struct Route;
  struct Change {
    std::string name;
    std::string state;
    std::string previous;
    Clock::time_point since{};
    std::string reason;
    std::string status;
    Clock::time_point release{};
  };
  class Writer;

  void on_event(const results::Event& event);
  void hold(Change change);
  void tick();
  void arm();
  void release(Clock::time_point now);
  void close_storms();
  void repeat(Clock::time_point now);
  void reconcile();
  void route_changes(Route& route, std::vector<Change> changes, bool storm, bool closing);
  Notice change_notice(const Change& change, const std::string& kind) const;
  void enqueue(Route& route, Notice notice);
  void pump(const std::shared_ptr<Route>& route);
  void deliver_webhook(const std::shared_ptr<Route>& route, const Notice& notice);
  void deliver_command(const std::shared_ptr<Route>& route, const Notice& notice);
  void delivered(const std::shared_ptr<Route>& route, const std::string& problem, bool permanent);
  static bool matches(const Route& route, const registry::Entry& entry);
  bool silenced(const registry::Entry& entry, Clock::time_point now) const;
  void save_soon();
  void save_now(bool final);

  std::function<Clock::time_point()> now_;
  asio::any_io_executor executor_;
  http::Fetcher& fetcher_;
  const registry::Registry& registry_;
  const Silences& silences_;
  std::filesystem::path state_dir_;
  std::size_t storm_threshold_ = 0;
  std::size_t max_commands_ = 1;
  std::string host_;
  std::vector<std::shared_ptr<Route>> routes_;
  std::deque<Change> held_;
  std::deque<Clock::time_point> window_;  // changes of the last kStormWindow
  bool storm_ = false;
  std::size_t commands_running_ = 0;
  asio::steady_timer timer_;
  bool armed_ = false;
  std::uint64_t timer_generation_ = 0;  // a wait replaced by an earlier one is ignored
  bool dirty_ = false;
  std::chrono::steady_clock::time_point last_save_{};
  std::unique_ptr<Writer> writer_;
  bool started_ = false;
  bool stopped_ = false;
  results::Feed::Subscription subscription_;
};

}  // namespace fetchd::alerts
