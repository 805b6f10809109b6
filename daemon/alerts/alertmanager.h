#pragma once

// Alerts for Prometheus Alertmanager (API v2, POST /api/v2/alerts), kept from the results feed: a
// target that goes DOWN (after flap control: down_after failures in a row) fires
// FetchdTargetDown, and resolves when it is UP again or stops being tracked. Alertmanager routes
// them on (Slack, PagerDuty, email, ...), groups and silences them.
//
// As Prometheus sends its alerts: every firing alert goes to every URL each resend_interval with
// endsAt = now + 4 x resend_interval (so an Alertmanager that stops hearing from fetchd resolves
// nothing before that), and a resolved one with endsAt = when it resolved, for 15 minutes. A change
// is sent at once, batched with the others of the next 100 ms into one POST per Alertmanager.
// startsAt is the state's since, which survives restarts (the results store), so a target still
// DOWN after a restart is the same alert, not a new one.
//
// Labels: alertname="FetchdTargetDown", name, the target's labels, settings.instance_labels and
// alerts.alertmanager.labels (a target's own wins); annotations: summary, description (the
// failure), url. A failing Alertmanager is logged once when it starts failing and once when it
// answers again; its POSTs are bounded by a timeout, one at a time per URL.
//
// A target covered by a silence (fetchctl silence) does not fire; one already firing goes on
// until it resolves. When a silence ends, targets still DOWN fire then.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/steady_timer.hpp>

#include "alerts/silences.h"
#include "config/config.h"
#include "http/fetcher.h"
#include "registry/registry.h"
#include "results/feed.h"

namespace fetchd::alerts {

inline constexpr std::string_view kAlertName = "FetchdTargetDown";
inline constexpr std::chrono::minutes kResolvedResendFor{15};

struct AlertmanagerStats {
  struct PerUrl {
    std::string url;
    std::uint64_t sent = 0;    // POSTs answered 2xx
    std::uint64_t failed = 0;  // POSTs that failed or were refused
    std::optional<std::chrono::system_clock::time_point> last_success{};
  };
  std::vector<PerUrl> urls;
  std::size_t firing = 0;
  std::size_t resolved = 0;  // still being sent
};

class Alertmanager : public std::enable_shared_from_this<Alertmanager> {
 public:
  using Clock = std::chrono::system_clock;

  // Subscribe with start(), before the targets are added, so that targets restored DOWN fire.
  Alertmanager(const asio::any_io_executor& executor, http::Fetcher& fetcher,
               const registry::Registry& registry, const Silences& silences,
               config::AlertmanagerConfig config,
               std::map<std::string, std::string> instance_labels);
  Alertmanager(const Alertmanager&) = delete;
  Alertmanager& operator=(const Alertmanager&) = delete;

  void start(results::Feed& feed);
  // A reload: new URLs, interval or labels from the next round on.
  void configure(config::AlertmanagerConfig config,
                 std::map<std::string, std::string> instance_labels);
  // A silence ended: targets DOWN and not firing fire now.
  void silence_lifted();
  // Ends the subscription, the timers and every POST in flight.
  void stop();

  AlertmanagerStats stats() const;

 private:
  struct Alert {
    std::map<std::string, std::string> labels;
    std::string summary;
    std::string description;
    std::string url;
    Clock::time_point starts_at;
    std::optional<Clock::time_point> ends_at;  // resolved at
    // The alert's JSON object without its closing brace and endsAt, made once when it fires:
    // a round of 10,000 alerts is then a concatenation, not 10,000 serialisations on the loop.
    std::string json_head;
  };
  struct Sender {
    http::Url url;
    asio::cancellation_signal cancel;
    bool in_flight = false;
    bool again = false;  // a round came while a POST was in flight
    bool failing = false;
    AlertmanagerStats::PerUrl stats;
  };

  void on_event(const results::Event& event);
  void fire_all_down();
  void fire(const registry::Entry& entry, Clock::time_point since, const std::string& reason);
  void resolve(const std::string& name, Clock::time_point at);
  void send_soon();
  void schedule_resend();
  void send_round();
  std::string body(Clock::time_point now) const;
  void post(const std::shared_ptr<Sender>& sender, std::string alerts);

  asio::any_io_executor executor_;
  http::Fetcher& fetcher_;
  const registry::Registry& registry_;
  const Silences& silences_;
  config::AlertmanagerConfig config_;
  std::map<std::string, std::string> instance_labels_;
  std::map<std::string, Alert, std::less<>> firing_;  // by target name
  std::vector<Alert> resolved_;
  std::vector<std::shared_ptr<Sender>> senders_;  // shared with their POST in flight
  asio::steady_timer batch_timer_;
  asio::steady_timer resend_timer_;
  bool batch_pending_ = false;
  bool started_ = false;
  bool stopped_ = false;
  results::Feed::Subscription subscription_;
};

}  // namespace fetchd::alerts
