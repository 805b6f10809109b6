#pragma once

// Results shaped as docs/control-protocol.md and daemon/results/results_json.h describe them, for
// fetchctl's tests. Times are given relative to a `now` so that ages print exactly.

#include <chrono>
#include <ctime>
#include <initializer_list>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace fetchd::test {

// RFC 3339 UTC with milliseconds, as the daemon writes times.
inline std::string utc(std::chrono::system_clock::time_point time) {
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch());
  const std::time_t seconds = millis.count() / 1000;
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900,
                parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                static_cast<int>(millis.count() % 1000));
  return text;
}

// Header fields as the daemon lists them: [["Server", "nginx"], ...] (an initializer list of
// pairs would become an object).
inline nlohmann::json header_list(
    std::initializer_list<std::pair<const char*, const char*>> fields) {
  auto list = nlohmann::json::array();
  for (const auto& [name, value] : fields)
    list.push_back(nlohmann::json::array({name, value}));
  return list;
}

// A fixed "now" for the pure rendering tests: 2026-11-25T14:00:00Z.
inline std::chrono::system_clock::time_point fixed_now() {
  return std::chrono::system_clock::from_time_t(1795615200);
}

// `list`, deliberately not sorted by name.
inline nlohmann::json list_result(std::chrono::system_clock::time_point now) {
  using std::chrono::seconds;
  return {{"targets", nlohmann::json::array({{{"name", "www.163.com"},
                                              {"url", "http://www.163.com/"},
                                              {"state", "up"},
                                              {"since", utc(now - seconds(3600))},
                                              {"enabled", true},
                                              {"source", "config"},
                                              {"file", "/etc/fetchd/fetchd.json"},
                                              {"labels", {{"env", "prod"}}},
                                              {"status", 200},
                                              {"outcome", "ok"},
                                              {"latency_us", 12345},
                                              {"checked", utc(now - seconds(12))},
                                              {"consecutive_failures", 0},
                                              {"uptime_24h", 0.99987}},
                                             {{"name", "api"},
                                              {"url", "https://api.example/health"},
                                              {"state", "down"},
                                              {"since", utc(now - seconds(300))},
                                              {"enabled", true},
                                              {"source", "runtime"},
                                              {"file", nullptr},
                                              {"labels", nlohmann::json::object()},
                                              {"status", nullptr},
                                              {"outcome", "dns"},
                                              {"latency_us", nullptr},
                                              {"checked", utc(now - seconds(312))},
                                              {"consecutive_failures", 12},
                                              {"uptime_24h", 0.5}},
                                             {{"name", "douban"},
                                              {"url", "http://www.douban.com/"},
                                              {"state", "unknown"},
                                              {"since", utc(now - seconds(5))},
                                              {"enabled", true},
                                              {"source", "config"},
                                              {"file", "/etc/fetchd/fetchd.json"},
                                              {"labels", nlohmann::json::object()},
                                              {"status", nullptr},
                                              {"outcome", nullptr},
                                              {"latency_us", nullptr},
                                              {"checked", nullptr},
                                              {"consecutive_failures", 0}}})}};
}

inline nlohmann::json full_result_ok(std::chrono::system_clock::time_point now) {
  using std::chrono::seconds;
  return {{"outcome", "ok"},
          {"ok", true},
          {"reason", "200 OK"},
          {"failed_expectation", nullptr},
          {"fetch",
           {{"url", "https://www.163.com/"},
            {"remote_address", "203.0.113.7:443"},
            {"outcome", "ok"},
            {"error", nullptr},
            {"http_version", "1.1"},
            {"status", 200},
            {"reason", "OK"},
            {"headers",
             header_list(
                 {{"Server", "nginx"}, {"Content-Type", "text/html"}, {"Content-Length", "1024"}})},
            {"body_bytes", 1024},
            {"body_truncated", false},
            {"timings_us",
             {{"dns", 400},
              {"connect", 1200},
              {"tls_handshake", 2300},
              {"first_byte", 3000},
              {"total", 7100}}},
            {"tls",
             {{"protocol", "TLSv1.3"},
              {"cipher", "TLS_AES_256_GCM_SHA384"},
              {"subject", "CN=www.163.com"},
              {"issuer", "CN=Test CA"},
              {"not_after", "2027-03-01T00:00:00.000Z"},
              {"chain_earliest_not_after", "2027-01-15T00:00:00.000Z"}}},
            {"started", utc(now - seconds(12))},
            {"ok", true},
            {"total_us", 9100},
            {"redirect_limit_reached", false},
            {"redirects", nlohmann::json::array(
                              {{{"url", "http://www.163.com/"},
                                {"remote_address", "203.0.113.7:80"},
                                {"outcome", "ok"},
                                {"error", nullptr},
                                {"http_version", "1.1"},
                                {"status", 301},
                                {"reason", "Moved Permanently"},
                                {"headers", header_list({{"Location", "https://www.163.com/"}})},
                                {"body_bytes", 0},
                                {"body_truncated", false},
                                {"timings_us",
                                 {{"dns", 400},
                                  {"connect", 300},
                                  {"tls_handshake", nullptr},
                                  {"first_byte", 900},
                                  {"total", 2000}}},
                                {"tls", nullptr}}})}}}};
}

