#include "alerts/notifier.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>
#include <unistd.h>
#include <utility>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "alerts/command.h"
#include "common/plural.h"
#include "common/quote.h"
#include "config/duration.h"
#include "http/fetch_json.h"
#include "state/atomic_file.h"

namespace fetchd::alerts {

namespace {

using nlohmann::json;
using Clock = std::chrono::system_clock;

constexpr int kMemoryFormatVersion = 1;
constexpr auto kBusyTick = std::chrono::milliseconds(250);
constexpr auto kIdleTick = std::chrono::seconds(1);
constexpr auto kSaveEvery = std::chrono::seconds(1);
constexpr auto kFirstRetry = std::chrono::seconds(1);
constexpr auto kMaxRetry = std::chrono::minutes(5);
// A receiver's answer is not read beyond this: one that answers 50 MB costs nothing.
constexpr std::size_t kMaxReceiverAnswerBytes = std::size_t{64} * 1024;
constexpr std::size_t kMaxCommandOutputBytes = 4096;
constexpr std::string_view kCommandPath =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

std::int64_t notice_ms(Clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

Clock::time_point notice_time(std::int64_t ms) {
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(ms)));
}

std::string new_id() {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  static constexpr std::string_view kHex = "0123456789abcdef";
  std::string id;
  for (int half = 0; half < 2; ++half) {
    std::uint64_t bits = random();
    for (int i = 0; i < 16; ++i, bits >>= 4U)
      id += kHex[bits & 0xFU];
  }
  return id;
}

// Equal jitter: half the doubled delay, plus up to as much again at random, so that receivers
// coming back do not get every retry at once.
std::chrono::milliseconds retry_delay(std::uint32_t attempts) {
  static thread_local std::mt19937_64 random{std::random_device{}()};
  auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(kFirstRetry);
  for (std::uint32_t i = 1; i < attempts && delay < kMaxRetry; ++i)
    delay *= 2;
  delay = std::min(delay, std::chrono::duration_cast<std::chrono::milliseconds>(kMaxRetry));
  std::uniform_int_distribution<std::int64_t> extra(0, delay.count() / 2);
  return delay / 2 + std::chrono::milliseconds(extra(random));
}

std::string upper_case(std::string_view text) {
  std::string out;
  for (const char c : text)
    out += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string names_of(const std::vector<std::pair<std::string, std::string>>& targets,
                     std::size_t total) {
  std::string out;
  for (const auto& [name, state] : targets) {
    if (!out.empty())
      out += ", ";
    out += name;
    out += ' ';
    out += state;
  }
  if (total > targets.size())
    out += " and " + std::to_string(total - targets.size()) + " more";
  return out;
}

// The status as a JSON number, null when there was none.
json status_number(std::string_view status) {
  int number = 0;
  const auto [end, error] = std::from_chars(status.data(), status.data() + status.size(), number);
  if (status.empty() || error != std::errc() || end != status.data() + status.size())
    return nullptr;
  return number;
}

}  // namespace

json to_json(const Notice& notice) {
  json targets = json::array();
  for (const auto& [name, state] : notice.targets)
    targets.push_back({name, state});
  return {{"id", notice.id},
          {"kind", notice.kind},
          {"name", notice.name},
          {"state", notice.state},
          {"previous", notice.previous},
          {"since_ms", notice_ms(notice.since)},
          {"reason", notice.reason},
          {"url", notice.url},
          {"status", notice.status},
          {"labels", notice.labels},
          {"summary", notice.summary},
          {"changes", notice.changes},
          {"down", notice.down},
          {"up", notice.up},
          {"down_now", notice.down_now},
          {"targets", targets},
          {"created_ms", notice_ms(notice.created)},
          {"attempts", notice.attempts}};
}

Expected<Notice> notice_from_json(const json& value) {
  try {
    Notice notice;
    notice.id = value.at("id").get<std::string>();
    notice.kind = value.at("kind").get<std::string>();
    notice.name = value.at("name").get<std::string>();
    notice.state = value.at("state").get<std::string>();
    notice.previous = value.at("previous").get<std::string>();
    notice.since = notice_time(value.at("since_ms").get<std::int64_t>());
    notice.reason = value.at("reason").get<std::string>();
    notice.url = value.at("url").get<std::string>();
    notice.status = value.at("status").get<std::string>();
    notice.labels = value.at("labels").get<std::map<std::string, std::string>>();
    notice.summary = value.at("summary").get<std::string>();
    notice.changes = value.at("changes").get<std::size_t>();
    notice.down = value.at("down").get<std::size_t>();
    notice.up = value.at("up").get<std::size_t>();
    notice.down_now = value.at("down_now").get<std::size_t>();
    for (const auto& target : value.at("targets"))
      notice.targets.emplace_back(target.at(0).get<std::string>(), target.at(1).get<std::string>());
    notice.created = notice_time(value.at("created_ms").get<std::int64_t>());
    notice.attempts = value.at("attempts").get<std::uint32_t>();
    return notice;
  } catch (const json::exception& error) {
    return Error{error.what()};
  }
}

std::filesystem::path notifier_memory_path(const std::filesystem::path& state_dir) {
  return state_dir / "alerts.json";
}

namespace {

json memory_to_json(const NotifierMemory& memory) {
  json routes = json::object();
  for (const auto& [key, route] : memory) {
    json down = json::object();
    for (const auto& [name, told] : route.down)
      down[name] = {{"since_ms", notice_ms(told.since)},
                    {"last_sent_ms", notice_ms(told.last_sent)}};
    json queue = json::array();
    for (const auto& notice : route.queue)
      queue.push_back(to_json(notice));
    routes[key] = {{"down", std::move(down)}, {"queue", std::move(queue)}};
  }
  return {{"version", kMemoryFormatVersion}, {"routes", std::move(routes)}};
}

}  // namespace

Expected<NotifierMemory> load_notifier_memory(const std::filesystem::path& state_dir) {
  const auto path = notifier_memory_path(state_dir);
  (void)state::remove_stale_temp_files(path);
  std::string text;
  if (const auto error = state::read_file(path, text)) {
    if (error == std::errc::no_such_file_or_directory)
      return NotifierMemory{};
    return Error{path.string() + ": cannot read it: " + error.message()};
  }
  const json document = json::parse(text, nullptr, false);
  if (document.is_discarded() || !document.is_object())
    return Error{path.string() + ": not a JSON object (damaged); move it away to start over"};
  if (document.value("version", 0) != kMemoryFormatVersion)
    return Error{path.string() + ": format version " + document.value("version", json()).dump() +
                 ", but this fetchd reads version " + std::to_string(kMemoryFormatVersion) +
                 "; move it away to start over"};
  NotifierMemory memory;
  try {
    for (const auto& [key, route] : document.at("routes").items()) {
      RouteMemory& into = memory[key];
      for (const auto& [name, told] : route.at("down").items())
        into.down[name] = {notice_time(told.at("since_ms").get<std::int64_t>()),
                           notice_time(told.at("last_sent_ms").get<std::int64_t>())};
      for (const auto& notice : route.at("queue")) {
        auto read = notice_from_json(notice);
        if (!read)
          return Error{path.string() + ": route " + quote(key) + ": " + read.error().message};
        into.queue.push_back(std::move(read).value());
      }
    }
  } catch (const json::exception& error) {
    return Error{path.string() + ": " + error.what() + "; move it away to start over"};
  }
  return memory;
}

// Writes the newest memory handed to it on its own thread, so that the loop never serialises or
// waits on the disk; one it has not begun is replaced by a newer one.
class Notifier::Writer {
 public:
  explicit Writer(std::filesystem::path path)
      : path_(std::move(path)), thread_([this] { run(); }) {}
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer() { finish(); }

