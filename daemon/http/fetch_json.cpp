#include "http/fetch_json.h"

#include <array>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

namespace fetchd::http {

namespace {

nlohmann::json micros(const std::optional<std::chrono::microseconds>& duration) {
  if (!duration)
    return nullptr;
  return duration->count();
}

nlohmann::json headers_json(const Headers& headers) {
  auto list = nlohmann::json::array();
  for (const auto& header : headers)
    list.push_back({header.name, header.value});
  return list;
}

}  // namespace

std::string format_utc(std::chrono::system_clock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds);
  const std::time_t whole = seconds.count();
  std::tm parts{};
  gmtime_r(&whole, &parts);
  std::array<char, 40> text{};
  const auto length = std::strftime(text.data(), text.size(), "%Y-%m-%dT%H:%M:%S", &parts);
  std::array<char, 8> fraction{};
  std::snprintf(fraction.data(), fraction.size(), ".%03dZ", static_cast<int>(millis.count()));
  return std::string(text.data(), length) + fraction.data();
}

nlohmann::json to_json(const Hop& hop) {
  nlohmann::json json;
  json["url"] = hop.url.to_string();
  json["remote_address"] = hop.remote_address;
  json["outcome"] = std::string(to_string(hop.error.error_class));
  if (hop.error) {
    json["error"] = {{"class", std::string(to_string(hop.error.error_class))},
                     {"phase", std::string(to_string(hop.error.phase))},
                     {"message", hop.error.message}};
  } else {
    json["error"] = nullptr;
  }
  if (hop.status != 0) {
    json["http_version"] =
        std::to_string(hop.version_major) + "." + std::to_string(hop.version_minor);
    json["status"] = hop.status;
    json["reason"] = hop.reason;
  } else {
    json["http_version"] = nullptr;
    json["status"] = nullptr;
    json["reason"] = nullptr;
  }
  json["headers"] = headers_json(hop.headers);
  if (!hop.trailers.empty())
    json["trailers"] = headers_json(hop.trailers);
  json["body_bytes"] = hop.body_bytes;
  json["body_truncated"] = hop.body_truncated;
  json["timings_us"] = {{"dns", micros(hop.timings.dns)},
                        {"connect", micros(hop.timings.connect)},
                        {"tls_handshake", micros(hop.timings.tls_handshake)},
                        {"first_byte", micros(hop.timings.first_byte)},
                        {"total", hop.timings.total.count()}};
  if (hop.tls) {
    json["tls"] = {{"protocol", hop.tls->protocol},
                   {"cipher", hop.tls->cipher},
                   {"subject", hop.tls->subject},
                   {"issuer", hop.tls->issuer},
                   {"not_after", format_utc(hop.tls->not_after)},
                   {"chain_earliest_not_after", format_utc(hop.tls->chain_earliest_not_after)}};
  } else {
    json["tls"] = nullptr;
  }
  return json;
}

nlohmann::json to_json(const FetchResult& result) {
  nlohmann::json json = to_json(result.last());
  json["started"] = format_utc(result.started);
  json["ok"] = result.ok();
  json["total_us"] = result.total.count();
  json["redirect_limit_reached"] = result.redirect_limit_reached;
  auto hops = nlohmann::json::array();
  for (std::size_t i = 0; i + 1 < result.hops.size(); ++i)
    hops.push_back(to_json(result.hops[i]));
  json["redirects"] = std::move(hops);
  return json;
}

}  // namespace fetchd::http
