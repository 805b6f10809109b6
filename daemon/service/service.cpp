#include "service/service.h"

#include <algorithm>
#include <iterator>
#include <sys/resource.h>
#include <unistd.h>
#include <unordered_map>
#include <unordered_set>

#include <asio/post.hpp>
#include <spdlog/spdlog.h>

#include "common/plural.h"
#include "common/quote.h"
#include "common/version.h"
#include "config/duration.h"
#include "config/shard.h"
#include "http/fetch_json.h"

namespace fetchd::service {

namespace {

using Clock = std::chrono::system_clock;

// Descriptors the daemon needs besides fetch sockets: control clients, DNS, files, logging.
constexpr std::size_t kReservedDescriptors = 128;

// Raises the soft descriptor limit to the hard one (many targets mean many sockets) and returns it.
std::size_t raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0)
    return 1024;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
      limit = raised;
  }
  return limit.rlim_cur == RLIM_INFINITY ? std::size_t{1} << 20
                                         : static_cast<std::size_t>(limit.rlim_cur);
}

dns::ResolverOptions resolver_options(const config::Settings& settings) {
  dns::ResolverOptions options;
  options.servers = settings.dns_servers;
  options.timeout = settings.dns_timeout;
  options.tries = settings.dns_attempts;
  return options;
}

spdlog::level::level_enum spdlog_level(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::trace:
      return spdlog::level::trace;
    case config::LogLevel::debug:
      return spdlog::level::debug;
    case config::LogLevel::info:
      return spdlog::level::info;
    case config::LogLevel::warning:
      return spdlog::level::warn;
    case config::LogLevel::error:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names)
    out += (out.empty() ? "" : ", ") + name;
  return out;
}

// What only a restart can change keeps its running value, so status shows what is in effect; the
// names of those edited are returned for the reload's report (and logged when it is applied).
std::vector<std::string> keep_restart_only_settings(const config::Settings& running,
                                                    config::Settings& next) {
  std::vector<std::string> edited_names;
  const auto keep = [&edited_names](const char* what, const auto& current, auto& edited) {
    if (edited == current)
      return;
    edited_names.emplace_back(what);
    edited = current;
  };
  keep("control_socket", running.control_socket, next.control_socket);
  keep("socket_mode", running.socket_mode, next.socket_mode);
  keep("socket_group", running.socket_group, next.socket_group);
  keep("max_clients", running.max_clients, next.max_clients);
  keep("admin_group", running.admin_group, next.admin_group);
  keep("state_dir", running.state_dir, next.state_dir);
  keep("results_flush", running.results_flush, next.results_flush);
  keep("dns_servers", running.dns_servers, next.dns_servers);
  keep("dns_timeout", running.dns_timeout, next.dns_timeout);
  keep("dns_attempts", running.dns_attempts, next.dns_attempts);
  keep("web_listen", running.web_listen, next.web_listen);
  keep("web_max_clients", running.web_max_clients, next.web_max_clients);
  return edited_names;
}

}  // namespace

std::size_t Service::effective_max_in_flight(std::size_t configured, std::size_t descriptor_limit) {
  const std::size_t ceiling = descriptor_limit > 2 * kReservedDescriptors
                                  ? descriptor_limit - kReservedDescriptors
                                  : descriptor_limit / 2;
  return std::max<std::size_t>(1, std::min(configured, ceiling));
}

Service::Service(asio::io_context& loop, std::filesystem::path config_path, config::Config initial)
    : loop_(loop),
      config_path_(std::move(config_path)),
      descriptor_limit_(raise_descriptor_limit()),
      initial_targets_(std::move(initial.targets)),
      config_(std::make_shared<const config::Config>(std::move(initial))),
      config_targets_(std::make_shared<const TargetList>()),
      state_file_(std::filesystem::path(config_->settings.state_dir) / "targets.json"),
      resolver_(loop.get_executor(), resolver_options(config_->settings)),
      fetcher_(resolver_),
      scheduler_(loop.get_executor(), fetcher_,
                 effective_max_in_flight(config_->settings.max_in_flight, descriptor_limit_),
                 scheduler::Callbacks{
                     .on_result =
                         [this](const std::string& name, const http::FetchResult& result) {
                           registry_.record(name, result);
                         },
                     .on_skipped =
                         [this](const std::string& name, std::uint64_t slots) {
                           registry_.record_skipped(name, slots);
                         }}),
      registry_(feed_, config_->settings.history_length) {
  registry_.set_duration_buckets(config_->settings.metrics_buckets);
  registry_.set_uptime_days(config_->settings.uptime_days);
  subscribe_observers();
}

