#include "config/config.h"

#include <algorithm>
#include <array>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "common/plural.h"
#include "common/quote.h"
#include "config/duration.h"
#include "http/fetch_json.h"

namespace fetchd::config {

namespace {

using nlohmann::json;

std::string describe(const StatusRange& range) {
  if (range.low == range.high)
    return std::to_string(range.low);
  return std::to_string(range.low) + "-" + std::to_string(range.high);
}

std::string describe(const std::vector<StatusRange>& ranges) {
  std::string out;
  for (const auto& range : ranges) {
    if (!out.empty())
      out += ", ";
    out += describe(range);
  }
  return out;
}

std::string format_ms(std::chrono::microseconds us) {
  std::array<char, 32> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "%.1fms", static_cast<double>(us.count()) / 1000.0);
  return buffer.data();
}

bool has_field(const http::Headers& headers, const HeaderExpectation& expect) {
  return std::any_of(headers.begin(), headers.end(), [&expect](const http::Header& header) {
    return http::iequals(header.name, expect.name) &&
           (!expect.value || header.value == *expect.value);
  });
}

std::optional<std::string> check_header(const http::Headers& headers,
                                        const HeaderExpectation& expect) {
  if (has_field(headers, expect))
    return std::nullopt;
  // Any field of that name would have done without a value: one is missing.
  if (!expect.value)
    return "header " + quote(expect.name) + " missing";
  const auto found = http::find_header(headers, expect.name);
  if (!found)
    return "header " + quote(expect.name) + " missing (expected " + quote(*expect.value) + ")";
  return "header " + quote(expect.name) + " is " + quote(*found) + ", expected " +
         quote(*expect.value);
}

std::string truncation_note(const http::Hop& hop) {
  if (!hop.body_truncated)
    return "";
  return " (in the first " + std::to_string(hop.body.size()) + " bytes)";
}

}  // namespace

Expected<BodyRegex> BodyRegex::compile(std::string pattern) {
  // The pattern is compiled alone first: that rejects unbalanced parentheses, so wrapping it in
  // the group below cannot change its meaning. `__polynomial` selects libstdc++'s breadth-first
  // executor (no recursion per input byte, unlike the default, which overflows the stack on a
  // 100 KB body with ".*"); it refuses back-references. The leading lazy "any" plus
  // match_continuous makes a search one pass over the body instead of one per start position.
  constexpr auto kFlags = std::regex::ECMAScript | std::regex_constants::__polynomial;
  try {
    std::regex alone(pattern, kFlags);
    BodyRegex out;
    out.regex_ = std::make_shared<const std::regex>("[\\s\\S]*?(?:" + pattern + ")", kFlags);
    out.pattern_ = std::move(pattern);
    return out;
  } catch (const std::regex_error& error) {
    return Error{error.what()};
  }
}

bool BodyRegex::search(std::string_view body) const {
  if (!regex_)
    return false;
  return std::regex_search(body.begin(), body.end(), *regex_,
                           std::regex_constants::match_continuous);
}

std::optional<std::string> check_expectations(const Expectations& expect,
                                              const http::FetchResult& result) {
  if (!result.ok())
    return std::nullopt;
  const http::Hop& hop = result.last();

  const bool status_ok = std::any_of(expect.status.begin(), expect.status.end(), [&](auto& range) {
    return hop.status >= range.low && hop.status <= range.high;
  });
  if (!status_ok) {
    return "status " + std::to_string(hop.status) + " not in " + describe(expect.status);
  }
  for (const auto& header : expect.headers) {
    if (auto failure = check_header(hop.headers, header))
      return failure;
  }
  if (expect.body_contains && hop.body.find(*expect.body_contains) == std::string::npos) {
    return "body does not contain " + quote(*expect.body_contains) + truncation_note(hop);
  }
  if (expect.body_regex && !expect.body_regex->search(hop.body)) {
    return "body does not match " + quote(expect.body_regex->pattern()) + truncation_note(hop);
  }
  if (expect.max_latency && result.total > *expect.max_latency) {
    return "total time " + format_ms(result.total) + " over " +
           format_duration(*expect.max_latency);
  }
  if (expect.min_cert_days && hop.tls) {
    const auto not_after = hop.tls->chain_earliest_not_after;
    const auto left = std::chrono::floor<std::chrono::days>(not_after - result.started).count();
    if (left < *expect.min_cert_days) {
      const std::string when = " (" + http::format_utc(not_after) + "), expected at least " +
                               std::to_string(*expect.min_cert_days);
      if (not_after <= result.started)
        return "certificate expired" + when;
      return "certificate expires in " + plural(left, "day") + when;
    }
  }
  return std::nullopt;
}

