#include "service/service.h"

#include <set>
#include <sys/resource.h>
#include <unordered_map>
#include <unordered_set>

#include <asio/post.hpp>
#include <spdlog/spdlog.h>

#include "common/plural.h"

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

// What only a restart can change keeps its running value, so status shows what is in effect; an
// edit of it is logged.
void keep_restart_only_settings(const config::Settings& running, config::Settings& next) {
  const auto keep = [](const char* what, const auto& current, auto& edited) {
    if (edited == current)
      return;
    spdlog::warn("setting {} changed: takes effect at the next restart", what);
    edited = current;
  };
  keep("control_socket", running.control_socket, next.control_socket);
  keep("socket_mode", running.socket_mode, next.socket_mode);
  keep("socket_group", running.socket_group, next.socket_group);
  keep("max_clients", running.max_clients, next.max_clients);
  keep("admin_group", running.admin_group, next.admin_group);
  keep("state_dir", running.state_dir, next.state_dir);
  keep("dns_servers", running.dns_servers, next.dns_servers);
}

}  // namespace

std::string ReloadReport::summary() const {
  if (!ok)
    return "refused: " + errors;
  return std::to_string(added.size()) + " added, " + std::to_string(removed.size()) + " removed, " +
         std::to_string(changed.size()) + " changed, " + std::to_string(unchanged) + " unchanged";
}

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
      config_(std::make_shared<const config::Config>(std::move(initial))),
      state_file_(std::filesystem::path(config_->settings.state_dir) / "targets.json"),
      resolver_(loop.get_executor(), resolver_options(config_->settings)),
      fetcher_(resolver_),
      results_(config_->settings.history_length),
      scheduler_(
          loop.get_executor(), fetcher_,
          effective_max_in_flight(config_->settings.max_in_flight, descriptor_limit_),
          scheduler::Callbacks{
              .on_result = [this](const std::string& name,
                                  const http::FetchResult& result) { on_result(name, result); },
              .on_skipped = [this](
                                const std::string& name,
                                std::uint64_t slots) { results_.record_skipped(name, slots); }}) {}

Service::~Service() {
  shutdown();
}

void Service::start() {
  started_at_ = Clock::now();
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
  auto initial = plan(config_, {}, {}, *stored);
  const bool dropped = initial.runtime_dropped;
  ReloadReport report;
  apply(std::move(initial), report);
  if (dropped)
    save_runtime_targets();
  spdlog::info("fetchd started: {} ({} from the state file), {}", plural(active_.size(), "target"),
               runtime_.size(), plural(config_->files.size(), "file"));
}

std::vector<Service::RuntimeTarget> Service::parse_runtime_targets(
    const std::vector<nlohmann::json>& stored, const config::Config& against) const {
  if (stored.empty())
    return {};
  std::set<std::string> config_names;
  for (const auto& target : against.targets)
    config_names.insert(target.name);
  std::vector<RuntimeTarget> parsed;
  for (const auto& json : stored) {
    auto target = config::parse_target(json, against.defaults, state_file_.path().string());
    if (!target) {
      spdlog::warn("runtime target in {} is no longer valid: {}, dropping it",
                   state_file_.path().string(), target.error().message);
      continue;
    }
    if (config_names.contains(target->name)) {
      spdlog::warn(
          "runtime target \"{}\" now has the name of a configured target, which wins; "
          "dropping the runtime one",
          target->name);
      continue;
    }
    parsed.push_back({json, std::move(target).value()});
  }
  return parsed;
}

scheduler::JobSpec Service::job_for(const config::TargetConfig& target) const {
  scheduler::JobSpec spec{target.name, target.fetch, target.interval};
  // Body expectations can only look at bytes the fetcher kept.
  if (target.expect.needs_body())
    spec.target.keep_body = true;
  return spec;
}