Service::~Service() {
  shutdown();
}

// Every consumer of results is one registration here.
void Service::subscribe_observers() {
  subscriptions_.push_back(feed_.subscribe("log", log_event));
  subscriptions_.push_back(
      feed_.subscribe("counts", [this](const results::Event& event) { counts_.on_event(event); }));
  subscriptions_.push_back(feed_.subscribe("fetch rate", [this](const results::Event& event) {
    if (event.kind == results::EventKind::recorded)
      fetch_rate_.record(std::chrono::steady_clock::now());
  }));
  subscriptions_.push_back(feed_.subscribe(
      "fetch --wait", [this](const results::Event& event) { fetch_waits_.on_event(event); }));
}

void Service::start() {
  started_at_ = Clock::now();
  started_steady_ = std::chrono::steady_clock::now();
  spdlog::set_level(spdlog_level(config_->settings.log_level));
  const auto max_in_flight =
      effective_max_in_flight(config_->settings.max_in_flight, descriptor_limit_);
  if (max_in_flight < config_->settings.max_in_flight) {
    spdlog::warn("max_in_flight {} lowered to {} to stay below the descriptor limit {}",
                 config_->settings.max_in_flight, max_in_flight, descriptor_limit_);
  }
  auto stored = state_file_.load();
  if (!stored)
    throw StartupError(stored.error().message);
  load_silences();
  // A copy: applying the first plan replaces config_.
  const config::Settings settings = config_->settings;
  const auto restore_began = std::chrono::steady_clock::now();
  auto restored =
      state::ResultsStore::load(settings.state_dir, settings.history_length, settings.uptime_days);
  if (!restored)
    throw StartupError("cannot restore the results: " + restored.error().message);
  for (const auto& problem : restored->problems)
    spdlog::warn("results store: {}", problem);
  // Subscribed before the targets are added, so that the store learns each one's URL and policy.
  persistence_ = std::make_unique<Persistence>(
      loop_, feed_, registry_,
      std::make_unique<state::ResultsStore>(settings.state_dir, settings.results_flush, *restored),
      settings.results_flush);

  auto told = alerts::load_notifier_memory(settings.state_dir);
  if (!told)
    throw StartupError("cannot read what notifications were sent: " + told.error().message);
  notifier_memory_ = std::move(told).value();
  on_silence_lifted([this](const alerts::Silence&) {
    if (alertmanager_)
      alertmanager_->silence_lifted();
    if (notifier_)
      notifier_->silence_lifted();
  });
  // Before the targets are added, so that those restored DOWN fire at once.
  apply_alerts(*config_);

  config::Config first = *config_;
  first.targets = std::move(initial_targets_);
  auto initial = plan(std::move(first), {}, {}, *stored, state_file_.path().string());
  const bool dropped = initial.runtime_dropped;
  ReloadReport report;
  apply(std::move(initial), report, &restored->targets);
  if (dropped)
    save_runtime_targets(runtime_documents());
  // What is left of the stored targets is no longer configured: dropped from the store.
  for (const auto& [name, target] : restored->targets)
    persistence_->forget(name);
  spdlog::info("fetchd started: {} ({} from the state file), {}",
               plural(registry_.size(), "target"), registry_.runtime_entries().size(),
               plural(config_->files.size(), "file"));
  if (restored->files > 0) {
    spdlog::info("results restored for {} from {} ({:.1f} MB) in {} ms{}",
                 plural(results_restored_, "target"), settings.state_dir,
                 static_cast<double>(restored->snapshot_bytes + restored->log_bytes) / 1e6,
                 std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - restore_began)
                     .count(),
                 restored->targets.empty()
                     ? std::string()
                     : "; dropped those of " + plural(restored->targets.size(), "target") +
                           " no longer configured");
  }
  const dns::RetryOptions& retry = resolver_.retry();
  spdlog::info("DNS: {} per try, {} per server (from {})", config::format_duration(retry.timeout),
               plural(static_cast<std::size_t>(retry.attempts), "try", "tries"), retry.source);
}

