#pragma once

// What the daemon reports about itself, built in one place (service::Service::snapshot()) and
// rendered by every reader: the control socket's `status`, systemd's STATUS= line, and next the
// metrics endpoint. Plain values: a renderer never reaches into the parts that produced them.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fetchd::status {

using Clock = std::chrono::system_clock;

struct ReloadReport {
  bool ok = false;
  Clock::time_point at{};
  std::vector<std::string> added{}, removed{}, changed{};
  std::size_t unchanged = 0;
  std::string errors{};  // when refused: every error, one per line
  // Settings the files changed that only a restart applies ("control_socket", "dns_servers"):
  // they keep their running value until then.
  std::vector<std::string> pending_restart{};
  // "2 added, 0 removed, 1 changed, 7 unchanged", or "refused: <errors>".
  std::string summary() const;
};

// Targets by state: enabled targets by their results' state, disabled ones apart (total = up +
// down + unknown + disabled); `runtime` counts those added at run time.
struct TargetCounts {
  std::size_t total = 0, up = 0, down = 0, unknown = 0, disabled = 0, runtime = 0;
  bool operator==(const TargetCounts&) const = default;
};

// How late fetches started against their schedule, over the last 65,536 starts (microseconds).
struct Lateness {
  std::int64_t p50_us = 0, p99_us = 0, max_us = 0;
  bool operator==(const Lateness&) const = default;
};
Lateness lateness_of(std::vector<std::int64_t> samples_us);

// One destination of notifications and how its deliveries went since start (alerts/).
struct NotificationRoute {
  std::string route{};  // "alertmanager", "webhook:NAME", "command:NAME"
  std::string url{};    // the Alertmanager's or webhook's URL, the command's program
  std::uint64_t sent = 0;
  std::uint64_t failed = 0;   // attempts that failed (each retry counts)
  std::uint64_t dropped = 0;  // given up: refused for good, too old, or over the queue's bound
  std::optional<Clock::time_point> last_success{};
};

struct Snapshot {
  std::string version{};
  long pid = 0;
  Clock::time_point started{};  // wall clock, for people
  // On the monotonic clock: a step of the wall clock moves neither it nor the uptime.
  std::chrono::steady_clock::duration running_for{};
  std::vector<std::string> config_files{};
  std::optional<ReloadReport> last_reload{};
  std::optional<Clock::time_point> last_reload_success{};  // the latest reload that was applied
  TargetCounts targets{};
  std::size_t in_flight = 0;
  std::size_t slow_in_flight = 0;  // of in_flight, the slow lane's (capped at half the limit)
  std::size_t max_in_flight = 0;   // in effect: max_in_flight, lowered to fit the descriptor limit
  std::uint64_t fetches = 0;       // completed since start
  std::uint64_t skipped = 0;       // slots skipped since start: the previous fetch still ran
  double fetch_rate_per_s = 0;     // completed fetches per second over the last minute
  Lateness lateness{};
  // The results store in the state directory: its files' size, and its latest write error while
  // writing fails (results stay in memory; fetching goes on).
  std::uint64_t results_store_bytes = 0;
  std::optional<std::string> results_store_error{};
  std::vector<NotificationRoute> notification_routes{};
  // Notifications held to be sent: alerts firing, and resolved ones still sent again.
  std::size_t notifications_queued = 0;

  std::int64_t uptime_s() const;
};

}  // namespace fetchd::status