  void write(NotifierMemory memory) {
    {
      const std::lock_guard lock(mutex_);
      pending_ = std::move(memory);
    }
    wake_.notify_one();
  }
  // Writes what is pending and ends the thread.
  void finish() {
    {
      const std::lock_guard lock(mutex_);
      if (done_)
        return;
      done_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    bool failing = false;
    for (;;) {
      wake_.wait(lock, [this] { return pending_.has_value() || done_; });
      if (!pending_)
        return;
      NotifierMemory memory = std::move(*pending_);
      pending_.reset();
      lock.unlock();
      const std::string text = memory_to_json(memory).dump() + "\n";
      const auto error = state::write_file_atomically(path_, text);
      if (error && !failing)
        spdlog::warn("alerts: cannot save {}: {}; notifications may repeat after a restart",
                     path_.string(), error.message());
      else if (!error && failing)
        spdlog::info("alerts: {} is saved again", path_.string());
      failing = static_cast<bool>(error);
      lock.lock();
    }
  }

  std::filesystem::path path_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::optional<NotifierMemory> pending_;
  bool done_ = false;
  std::thread thread_;
};

struct Notifier::Route {
  bool is_webhook = true;
  config::WebhookConfig webhook;
  config::CommandConfig command;
  RouteMemory memory;
  std::vector<Change> storm_batch;  // released into a storm this tick
  bool in_storm = false;
  std::vector<Change> storm_changes;  // since the storm's summary
  bool in_flight = false;
  bool failing = false;
  asio::cancellation_signal cancel;
  RouteStats stats;

