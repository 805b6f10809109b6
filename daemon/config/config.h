#pragma once

// The configuration model: targets (what to fetch, how often, what to expect) and daemon settings.
// Built by the loader (loader.h) from JSON files, or from one target object sent at run time; the
// scheduler, results and control layers read it. Plain values: copy freely, compare with
// same_settings() to tell a changed target from an unchanged one across a reload.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/sha256.h"
#include "config/body_template.h"
#include "control/protocol_limits.h"
#include "http/fetch_result.h"
#include "http/target.h"

namespace fetchd::config {

// An inclusive range of status codes; a single code is {code, code}.
struct StatusRange {
  int low = 200;
  int high = 399;
  bool operator==(const StatusRange&) const = default;
};

// A header the response must carry; with `value`, one of its fields must equal it exactly (names
// compare case-insensitively, values case-sensitively).
struct HeaderExpectation {
  std::string name{};
  std::optional<std::string> value{};
  bool operator==(const HeaderExpectation&) const = default;
};

// A compiled body regex (ECMAScript syntax, no back-references). Compiled once by the loader and
// shared between copies; matching is linear in the body bytes (libstdc++'s polynomial mode, about
// 0.1 s per MiB), never recursive, so a hostile body cannot overflow the stack.
class BodyRegex {
 public:
  // The error is std::regex's description ("mismatched parentheses", ...).
  static Expected<BodyRegex> compile(std::string pattern);
  const std::string& pattern() const { return pattern_; }
  bool search(std::string_view body) const;
  bool operator==(const BodyRegex& other) const { return pattern_ == other.pattern_; }

 private:
  std::string pattern_;
  std::shared_ptr<const std::regex> regex_;
};

// What a completed fetch must satisfy to count as a success. Checked on the last hop (the final
// response after redirects).
struct Expectations {
  std::vector<StatusRange> status{StatusRange{200, 399}};
  std::optional<std::string> body_contains{};  // in the bytes read (up to max_body_bytes)
  std::optional<BodyRegex> body_regex{};       // searched in the bytes read
  std::vector<HeaderExpectation> headers{};
  std::optional<std::chrono::milliseconds> max_latency{};  // total fetch time, redirects included
  // Days the certificate chain must still be valid (its earliest notAfter), counted from the
  // fetch's start. Applies to TLS responses only: a plain-HTTP response has no certificate.
  std::optional<int> min_cert_days{};

