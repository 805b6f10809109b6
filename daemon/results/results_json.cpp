#include "results/results_json.h"

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "http/fetch_json.h"

namespace fetchd::results {

namespace {

nlohmann::json micros(std::int32_t value) {
  if (value == CompactEntry::kAbsent)
    return nullptr;
  return value;
}

nlohmann::json time_or_null(const std::optional<std::chrono::system_clock::time_point>& time) {
  if (!time)
    return nullptr;
  return http::format_utc(*time);
}

}  // namespace

nlohmann::json to_json(const CompactEntry& entry) {
  nlohmann::json json;
  json["time"] = http::format_utc(entry.time());
  json["outcome"] = std::string(to_string(entry.outcome));
  if (entry.status != 0) {
    json["status"] = entry.status;
  } else {
    json["status"] = nullptr;
  }
  json["timings_us"] = {{"dns", micros(entry.dns_us)},
                        {"connect", micros(entry.connect_us)},
                        {"tls_handshake", micros(entry.tls_us)},
                        {"first_byte", micros(entry.first_byte_us)},
                        {"total", micros(entry.total_us)}};
  return json;
}

nlohmann::json to_json(const Latency& latency) {
  return {{"samples", latency.samples},
          {"min", latency.min_us},
          {"p50", latency.p50_us},
          {"p95", latency.p95_us},
          {"max", latency.max_us}};
}

nlohmann::json to_json(const Summary& summary) {
  nlohmann::json json;
  json["state"] = std::string(to_string(summary.state));
  json["state_since"] = http::format_utc(summary.state_since);
  json["consecutive_successes"] = summary.consecutive_successes;
  json["consecutive_failures"] = summary.consecutive_failures;
  json["totals"] = {{"attempts", summary.totals.attempts},
                    {"successes", summary.totals.successes},
                    {"failures", summary.totals.failures},
                    {"cancelled", summary.totals.cancelled},
                    {"skipped", summary.totals.skipped}};
  json["last_success"] = time_or_null(summary.last_success);
  json["last_failure"] = time_or_null(summary.last_failure);
  json["last"] = summary.last ? to_json(*summary.last) : nlohmann::json(nullptr);
  json["latency_us"] = summary.latency ? to_json(*summary.latency) : nlohmann::json(nullptr);
  json["down_after"] = summary.policy.down_after;
  json["up_after"] = summary.policy.up_after;
  json["history"] = {{"size", summary.history_size}, {"length", summary.history_length}};
  return json;
}

nlohmann::json to_json(const FullResult& full) {
  nlohmann::json json;
  json["outcome"] = std::string(to_string(full.outcome));
  json["ok"] = full.outcome == Outcome::ok;
  json["reason"] = full.reason();
  if (full.failed_expectation.empty()) {
    json["failed_expectation"] = nullptr;
  } else {
    json["failed_expectation"] = full.failed_expectation;
  }
  json["fetch"] = full.result.hops.empty() ? nlohmann::json(nullptr) : http::to_json(full.result);
  return json;
}

nlohmann::json to_json(const TargetResults& results, std::size_t recent) {
  nlohmann::json json;
  json["summary"] = to_json(results.summary());
  const auto latest = results.latest();
  const auto latest_failure = results.latest_failure();
  json["latest"] = latest ? to_json(*latest) : nlohmann::json(nullptr);
  json["latest_failure"] = latest_failure ? to_json(*latest_failure) : nlohmann::json(nullptr);
  auto entries = nlohmann::json::array();
  for (const auto& entry : results.history().newest(recent))
    entries.push_back(to_json(entry));
  json["recent"] = std::move(entries);
  return json;
}

nlohmann::json to_json(const UptimeWindow& window) {
  const auto mean = window.latency_mean_us();
  return {{"ratio", window.ratio() ? nlohmann::json(*window.ratio()) : nlohmann::json(nullptr)},
          {"attempts", std::llround(window.attempts)},
          {"successes", std::llround(window.successes)},
          {"latency_mean_us", mean ? nlohmann::json(std::llround(*mean)) : nlohmann::json(nullptr)},
          {"latency_max_us",
           window.successes > 0 ? nlohmann::json(window.latency_max_us) : nlohmann::json(nullptr)}};
}

nlohmann::json uptime_json(const Uptime& uptime, std::chrono::system_clock::time_point now) {
  nlohmann::json windows = nlohmann::json::object();
  for (const auto& [name, span] : kUptimeSpans)
    windows[std::string(name)] = to_json(uptime.over(span, now));
  auto outages = nlohmann::json::array();
  for (const auto& outage : uptime.outages(kOutageSpan, now)) {
    const auto end = outage.to.value_or(now);
    outages.push_back(
        {{"from", http::format_utc(outage.from)},
         {"to", time_or_null(outage.to)},
         {"duration_us",
          std::max<std::int64_t>(
              0, std::chrono::duration_cast<std::chrono::microseconds>(end - outage.from).count())},
         {"reason", outage.reason}});
  }
  return {{"uptime", std::move(windows)}, {"outages", std::move(outages)}};
}

}  // namespace fetchd::results
