#pragma once

// The long-running daemon: configuration → registry → scheduler → fetcher → registry → feed, on
// one event loop.
//
// Owns the live configuration and the target registry (configuration targets and runtime targets,
// the latter persisted in the state directory), applies a new configuration as a difference (new
// targets start, removed ones stop, changed ones restart, unchanged ones keep their schedule and
// history), and reloads without blocking the loop (files are read, validated and compared on a
// helper thread). Everything that observes results subscribes to feed(); the control socket
// talks to it through control::Backend. Nothing here knows sockets.

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/system_timer.hpp>
#include <asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "alerts/alertmanager.h"
#include "alerts/notifier.h"
#include "alerts/silences.h"
#include "config/config.h"
#include "config/loader.h"
#include "control/backend.h"
#include "dns/resolver.h"
#include "http/fetcher.h"
#include "registry/registry.h"
#include "results/feed.h"
#include "scheduler/scheduler.h"
#include "service/fetch_rate.h"
#include "service/observers.h"
#include "service/persistence.h"
#include "state/runtime_targets.h"
#include "state/silences_file.h"
#include "status/snapshot.h"

namespace fetchd::service {

// Thrown by start() when the daemon cannot start (invalid configuration, unreadable state file).
struct StartupError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using ReloadReport = status::ReloadReport;

class Service final : public control::Backend {
 public:
  // `initial` is the configuration loaded (and validated) from `config_path` by the caller.
  Service(asio::io_context& loop, std::filesystem::path config_path, config::Config initial);
  ~Service() override;
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Loads the runtime targets and the results kept in the state directory, and starts every job.
  // Throws StartupError if the state directory cannot be read, or holds results of another format
  // version. Call before the loop runs.
  void start();
  // Re-reads the configuration off the loop thread; if it is valid, applies the difference on the
  // loop, otherwise keeps the running configuration untouched and remembers the failure. `done`
  // (optional) is called on the loop with the report. A reload asked for while one runs is run
  // once more after it.
  void reload(std::function<void(const ReloadReport&)> done) override;
  void reload() { reload(nullptr); }
  // Told on the loop when a reload starts reading the files and when it has been applied or
  // refused, whoever asked for it (SIGHUP or the control socket): the service manager tracks both.
  void on_reload(std::function<void()> started, std::function<void(const ReloadReport&)> finished);
  // Cancels every fetch (waiters are told) and stops the helper thread; the loop then runs out of
  // work.
  void shutdown();

  // control::Backend. Runtime targets: a target object as in the configuration schema, or a URL.
  status::Snapshot snapshot() const override;
  void for_each_target(const std::function<void(const control::TargetView&)>& visit) const override;
  std::optional<control::TargetView> find_target(std::string_view name) const override;
  Expected<std::string, control::Refusal<control::AddRefused>> add_target(
      const nlohmann::json& given) override;
  std::optional<control::Refusal<control::RemoveRefused>> remove_target(
      const std::string& name) override;
  // Fetches an enabled target now, outside its schedule (Scheduler::fetch_now).
  control::FetchNow fetch_now(const std::string& name, control::FetchDone done) override;

  // Where every recorded attempt and every change of the target set is published. Subscribe
  // before start() to see every target being added.
  results::Feed& feed() override { return feed_; }
  const registry::Registry& registry() const { return registry_; }
  const scheduler::Scheduler& scheduler() const { return scheduler_; }
  const config::Config& config() const { return *config_; }
  // O(1): kept up to date from the feed.
  status::TargetCounts count_targets() const;

  // Keeps in-flight sockets safely below the descriptor limit (RLIMIT_NOFILE soft, raised to the
  // hard limit at start).
  static std::size_t effective_max_in_flight(std::size_t configured, std::size_t descriptor_limit);

  // ---- Silences (alerts/silences.h) ------------------------------------------------------------
  // Kept in <state_dir>/silences.json: loaded by start() (a damaged file refuses the start; those
  // that expired meanwhile are dropped, without calling the hooks), saved on every change. Each is
  // removed when it expires, by a timer at the earliest until.
  const alerts::Silences& silences() const override { return silences_; }
  Expected<alerts::Silence, control::Refusal<control::SilenceRefused>> add_silence(
      alerts::Silence silence) override;
  Expected<alerts::Silence, control::Refusal<control::UnsilenceRefused>> remove_silence(
      std::uint64_t id) override;
  // Called on the loop with each silence that ends while fetchd runs: expired, or lifted by
  // `unsilence` (after the change was saved, and silences() no longer holds it). Hooks run in the
  // order they were added; one that throws is logged and the others still run.
  void on_silence_lifted(std::function<void(const alerts::Silence&)> hook);

 private:
  using TargetList = std::vector<std::shared_ptr<const config::TargetConfig>>;
  struct RuntimeTarget {
    nlohmann::json json;  // as the operator sent it: re-read against each day's defaults
    std::shared_ptr<const config::TargetConfig> parsed;
  };
  struct Put {
    std::shared_ptr<const config::TargetConfig> target;
    nlohmann::json runtime_document;  // null for a configuration target
    registry::Keep keep = registry::Keep::nothing;
  };