// The stored runtime targets, read again against `next`'s defaults; those no longer valid and
// those whose name a configuration target took are dropped (and logged).
std::vector<Service::RuntimeTarget> Service::reread_runtime_targets(
    const std::vector<nlohmann::json>& documents, const config::Config& next,
    const std::string& state_file) {
  std::vector<RuntimeTarget> reread;
  if (documents.empty())
    return reread;
  std::unordered_set<std::string_view> config_names;
  config_names.reserve(next.targets.size());
  for (const auto& target : next.targets)
    config_names.insert(target.name);
  for (const auto& json : documents) {
    auto target = config::parse_target(json, next.defaults, state_file);
    if (!target) {
      spdlog::warn("runtime target in {} is no longer valid: {}, dropping it", state_file,
                   target.error().message);
    } else if (config_names.contains(target->name)) {
      spdlog::warn(
          "runtime target \"{}\" now has the name of a configured target, which wins; "
          "dropping the runtime one",
          target->name);
    } else {
      reread.push_back(
          {json, std::make_shared<const config::TargetConfig>(std::move(target).value())});
    }
  }
  return reread;
}

Service::Plan Service::plan(config::Config next, const TargetList& current_targets,
                            const std::vector<RuntimeTarget>& current_runtime,
                            const std::vector<nlohmann::json>& runtime_documents,
                            const std::string& state_file) {
  Plan plan;
  // A fleet's instances read the same files; each runs its shard of them.
  std::erase_if(next.targets, [&shard = next.settings.shard](const config::TargetConfig& target) {
    return !config::in_shard(target.name, shard);
  });
  auto reread = reread_runtime_targets(runtime_documents, next, state_file);
  plan.runtime_dropped = reread.size() != runtime_documents.size();

  struct InEffect {
    const std::shared_ptr<const config::TargetConfig>* target;
    bool runtime;
  };
  std::unordered_map<std::string_view, InEffect> current;
  current.reserve(current_targets.size() + current_runtime.size());
  for (const auto& target : current_targets)
    current.emplace(target->name, InEffect{&target, false});
  for (const auto& runtime : current_runtime)
    current.emplace(runtime.parsed->name, InEffect{&runtime.parsed, true});

  std::unordered_set<std::string_view> wanted;
  wanted.reserve(next.targets.size() + reread.size());
  std::vector<Put> changed;
  // Returns the object to keep in effect: the one already running when nothing changed. `wanted`
  // views the names of the objects kept (in the new list), which outlive the plan.
  const auto compare = [&](std::shared_ptr<const config::TargetConfig> target,
                           const nlohmann::json& runtime_document) {
    const auto found = current.find(target->name);
    if (found == current.end()) {
      plan.puts.push_back({target, runtime_document, registry::Keep::nothing});
      return target;
    }
    const auto& in_effect = *found->second.target;
    // A runtime target whose name a configuration target took is replaced, even when the two say
    // the same: the entry changes origin.
    if (config::same_settings(*in_effect, *target) &&
        found->second.runtime == !runtime_document.is_null()) {
      ++plan.unchanged;
      return in_effect;
    }
    // A new URL is a new target as far as its history goes; other changes keep the history.
    const bool same_url = in_effect->fetch.url.to_string() == target->fetch.url.to_string();
    changed.push_back(
        {target, runtime_document, same_url ? registry::Keep::history : registry::Keep::nothing});
    return target;
  };
  auto targets = std::make_shared<TargetList>();
  targets->reserve(next.targets.size());
  for (auto& target : next.targets) {
    targets->push_back(
        compare(std::make_shared<const config::TargetConfig>(std::move(target)), nullptr));
    wanted.insert(targets->back()->name);
  }
  for (auto& target : reread) {
    target.parsed = compare(target.parsed, target.json);
    wanted.insert(target.parsed->name);
  }
  plan.added = plan.puts.size();
  std::move(changed.begin(), changed.end(), std::back_inserter(plan.puts));
  for (const auto& [name, target] : current) {
    if (!wanted.contains(name))
      plan.removed.emplace_back(name);
  }
  std::sort(plan.removed.begin(), plan.removed.end());
  next.targets.clear();
  plan.targets = std::move(targets);
  plan.config = std::make_shared<const config::Config>(std::move(next));
  return plan;
}

