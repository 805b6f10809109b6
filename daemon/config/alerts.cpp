#include "config/alerts.h"

#include <array>
#include <chrono>
#include <span>

#include "config/labels.h"

namespace fetchd::config {

namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr std::size_t kMaxAlertmanagers = 8;

void read_urls(Checker& check, const json& member, const std::string& at,
               AlertmanagerConfig& alertmanager) {
  if (!member.is_array() || member.empty() || member.size() > kMaxAlertmanagers) {
    check.fail(
        at,
        R"(expected an array of 1 to 8 Alertmanager URLs like "http://127.0.0.1:9093", found )" +
            found(member));
    return;
  }
  alertmanager.urls.clear();
  for (std::size_t i = 0; i < member.size(); ++i) {
    const std::string url_at = at + "/" + std::to_string(i);
    const std::string* text = check.string(member[i], url_at, false);
    if (text == nullptr)
      continue;
    auto url = http::parse_url(*text);
    if (!url) {
      check.fail(url_at, url.error().message);
      continue;
    }
    if (url->target != "/") {
      check.fail(url_at,
                 "expected the Alertmanager's base URL (no path: fetchd adds "
                 "/api/v2/alerts), found " +
                     found(member[i]));
      continue;
    }
    alertmanager.urls.push_back(std::move(url).value());
  }
}

void read_resend_interval(Checker& check, const json& member, const std::string& at,
                          AlertmanagerConfig& alertmanager) {
  if (auto interval = check.duration(member, at, 1s, 1h))
    alertmanager.resend_interval = *interval;
}

void read_labels(Checker& check, const json& member, const std::string& at,
                 AlertmanagerConfig& alertmanager) {
  std::map<std::string, std::string> labels;
  read_label_map(check, member, at, labels);
  alertmanager.labels = std::move(labels);
}

constexpr std::array<KeyRule<AlertmanagerConfig>, 3> kAlertmanagerKeys = {{
    {"urls", read_urls, "the Alertmanagers, each sent every alert"},
    {"resend_interval", read_resend_interval, "how often firing alerts are sent again"},
    {"labels", read_labels, "labels added to every alert"},
}};

void read_alertmanager(Checker& check, const json& member, const std::string& at,
                       AlertsConfig& alerts) {
  AlertmanagerConfig alertmanager;
  const auto errors = check.error_count();
  if (!check.members(member, at, std::span<const KeyRule<AlertmanagerConfig>>(kAlertmanagerKeys),
                     alertmanager))
    return;
  if (!member.contains("urls")) {
    check.fail(at, R"(missing "urls", e.g. ["http://127.0.0.1:9093"])");
    return;
  }
  if (check.error_count() == errors)
    alerts.alertmanager = std::move(alertmanager);
}

constexpr std::array<KeyRule<AlertsConfig>, 1> kAlertsKeys = {{
    {"alertmanager", read_alertmanager, "Prometheus Alertmanager: urls, resend_interval, labels"},
}};

}  // namespace

void read_alerts(Checker& check, const json& member, const std::string& at, AlertsConfig& alerts) {
  check.members(member, at, std::span<const KeyRule<AlertsConfig>>(kAlertsKeys), alerts);
}

}  // namespace fetchd::config