  const config::RouteConfig& config() const { return is_webhook ? webhook.route : command.route; }
  std::string key() const { return (is_webhook ? "webhook:" : "command:") + config().name; }
};

Notifier::Notifier(const asio::any_io_executor& executor, http::Fetcher& fetcher,
                   const registry::Registry& registry, const Silences& silences,
                   const config::AlertsConfig& config, std::filesystem::path state_dir,
                   NotifierMemory memory, std::function<Clock::time_point()> now)
    : now_(std::move(now)),
      executor_(executor),
      fetcher_(fetcher),
      registry_(registry),
      silences_(silences),
      state_dir_(std::move(state_dir)),
      timer_(executor) {
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size() - 1) == 0)
    host_ = host.data();
  configure(config);
  for (auto& route : routes_) {
    if (auto found = memory.find(route->key()); found != memory.end())
      route->memory = std::move(found->second);
  }
  writer_ = std::make_unique<Writer>(notifier_memory_path(state_dir_));
}

Notifier::~Notifier() = default;

void Notifier::start(results::Feed& feed) {
  started_ = true;
  subscription_ =
      feed.subscribe("notifier", [this](const results::Event& event) { on_event(event); });
  asio::post(executor_, [self = weak_from_this()] {
    if (auto owner = self.lock(); owner && !owner->stopped_)
      owner->reconcile();
  });
  arm();
}

void Notifier::configure(const config::AlertsConfig& config) {
  storm_threshold_ = config.storm_threshold;
  max_commands_ = config.max_commands;
  std::vector<std::shared_ptr<Route>> next;
  const auto keep = [&](bool is_webhook, const std::string& name) -> std::shared_ptr<Route> {
    for (auto& route : routes_) {
      if (route && route->is_webhook == is_webhook && route->config().name == name)
        return std::exchange(route, nullptr);
    }
    auto route = std::make_shared<Route>();
    route->is_webhook = is_webhook;
    return route;
  };
  for (const auto& webhook : config.webhooks) {
    auto route = keep(true, webhook.route.name);
    route->webhook = webhook;
    route->stats.route = route->key();
    route->stats.url = webhook.url.to_string();
    next.push_back(std::move(route));
  }
  for (const auto& command : config.commands) {
    auto route = keep(false, command.route.name);
    route->command = command;
    route->stats.route = route->key();
    route->stats.url = command.argv.front();
    next.push_back(std::move(route));
  }
  for (auto& dropped : routes_) {
    if (!dropped)
      continue;
    dropped->cancel.emit(asio::cancellation_type::terminal);
    if (!dropped->memory.queue.empty())
      spdlog::warn("alerts: {} is no longer configured: {} dropped", dropped->key(),
                   plural(dropped->memory.queue.size(), "undelivered notification"));
  }
  routes_ = std::move(next);
  if (started_) {
    save_soon();
    asio::post(executor_, [self = weak_from_this()] {
      if (auto owner = self.lock(); owner && !owner->stopped_)
        owner->reconcile();
    });
  }
}

void Notifier::silence_lifted() {
  if (started_ && !stopped_)
    reconcile();
}