void Service::start_target(const config::TargetConfig& target, results::Keep keep) {
  results_.add(target.name,
               results::FlapPolicy{static_cast<std::uint32_t>(target.down_after),
                                   static_cast<std::uint32_t>(target.up_after)},
               Clock::now(), keep);
  if (target.enabled) {
    scheduler_.start(job_for(target));
  } else {
    scheduler_.stop(target.name);
  }
}

Service::Plan Service::plan(std::shared_ptr<const config::Config> next,
                            const std::vector<config::TargetConfig>& current_targets,
                            const std::vector<RuntimeTarget>& current_runtime,
                            const std::vector<nlohmann::json>& runtime_documents) const {
  Plan plan;
  plan.runtime = parse_runtime_targets(runtime_documents, *next);
  plan.runtime_dropped = plan.runtime.size() != runtime_documents.size();

  std::unordered_map<std::string_view, const config::TargetConfig*> current;
  current.reserve(current_targets.size() + current_runtime.size());
  for (const auto& target : current_targets)
    current.emplace(target.name, &target);
  for (const auto& runtime : current_runtime)
    current.emplace(runtime.parsed.name, &runtime.parsed);

  std::unordered_set<std::string_view> wanted;
  wanted.reserve(next->targets.size() + plan.runtime.size());
  const auto compare = [&](const config::TargetConfig& target) {
    wanted.insert(target.name);
    const auto found = current.find(target.name);
    if (found == current.end()) {
      plan.added.push_back(target);
    } else if (!config::same_settings(*found->second, target)) {
      // A new URL is a new target as far as its history goes; other changes keep the history.
      plan.changed_keeps_history.push_back(found->second->fetch.url.to_string() ==
                                           target.fetch.url.to_string());
      plan.changed.push_back(target);
    } else {
      ++plan.unchanged;
    }
  };
  for (const auto& target : next->targets)
    compare(target);
  for (const auto& runtime : plan.runtime)
    compare(runtime.parsed);
  for (const auto& [name, target] : current) {
    if (!wanted.contains(name))
      plan.removed.emplace_back(name);
  }
  std::sort(plan.removed.begin(), plan.removed.end());
  plan.config = std::move(next);
  return plan;
}

void Service::apply(Plan plan, ReloadReport& report) {
  counts_.reset();
  for (const auto& name : plan.removed) {
    scheduler_.stop(name);
    results_.remove(name);
    active_.erase(name);
  }
  for (auto& target : plan.added) {
    start_target(target, results::Keep::nothing);
    report.added.push_back(target.name);
    active_[target.name] = std::move(target);
  }
  for (std::size_t i = 0; i < plan.changed.size(); ++i) {
    auto& target = plan.changed[i];
    start_target(target,
                 plan.changed_keeps_history[i] ? results::Keep::history : results::Keep::nothing);
    report.changed.push_back(target.name);
    active_[target.name] = std::move(target);
  }
  report.removed = std::move(plan.removed);
  report.unchanged = plan.unchanged;

  const auto& next = plan.config->settings;
  if (next.history_length != results_.history_length())
    results_.set_history_length(next.history_length);
  scheduler_.set_max_in_flight(effective_max_in_flight(next.max_in_flight, descriptor_limit_));
  spdlog::set_level(spdlog_level(next.log_level));
  runtime_ = std::move(plan.runtime);
  // The configuration replaced may hold 100,000 targets: it is freed on the reader thread.
  asio::post(reader_, [replaced = std::exchange(config_, std::move(plan.config))] {});
  report.ok = true;
  report.at = Clock::now();
}