  // What a new configuration changes, computed off the loop (a reload of 100,000 targets compares
  // them all) against the targets in effect, so that applying it on the loop costs only the
  // changes. Unchanged targets of the new list are the objects already in effect.
  struct Plan {
    std::shared_ptr<const config::Config> config;  // without its targets: they are in `targets`
    std::shared_ptr<const TargetList> targets;
    bool runtime_dropped = false;       // some lost their name to the configuration, or are invalid
    std::uint64_t runtime_version = 0;  // of the runtime targets it was computed from
    std::vector<Put> puts;              // added and changed
    std::size_t added = 0;              // puts[0, added) are new
    std::vector<std::string> removed;
    std::size_t unchanged = 0;
  };
  static Plan plan(config::Config next, const TargetList& current_targets,
                   const std::vector<RuntimeTarget>& current_runtime,
                   const std::vector<nlohmann::json>& runtime_documents,
                   const std::string& state_file);
  static std::vector<RuntimeTarget> reread_runtime_targets(
      const std::vector<nlohmann::json>& documents, const config::Config& next,
      const std::string& state_file);
  // `restored`: at start, the results kept in the state directory; a new target whose URL is
  // unchanged takes its own (and leaves the map), the rest start over.
  void apply(Plan plan, ReloadReport& report,
             std::map<std::string, state::StoredTarget, std::less<>>* restored = nullptr);
  std::vector<RuntimeTarget> runtime_targets() const;
  std::vector<nlohmann::json> runtime_documents() const;
  void start_job(registry::Entry& entry);
  std::optional<std::string> save_runtime_targets(const std::vector<nlohmann::json>& documents);
  void subscribe_observers();
  void read_and_plan();
  // Starts, changes or stops the Alertmanager notifier to match `next`.
  void apply_alerts(const config::Config& next);
  void apply_notifier(const config::AlertsConfig& alerts);
  std::vector<status::NotificationRoute> notification_routes() const;
  void finish_reload(std::optional<Plan> planned, std::string errors,
                     std::vector<std::string> pending_restart);

  asio::io_context& loop_;
  std::filesystem::path config_path_;
  std::size_t descriptor_limit_;
  std::vector<config::TargetConfig> initial_targets_;  // until start() plans them
  // Immutable once published, so the reader thread can plan against them while the loop runs.
  std::shared_ptr<const config::Config> config_;
  std::shared_ptr<const TargetList> config_targets_;
  std::uint64_t runtime_version_ = 0;  // bumped by every runtime add/remove
  state::RuntimeTargetsFile state_file_;
  dns::Resolver resolver_;
  http::Fetcher fetcher_;
  results::Feed feed_;
  scheduler::Scheduler scheduler_;
  // After the scheduler: its entries hold their jobs, which stop as the entries go.
  registry::Registry registry_;
  asio::thread_pool reader_{1};  // reads and validates configuration files off the loop
  bool reload_running_ = false;
  bool reload_again_ = false;
  std::vector<std::function<void(const ReloadReport&)>> reload_waiters_;
  std::function<void()> reload_started_;
  std::function<void(const ReloadReport&)> reload_finished_;
  std::optional<ReloadReport> last_reload_;
  std::optional<std::chrono::system_clock::time_point> last_reload_success_;
  std::chrono::system_clock::time_point started_at_{};
  std::chrono::steady_clock::time_point started_steady_{};
  // The service's own subscribers (observers.h), registered in subscribe_observers().
  StateCounts counts_;
  FetchRate fetch_rate_{std::chrono::steady_clock::now()};
  FetchWaits fetch_waits_;
  std::vector<results::Feed::Subscription> subscriptions_;
  std::size_t results_restored_ = 0;  // targets that took their results from the state directory
  // Last: these read the registry and their subscriptions must end before the feed does.
  std::unique_ptr<Persistence> persistence_;
  std::shared_ptr<alerts::Alertmanager> alertmanager_;  // when alerts.alertmanager is configured
  // When alerts.webhooks or alerts.commands has a route; what they were told, from start().
  std::shared_ptr<alerts::Notifier> notifier_;
  alerts::NotifierMemory notifier_memory_;

  // ---- Silences --------------------------------------------------------------------------------
  void load_silences();
  std::optional<std::string> save_silences(const alerts::Silences& silences);
  // Fires at the earliest until; called again whenever the silences change.
  void arm_silence_timer();
  void expire_silences();
  void silence_lifted(const alerts::Silence& silence);

  state::SilencesFile silences_file_{std::filesystem::path(config_->settings.state_dir) /
                                     "silences.json"};
  alerts::Silences silences_;
  asio::system_timer silence_timer_{loop_};
  std::vector<std::function<void(const alerts::Silence&)>> silence_lifted_hooks_;
};

}  // namespace fetchd::service