void Notifier::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  subscription_.reset();
  timer_.cancel();
  for (auto& route : routes_)
    route->cancel.emit(asio::cancellation_type::terminal);
  save_now(true);
}

std::vector<RouteStats> Notifier::stats() const {
  std::vector<RouteStats> stats;
  for (const auto& route : routes_) {
    stats.push_back(route->stats);
    stats.back().queued = route->memory.queue.size();
  }
  return stats;
}

std::size_t Notifier::queued() const {
  std::size_t queued = 0;
  for (const auto& route : routes_)
    queued += route->memory.queue.size();
  return queued;
}

void Notifier::on_event(const results::Event& event) {
  const auto now = now_();
  switch (event.kind) {
    case results::EventKind::recorded: {
      if (event.change == nullptr)
        return;
      const auto& change = *event.change;
      const bool down = change.to == results::State::down;
      if (!down && change.from != results::State::down)
        return;
      std::string status;
      if (event.result && event.result->result.ok())
        status = std::to_string(event.result->result.last().status);
      hold({.name = std::string(event.name),
            .state = down ? "DOWN" : "UP",
            .previous = upper_case(results::to_string(change.from)),
            .since = change.at,
            .reason = change.reason,
            .status = std::move(status),
            .release = now + kHold});
      return;
    }
    case results::EventKind::removed:
    case results::EventKind::added: {
      // Removed, or disabled by a change: a route told it is DOWN is told it is no longer
      // monitored (nothing else would end its alert).
      const bool gone =
          event.kind == results::EventKind::removed ? !event.results_kept : !event.enabled;
      if (!gone || event.state != results::State::down)
        return;
      hold({.name = std::string(event.name),
            .state = "REMOVED",
            .previous = "DOWN",
            .since = now,
            .reason =
                event.kind == results::EventKind::removed ? "no longer configured" : "disabled",
            .status = "",
            .release = now + kHold});
      return;
    }
    case results::EventKind::stopping:
    case results::EventKind::reloaded:
    case results::EventKind::skipped:
      return;
  }
}

void Notifier::hold(Change change) {
  if (routes_.empty())
    return;
  window_.push_back(now_());
  held_.push_back(std::move(change));
  arm();
}

void Notifier::arm() {
  if (stopped_ || routes_.empty())
    return;
  bool busy = !held_.empty() || storm_ || dirty_;
  for (const auto& route : routes_)
    busy = busy || !route->memory.queue.empty();
  // A change arriving while the timer idles brings it forward, so its hold is not stretched.
  const auto due = std::chrono::steady_clock::now() +
                   (busy ? std::chrono::duration_cast<std::chrono::milliseconds>(kBusyTick)
                         : std::chrono::duration_cast<std::chrono::milliseconds>(kIdleTick));
  if (armed_ && timer_.expiry() <= due)
    return;
  armed_ = true;
  const auto generation = ++timer_generation_;
  timer_.expires_at(due);
  timer_.async_wait([self = weak_from_this(), generation](std::error_code error) {
    const auto owner = self.lock();
    if (!owner || generation != owner->timer_generation_)
      return;
    owner->armed_ = false;
    if (error || owner->stopped_)
      return;
    owner->tick();
  });
}

void Notifier::tick() {
  const auto now = now_();
  while (!window_.empty() && window_.front() + kStormWindow <= now)
    window_.pop_front();
  release(now);
  close_storms();
  repeat(now);
  for (const auto& route : routes_)
    pump(route);
  if (dirty_ && std::chrono::steady_clock::now() - last_save_ >= kSaveEvery)
    save_now(false);
  arm();
}

