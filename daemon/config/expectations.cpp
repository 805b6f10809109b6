#include "config/expectations.h"

#include <algorithm>
#include <array>
#include <cstdint>

#include "common/quote.h"

namespace fetchd::config {

namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr milliseconds kMinLatency{1};
constexpr milliseconds kMaxLatency{10 * 60'000};

std::optional<int> status_code(std::string_view digits) {
  if (digits.size() != 3)
    return std::nullopt;
  int value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9')
      return std::nullopt;
    value = value * 10 + (c - '0');
  }
  if (value < 100 || value > 599)
    return std::nullopt;
  return value;
}

// "200", "200-299", "2xx".
std::optional<StatusRange> parse_status_text(std::string_view text) {
  if (text.size() == 3 && text[0] >= '1' && text[0] <= '5' && text.substr(1) == "xx") {
    const int base = (text[0] - '0') * 100;
    return StatusRange{base, base + 99};
  }
  const auto dash = text.find('-');
  if (dash == std::string_view::npos) {
    auto single = status_code(text);
    if (!single)
      return std::nullopt;
    return StatusRange{*single, *single};
  }
  auto low = status_code(text.substr(0, dash));
  auto high = status_code(text.substr(dash + 1));
  if (!low || !high || *low > *high)
    return std::nullopt;
  return StatusRange{*low, *high};
}

std::optional<StatusRange> parse_status(Checker& check, const json& value,
                                        const std::string& pointer) {
  std::optional<StatusRange> range;
  if (value.is_number_integer()) {
    const auto number = value.get<std::int64_t>();
    if (number >= 100 && number <= 599) {
      range = StatusRange{static_cast<int>(number), static_cast<int>(number)};
    }
  } else if (value.is_string()) {
    range = parse_status_text(value.get_ref<const std::string&>());
  }
  if (!range) {
    check.fail(pointer,
               "expected a status code from 100 to 599, a range like \"200-299\" or a class like "
               "\"2xx\", found " +
                   found(value));
  }
  return range;
}

void read_status(Checker& check, const json& member, const std::string& at, Expectations& expect) {
  std::vector<StatusRange> ranges;
  if (member.is_array()) {
    if (member.empty()) {
      check.fail(at, "expected at least one status code, found an empty array");
      return;
    }
    for (std::size_t i = 0; i < member.size(); ++i) {
      if (auto range = parse_status(check, member[i], at + "/" + std::to_string(i)))
        ranges.push_back(*range);
    }
    if (ranges.size() != member.size())
      return;
  } else {
    auto range = parse_status(check, member, at);
    if (!range)
      return;
    ranges.push_back(*range);
  }
  expect.status = std::move(ranges);
}

void read_body_contains(Checker& check, const json& member, const std::string& at,
                        Expectations& expect) {
  if (const auto* text = check.string(member, at, false))
    expect.body_contains = *text;
}

void read_body_regex(Checker& check, const json& member, const std::string& at,
                     Expectations& expect) {
  if (!member.is_string() || member.get_ref<const std::string&>().empty()) {
    check.fail(at, "expected a regular expression, found " + found(member));
    return;
  }
  auto regex = BodyRegex::compile(member.get<std::string>());
  if (!regex) {
    check.fail(at, "expected a regular expression (ECMAScript, no back-references), found " +
                       found(member) + ": " + regex.error().message);
    return;
  }
  expect.body_regex = std::move(regex).value();
}

void read_header_expectations(Checker& check, const json& member, const std::string& at,
                              Expectations& expect) {
  if (!check.object(member, at))
    return;
  for (const auto& [name, wanted] : member.items()) {
    const std::string header_at = at + pointer_token(name);
    if (!http::is_valid_header_name(name)) {
      check.fail(header_at, "expected a header name (an HTTP token), found " + quote(name));
      continue;
    }
    HeaderExpectation header{name, std::nullopt};
    if (wanted.is_string()) {
      if (!check.string(wanted, header_at, true))
        continue;
      header.value = wanted.get<std::string>();
    } else if (!(wanted.is_boolean() && wanted.get<bool>())) {
      check.fail(header_at,
                 "expected true (present) or a string (equal to), found " + found(wanted));
      continue;
    }
    auto same = std::find_if(expect.headers.begin(), expect.headers.end(),
                             [&](const auto& h) { return http::iequals(h.name, name); });
    if (same != expect.headers.end()) {
      *same = std::move(header);
    } else {
      expect.headers.push_back(std::move(header));
    }
  }
}

void read_max_latency(Checker& check, const json& member, const std::string& at,
                      Expectations& expect) {
  if (auto d = check.duration(member, at, kMinLatency, kMaxLatency))
    expect.max_latency = *d;
}

void read_cert_days(Checker& check, const json& member, const std::string& at,
                    Expectations& expect) {
  if (auto days = check.integer(member, at, 0, 3650))
    expect.min_cert_days = static_cast<int>(*days);
}

constexpr std::array<KeyRule<Expectations>, 6> kExpectationKeys = {{
    {"status", read_status,
     R"(status codes that count as success: 200, "2xx", "200-299", or a list)"},
    {"body_contains", read_body_contains, "text the body must contain"},
    {"body_regex", read_body_regex, "an ECMAScript regular expression the body must match"},
    {"headers", read_header_expectations, "headers the response must carry: true, or the value"},
    {"max_latency", read_max_latency, "the longest a fetch may take, redirects included"},
    {"cert_days", read_cert_days, "days the certificate chain must still be valid"},
}};

}  // namespace

std::span<const KeyRule<Expectations>> expectation_keys() {
  return kExpectationKeys;
}

void read_expectations(Checker& check, const json& value, const std::string& pointer,
                       Expectations& expect) {
  check.members(value, pointer, expectation_keys(), expect);
}

}  // namespace fetchd::config