void Service::start_job(registry::Entry& entry) {
  const auto& target = entry.config;
  if (!target->enabled) {
    entry.job = {};
    return;
  }
  // The job shares the target's fetch settings instead of copying them; the entry's previous
  // job, if any, stops as it is replaced.
  entry.job =
      scheduler_.start({target->name, std::shared_ptr<const http::Target>(target, &target->fetch),
                        target->interval});
}

void Service::apply(Plan plan, ReloadReport& report,
                    std::map<std::string, state::StoredTarget, std::less<>>* restored) {
  const auto now = Clock::now();
  for (const auto& name : plan.removed)
    registry_.remove(name);  // and with its entry, its job
  for (std::size_t i = 0; i < plan.puts.size(); ++i) {
    auto& put = plan.puts[i];
    (i < plan.added ? report.added : report.changed).push_back(put.target->name);
    if (restored != nullptr) {
      // The reload rules across a restart: a new URL starts over, other changes keep the results.
      if (auto found = restored->find(put.target->name); found != restored->end()) {
        auto stored = std::move(restored->extract(found).mapped());
        if (stored.url == put.target->fetch.url.to_string()) {
          start_job(registry_.adopt(std::move(put.target), std::move(put.runtime_document),
                                    std::move(stored.results)));
          ++results_restored_;
          continue;
        }
      }
    }
    start_job(registry_.put(std::move(put.target), std::move(put.runtime_document), put.keep, now));
  }
  report.removed = std::move(plan.removed);
  report.unchanged = plan.unchanged;

  const auto& next = plan.config->settings;
  if (next.history_length != registry_.history_length())
    registry_.set_history_length(next.history_length);
  if (next.uptime_days != registry_.uptime_days())
    registry_.set_uptime_days(next.uptime_days);
  if (next.metrics_buckets != registry_.duration_buckets())
    registry_.set_duration_buckets(next.metrics_buckets);
  scheduler_.set_max_in_flight(effective_max_in_flight(next.max_in_flight, descriptor_limit_));
  spdlog::set_level(spdlog_level(next.log_level));
  if (plan.config->alerts != config_->alerts ||
      next.instance_labels != config_->settings.instance_labels)
    apply_alerts(*plan.config);
  // The list replaced may hold 100,000 targets: it is freed on the reader thread (the targets
  // still in effect are shared with the new list and survive it).
  asio::post(reader_,
             [replaced_config = std::exchange(config_, std::move(plan.config)),
              replaced_targets = std::exchange(config_targets_, std::move(plan.targets))] {});
  report.ok = true;
  report.at = now;
}

void Service::apply_alerts(const config::Config& next) {
  apply_notifier(next.alerts);
  const auto& wanted = next.alerts.alertmanager;
  if (!wanted) {
    if (alertmanager_) {
      alertmanager_->stop();
      alertmanager_.reset();
      spdlog::info("alertmanager: no longer configured; alerts sent expire by their endsAt");
    }
    return;
  }
  if (alertmanager_) {
    alertmanager_->configure(*wanted, next.settings.instance_labels);
    return;
  }
  alertmanager_ = std::make_shared<alerts::Alertmanager>(
      loop_.get_executor(), fetcher_, registry_, silences_, *wanted, next.settings.instance_labels);
  alertmanager_->start(feed_);
  std::string urls;
  for (const auto& url : wanted->urls)
    urls += (urls.empty() ? "" : ", ") + url.to_string();
  spdlog::info("alertmanager: alerts go to {} (sent again every {})", urls,
               config::format_duration(wanted->resend_interval));
}