bool same_fetch(const http::Target& a, const http::Target& b) {
  return a.url.scheme == b.url.scheme && a.url.host == b.url.host &&
         a.url.host_is_ipv6_literal == b.url.host_is_ipv6_literal && a.url.port == b.url.port &&
         a.url.target == b.url.target && a.method == b.method && a.headers == b.headers &&
         a.body == b.body && a.timeout == b.timeout && a.max_header_bytes == b.max_header_bytes &&
         a.max_body_bytes == b.max_body_bytes && a.tls.verify_peer == b.tls.verify_peer &&
         a.tls.ca_file == b.tls.ca_file && a.tls.server_name == b.tls.server_name &&
         a.family == b.family && a.max_redirects == b.max_redirects && a.keep_body == b.keep_body;
}

bool same_settings(const TargetConfig& a, const TargetConfig& b) {
  return a.name == b.name && same_fetch(a.fetch, b.fetch) && a.interval == b.interval &&
         a.labels == b.labels && a.enabled == b.enabled && a.down_after == b.down_after &&
         a.up_after == b.up_after && a.expect == b.expect;
}

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::trace:
      return "trace";
    case LogLevel::debug:
      return "debug";
    case LogLevel::warning:
      return "warning";
    case LogLevel::error:
      return "error";
    case LogLevel::info:
      break;
  }
  return "info";
}

nlohmann::json to_json(const TargetConfig& target) {
  const http::Target& fetch = target.fetch;
  json headers = json::object();
  for (const auto& header : fetch.headers)
    headers[header.name] = header.value;
  json tls = {{"verify", fetch.tls.verify_peer}};
  if (!fetch.tls.ca_file.empty())
    tls["ca_file"] = fetch.tls.ca_file;
  if (!fetch.tls.server_name.empty())
    tls["server_name"] = fetch.tls.server_name;

  const Expectations& expect = target.expect;
  json status = json::array();
  for (const auto& range : expect.status) {
    if (range.low == range.high) {
      status.push_back(range.low);
    } else {
      status.push_back(describe(range));
    }
  }
  json expect_json = {{"status", status}};
  if (expect.body_contains)
    expect_json["body_contains"] = *expect.body_contains;
  if (expect.body_regex)
    expect_json["body_regex"] = expect.body_regex->pattern();
  if (!expect.headers.empty()) {
    json expect_headers = json::object();
    for (const auto& header : expect.headers) {
      expect_headers[header.name] = header.value ? json(*header.value) : json(true);
    }
    expect_json["headers"] = expect_headers;
  }
  if (expect.max_latency)
    expect_json["max_latency"] = format_duration(*expect.max_latency);
  if (expect.min_cert_days)
    expect_json["cert_days"] = *expect.min_cert_days;

  return {
      {"name", target.name},
      {"url", fetch.url.to_string()},
      {"interval", format_duration(target.interval)},
      {"timeout", format_duration(fetch.timeout)},
      {"method", http::to_string(fetch.method)},
      {"headers", headers},
      {"body", fetch.body},
      {"labels", target.labels},
      {"enabled", target.enabled},
      {"tls", tls},
      {"ip", http::to_string(fetch.family)},
      {"max_redirects", fetch.max_redirects},
      {"max_body_bytes", fetch.max_body_bytes},
      {"max_header_bytes", fetch.max_header_bytes},
      {"down_after", target.down_after},
      {"up_after", target.up_after},
      {"expect", expect_json},
  };
}

}  // namespace fetchd::config