inline nlohmann::json full_result_failed(std::chrono::system_clock::time_point now) {
  using std::chrono::seconds;
  return {{"outcome", "expectation"},
          {"ok", false},
          {"reason", "expectation failed: status 503 not in 200-399"},
          {"failed_expectation", "status 503 not in 200-399"},
          {"fetch",
           {{"url", "http://www.163.com/"},
            {"remote_address", "203.0.113.7:80"},
            {"outcome", "ok"},
            {"error", nullptr},
            {"http_version", "1.1"},
            {"status", 503},
            {"reason", "Service Unavailable"},
            {"headers", header_list({{"Server", "nginx"}})},
            {"body_bytes", 0},
            {"body_truncated", false},
            {"timings_us",
             {{"dns", 400},
              {"connect", 1200},
              {"tls_handshake", nullptr},
              {"first_byte", 3000},
              {"total", 5100}}},
            {"tls", nullptr},
            {"started", utc(now - seconds(90))},
            {"ok", true},
            {"total_us", 5100},
            {"redirect_limit_reached", false},
            {"redirects", nlohmann::json::array()}}}};
}

inline nlohmann::json show_result(std::chrono::system_clock::time_point now) {
  using std::chrono::seconds;
  auto entry = [&](int ago, const char* outcome, nlohmann::json status, int total) {
    return nlohmann::json{{"time", utc(now - seconds(ago))},
                          {"outcome", outcome},
                          {"status", status},
                          {"timings_us",
                           {{"dns", 400},
                            {"connect", 1200},
                            {"tls_handshake", nullptr},
                            {"first_byte", 3000},
                            {"total", total}}}};
  };
  return {
      {"name", "www.163.com"},
      {"source", "config"},
      {"file", "/etc/fetchd/fetchd.json"},
      {"target",
       {{"name", "www.163.com"},
        {"url", "http://www.163.com/"},
        {"interval", "30s"},
        {"labels", {{"lesson", "async-io"}}}}},
      {"summary",
       {{"state", "up"},
        {"state_since", utc(now - seconds(60))},
        {"consecutive_successes", 1},
        {"consecutive_failures", 0},
        {"totals",
         {{"attempts", 10}, {"successes", 9}, {"failures", 1}, {"cancelled", 0}, {"skipped", 0}}},
        {"last_success", utc(now - seconds(12))},
        {"last_failure", utc(now - seconds(90))},
        {"last", entry(12, "ok", 200, 9100)},
        {"latency_us",
         {{"samples", 9}, {"min", 4100}, {"p50", 5100}, {"p95", 9100}, {"max", 12000}}},
        {"down_after", 1},
        {"up_after", 1},
        {"history", {{"size", 10}, {"length", 100}}}}},
      {"latest", full_result_ok(now)},
      {"latest_failure", full_result_failed(now)},
      {"uptime",
       {{"1h", {{"ratio", 0.9}, {"attempts", 10}, {"successes", 9}}},
        {"24h", {{"ratio", 0.99995}, {"attempts", 2880}, {"successes", 2879}}},
        {"7d", {{"ratio", 1.0}, {"attempts", 20160}, {"successes", 20160}}},
        {"30d", {{"ratio", nullptr}, {"attempts", 0}, {"successes", 0}}}}},
      {"outages", nlohmann::json::array({{{"from", utc(now - seconds(90))},
                                          {"to", utc(now - seconds(60))},
                                          {"duration_us", 30'000'000},
                                          {"reason", "expectation failed: status 503"}},
                                         {{"from", utc(now - seconds(5))},
                                          {"to", nullptr},
                                          {"duration_us", 5'000'000},
                                          {"reason", "connect: refused"}}})},
      {"recent", nlohmann::json::array({entry(90, "expectation", 503, 5100),
                                        entry(60, "ok", 200, 4100), entry(12, "ok", 200, 9100)})}};
}

inline nlohmann::json status_result(std::chrono::system_clock::time_point now) {
  using std::chrono::seconds;
  return {{"version", "0.1.0"},
          {"pid", 1234},
          {"started", utc(now - seconds(3600))},
          {"uptime_s", 3600},
          {"config_files", {"/etc/fetchd/fetchd.json", "/etc/fetchd/conf.d/10-api.json"}},
          {"last_reload",
           {{"ok", true},
            {"at", utc(now - seconds(120))},
            {"summary", "1 added, 0 removed, 0 changed, 3 unchanged"},
            {"errors", nlohmann::json::array()}}},
          {"targets",
           {{"total", 5}, {"up", 3}, {"down", 1}, {"unknown", 1}, {"disabled", 0}, {"runtime", 1}}},
          {"in_flight", 2},
          {"max_in_flight", 256},
          {"totals", {{"fetches", 1234}, {"skipped", 3}}},
          {"fetch_rate_per_s", 4.2}};
}

}  // namespace fetchd::test