std::vector<Service::RuntimeTarget> Service::runtime_targets() const {
  std::vector<RuntimeTarget> targets;
  targets.reserve(registry_.runtime_entries().size());
  for (const auto* entry : registry_.runtime_entries())
    targets.push_back({entry->runtime_document, entry->config});
  return targets;
}

std::vector<nlohmann::json> Service::runtime_documents() const {
  std::vector<nlohmann::json> documents;
  documents.reserve(registry_.runtime_entries().size());
  for (const auto* entry : registry_.runtime_entries())
    documents.push_back(entry->runtime_document);
  return documents;
}

void Service::reload(std::function<void(const ReloadReport&)> done) {
  if (done)
    reload_waiters_.push_back(std::move(done));
  if (reload_running_) {
    reload_again_ = true;
    return;
  }
  reload_running_ = true;
  spdlog::info("reloading {}", config_path_.string());
  if (reload_started_)
    reload_started_();
  read_and_plan();
}

void Service::read_and_plan() {
  // The reader thread sees only immutable snapshots: the configuration and target list in effect
  // (shared, const) and copies of the runtime targets (few). Its plan is applied only if no
  // runtime target changed meanwhile.
  asio::post(reader_, [this, path = config_path_, current = config_, targets = config_targets_,
                       runtime = runtime_targets(), documents = runtime_documents(),
                       version = runtime_version_, state_file = state_file_.path().string()] {
    auto loaded = config::load_config(path);
    std::optional<Plan> planned;
    std::string errors;
    std::vector<std::string> pending_restart;
    if (!loaded) {
      errors = loaded.error_text();
    } else {
      auto next = std::move(*loaded.value);
      pending_restart = keep_restart_only_settings(current->settings, next.settings);
      planned = plan(std::move(next), *targets, runtime, documents, state_file);
      planned->runtime_version = version;
    }
    asio::post(loop_, [this, planned = std::move(planned), errors = std::move(errors),
                       pending_restart = std::move(pending_restart)]() mutable {
      finish_reload(std::move(planned), std::move(errors), std::move(pending_restart));
    });
  });
}

void Service::on_reload(std::function<void()> started,
                        std::function<void(const ReloadReport&)> finished) {
  reload_started_ = std::move(started);
  reload_finished_ = std::move(finished);
}

void Service::finish_reload(std::optional<Plan> planned, std::string errors,
                            std::vector<std::string> pending_restart) {
  if (planned && planned->runtime_version != runtime_version_) {
    // A runtime target was added or removed while the files were read: plan again.
    read_and_plan();
    return;
  }
  ReloadReport report;
  report.at = Clock::now();
  if (!planned) {
    report.ok = false;
    report.errors = std::move(errors);
    spdlog::error("reload refused, keeping the running configuration:\n{}", report.errors);
  } else {
    const bool dropped = planned->runtime_dropped;
    apply(std::move(*planned), report);
    if (dropped)
      save_runtime_targets(runtime_documents());
    for (const auto& setting : pending_restart)
      spdlog::warn("setting {} changed: takes effect at the next restart", setting);
    report.pending_restart = std::move(pending_restart);
    spdlog::info("reloaded: {}{}{}{}", report.summary(),
                 report.added.empty() ? "" : "; added " + join(report.added),
                 report.removed.empty() ? "" : "; removed " + join(report.removed),
                 report.changed.empty() ? "" : "; changed " + join(report.changed));
  }
  last_reload_ = report;
  if (report.ok)
    last_reload_success_ = report.at;
  const std::string summary = report.summary();
  feed_.publish({.kind = results::EventKind::reloaded, .ok = report.ok, .detail = summary});
  reload_running_ = false;
  if (reload_finished_)
    reload_finished_(report);
  auto waiters = std::move(reload_waiters_);
  reload_waiters_.clear();
  if (reload_again_) {
    reload_again_ = false;
    reload();
  }
  for (auto& waiter : waiters)
    waiter(report);
}

