#pragma once

// The long-running daemon: configuration → scheduler → fetcher → results, on one event loop.
//
// Owns the live configuration and the runtime targets (added at run time, persisted in the state
// directory), applies a new configuration as a difference (new targets start, removed ones stop,
// changed ones restart, unchanged ones keep their schedule and history), reloads without blocking
// the loop (files are read and validated on a helper thread), and logs what an operator greps for.
// The control socket (next layer up) calls the public functions below; nothing here knows sockets.

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "config/config.h"
#include "config/loader.h"
#include "dns/resolver.h"
#include "http/fetcher.h"
#include "results/store.h"
#include "scheduler/scheduler.h"
#include "service/fetch_rate.h"
#include "state/runtime_targets.h"

namespace fetchd::service {

// Thrown by start() when the daemon cannot start (invalid configuration, unreadable state file).
struct StartupError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A refused request, for the control socket: a stable code and a message for people.
struct Refusal {
  std::string code;  // "invalid_target", "conflict", "not_found", "config_target", "io_error"
  std::string message;
};

struct ReloadReport {
  bool ok = false;
  std::chrono::system_clock::time_point at{};
  std::vector<std::string> added{}, removed{}, changed{};
  std::size_t unchanged = 0;
  std::string errors{};  // when refused: every error, one per line
  std::string summary() const;
};

// Targets by state, for `status`: enabled targets by their results' state, disabled ones apart
// (total = up + down + unknown + disabled); `runtime` counts those added at run time.
struct TargetCounts {
  std::size_t total = 0, up = 0, down = 0, unknown = 0, disabled = 0, runtime = 0;
};

enum class FetchNow { started, busy, not_found, disabled };

class Service {
 public:
  // `initial` is the configuration loaded (and validated) from `config_path` by the caller.
  Service(asio::io_context& loop, std::filesystem::path config_path, config::Config initial);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Loads the runtime targets and starts every job. Throws StartupError if the state file cannot
  // be read. Call before the loop runs.
  void start();
  // Re-reads the configuration off the loop thread; if it is valid, applies the difference on the
  // loop, otherwise keeps the running configuration untouched and remembers the failure. `done`
  // (optional) is called on the loop with the report. A reload asked for while one runs is run
  // once more after it.
  void reload(std::function<void(const ReloadReport&)> done = {});
  // Told on the loop when a reload starts reading the files and when it has been applied or
  // refused, whoever asked for it (SIGHUP or the control socket): the service manager tracks both.
  void on_reload(std::function<void()> started, std::function<void(const ReloadReport&)> finished);
  // Cancels every fetch and stops the helper thread; the loop then runs out of work.
  void shutdown();

  // Runtime targets: a target object as in the configuration schema.
  std::optional<Refusal> add_runtime_target(const nlohmann::json& target);
  std::optional<Refusal> remove_runtime_target(const std::string& name);

  // Fetches an enabled target now, outside its schedule (Scheduler::fetch_now). `done` is called
  // once on the loop after a started fetch: with its result as recorded (show's `latest`), or with
  // nullptr when the result was dropped (the target was removed or changed meanwhile, or the daemon
  // is stopping). Not called unless started.
  FetchNow fetch_now(const std::string& name,
                     std::function<void(std::shared_ptr<const results::FullResult>)> done = {});

  // O(1) between changes of the target set: kept up to date on state changes, and counted again
  // (one walk) only after targets were added, removed or changed.
  TargetCounts count_targets() const;
  // Completed fetches per second over the last minute.
  double fetch_rate_per_s() const {
    return fetch_rate_.per_second(std::chrono::steady_clock::now());
  }
  // The in-flight limit in effect (max_in_flight, lowered to fit the descriptor limit).
  std::size_t max_in_flight() const {
    return effective_max_in_flight(config_->settings.max_in_flight, descriptor_limit_);
  }

  const config::Config& config() const { return *config_; }
  const results::ResultsStore& results() const { return results_; }
  const scheduler::Scheduler& scheduler() const { return scheduler_; }
  const config::TargetConfig* target(const std::string& name) const;
  bool is_runtime_target(const std::string& name) const;
  const std::optional<ReloadReport>& last_reload() const { return last_reload_; }
  std::chrono::system_clock::time_point started_at() const { return started_at_; }

  // Keeps in-flight sockets safely below the descriptor limit (RLIMIT_NOFILE soft, raised to the
  // hard limit at start).
  static std::size_t effective_max_in_flight(std::size_t configured, std::size_t descriptor_limit);

 private:
  struct RuntimeTarget {
    nlohmann::json json;  // as the operator sent it: re-read against each day's defaults
    config::TargetConfig parsed;
  };

  // What a new configuration changes, computed off the loop (a reload of 100,000 targets compares
  // them all) against the configuration and runtime targets in effect, so that applying it on the
  // loop costs only the changes.
  struct Plan {
    std::shared_ptr<const config::Config> config;
    std::vector<RuntimeTarget> runtime;  // re-read against the new defaults
    bool runtime_dropped = false;       // some lost their name to the configuration, or are invalid
    std::uint64_t runtime_version = 0;  // of the runtime targets it was computed from
    std::vector<config::TargetConfig> added, changed;
    std::vector<bool> changed_keeps_history;  // per changed target: the URL stayed the same
    std::vector<std::string> removed;
    std::size_t unchanged = 0;
  };
  Plan plan(std::shared_ptr<const config::Config> next,
            const std::vector<config::TargetConfig>& current_targets,
            const std::vector<RuntimeTarget>& current_runtime,
            const std::vector<nlohmann::json>& runtime_documents) const;
  void apply(Plan plan, ReloadReport& report);
  std::vector<RuntimeTarget> parse_runtime_targets(const std::vector<nlohmann::json>& stored,
                                                   const config::Config& against) const;
  std::vector<nlohmann::json> runtime_documents() const;
  void start_target(const config::TargetConfig& target, results::Keep keep);
  void on_result(const std::string& name, const http::FetchResult& result);
  std::optional<Refusal> save_runtime_targets();
  TargetCounts walk_counts() const;
  void read_and_plan();
  void finish_reload(std::optional<Plan> planned, std::string errors);
  scheduler::JobSpec job_for(const config::TargetConfig& target) const;

  asio::io_context& loop_;
  std::filesystem::path config_path_;
  std::size_t descriptor_limit_;
  // Immutable once published, so the reader thread can diff against it while the loop runs.
  std::shared_ptr<const config::Config> config_;
  std::map<std::string, config::TargetConfig> active_;  // every target by name, config and runtime
  std::vector<RuntimeTarget> runtime_;
  std::uint64_t runtime_version_ = 0;  // bumped by every runtime add/remove
  state::RuntimeTargetsFile state_file_;
  dns::Resolver resolver_;
  http::Fetcher fetcher_;
  results::ResultsStore results_;
  scheduler::Scheduler scheduler_;
  asio::thread_pool reader_{1};  // reads and validates configuration files off the loop
  bool reload_running_ = false;
  bool reload_again_ = false;
  std::vector<std::function<void(const ReloadReport&)>> reload_waiters_;
  std::function<void()> reload_started_;
  std::function<void(const ReloadReport&)> reload_finished_;
  std::optional<ReloadReport> last_reload_;
  // count_targets()'s figures (without `runtime`); empty after the target set changed.
  mutable std::optional<TargetCounts> counts_;
  std::chrono::system_clock::time_point started_at_{};
  FetchRate fetch_rate_{std::chrono::steady_clock::now()};
};

}  // namespace fetchd::service