std::vector<nlohmann::json> Service::runtime_documents() const {
  std::vector<nlohmann::json> documents;
  documents.reserve(runtime_.size());
  for (const auto& runtime : runtime_)
    documents.push_back(runtime.json);
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
  // The reader thread sees only immutable snapshots: the configuration in effect (shared, const)
  // and copies of the runtime targets (few). Its plan is applied only if no runtime target changed
  // meanwhile.
  asio::post(reader_, [this, path = config_path_, current = config_, current_runtime = runtime_,
                       documents = runtime_documents(), version = runtime_version_] {
    auto loaded = config::load_config(path);
    std::optional<Plan> planned;
    std::string errors;
    if (!loaded) {
      errors = loaded.error_text();
    } else {
      auto next = std::move(*loaded.value);
      keep_restart_only_settings(current->settings, next.settings);
      planned = plan(std::make_shared<const config::Config>(std::move(next)), current->targets,
                     current_runtime, documents);
      planned->runtime_version = version;
    }
    asio::post(loop_, [this, planned = std::move(planned), errors = std::move(errors)]() mutable {
      finish_reload(std::move(planned), std::move(errors));
    });
  });
}

void Service::on_reload(std::function<void()> started,
                        std::function<void(const ReloadReport&)> finished) {
  reload_started_ = std::move(started);
  reload_finished_ = std::move(finished);
}

void Service::finish_reload(std::optional<Plan> planned, std::string errors) {
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
      save_runtime_targets();
    spdlog::info("reloaded: {}{}{}{}", report.summary(),
                 report.added.empty() ? "" : "; added " + join(report.added),
                 report.removed.empty() ? "" : "; removed " + join(report.removed),
                 report.changed.empty() ? "" : "; changed " + join(report.changed));
  }
  last_reload_ = report;
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
  scheduler_.stop_all();
  reader_.join();
}

const config::TargetConfig* Service::target(const std::string& name) const {
  const auto found = active_.find(name);
  return found == active_.end() ? nullptr : &found->second;
}

bool Service::is_runtime_target(const std::string& name) const {
  return std::any_of(runtime_.begin(), runtime_.end(),
                     [&](const RuntimeTarget& runtime) { return runtime.parsed.name == name; });
}

std::optional<Refusal> Service::add_runtime_target(const nlohmann::json& given) {
  // The state file keeps objects: a URL string is the object with only that URL (same name, same
  // defaults).
  const nlohmann::json json = given.is_string() ? nlohmann::json{{"url", given}} : given;
  auto target = config::parse_target(json, config_->defaults, "runtime");
  if (!target)
    return Refusal{"invalid_target", target.error().message};
  if (const auto* existing = this->target(target->name)) {
    return Refusal{"conflict",
                   "a target named \"" + target->name + "\" already exists (" +
                       (is_runtime_target(target->name) ? std::string("added at run time")
                                                        : "in " + existing->source_file) +
                       ")"};
  }
  runtime_.push_back({json, *target});
  if (auto refusal = save_runtime_targets()) {
    runtime_.pop_back();
    return refusal;
  }
  ++runtime_version_;
  start_target(*target, results::Keep::nothing);
  active_[target->name] = *target;
  counts_.reset();
  spdlog::info("runtime target \"{}\" added: {}", target->name, target->fetch.url.to_string());
  return std::nullopt;
}

std::optional<Refusal> Service::remove_runtime_target(const std::string& name) {
  const auto* existing = target(name);
  if (existing == nullptr)
    return Refusal{"not_found", "no target named \"" + name + "\""};
  if (!is_runtime_target(name)) {
    return Refusal{"config_target", "\"" + name + "\" is defined in " + existing->source_file +
                                        "; edit that file and reload"};
  }
  const auto position =
      std::find_if(runtime_.begin(), runtime_.end(),
                   [&](const RuntimeTarget& runtime) { return runtime.parsed.name == name; });
  auto removed = std::move(*position);
  runtime_.erase(position);
  if (auto refusal = save_runtime_targets()) {
    runtime_.push_back(std::move(removed));
    return refusal;
  }
  ++runtime_version_;
  scheduler_.stop(name);
  results_.remove(name);
  active_.erase(name);
  counts_.reset();
  spdlog::info("runtime target \"{}\" removed", name);
  return std::nullopt;
}