void Service::shutdown() {
  silence_timer_.cancel();
  scheduler_.stop_all();
  // Lookups of fetches that were waiting for a free slot, and of queries no fetch waits for any
  // more, end now rather than when c-ares gives up on them.
  resolver_.cancel_all();
  feed_.publish({.kind = results::EventKind::stopping});
  // What the store has queued is written and synced.
  if (persistence_)
    persistence_->stop();
  if (alertmanager_)
    alertmanager_->stop();
  if (notifier_)
    notifier_->stop();
  reader_.join();
}

status::TargetCounts Service::count_targets() const {
  auto counts = counts_.counts();
  counts.runtime = registry_.runtime_entries().size();
  return counts;
}

status::Snapshot Service::snapshot() const {
  const auto stats = scheduler_.stats();
  const auto store = persistence_ ? persistence_->stats() : state::ResultsStoreStats{};
  const auto alerts = alertmanager_ ? alertmanager_->stats() : alerts::AlertmanagerStats{};
  return status::Snapshot{
      .version = kVersion,
      .pid = static_cast<long>(::getpid()),
      .started = started_at_,
      .running_for = std::chrono::steady_clock::now() - started_steady_,
      .config_files = config_->files,
      .last_reload = last_reload_,
      .last_reload_success = last_reload_success_,
      .targets = count_targets(),
      .in_flight = stats.in_flight,
      .slow_in_flight = stats.slow_in_flight,
      .max_in_flight = effective_max_in_flight(config_->settings.max_in_flight, descriptor_limit_),
      .fetches = stats.fetches_completed,
      .skipped = stats.slots_skipped,
      .fetch_rate_per_s = fetch_rate_.per_second(std::chrono::steady_clock::now()),
      .lateness = status::lateness_of(scheduler_.recent_lateness_us()),
      .results_store_bytes = store.disk_bytes,
      .results_store_error = store.error,
      .notification_routes = notification_routes(),
      .notifications_queued =
          alerts.firing + alerts.resolved + (notifier_ ? notifier_->queued() : 0),
  };
}

std::vector<status::NotificationRoute> Service::notification_routes() const {
  std::vector<status::NotificationRoute> routes;
  if (alertmanager_) {
    for (auto& url : alertmanager_->stats().urls)
      routes.push_back(
          {"alertmanager", std::move(url.url), url.sent, url.failed, 0, url.last_success});
  }
  if (notifier_) {
    for (auto& route : notifier_->stats())
      routes.push_back({std::move(route.route), std::move(route.url), route.sent, route.failed,
                        route.dropped, route.last_success});
  }
  return routes;
}

void Service::apply_notifier(const config::AlertsConfig& alerts) {
  if (alerts.webhooks.empty() && alerts.commands.empty()) {
    if (notifier_) {
      notifier_->stop();
      notifier_.reset();
      spdlog::info("alerts: no webhooks or commands configured any more");
    }
    return;
  }
  const auto described = [&alerts] {
    std::string routes;
    for (const auto& webhook : alerts.webhooks)
      routes += (routes.empty() ? "webhook " : ", webhook ") + webhook.route.name;
    for (const auto& command : alerts.commands)
      routes += (routes.empty() ? "command " : ", command ") + command.route.name;
    return routes;
  };
  if (notifier_) {
    notifier_->configure(alerts);
  } else {
    notifier_ = std::make_shared<alerts::Notifier>(loop_.get_executor(), fetcher_, registry_,
                                                   silences_, alerts, config_->settings.state_dir,
                                                   std::exchange(notifier_memory_, {}));
    notifier_->start(feed_);
  }
  spdlog::info("alerts: notifications go to {} ({})", described(),
               alerts.storm_threshold == 0
                   ? std::string("no storm summaries")
                   : "one storm summary above " + std::to_string(alerts.storm_threshold) +
                         " changes a minute");
}

void Service::for_each_target(const std::function<void(const control::TargetView&)>& visit) const {
  registry_.for_each([&visit](const registry::Entry& entry) {
    visit(control::TargetView{*entry.config, entry.results, entry.runtime()});
  });
}

std::optional<control::TargetView> Service::find_target(std::string_view name) const {
  const auto* entry = registry_.find(name);
  if (entry == nullptr)
    return std::nullopt;
  return control::TargetView{*entry->config, entry->results, entry->runtime()};
}