void Notifier::release(Clock::time_point now) {
  if (held_.empty() || held_.front().release > now)
    return;
  storm_ = storm_ || (storm_threshold_ > 0 && window_.size() > storm_threshold_);
  std::vector<Change> released;
  // In a storm everything held belongs to it: the summary takes it all at once.
  while (!held_.empty() && (storm_ || held_.front().release <= now)) {
    released.push_back(std::move(held_.front()));
    held_.pop_front();
  }
  for (const auto& route : routes_) {
    std::vector<Change> told;
    for (const auto& change : released) {
      if (change.state == "DOWN") {
        const auto* entry = registry_.find(change.name);
        if (entry == nullptr || !matches(*route, *entry) || silenced(*entry, now) ||
            route->memory.down.contains(change.name))
          continue;
        route->memory.down[change.name] = {change.since, now};
      } else {
        const auto found = route->memory.down.find(change.name);
        if (found == route->memory.down.end())
          continue;
        route->memory.down.erase(found);
      }
      told.push_back(change);
    }
    if (!told.empty())
      route_changes(*route, std::move(told), storm_, false);
  }
  dirty_ = true;
}

void Notifier::route_changes(Route& route, std::vector<Change> changes, bool storm, bool closing) {
  const auto now = now_();
  if (!storm && !closing) {
    for (const auto& change : changes)
      enqueue(route, change_notice(change, "change"));
    return;
  }
  if (route.in_storm && !closing) {
    for (auto& change : changes)
      route.storm_changes.push_back(std::move(change));
    return;
  }
  Notice notice;
  notice.id = new_id();
  notice.kind = "storm";
  notice.state = "STORM";
  notice.created = now;
  notice.since = changes.empty() ? now : changes.front().since;
  notice.changes = changes.size();
  for (const auto& change : changes) {
    (change.state == "DOWN" ? notice.down : notice.up) += 1;
    if (notice.targets.size() < kStormTargetsNamed)
      notice.targets.emplace_back(change.name, change.state);
  }
  notice.down_now = route.memory.down.size();
  if (closing) {
    notice.summary = "fetchd: the storm is over: " + plural(notice.changes, "more change") +
                     " since its summary (" + std::to_string(notice.down) + " DOWN, " +
                     std::to_string(notice.up) + " recovered); " +
                     plural(notice.down_now, "target") + " DOWN now";
  } else {
    notice.summary = "fetchd: " + plural(notice.changes, "target") +
                     " changed state within a minute (" + std::to_string(notice.down) + " DOWN, " +
                     std::to_string(notice.up) + " recovered); one summary until it calms down";
  }
  if (!notice.targets.empty())
    notice.summary += ": " + names_of(notice.targets, notice.changes);
  notice.reason = notice.summary;
  enqueue(route, std::move(notice));
  route.in_storm = !closing;
}

void Notifier::close_storms() {
  if (!storm_ || !held_.empty() || window_.size() > storm_threshold_)
    return;
  storm_ = false;
  for (const auto& route : routes_) {
    if (!route->in_storm)
      continue;
    route_changes(*route, std::exchange(route->storm_changes, {}), true, true);
  }
}

void Notifier::repeat(Clock::time_point now) {
  for (const auto& route : routes_) {
    const auto interval = route->config().repeat_interval;
    if (!interval || route->in_storm)
      continue;
    std::vector<Change> due;
    for (auto& [name, told] : route->memory.down) {
      if (told.last_sent + *interval > now)
        continue;
      const auto* entry = registry_.find(name);
      if (entry == nullptr || silenced(*entry, now))
        continue;
      told.last_sent = now;
      const auto failure = entry->results.latest_failure();
      due.push_back({.name = name,
                     .state = "DOWN",
                     .previous = "DOWN",
                     .since = told.since,
                     .reason = failure ? failure->reason() : "down",
                     .status = "",
                     .release = now});
    }
    if (due.empty())
      continue;
    dirty_ = true;
    if (storm_threshold_ > 0 && due.size() > storm_threshold_) {
      route_changes(*route, std::move(due), true, false);
      route->in_storm = false;
      continue;
    }
    for (const auto& change : due)
      enqueue(*route, change_notice(change, "repeat"));
  }
}