std::optional<Refusal> Service::save_runtime_targets() {
  if (const auto error = state_file_.save(runtime_documents())) {
    spdlog::error("cannot write {}: {}", state_file_.path().string(), error.message());
    return Refusal{"io_error",
                   "cannot write " + state_file_.path().string() + ": " + error.message()};
  }
  return std::nullopt;
}

FetchNow Service::fetch_now(const std::string& name,
                            std::function<void(std::shared_ptr<const results::FullResult>)> done) {
  const auto* found = target(name);
  if (found == nullptr)
    return FetchNow::not_found;
  if (!found->enabled)
    return FetchNow::disabled;
  // The scheduler drops its callback without calling it when the job stops before the result is
  // recorded; the last copy of this guard going away then reports that (nullptr), once.
  struct Once {
    std::function<void(std::shared_ptr<const results::FullResult>)> done;
    bool armed = false;
    void call(std::shared_ptr<const results::FullResult> full) {
      if (auto callback = std::exchange(done, nullptr); callback && armed)
        callback(std::move(full));
    }
    ~Once() { call(nullptr); }
  };
  auto once = std::make_shared<Once>();
  once->done = std::move(done);
  const auto trigger = scheduler_.fetch_now(name, [this, name, once](const http::FetchResult&) {
    // on_result has just recorded it: the latest result is this one, judged.
    const auto* recorded = results_.find(name);
    once->call(recorded == nullptr ? nullptr : recorded->latest());
  });
  switch (trigger) {
    case scheduler::Scheduler::Trigger::started:
      once->armed = true;
      return FetchNow::started;
    case scheduler::Scheduler::Trigger::busy:
      return FetchNow::busy;
    case scheduler::Scheduler::Trigger::not_found:
      break;
  }
  return FetchNow::not_found;
}

namespace {

std::size_t& counter_for(TargetCounts& counts, results::State state) {
  switch (state) {
    case results::State::up:
      return counts.up;
    case results::State::down:
      return counts.down;
    case results::State::unknown:
      break;
  }
  return counts.unknown;
}

}  // namespace

TargetCounts Service::count_targets() const {
  if (!counts_)
    counts_ = walk_counts();
  TargetCounts counts = *counts_;
  counts.runtime = runtime_.size();
  return counts;
}

TargetCounts Service::walk_counts() const {
  TargetCounts counts;
  const auto count = [&counts](const config::TargetConfig& target, results::State state) {
    ++counts.total;
    if (target.enabled) {
      ++counter_for(counts, state);
    } else {
      ++counts.disabled;
    }
  };
  // Both are sorted by name: one walk side by side instead of a lookup per target.
  auto next = active_.begin();
  results_.for_each([&](const std::string& name, const results::TargetResults& results) {
    for (; next != active_.end() && next->first < name; ++next)
      count(next->second, results::State::unknown);
    if (next != active_.end() && next->first == name) {
      count(next->second, results.state());
      ++next;
    }
  });
  for (; next != active_.end(); ++next)
    count(next->second, results::State::unknown);
  return counts;
}

void Service::on_result(const std::string& name, const http::FetchResult& result) {
  fetch_rate_.record(std::chrono::steady_clock::now());
  const auto found = active_.find(name);
  if (found == active_.end())
    return;
  auto failed = config::check_expectations(found->second.expect, result);
  if (!result.ok()) {
    spdlog::debug("{}: {} ({})", name, result.error().message,
                  http::to_string(result.error().error_class));
  }
  auto change = results_.record(name, results::Attempt{result, failed.value_or("")});
  if (!change)
    return;
  if (counts_ && found->second.enabled) {
    --counter_for(*counts_, change->from);
    ++counter_for(*counts_, change->to);
  }
  const auto line = results::format_log_line(*change);
  if (change->to == results::State::down) {
    spdlog::warn("{}", line);
  } else {
    spdlog::info("{}", line);
  }
}

}  // namespace fetchd::service