Expected<std::string, control::Refusal<control::AddRefused>> Service::add_target(
    const nlohmann::json& given) {
  using control::AddRefused;
  // The state file keeps objects: a URL string is the object with only that URL (same name, same
  // defaults).
  nlohmann::json json = given.is_string() ? nlohmann::json{{"url", given}} : given;
  auto target = config::parse_target(json, config_->defaults, "runtime");
  if (!target)
    return control::Refusal<AddRefused>{AddRefused::invalid_target, target.error().message};
  if (const auto* existing = registry_.find(target->name)) {
    return control::Refusal<AddRefused>{
        AddRefused::conflict, "a target named \"" + target->name + "\" already exists (" +
                                  (existing->runtime() ? std::string("added at run time")
                                                       : "in " + existing->config->source_file) +
                                  ")"};
  }
  if (const auto& shard = config_->settings.shard; !config::in_shard(target->name, shard)) {
    return control::Refusal<AddRefused>{
        AddRefused::other_shard, "target \"" + target->name + "\" belongs to shard " +
                                     std::to_string(config::shard_of(target->name, shard.count)) +
                                     " of " + std::to_string(shard.count) +
                                     " (this instance is shard " + std::to_string(shard.index) +
                                     "): add it to the instance of that shard"};
  }
  auto documents = runtime_documents();
  documents.push_back(json);
  if (auto error = save_runtime_targets(documents))
    return control::Refusal<AddRefused>{AddRefused::io_error, std::move(*error)};
  ++runtime_version_;
  auto name = target->name;
  const auto url = target->fetch.url.to_string();
  start_job(registry_.put(std::make_shared<const config::TargetConfig>(std::move(target).value()),
                          std::move(json), registry::Keep::nothing, Clock::now()));
  spdlog::info("runtime target \"{}\" added: {}", name, url);
  return name;
}

std::optional<control::Refusal<control::RemoveRefused>> Service::remove_target(
    const std::string& name) {
  using control::RemoveRefused;
  const auto* existing = registry_.find(name);
  if (existing == nullptr)
    return control::Refusal<RemoveRefused>{RemoveRefused::not_found,
                                           "no target named \"" + name + "\""};
  if (!existing->runtime()) {
    return control::Refusal<RemoveRefused>{RemoveRefused::config_target,
                                           "\"" + name + "\" is defined in " +
                                               existing->config->source_file +
                                               "; edit that file and reload"};
  }
  std::vector<nlohmann::json> documents;
  for (const auto* entry : registry_.runtime_entries()) {
    if (entry != existing)
      documents.push_back(entry->runtime_document);
  }
  if (auto error = save_runtime_targets(documents))
    return control::Refusal<RemoveRefused>{RemoveRefused::io_error, std::move(*error)};
  ++runtime_version_;
  registry_.remove(name);
  spdlog::info("runtime target \"{}\" removed", name);
  return std::nullopt;
}

std::optional<std::string> Service::save_runtime_targets(
    const std::vector<nlohmann::json>& documents) {
  if (const auto error = state_file_.save(documents)) {
    spdlog::error("cannot write {}: {}", state_file_.path().string(), error.message());
    return "cannot write " + state_file_.path().string() + ": " + error.message();
  }
  return std::nullopt;
}

control::FetchNow Service::fetch_now(const std::string& name, control::FetchDone done) {
  const auto* entry = registry_.find(name);
  if (entry == nullptr)
    return control::FetchNow::not_found;
  if (!entry->config->enabled)
    return control::FetchNow::disabled;
  switch (scheduler_.fetch_now(entry->job)) {
    case scheduler::Scheduler::Trigger::started:
      // No other fetch of it runs until this one ends, so its next result is this fetch's.
      if (done)
        fetch_waits_.wait(name, std::move(done));
      return control::FetchNow::started;
    case scheduler::Scheduler::Trigger::busy:
      return control::FetchNow::busy;
    case scheduler::Scheduler::Trigger::not_found:
      break;
  }
  return control::FetchNow::not_found;
}

// ---- Silences ----------------------------------------------------------------------------------