void Notifier::reconcile() {
  const auto now = now_();
  for (const auto& route : routes_) {
    std::vector<Change> changes;
    // Told DOWN, but recovered or gone meanwhile (while fetchd was stopped, say).
    for (auto it = route->memory.down.begin(); it != route->memory.down.end();) {
      const auto* entry = registry_.find(it->first);
      const bool gone = entry == nullptr || !entry->config->enabled;
      if (!gone && entry->results.state() != results::State::up) {
        ++it;
        continue;
      }
      changes.push_back({.name = it->first,
                         .state = gone ? "REMOVED" : "UP",
                         .previous = "DOWN",
                         .since = gone ? now : entry->results.state_since(),
                         .reason = gone ? "no longer monitored" : "recovered",
                         .status = "",
                         .release = now});
      it = route->memory.down.erase(it);
    }
    // DOWN, but never told (first configured, or a silence ended).
    registry_.for_each([&](const registry::Entry& entry) {
      if (!entry.config->enabled || entry.results.state() != results::State::down ||
          route->memory.down.contains(entry.name()) || !matches(*route, entry) ||
          silenced(entry, now))
        return;
      const auto failure = entry.results.latest_failure();
      route->memory.down[entry.name()] = {entry.results.state_since(), now};
      changes.push_back({.name = entry.name(),
                         .state = "DOWN",
                         .previous = "UP",
                         .since = entry.results.state_since(),
                         .reason = failure ? failure->reason() : "down",
                         .status = "",
                         .release = now});
    });
    if (changes.empty())
      continue;
    dirty_ = true;
    const bool storm = storm_threshold_ > 0 && changes.size() > storm_threshold_;
    route_changes(*route, std::move(changes), storm, false);
    if (storm)
      route->in_storm = storm_;
  }
  arm();
}

Notice Notifier::change_notice(const Change& change, const std::string& kind) const {
  Notice notice;
  notice.id = new_id();
  notice.kind = kind;
  notice.name = change.name;
  notice.state = change.state;
  notice.previous = change.previous;
  notice.since = change.since;
  notice.reason = change.reason;
  notice.status = change.status;
  notice.created = now_();
  if (const auto* entry = registry_.find(change.name)) {
    notice.url = entry->config->fetch.url.to_string();
    notice.labels = entry->config->labels;
  }
  if (change.state == "DOWN" && kind == "repeat") {
    notice.summary = change.name + " is still DOWN (since " + http::format_utc(change.since) +
                     "): " + change.reason;
  } else if (change.state == "DOWN") {
    notice.summary = change.name + " is DOWN: " + change.reason;
  } else if (change.state == "UP") {
    notice.summary = change.name + " is UP again: " + change.reason;
  } else {
    notice.summary = change.name + " is no longer monitored (" + change.reason + "); it was DOWN";
  }
  return notice;
}

void Notifier::enqueue(Route& route, Notice notice) {
  if (route.memory.queue.size() >= kMaxQueuedPerRoute) {
    route.memory.queue.pop_front();
    ++route.stats.dropped;
    if (!route.failing)
      spdlog::warn("alerts: {}: {} notifications are waiting; the oldest is dropped", route.key(),
                   kMaxQueuedPerRoute);
  }
  route.memory.queue.push_back(std::move(notice));
  dirty_ = true;
}

bool Notifier::matches(const Route& route, const registry::Entry& entry) {
  const auto& match = route.config().match;
  if (!match.names.empty() &&
      std::find(match.names.begin(), match.names.end(), entry.name()) == match.names.end())
    return false;
  const auto& labels = entry.config->labels;
  const auto label_of = [&labels](const std::string& label) {
    const auto found = labels.find(label);
    return found == labels.end() ? std::optional<std::string_view>() : found->second;
  };
  return std::all_of(match.labels.begin(), match.labels.end(),
                     [&](const auto& wanted) { return label_of(wanted.first) == wanted.second; }) &&
         std::all_of(match.labels_regex.begin(), match.labels_regex.end(), [&](const auto& wanted) {
           return wanted.second.search(label_of(wanted.first).value_or(std::string_view()));
         });
}

bool Notifier::silenced(const registry::Entry& entry, Clock::time_point now) const {
  return silences_.covering(entry.name(), entry.config->labels, now) != nullptr;
}

