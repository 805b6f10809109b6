#include "alerts/alertmanager.h"

#include <algorithm>
#include <utility>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "http/fetch_json.h"

namespace fetchd::alerts {

namespace {

// Changes within this are sent together.
constexpr auto kBatchDelay = std::chrono::milliseconds(100);
constexpr auto kPostTimeout = std::chrono::seconds(10);
// An Alertmanager answers {} or an error message: nothing worth more.
constexpr std::size_t kMaxAnswerBytes = std::size_t{64} * 1024;

std::map<std::string, std::string> merged(
    std::initializer_list<const std::map<std::string, std::string>*> layers) {
  std::map<std::string, std::string> labels;
  for (const auto* layer : layers) {
    for (const auto& [name, value] : *layer)
      labels[name] = value;
  }
  return labels;
}

}  // namespace

Alertmanager::Alertmanager(const asio::any_io_executor& executor, http::Fetcher& fetcher,
                           const registry::Registry& registry, const Silences& silences,
                           config::AlertmanagerConfig config,
                           std::map<std::string, std::string> instance_labels)
    : executor_(executor),
      fetcher_(fetcher),
      registry_(registry),
      silences_(silences),
      batch_timer_(executor),
      resend_timer_(executor) {
  configure(std::move(config), std::move(instance_labels));
}

void Alertmanager::start(results::Feed& feed) {
  started_ = true;
  subscription_ =
      feed.subscribe("alertmanager", [this](const results::Event& event) { on_event(event); });
  // Targets already DOWN when alerts are configured by a reload fire at once.
  fire_all_down();
  schedule_resend();
}

void Alertmanager::fire_all_down() {
  registry_.for_each([this](const registry::Entry& entry) {
    if (entry.config->enabled && entry.results.state() == results::State::down) {
      const auto failure = entry.results.latest_failure();
      fire(entry, entry.results.state_since(), failure ? failure->reason() : "down");
    }
  });
}

void Alertmanager::silence_lifted() {
  if (started_ && !stopped_)
    fire_all_down();
}

void Alertmanager::configure(config::AlertmanagerConfig config,
                             std::map<std::string, std::string> instance_labels) {
  for (auto& sender : senders_)
    sender->cancel.emit(asio::cancellation_type::terminal);
  senders_.clear();
  for (const auto& url : config.urls) {
    auto sender = std::make_shared<Sender>();
    sender->url = url;
    sender->url.target = "/api/v2/alerts";
    sender->stats.url = url.to_string();
    senders_.push_back(std::move(sender));
  }
  config_ = std::move(config);
  instance_labels_ = std::move(instance_labels);
  // Labels of alerts already firing follow at their next change; the interval from the next round.
  if (started_)
    schedule_resend();
}

void Alertmanager::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  subscription_.reset();
  batch_timer_.cancel();
  resend_timer_.cancel();
  for (auto& sender : senders_)
    sender->cancel.emit(asio::cancellation_type::terminal);
}

AlertmanagerStats Alertmanager::stats() const {
  AlertmanagerStats stats;
  for (const auto& sender : senders_)
    stats.urls.push_back(sender->stats);
  stats.firing = firing_.size();
  stats.resolved = resolved_.size();
  return stats;
}

void Alertmanager::on_event(const results::Event& event) {
  switch (event.kind) {
    case results::EventKind::recorded: {
      if (event.change == nullptr)
        return;
      const std::string name(event.name);
      if (event.change->to == results::State::down) {
        if (const auto* entry = registry_.find(name))
          fire(*entry, event.change->at, event.change->reason);
      } else if (event.change->from == results::State::down) {
        resolve(name, event.change->at);
      }
      return;
    }
    case results::EventKind::added: {
      // Restored DOWN at start, or changed keeping its results while DOWN: (still) firing, with
      // the labels it has now. Disabled by the change: resolved, since nothing else would.
      const auto* entry = registry_.find(event.name);
      if (entry == nullptr)
        return;
      if (event.state != results::State::down || !event.enabled) {
        resolve(std::string(event.name), Clock::now());
        return;
      }
      const auto failure = entry->results.latest_failure();
      fire(*entry, entry->results.state_since(), failure ? failure->reason() : "down");
      return;
    }
    case results::EventKind::removed:
      if (!event.results_kept)
        resolve(std::string(event.name), Clock::now());
      return;
    case results::EventKind::stopping:
    case results::EventKind::reloaded:
    case results::EventKind::skipped:
      return;
  }
}