void Service::load_silences() {
  auto loaded = silences_file_.load();
  if (!loaded)
    throw StartupError(loaded.error().message);
  silences_ = std::move(loaded).value();
  for (const auto& silence : silences_.expire(Clock::now())) {
    spdlog::info("silence {} ({}) expired while fetchd was stopped", silence.id,
                 alerts::describe_matchers(silence));
  }
  if (silences_.size() > 0) {
    spdlog::info("{} in effect (from {})", plural(silences_.size(), "silence"),
                 silences_file_.path().string());
  }
  arm_silence_timer();
}

std::optional<std::string> Service::save_silences(const alerts::Silences& silences) {
  if (const auto error = silences_file_.save(silences)) {
    spdlog::error("cannot write {}: {}", silences_file_.path().string(), error.message());
    return "cannot write " + silences_file_.path().string() + ": " + error.message();
  }
  return std::nullopt;
}

Expected<alerts::Silence, control::Refusal<control::SilenceRefused>> Service::add_silence(
    alerts::Silence silence) {
  using control::SilenceRefused;
  // Saved before it takes effect: a silence the file does not hold would vanish at a restart.
  auto next = silences_;
  auto id = next.add(std::move(silence));
  if (!id) {
    return control::Refusal<SilenceRefused>{
        silences_.full() ? SilenceRefused::full : SilenceRefused::invalid,
        silences_.full() ? id.error().message + "; lift some first (unsilence)"
                         : id.error().message};
  }
  if (auto error = save_silences(next))
    return control::Refusal<SilenceRefused>{SilenceRefused::io_error, std::move(*error)};
  silences_ = std::move(next);
  const alerts::Silence& kept = *silences_.find(*id);
  spdlog::info("silence {} ({}) until {}{}", kept.id, alerts::describe_matchers(kept),
               http::format_utc(kept.until),
               kept.comment.empty() ? std::string() : ": " + quote(kept.comment));
  arm_silence_timer();
  return kept;
}

Expected<alerts::Silence, control::Refusal<control::UnsilenceRefused>> Service::remove_silence(
    std::uint64_t id) {
  using control::UnsilenceRefused;
  auto next = silences_;
  auto removed = next.remove(id);
  if (!removed) {
    return control::Refusal<UnsilenceRefused>{
        UnsilenceRefused::not_found,
        "no silence " + std::to_string(id) + " (it may have expired; see \"silences\")"};
  }
  if (auto error = save_silences(next))
    return control::Refusal<UnsilenceRefused>{UnsilenceRefused::io_error, std::move(*error)};
  silences_ = std::move(next);
  spdlog::info("silence {} ({}) lifted", removed->id, alerts::describe_matchers(*removed));
  arm_silence_timer();
  silence_lifted(*removed);
  return std::move(removed).value();
}

void Service::on_silence_lifted(std::function<void(const alerts::Silence&)> hook) {
  silence_lifted_hooks_.push_back(std::move(hook));
}

void Service::arm_silence_timer() {
  const auto next = silences_.next_expiry();
  if (!next) {
    silence_timer_.cancel();
    return;
  }
  // Replaces the wait armed before (it ends as aborted). A wait that already fired and is queued
  // still runs expire_silences(), which finds nothing new and arms again: harmless.
  silence_timer_.expires_at(*next);
  silence_timer_.async_wait([this](const std::error_code& error) {
    if (!error)
      expire_silences();
  });
}

void Service::expire_silences() {
  auto expired = silences_.expire(Clock::now());
  if (!expired.empty()) {
    // Gone from memory even if the file cannot be written: they would be dropped at the next
    // start anyway, having expired.
    save_silences(silences_);
    for (const auto& silence : expired) {
      spdlog::info("silence {} ({}) expired", silence.id, alerts::describe_matchers(silence));
      silence_lifted(silence);
    }
  }
  arm_silence_timer();
}

void Service::silence_lifted(const alerts::Silence& silence) {
  for (const auto& hook : silence_lifted_hooks_) {
    try {
      hook(silence);
    } catch (const std::exception& e) {
      spdlog::error("a hook told of the end of silence {} failed: {}", silence.id, e.what());
    }
  }
}

}  // namespace fetchd::service