void Notifier::pump(const std::shared_ptr<Route>& route) {
  const auto now = now_();
  auto& queue = route->memory.queue;
  while (!route->in_flight && !queue.empty()) {
    const Notice& next = queue.front();
    if (next.created + route->config().max_age <= now) {
      ++route->stats.dropped;
      spdlog::warn("alerts: {}: gave up on a notification of {} after {} ({}): {}", route->key(),
                   next.name.empty() ? "a storm" : next.name, plural(next.attempts, "attempt"),
                   config::format_duration(route->config().max_age), next.summary);
      queue.pop_front();
      dirty_ = true;
      continue;
    }
    if (next.next_try > now)
      return;
    if (route->is_webhook) {
      deliver_webhook(route, next);
    } else {
      if (commands_running_ >= max_commands_)
        return;
      deliver_command(route, next);
    }
  }
}

void Notifier::deliver_webhook(const std::shared_ptr<Route>& route, const Notice& notice) {
  const auto& webhook = route->webhook;
  http::Target target;
  target.url = webhook.url;
  target.method = webhook.method;
  target.headers = webhook.headers;
  target.headers.push_back({"Idempotency-Key", notice.id});
  if (webhook.body) {
    target.body = webhook.body->render([&](std::string_view field) -> std::string {
      if (field.starts_with(config::kLabelFieldPrefix)) {
        const auto found =
            notice.labels.find(std::string(field.substr(config::kLabelFieldPrefix.size())));
        return found == notice.labels.end() ? "" : found->second;
      }
      if (field == "id")
        return notice.id;
      if (field == "kind")
        return notice.kind;
      if (field == "name")
        return notice.name;
      if (field == "state")
        return notice.state;
      if (field == "previous")
        return notice.previous;
      if (field == "since")
        return http::format_utc(notice.since);
      if (field == "reason")
        return notice.reason;
      if (field == "url")
        return notice.url;
      if (field == "status")
        return notice.status;
      if (field == "summary")
        return notice.summary;
      if (field == "fetchd_host")
        return host_;
      return "";
    });
  } else {
    json document = {{"version", 1},
                     {"id", notice.id},
                     {"kind", notice.kind},
                     {"summary", notice.summary},
                     {"since", http::format_utc(notice.since)},
                     {"fetchd_host", host_}};
    if (notice.kind == "storm") {
      json targets = json::array();
      for (const auto& [name, state] : notice.targets)
        targets.push_back({{"name", name}, {"state", state}});
      document.update({{"changes", notice.changes},
                       {"down", notice.down},
                       {"up", notice.up},
                       {"down_now", notice.down_now},
                       {"targets", std::move(targets)}});
    } else {
      document.update({{"name", notice.name},
                       {"state", notice.state},
                       {"previous", notice.previous},
                       {"reason", notice.reason},
                       {"url", notice.url},
                       {"status", status_number(notice.status)},
                       {"labels", notice.labels}});
    }
    target.body = document.dump(-1, ' ', false, json::error_handler_t::replace);
    target.headers.push_back({"Content-Type", "application/json"});
  }
  target.timeout = route->config().timeout;
  target.max_body_bytes = kMaxReceiverAnswerBytes;
  route->in_flight = true;
  asio::co_spawn(
      executor_, fetcher_.fetch(std::move(target)),
      asio::bind_cancellation_slot(route->cancel.slot(), [self = weak_from_this(), route](
                                                             const std::exception_ptr& error,
                                                             const http::FetchResult& result) {
        route->in_flight = false;
        const auto owner = self.lock();
        if (!owner || owner->stopped_)
          return;
        if (error) {
          owner->delivered(route, "the request ended with an exception", false);
        } else if (!result.ok()) {
          owner->delivered(route, result.error().message, false);
        } else if (const int status = result.last().status; status < 200 || status > 299) {
          const bool permanent = status >= 400 && status <= 499 && status != 408 && status != 429;
          owner->delivered(route, "answered " + std::to_string(status) + " " + result.last().reason,
                           permanent);
        } else {
          owner->delivered(route, "", false);
        }
      }));
}