void Alertmanager::fire(const registry::Entry& entry, Clock::time_point since,
                        const std::string& reason) {
  if (!firing_.contains(entry.name()) &&
      silences_.covering(entry.name(), entry.config->labels, Clock::now()) != nullptr)
    return;
  const std::map<std::string, std::string> own = {{"alertname", std::string(kAlertName)},
                                                  {"name", entry.name()}};
  Alert alert;
  alert.labels = merged({&config_.labels, &instance_labels_, &entry.config->labels, &own});
  alert.url = entry.config->fetch.url.to_string();
  alert.summary = entry.name() + " is DOWN";
  alert.description = entry.name() + " (" + alert.url + ") is DOWN: " + reason;
  alert.starts_at = since;
  std::string head = nlohmann::json{
      {"labels", alert.labels},
      {"annotations",
       {{"summary", alert.summary}, {"description", alert.description}, {"url", alert.url}}},
      {"startsAt", http::format_utc(alert.starts_at)},
      {"generatorURL",
       alert.url}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  head.pop_back();  // the closing brace: endsAt follows in each round
  alert.json_head = std::move(head);
  // The same labels firing again supersede their resolution: sent together, Alertmanager would
  // take the one that comes later.
  std::erase_if(resolved_, [&](const Alert& resolved) { return resolved.labels == alert.labels; });
  firing_.insert_or_assign(entry.name(), std::move(alert));
  send_soon();
}

void Alertmanager::resolve(const std::string& name, Clock::time_point at) {
  const auto found = firing_.find(name);
  if (found == firing_.end())
    return;
  Alert alert = std::move(found->second);
  firing_.erase(found);
  alert.ends_at = at;
  resolved_.push_back(std::move(alert));
  send_soon();
}

void Alertmanager::send_soon() {
  if (batch_pending_ || stopped_)
    return;
  batch_pending_ = true;
  batch_timer_.expires_after(kBatchDelay);
  // Weak: a reload that drops alerts.alertmanager frees this while a callback may be queued.
  batch_timer_.async_wait([self = weak_from_this()](std::error_code error) {
    const auto owner = self.lock();
    if (error || !owner || owner->stopped_)
      return;
    owner->batch_pending_ = false;
    owner->send_round();
  });
}

void Alertmanager::schedule_resend() {
  if (stopped_)
    return;
  resend_timer_.expires_after(config_.resend_interval);
  resend_timer_.async_wait([self = weak_from_this()](std::error_code error) {
    const auto owner = self.lock();
    if (error || !owner || owner->stopped_)
      return;
    owner->send_round();
    owner->schedule_resend();
  });
}

std::string Alertmanager::body(Clock::time_point now) const {
  const std::string valid_until = http::format_utc(now + 4 * config_.resend_interval);
  std::string alerts = "[";
  const auto add = [&](const Alert& alert) {
    if (alerts.size() > 1)
      alerts += ',';
    alerts += alert.json_head;
    alerts += R"(,"endsAt":")";
    alerts += alert.ends_at ? http::format_utc(*alert.ends_at) : valid_until;
    alerts += R"("})";
  };
  for (const auto& alert : resolved_)
    add(alert);
  for (const auto& [name, alert] : firing_)
    add(alert);
  alerts += ']';
  return alerts;
}

void Alertmanager::send_round() {
  const auto now = Clock::now();
  std::erase_if(resolved_,
                [now](const Alert& alert) { return *alert.ends_at + kResolvedResendFor < now; });
  if (firing_.empty() && resolved_.empty())
    return;
  const std::string alerts = body(now);
  for (const auto& sender : senders_) {
    if (sender->in_flight) {
      sender->again = true;
      continue;
    }
    post(sender, alerts);
  }
}

void Alertmanager::post(const std::shared_ptr<Sender>& sender, std::string alerts) {
  http::Target target;
  target.url = sender->url;
  target.method = http::Method::post;
  target.body = std::move(alerts);
  target.headers = {{"Content-Type", "application/json"}};
  target.timeout = kPostTimeout;
  target.max_body_bytes = kMaxAnswerBytes;
  sender->in_flight = true;
  std::weak_ptr<Alertmanager> self = weak_from_this();
  asio::co_spawn(
      executor_, fetcher_.fetch(std::move(target)),
      asio::bind_cancellation_slot(sender->cancel.slot(), [self, sender](
                                                              const std::exception_ptr& error,
                                                              const http::FetchResult& result) {
        sender->in_flight = false;
        auto owner = self.lock();
        // Stopped, or its URL replaced by a reload: nothing more to say.
        if (!owner || owner->stopped_ ||
            std::find(owner->senders_.begin(), owner->senders_.end(), sender) ==
                owner->senders_.end())
          return;
        std::string problem;
        if (error) {
          problem = "the request ended with an exception";
        } else if (!result.ok()) {
          problem = result.error().message;
        } else if (result.last().status < 200 || result.last().status > 299) {
          problem = "answered " + std::to_string(result.last().status) + " " + result.last().reason;
        }
        const std::string where = sender->url.to_string();
        if (problem.empty()) {
          ++sender->stats.sent;
          sender->stats.last_success = Clock::now();
          if (sender->failing)
            spdlog::info("alertmanager {}: alerts are accepted again", where);
          sender->failing = false;
        } else {
          ++sender->stats.failed;
          if (!sender->failing) {
            spdlog::warn(
                "alertmanager {}: cannot send alerts: {}; trying again every {} s", where, problem,
                std::chrono::duration_cast<std::chrono::seconds>(owner->config_.resend_interval)
                    .count());
          }
          sender->failing = true;
        }
        if (std::exchange(sender->again, false))
          owner->post(sender, owner->body(Clock::now()));
      }));
}

}  // namespace fetchd::alerts