  bool needs_body() const { return body_contains || body_regex; }
  bool operator==(const Expectations&) const = default;
};

// A completed fetch (result.ok()) that misses an expectation: the first one missed, described for
// people and results, e.g. "status 503 not in 200-399", "body does not contain \"Welcome\"",
// "header \"X-Cache\" missing", "total time 1.234s over 500ms", "certificate expires in 3 days
// (2025-03-01T00:00:00.000Z), expected at least 14". Nullopt when every expectation holds, and for
// a fetch that did not complete (its error class is the failure).
std::optional<std::string> check_expectations(const Expectations& expect,
                                              const http::FetchResult& result);

struct TargetConfig {
  std::string name{};  // unique; [A-Za-z0-9._-], not starting with '-'
  http::Target fetch{};
  std::chrono::milliseconds interval{30'000};
  std::map<std::string, std::string> labels{};  // carried into results and metrics
  bool enabled = true;
  int down_after = 1;  // consecutive failures before the target is DOWN
  int up_after = 1;    // consecutive successes before it is UP again
  Expectations expect{};
  // Where it was defined: the file as named to the loader ("conf.d/10-api.json") and the JSON
  // pointer of the target within it ("/targets/2"); for a target from parse_target, its source
  // ("runtime", the state file) and "". Not part of the target's settings.
  std::string source_file{};
  std::string source_pointer{};
};

// Equal in everything that affects fetching, scheduling and judging results; source_file and
// source_pointer are ignored (a target moved to another file, or within one, is unchanged).
bool same_settings(const TargetConfig& a, const TargetConfig& b);

// The fields of http::Target, compared one by one (http::Target has no operator==).
bool same_fetch(const http::Target& a, const http::Target& b);

enum class LogLevel { trace, debug, info, warning, error };

// Fleets: this instance fetches the targets whose name hashes to `index` mod `count`, by the hash
// of Prometheus' hashmod relabelling (shard.h). {0, 1}: every target.
struct Shard {
  std::uint64_t index = 0;
  std::uint64_t count = 1;
  bool operator==(const Shard&) const = default;
};

// Credentials of the metrics listener, read from settings.web_auth_file (web_auth.h). Kept as
// SHA-256 digests so that every comparison is of 32 bytes in constant time, whatever the lengths.
struct WebAuth {
  std::vector<Sha256Digest> basic{};   // of "user:password"
  std::vector<Sha256Digest> bearer{};  // of each token
  bool enabled() const { return !basic.empty() || !bearer.empty(); }
  bool operator==(const WebAuth&) const = default;
};

inline constexpr std::array<double, 11> kDefaultMetricsBuckets = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
std::string_view to_string(LogLevel level);

struct Settings {
  std::string control_socket{control::kDefaultSocketPath};
  std::uint32_t socket_mode = 0660;
  std::string socket_group{};    // empty: the daemon's group
  std::size_t max_clients = 64;  // control connections at once
  std::string admin_group{};     // may use mutating control commands; empty: the socket's group
  std::string state_dir = "/var/lib/fetchd";
  std::size_t history_length = 100;  // results kept per target
  std::size_t uptime_days = 30;      // days of daily uptime kept per target
  // How often the results store syncs its log: at most this much is lost to a crash.
  std::chrono::milliseconds results_flush{1000};
  std::size_t max_in_flight = 256;  // fetches at once, over all targets
  LogLevel log_level = LogLevel::info;
  std::vector<std::string> dns_servers{};  // "127.0.0.1", "[::1]:53"; empty: resolv.conf
  // Per try, and tries per server. Unset: resolv.conf's options timeout/attempts, else 5 s and 2.
  std::optional<std::chrono::milliseconds> dns_timeout{};
  std::optional<int> dns_attempts{};
  // The metrics listener (web/): "127.0.0.1:9516", "[::1]:9516" or an absolute Unix socket path
  // each; empty: none.
  std::vector<std::string> web_listen{};
  std::size_t web_max_clients = 64;  // metrics connections at once
  // A JSON file of credentials the metrics listener asks for (web_auth.h); empty: none. The file
  // is read at every load, so a reload picks up its changes.
  std::string web_auth_file{};
  WebAuth web_auth{};
  // Added to every metrics series; a target's own label of the same name wins for its series.
  std::map<std::string, std::string> instance_labels{};
  // Upper bounds (seconds, ascending) of the fetchd_target_duration_seconds histogram; empty: no
  // histogram.
  std::vector<double> metrics_buckets{kDefaultMetricsBuckets.begin(), kDefaultMetricsBuckets.end()};
  Shard shard{};
  bool operator==(const Settings&) const = default;
};

// What a target inherits when it does not say: a TargetConfig whose name and URL are unused.
struct Defaults {
  TargetConfig target{};
};

// Prometheus Alertmanager (API v2) as the receiver of FetchdTargetDown alerts.
struct AlertmanagerConfig {
  std::vector<http::Url> urls{};  // each gets every alert (an HA pair): <url>/api/v2/alerts
  // How often firing alerts are sent again; each is valid for 4 times this (endsAt), as
  // Prometheus does, so an Alertmanager that misses a few resolves nothing by itself.
  std::chrono::milliseconds resend_interval{60'000};
  std::map<std::string, std::string> labels{};  // added to every alert
  bool operator==(const AlertmanagerConfig&) const = default;
};

// Which targets a webhook or command takes; every condition given must hold (none: all targets).
struct RouteMatch {
  std::vector<std::string> names{};             // the target is one of these
  std::map<std::string, std::string> labels{};  // label equal to the value
  // The label fully matches the regex (compiled anchored: "^(?:pattern)$").
  std::map<std::string, BodyRegex> labels_regex{};
  bool operator==(const RouteMatch&) const = default;
};

// What webhooks and commands share: which targets, how often a DOWN is repeated, how long an
// undelivered notification is retried.
struct RouteConfig {
  std::string name{};
  RouteMatch match{};
  std::optional<std::chrono::milliseconds> repeat_interval{};  // none: one notification per change
  std::chrono::milliseconds timeout{10'000};                   // of one delivery
  std::chrono::milliseconds max_age{3'600'000};                // retried until this old
  bool operator==(const RouteConfig&) const = default;
};

struct WebhookConfig {
  RouteConfig route{};
  http::Url url{};
  http::Method method = http::Method::post;
  http::Headers headers{};  // headers, then those of headers_file (read at load)
  std::string headers_file{};
  std::optional<BodyTemplate> body{};  // none: fetchd's JSON document (docs/notifications.md)
  std::string content_type{};          // of the body sent
  bool operator==(const WebhookConfig&) const = default;
};

struct CommandConfig {
  RouteConfig route{};
  std::vector<std::string> argv{};  // argv[0] an absolute path; no shell
  bool operator==(const CommandConfig&) const = default;
};

struct AlertsConfig {
  std::optional<AlertmanagerConfig> alertmanager{};
  std::vector<WebhookConfig> webhooks{};
  std::vector<CommandConfig> commands{};
  // More state changes than this within a minute: webhooks and commands get one summary of the
  // storm instead of one notification each. 0: never.
  std::size_t storm_threshold = 20;
  std::size_t max_commands = 4;  // notification commands running at once
  bool operator==(const AlertsConfig&) const = default;
};

struct Config {
  Settings settings{};
  AlertsConfig alerts{};
  Defaults defaults{};  // merged over every file; runtime targets are parsed against them too
  std::vector<TargetConfig> targets{};
  std::vector<std::string> files{};  // every file read, main first, as named in messages
};

// A target as a JSON object in the configuration schema with every setting explicit, for showing a
// target; parse_target() of it with empty Defaults gives a target with the same settings. (Headers
// and labels merge with the defaults by key, so against non-empty defaults it may gain some: keep
// the JSON an operator sent when it must be re-read against the defaults of the day.)
nlohmann::json to_json(const TargetConfig& target);

}  // namespace fetchd::config