void Notifier::deliver_command(const std::shared_ptr<Route>& route, const Notice& notice) {
  CommandSpec spec;
  spec.argv = route->command.argv;
  spec.timeout = route->config().timeout;
  spec.max_output_bytes = kMaxCommandOutputBytes;
  auto& env = spec.environment;
  env.emplace_back(kCommandPath);
  const auto add = [&env](std::string_view key, const std::string& value) {
    // The environment cannot carry NUL; a reason never holds one, but a label might not be text.
    std::string clean = value;
    std::replace(clean.begin(), clean.end(), '\0', ' ');
    env.push_back("FETCHD_" + std::string(key) + "=" + clean);
  };
  add("ID", notice.id);
  add("KIND", notice.kind);
  add("NAME", notice.name);
  add("STATE", notice.state);
  add("PREVIOUS", notice.previous);
  add("SINCE", http::format_utc(notice.since));
  add("REASON", notice.reason);
  add("URL", notice.url);
  add("STATUS", notice.status);
  add("SUMMARY", notice.summary);
  add("HOST", host_);
  for (const auto& [label, value] : notice.labels)
    add("LABEL_" + upper_case(label), value);
  if (notice.kind == "storm") {
    add("STORM_CHANGES", std::to_string(notice.changes));
    add("STORM_DOWN", std::to_string(notice.down));
    add("STORM_UP", std::to_string(notice.up));
    add("STORM_DOWN_NOW", std::to_string(notice.down_now));
    add("STORM_TARGETS", names_of(notice.targets, notice.changes));
  }
  route->in_flight = true;
  ++commands_running_;
  const std::string about = notice.name.empty() ? "a storm" : notice.name;
  asio::co_spawn(
      executor_, run_command(std::move(spec)),
      asio::bind_cancellation_slot(route->cancel.slot(), [self = weak_from_this(), route, about](
                                                             const std::exception_ptr& error,
                                                             const CommandOutcome& outcome) {
        route->in_flight = false;
        const auto owner = self.lock();
        if (!owner)
          return;
        --owner->commands_running_;
        if (owner->stopped_)
          return;
        if (error) {
          owner->delivered(route, "the command ended with an exception", false);
          return;
        }
        // Quoted: a command's output must not forge log lines.
        if (!outcome.output.empty()) {
          spdlog::info("alerts: {} for {}: {}; output{}: {}", route->key(), about,
                       outcome.describe(), outcome.output_truncated ? " (cut)" : "",
                       quote(outcome.output));
        }
        owner->delivered(route, outcome.ok() ? "" : outcome.describe(), false);
        // A slot was freed: another command route may be waiting for it.
        for (const auto& other : owner->routes_) {
          if (!other->is_webhook)
            owner->pump(other);
        }
      }));
}

void Notifier::delivered(const std::shared_ptr<Route>& route, const std::string& problem,
                         bool permanent) {
  // A reload replaced or dropped the route meanwhile: its queue went with it.
  if (std::find(routes_.begin(), routes_.end(), route) == routes_.end())
    return;
  auto& queue = route->memory.queue;
  if (queue.empty())
    return;
  const auto now = now_();
  Notice& notice = queue.front();
  dirty_ = true;
  if (problem.empty()) {
    ++route->stats.sent;
    route->stats.last_success = now;
    if (route->failing)
      spdlog::info("alerts: {} delivers again", route->key());
    route->failing = false;
    queue.pop_front();
  } else if (permanent) {
    ++route->stats.failed;
    ++route->stats.dropped;
    spdlog::warn("alerts: {} refused a notification of {}: {}; dropped", route->key(),
                 notice.name.empty() ? "a storm" : notice.name, problem);
    queue.pop_front();
  } else {
    ++route->stats.failed;
    ++notice.attempts;
    notice.next_try = now + retry_delay(notice.attempts);
    if (!route->failing) {
      spdlog::warn("alerts: {} cannot deliver: {}; retrying with back-off for up to {}",
                   route->key(), problem, config::format_duration(route->config().max_age));
    }
    route->failing = true;
  }
  pump(route);
  arm();
}

void Notifier::save_soon() {
  dirty_ = true;
  arm();
}

void Notifier::save_now(bool final) {
  if (!writer_)
    return;
  NotifierMemory memory;
  for (const auto& route : routes_)
    memory[route->key()] = route->memory;
  dirty_ = false;
  last_save_ = std::chrono::steady_clock::now();
  writer_->write(std::move(memory));
  if (final)
    writer_->finish();
}

}  // namespace fetchd::alerts
