#include "config/loader.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <map>
#include <system_error>
#include <utility>

#include <asio/ip/address.hpp>
#include <nlohmann/json.hpp>

#include "config/duration.h"
#include "config/json_text.h"

namespace fetchd::config {

namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr std::size_t kMaxFileBytes = 64 * 1024 * 1024;
constexpr std::size_t kMaxNameLength = 128;
constexpr std::size_t kMaxLabels = 32;
constexpr std::size_t kMaxLabelValue = 256;
constexpr std::size_t kMaxHeaders = 32;
constexpr std::size_t kMaxSocketPath = 107;  // sun_path holds 108 bytes with the terminating NUL

constexpr std::array kTopKeys = {"$schema", "_comment", "settings", "defaults", "targets"};
constexpr std::array kSettingsKeys = {
    "_comment",  "control_socket", "socket_mode",   "socket_group", "max_clients", "admin_group",
    "state_dir", "history_length", "max_in_flight", "log_level",    "dns_servers"};
constexpr std::array kTargetKeys = {"_comment",
                                    "name",
                                    "url",
                                    "interval",
                                    "timeout",
                                    "method",
                                    "headers",
                                    "labels",
                                    "enabled",
                                    "tls",
                                    "ip",
                                    "max_redirects",
                                    "max_body_bytes",
                                    "max_header_bytes",
                                    "down_after",
                                    "up_after",
                                    "expect"};
constexpr std::array kTlsKeys = {"_comment", "verify", "ca_file", "server_name"};
constexpr std::array kExpectKeys = {"_comment", "status",      "body_contains", "body_regex",
                                    "headers",  "max_latency", "cert_days"};

// ---- describing values -------------------------------------------------------------------------

std::string quote(std::string_view text) {
  return json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace);
}

// What a value is, for "found ...": scalars as JSON (long strings shortened), containers by kind.
std::string found(const json& value) {
  switch (value.type()) {
    case json::value_t::object:
      return value.empty() ? "an empty object" : "an object";
    case json::value_t::array:
      return value.empty() ? "an empty array" : "an array";
    case json::value_t::string: {
      const auto& text = value.get_ref<const std::string&>();
      if (text.size() <= 60)
        return quote(text);
      std::size_t cut = 57;
      while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
        --cut;
      return quote(text.substr(0, cut)) + "...";
    }
    default:
      return value.dump();
  }
}

std::size_t code_points(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

bool has_control_char(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

template <std::size_t N>
std::string unknown_key_message(const std::string& key, const std::array<const char*, N>& allowed) {
  std::string best;
  std::size_t best_distance = 3;  // suggest only close matches
  for (const char* candidate : allowed) {
    if (candidate[0] == '_' || candidate[0] == '$')
      continue;
    const std::size_t distance = edit_distance(key, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  if (!best.empty())
    return "unknown key " + quote(key) + " (did you mean \"" + best + "\"?)";
  std::string list;
  for (const char* candidate : allowed) {
    if (candidate[0] == '_' || candidate[0] == '$')
      continue;
    list += list.empty() ? "" : ", ";
    list += candidate;
  }
  return "unknown key " + quote(key) + " (expected one of: " + list + ")";
}

// ---- the checker -------------------------------------------------------------------------------

// Collects errors for one document (or one runtime target); pointers are absolute within it.
class Checker {
 public:
  explicit Checker(std::vector<ConfigError>& errors, std::string file)
      : errors_(errors), file_(std::move(file)) {}

  void fail(const std::string& pointer, std::string message) {
    errors_.push_back({file_, pointer, 0, 0, std::move(message)});
  }

  const std::string& file() const { return file_; }
  std::size_t error_count() const { return errors_.size(); }

  // Calls `handle(key, value, pointer)` for each member; `_comment` is checked here; a key not in
  // `allowed` is an error. False (after an error) when `value` is not an object.
  template <std::size_t N, class Handle>
  bool members(const json& value, const std::string& pointer,
               const std::array<const char*, N>& allowed, Handle&& handle) {
    if (!value.is_object()) {
      fail(pointer, "expected an object, found " + found(value));
      return false;
    }
    for (const auto& [key, member] : value.items()) {
      const std::string member_pointer = pointer + pointer_token(key);
      const bool known = std::any_of(allowed.begin(), allowed.end(),
                                     [&](const char* name) { return key == name; });
      if (!known) {
        fail(member_pointer, unknown_key_message(key, allowed));
      } else if (key == "_comment") {
        comment(member, member_pointer);
      } else {
        handle(key, member, member_pointer);
      }
    }
    return true;
  }

  // For objects whose keys are data (headers, labels): only the type is checked here.
  bool object(const json& value, const std::string& pointer) {
    if (value.is_object())
      return true;
    fail(pointer, "expected an object, found " + found(value));
    return false;
  }

  void comment(const json& value, const std::string& pointer) {
    const bool ok = value.is_string() ||
                    (value.is_array() && std::all_of(value.begin(), value.end(),
                                                     [](const json& v) { return v.is_string(); }));
    if (!ok)
      fail(pointer, "expected a string or an array of strings, found " + found(value));
  }

  std::optional<bool> boolean(const json& value, const std::string& pointer) {
    if (value.is_boolean())
      return value.get<bool>();
    fail(pointer, "expected true or false, found " + found(value));
    return std::nullopt;
  }

  const std::string* string(const json& value, const std::string& pointer, bool allow_empty) {
    if (!value.is_string()) {
      fail(pointer, "expected a string, found " + found(value));
      return nullptr;
    }
    const auto& text = value.get_ref<const std::string&>();
    if (!allow_empty && text.empty()) {
      fail(pointer, "expected a non-empty string, found \"\"");
      return nullptr;
    }
    if (has_control_char(text)) {
      fail(pointer, "expected a string without control characters, found " + found(value));
      return nullptr;
    }
    return &text;
  }

  std::optional<std::int64_t> integer(const json& value, const std::string& pointer,
                                      std::int64_t low, std::int64_t high) {
    std::optional<std::int64_t> number;
    if (value.is_number_unsigned()) {
      const auto u = value.get<std::uint64_t>();
      number = u > static_cast<std::uint64_t>(high) ? high + 1 : static_cast<std::int64_t>(u);
    } else if (value.is_number_integer()) {
      number = value.get<std::int64_t>();
    }
    if (!number || *number < low || *number > high) {
      fail(pointer, "expected an integer from " + std::to_string(low) + " to " +
                        std::to_string(high) + ", found " + found(value));
      return std::nullopt;
    }
    return number;
  }

  std::optional<milliseconds> duration(const json& value, const std::string& pointer,
                                       milliseconds low, milliseconds high) {
    if (!value.is_string()) {
      fail(pointer, "expected a duration like \"30s\", found " + found(value));
      return std::nullopt;
    }
    auto parsed = parse_duration(value.get_ref<const std::string&>());
    if (!parsed) {
      fail(pointer, "expected a duration like \"30s\", found " + found(value) + ": " +
                        parsed.error().message);
      return std::nullopt;
    }
    if (*parsed < low || *parsed > high) {
      fail(pointer, "expected a duration from " + format_duration(low) + " to " +
                        format_duration(high) + ", found " + found(value));
      return std::nullopt;
    }
    return *parsed;
  }

  // One of `choices` (exact, case-sensitive); returns its index.
  std::optional<std::size_t> choice(const json& value, const std::string& pointer,
                                    std::initializer_list<std::string_view> choices) {
    if (value.is_string()) {
      std::size_t index = 0;
      for (std::string_view option : choices) {
        if (value.get_ref<const std::string&>() == option)
          return index;
        ++index;
      }
    }
    std::string list;
    std::size_t index = 0;
    for (std::string_view option : choices) {
      if (index > 0)
        list += index + 1 == choices.size() ? " or " : ", ";
      list += quote(option);
      ++index;
    }
    fail(pointer, "expected " + list + ", found " + found(value));
    return std::nullopt;
  }

 private:
  std::vector<ConfigError>& errors_;
  std::string file_;
};

// ---- targets -----------------------------------------------------------------------------------

constexpr milliseconds kMinInterval{100};
constexpr milliseconds kMaxInterval{24 * 3'600'000};
constexpr milliseconds kMinTimeout{10};
constexpr milliseconds kMaxTimeout{10 * 60'000};
constexpr milliseconds kMinLatency{1};
constexpr milliseconds kMaxLatency{10 * 60'000};

bool is_label_key(std::string_view key) {
  if (key.empty() || key.size() > 64)
    return false;
  if (key.size() >= 2 && key[0] == '_' && key[1] == '_')
    return false;
  for (std::size_t i = 0; i < key.size(); ++i) {
    const char c = key[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && !(i > 0 && c >= '0' && c <= '9'))
      return false;
  }
  return true;
}

// "200", "200-299", "2xx".
std::optional<StatusRange> parse_status_text(std::string_view text) {
  auto code = [](std::string_view digits) -> std::optional<int> {
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
  };
  if (text.size() == 3 && text[0] >= '1' && text[0] <= '5' && text.substr(1) == "xx") {
    const int base = (text[0] - '0') * 100;
    return StatusRange{base, base + 99};
  }
  const auto dash = text.find('-');
  if (dash == std::string_view::npos) {
    auto single = code(text);
    if (!single)
      return std::nullopt;
    return StatusRange{*single, *single};
  }
  auto low = code(text.substr(0, dash));
  auto high = code(text.substr(dash + 1));
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

void apply_expect(Checker& check, const json& value, const std::string& pointer,
                  Expectations& expect) {
  check.members(
      value, pointer, kExpectKeys,
      [&](const std::string& key, const json& member, const std::string& at) {
        if (key == "status") {
          std::vector<StatusRange> ranges;
          if (member.is_array()) {
            if (member.empty()) {
              check.fail(at, "expected at least one status code, found an empty array");
              return;
            }
            for (std::size_t i = 0; i < member.size(); ++i) {
              if (auto range = parse_status(check, member[i], at + "/" + std::to_string(i))) {
                ranges.push_back(*range);
              }
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
        } else if (key == "body_contains") {
          if (const auto* text = check.string(member, at, false))
            expect.body_contains = *text;
        } else if (key == "body_regex") {
          if (!member.is_string() || member.get_ref<const std::string&>().empty()) {
            check.fail(at, "expected a regular expression, found " + found(member));
            return;
          }
          auto regex = BodyRegex::compile(member.get<std::string>());
          if (!regex) {
            check.fail(at,
                       "expected a regular expression (ECMAScript, no back-references), found " +
                           found(member) + ": " + regex.error().message);
            return;
          }
          expect.body_regex = std::move(regex).value();
        } else if (key == "headers") {
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
        } else if (key == "max_latency") {
          if (auto d = check.duration(member, at, kMinLatency, kMaxLatency))
            expect.max_latency = *d;
        } else if (key == "cert_days") {
          if (auto days = check.integer(member, at, 0, 3650)) {
            expect.min_cert_days = static_cast<int>(*days);
          }
        }
      });
}

// Applies the members of a target object (or of `defaults`) over `target`.
void apply_target_members(Checker& check, const json& value, const std::string& pointer,
                          bool is_defaults, TargetConfig& target) {
  http::Target& fetch = target.fetch;
  check.members(
      value, pointer, kTargetKeys,
      [&](const std::string& key, const json& member, const std::string& at) {
        if (is_defaults && (key == "name" || key == "url")) {
          check.fail(at, quote(key) + " cannot be set in defaults");
        } else if (key == "name") {
          const std::string* name = check.string(member, at, true);
          if (name == nullptr)
            return;
          if (!is_valid_target_name(*name)) {
            check.fail(at,
                       "expected a name of letters, digits, '.', '_' and '-' (at most 128, not "
                       "starting with '-'), found " +
                           found(member));
            return;
          }
          target.name = *name;
        } else if (key == "url") {
          if (!member.is_string()) {
            check.fail(at, "expected a URL string, found " + found(member));
            return;
          }
          auto url = http::parse_url(member.get_ref<const std::string&>());
          if (!url) {
            check.fail(at, url.error().message);
            return;
          }
          fetch.url = std::move(url).value();
        } else if (key == "interval") {
          if (auto d = check.duration(member, at, kMinInterval, kMaxInterval))
            target.interval = *d;
        } else if (key == "timeout") {
          if (auto d = check.duration(member, at, kMinTimeout, kMaxTimeout))
            fetch.timeout = *d;
        } else if (key == "method") {
          if (auto index = check.choice(member, at, {"GET", "HEAD"})) {
            fetch.method = *index == 0 ? http::Method::get : http::Method::head;
          }
        } else if (key == "headers") {
          if (!check.object(member, at))
            return;
          for (const auto& [name, header_value] : member.items()) {
            const std::string header_at = at + pointer_token(name);
            if (!header_value.is_string()) {
              check.fail(header_at, "expected a string, found " + found(header_value));
              continue;
            }
            http::Target probe;
            probe.headers.push_back({name, header_value.get<std::string>()});
            auto valid = http::validate(std::move(probe));
            if (!valid) {
              check.fail(header_at, valid.error().message);
              continue;
            }
            auto same = std::find_if(fetch.headers.begin(), fetch.headers.end(),
                                     [&](const auto& h) { return http::iequals(h.name, name); });
            if (same != fetch.headers.end()) {
              same->value = header_value.get<std::string>();
            } else {
              fetch.headers.push_back({name, header_value.get<std::string>()});
            }
          }
        } else if (key == "labels") {
          if (!check.object(member, at))
            return;
          for (const auto& [label, label_value] : member.items()) {
            const std::string label_at = at + pointer_token(label);
            if (!is_label_key(label)) {
              check.fail(
                  label_at,
                  "expected a label name of letters, digits and '_' (at most 64, not starting "
                  "with a digit or \"__\"), found " +
                      quote(label));
              continue;
            }
            const std::string* text = check.string(label_value, label_at, true);
            if (text == nullptr)
              continue;
            if (code_points(*text) > kMaxLabelValue) {
              check.fail(label_at, "expected at most 256 characters, found " +
                                       std::to_string(code_points(*text)));
              continue;
            }
            target.labels[label] = *text;
          }
        } else if (key == "enabled") {
          if (auto on = check.boolean(member, at))
            target.enabled = *on;
        } else if (key == "tls") {
          check.members(
              member, at, kTlsKeys,
              [&](const std::string& tls_key, const json& tls_value, const std::string& tls_at) {
                if (tls_key == "verify") {
                  if (auto on = check.boolean(tls_value, tls_at))
                    fetch.tls.verify_peer = *on;
                } else if (tls_key == "ca_file") {
                  if (const auto* path = check.string(tls_value, tls_at, false))
                    fetch.tls.ca_file = *path;
                } else if (tls_key == "server_name") {
                  const std::string* name = check.string(tls_value, tls_at, false);
                  if (name == nullptr)
                    return;
                  http::Target probe;
                  probe.tls.server_name = *name;
                  auto valid = http::validate(std::move(probe));
                  if (!valid) {
                    check.fail(tls_at, valid.error().message);
                    return;
                  }
                  fetch.tls.server_name = *name;
                }
              });
        } else if (key == "ip") {
          if (auto index = check.choice(member, at, {"any", "ipv4", "ipv6"})) {
            constexpr std::array kFamilies = {http::AddressFamily::any, http::AddressFamily::ipv4,
                                              http::AddressFamily::ipv6};
            fetch.family = kFamilies[*index];
          }
        } else if (key == "max_redirects") {
          if (auto n = check.integer(member, at, 0, 20))
            fetch.max_redirects = static_cast<int>(*n);
        } else if (key == "max_body_bytes") {
          if (auto n = check.integer(member, at, 0, 64 * 1024 * 1024)) {
            fetch.max_body_bytes = static_cast<std::size_t>(*n);
          }
        } else if (key == "max_header_bytes") {
          if (auto n = check.integer(member, at, 1024, 1024 * 1024)) {
            fetch.max_header_bytes = static_cast<std::size_t>(*n);
          }
        } else if (key == "down_after") {
          if (auto n = check.integer(member, at, 1, 100))
            target.down_after = static_cast<int>(*n);
        } else if (key == "up_after") {
          if (auto n = check.integer(member, at, 1, 100))
            target.up_after = static_cast<int>(*n);
        } else if (key == "expect") {
          apply_expect(check, member, at, target.expect);
        }
      });
}

// Checks that hold for the whole target once its own keys are merged over the defaults.
void finish_target(Checker& check, const std::string& pointer, TargetConfig& target) {
  http::Target& fetch = target.fetch;
  if (fetch.headers.size() > kMaxHeaders) {
    check.fail(pointer + "/headers", "expected at most 32 headers (with the defaults'), found " +
                                         std::to_string(fetch.headers.size()));
  }
  if (target.labels.size() > kMaxLabels) {
    check.fail(pointer + "/labels", "expected at most 32 labels (with the defaults'), found " +
                                        std::to_string(target.labels.size()));
  }
  if (target.expect.needs_body() && fetch.method == http::Method::head) {
    check.fail(pointer, "a body expectation needs method \"GET\", found \"HEAD\"");
  }
  fetch.keep_body = target.expect.needs_body();
  auto valid = http::validate(fetch);
  if (!valid)
    check.fail(pointer, valid.error().message);
}

// A target entry (URL string or object) over `defaults`; nullopt after errors.
std::optional<TargetConfig> check_target_entry(Checker& check, const json& value,
                                               const Defaults& defaults,
                                               const std::string& pointer) {
  const std::size_t errors_before = check.error_count();
  TargetConfig target = defaults.target;
  target.name.clear();
  target.fetch.url = {};
  target.source_file = check.file();
  target.pointer = pointer;
  bool named = false;
  if (value.is_string()) {
    auto url = http::parse_url(value.get_ref<const std::string&>());
    if (!url) {
      check.fail(pointer, url.error().message);
      return std::nullopt;
    }
    target.fetch.url = std::move(url).value();
  } else if (value.is_object()) {
    apply_target_members(check, value, pointer, false, target);
    if (!value.contains("url"))
      check.fail(pointer, "missing \"url\"");
    named = value.contains("name");
  } else {
    check.fail(pointer, "expected a URL string or a target object, found " + found(value));
    return std::nullopt;
  }
  if (check.error_count() != errors_before)
    return std::nullopt;
  if (!named) {
    target.name = derive_target_name(target.fetch.url);
    if (!is_valid_target_name(target.name)) {
      check.fail(pointer, "cannot make a target name from the host " +
                              quote(target.fetch.url.host) + "; give the target a \"name\"");
      return std::nullopt;
    }
  }
  finish_target(check, pointer, target);
  if (check.error_count() != errors_before)
    return std::nullopt;
  return target;
}

// ---- settings ----------------------------------------------------------------------------------

bool is_group_name(std::string_view name) {
  if (name.empty() || name.size() > 32 || name[0] == '-')
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

// "192.0.2.1", "192.0.2.1:53", "2001:db8::1", "[2001:db8::1]:53".
bool is_dns_server(std::string_view text) {
  std::string_view address = text;
  std::string_view port;
  bool v6 = false;
  if (!text.empty() && text[0] == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos)
      return false;
    address = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':')
        return false;
      port = rest.substr(1);
      if (port.empty())
        return false;
    }
    v6 = true;
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    const auto colon = text.find(':');
    address = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (port.empty())
      return false;
  } else if (text.find(':') != std::string_view::npos) {
    v6 = true;
  }
  if (!port.empty()) {
    if (port.size() > 5)
      return false;
    int number = 0;
    for (char c : port) {
      if (c < '0' || c > '9')
        return false;
      number = number * 10 + (c - '0');
    }
    if (number < 1 || number > 65535)
      return false;
  }
  std::error_code error;
  if (v6) {
    (void)asio::ip::make_address_v6(std::string(address), error);
  } else {
    (void)asio::ip::make_address_v4(std::string(address), error);
  }
  return !error;
}

void apply_settings(Checker& check, const json& value, const std::string& pointer,
                    Settings& settings) {
  check.members(
      value, pointer, kSettingsKeys,
      [&](const std::string& key, const json& member, const std::string& at) {
        if (key == "control_socket") {
          const std::string* path = check.string(member, at, false);
          if (path == nullptr)
            return;
          if (path->size() > kMaxSocketPath) {
            check.fail(at, "expected a socket path of at most 107 bytes, found " +
                               std::to_string(path->size()) + " bytes");
            return;
          }
          settings.control_socket = *path;
        } else if (key == "socket_mode") {
          const bool ok = member.is_string() && [&] {
            const auto& text = member.get_ref<const std::string&>();
            if (text.size() < 3 || text.size() > 4 || (text.size() == 4 && text[0] != '0')) {
              return false;
            }
            return std::all_of(text.begin(), text.end(),
                               [](char c) { return c >= '0' && c <= '7'; });
          }();
          if (!ok) {
            std::string message =
                "expected an octal mode string like \"0660\" (permission bits only), found " +
                found(member);
            if (member.is_number())
              message += " (JSON numbers are decimal: write the mode as a string)";
            check.fail(at, message);
            return;
          }
          settings.socket_mode =
              static_cast<std::uint32_t>(std::stoul(member.get<std::string>(), nullptr, 8));
        } else if (key == "socket_group" || key == "admin_group") {
          const std::string* group = check.string(member, at, true);
          if (group == nullptr)
            return;
          if (!group->empty() && !is_group_name(*group)) {
            check.fail(at, "expected a group name or number, found " + found(member));
            return;
          }
          (key == "socket_group" ? settings.socket_group : settings.admin_group) = *group;
        } else if (key == "max_clients") {
          if (auto n = check.integer(member, at, 1, 10'000)) {
            settings.max_clients = static_cast<std::size_t>(*n);
          }
        } else if (key == "state_dir") {
          if (const auto* path = check.string(member, at, false))
            settings.state_dir = *path;
        } else if (key == "history_length") {
          if (auto n = check.integer(member, at, 1, 10'000)) {
            settings.history_length = static_cast<std::size_t>(*n);
          }
        } else if (key == "max_in_flight") {
          if (auto n = check.integer(member, at, 1, 100'000)) {
            settings.max_in_flight = static_cast<std::size_t>(*n);
          }
        } else if (key == "log_level") {
          if (auto index =
                  check.choice(member, at, {"trace", "debug", "info", "warning", "error"})) {
            constexpr std::array kLevels = {LogLevel::trace, LogLevel::debug, LogLevel::info,
                                            LogLevel::warning, LogLevel::error};
            settings.log_level = kLevels[*index];
          }
        } else if (key == "dns_servers") {
          if (!member.is_array()) {
            check.fail(at, "expected an array of server addresses, found " + found(member));
            return;
          }
          std::vector<std::string> servers;
          for (std::size_t i = 0; i < member.size(); ++i) {
            const json& server = member[i];
            if (!server.is_string() || !is_dns_server(server.get_ref<const std::string&>())) {
              check.fail(at + "/" + std::to_string(i),
                         "expected an IP address with an optional port (\"192.0.2.1\", "
                         "\"192.0.2.1:53\", \"[2001:db8::1]:53\"), found " +
                             found(server));
              continue;
            }
            servers.push_back(server.get<std::string>());
          }
          if (servers.size() == member.size())
            settings.dns_servers = std::move(servers);
        }
      });
}

// ---- documents ---------------------------------------------------------------------------------

struct Parsed {
  const Document* document;
  json root;
};

// Where the token nlohmann stopped at begins. `byte` counts the characters read, the offending
// one included, so it ends a token: a string or a word (literal, number) is traced back to its
// start ("missing comma" then points at the next value, as people look for it); anything else is
// the character itself, or the end of the text.
std::size_t token_start(std::string_view text, std::size_t byte) {
  if (byte == 0)
    return 0;
  std::size_t last = byte - 1;
  if (last >= text.size())
    return text.size();
  auto is_word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '+' || c == '-';
  };
  if (text[last] == '"') {
    // Back to the opening quote: a quote is escaped when an odd number of backslashes precede it.
    for (std::size_t i = last; i-- > 0;) {
      if (text[i] != '"')
        continue;
      std::size_t backslashes = 0;
      while (backslashes < i && text[i - 1 - backslashes] == '\\')
        ++backslashes;
      if (backslashes % 2 == 0)
        return i;
    }
    return last;
  }
  if (is_word(text[last])) {
    while (last > 0 && is_word(text[last - 1]))
      --last;
  }
  return last;
}

// The part of nlohmann's parse_error text after "parse error at line L, column C: ".
std::string syntax_detail(const json::parse_error& error) {
  std::string_view text = error.what();
  const auto colon = text.find(": ");
  if (colon != std::string_view::npos)
    text.remove_prefix(colon + 2);
  return std::string(text);
}

Expected<std::string> read_file(const std::filesystem::path& path) {
  std::FILE* file = std::fopen(path.c_str(), "rbe");
  if (file == nullptr)
    return Error{std::strerror(errno)};
  std::string text;
  char buffer[65536];
  std::size_t got = 0;
  while ((got = std::fread(buffer, 1, sizeof buffer, file)) > 0) {
    text.append(buffer, got);
    if (text.size() > kMaxFileBytes) {
      std::fclose(file);
      return Error{"larger than 64 MiB"};
    }
  }
  const bool failed = std::ferror(file) != 0;
  const int saved = errno;
  std::fclose(file);
  if (failed)
    return Error{std::strerror(saved)};
  return text;
}

}  // namespace

std::string ConfigError::to_string() const {
  std::string out = file;
  if (line > 0)
    out += ":" + std::to_string(line) + ":" + std::to_string(column);
  if (!out.empty())
    out += ": ";
  if (!pointer.empty())
    out += pointer + ": ";
  return out + message;
}

bool is_valid_target_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength || name[0] == '-')
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

std::string derive_target_name(const http::Url& url) {
  std::string name = url.host;
  if (url.host_is_ipv6_literal)
    std::replace(name.begin(), name.end(), ':', '_');
  if (!url.has_default_port())
    name += "-" + std::to_string(url.port);
  return name;
}

Checked<TargetConfig> check_target(const nlohmann::json& value, const Defaults& defaults,
                                   const std::string& source, const std::string& pointer) {
  Checked<TargetConfig> out;
  Checker check(out.errors, source);
  out.value = check_target_entry(check, value, defaults, pointer);
  return out;
}

Expected<TargetConfig> parse_target(const nlohmann::json& value, const Defaults& defaults,
                                    std::string source) {
  auto checked = check_target(value, defaults, source);
  if (checked)
    return std::move(*checked.value);
  std::string message;
  for (const auto& error : checked.errors) {
    if (!message.empty())
      message += "; ";
    message += error.pointer.empty() ? error.message : error.pointer + ": " + error.message;
  }
  return Error{message};
}

Checked<Config> load_documents(const std::vector<Document>& documents) {
  Checked<Config> out;
  Config config;
  std::vector<ConfigError>& errors = out.errors;
  std::vector<Parsed> parsed;

  // Syntax, duplicate keys, and the top-level shape of every document first.
  for (const auto& document : documents) {
    config.files.push_back(document.name);
    json root;
    try {
      root = json::parse(document.text);
    } catch (const json::parse_error& error) {
      const auto position = position_at(document.text, token_start(document.text, error.byte));
      errors.push_back({document.name, "", position.line, position.column,
                        "invalid JSON: " + syntax_detail(error)});
      continue;
    }
    for (auto& duplicate : find_duplicate_keys(document.text)) {
      errors.push_back({document.name, duplicate.pointer, duplicate.position.line,
                        duplicate.position.column,
                        "duplicate key (an object may have each key once)"});
    }
    if (!root.is_object()) {
      errors.push_back(
          {document.name, "", 1, 1,
           "expected an object with \"settings\", \"defaults\" and \"targets\", found " +
               found(root)});
      continue;
    }
    parsed.push_back({&document, std::move(root)});
  }

  // Settings and defaults, merged in file order.
  for (auto& doc : parsed) {
    Checker check(errors, doc.document->name);
    check.members(doc.root, "", kTopKeys,
                  [&](const std::string& key, const json& member, const std::string& at) {
                    if (key == "settings") {
                      apply_settings(check, member, at, config.settings);
                    } else if (key == "defaults") {
                      apply_target_members(check, member, at, true, config.defaults.target);
                    } else if (key == "$schema") {
                      check.string(member, at, false);
                    } else if (key == "targets" && !member.is_array()) {
                      check.fail(at, "expected an array of targets, found " + found(member));
                    }
                  });
  }
  config.defaults.target.fetch.keep_body = config.defaults.target.expect.needs_body();

  // Targets, with the merged defaults; names unique over every file.
  for (auto& doc : parsed) {
    const auto targets = doc.root.find("targets");
    if (targets == doc.root.end() || !targets->is_array())
      continue;
    Checker check(errors, doc.document->name);
    for (std::size_t i = 0; i < targets->size(); ++i) {
      auto target = check_target_entry(check, (*targets)[i], config.defaults,
                                       "/targets/" + std::to_string(i));
      if (target)
        config.targets.push_back(std::move(*target));
    }
  }
  std::map<std::string, std::size_t> first_by_name;
  for (std::size_t i = 0; i < config.targets.size(); ++i) {
    const TargetConfig& target = config.targets[i];
    auto [it, inserted] = first_by_name.emplace(target.name, i);
    if (inserted)
      continue;
    const TargetConfig& first = config.targets[it->second];
    errors.push_back({target.source_file, target.pointer, 0, 0,
                      "duplicate target name " + quote(target.name) + ", first defined in " +
                          first.source_file + " at " + first.pointer});
  }

  // Positions for the errors that have none yet.
  for (auto& doc : parsed) {
    std::vector<ConfigError*> unplaced;
    std::vector<std::string> pointers;
    for (auto& error : errors) {
      if (error.line == 0 && error.file == doc.document->name) {
        unplaced.push_back(&error);
        pointers.push_back(error.pointer);
      }
    }
    if (pointers.empty())
      continue;
    const auto positions = locate(doc.document->text, pointers);
    for (ConfigError* error : unplaced) {
      auto it = positions.find(error->pointer);
      if (it == positions.end())
        continue;
      error->line = it->second.line;
      error->column = it->second.column;
    }
  }

  if (errors.empty())
    out.value = std::move(config);
  return out;
}

Checked<Config> load_config(const std::filesystem::path& main_file) {
  std::vector<Document> documents;
  Checked<Config> failed;
  auto main_text = read_file(main_file);
  if (!main_text) {
    failed.errors.push_back(
        {main_file.string(), "", 0, 0, "cannot read: " + main_text.error().message});
    return failed;
  }
  documents.push_back({main_file.string(), std::move(main_text).value()});

  const std::filesystem::path drop_in_dir = main_file.parent_path() / "conf.d";
  std::error_code error;
  std::vector<std::string> names;
  std::filesystem::directory_iterator it(drop_in_dir, error);
  if (error == std::errc::no_such_file_or_directory) {
    error.clear();  // no drop-ins
  } else if (error) {
    failed.errors.push_back({drop_in_dir.string(), "", 0, 0, "cannot read: " + error.message()});
    return failed;
  }
  for (; !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.' || name.size() <= 5 ||
        name.compare(name.size() - 5, 5, ".json") != 0) {
      continue;
    }
    std::error_code status_error;
    if (!std::filesystem::is_regular_file(it->path(), status_error))
      continue;
    names.push_back(name);
  }
  if (error) {
    failed.errors.push_back({drop_in_dir.string(), "", 0, 0, "cannot read: " + error.message()});
    return failed;
  }
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    const std::filesystem::path path = drop_in_dir / name;
    auto text = read_file(path);
    if (!text) {
      failed.errors.push_back({path.string(), "", 0, 0, "cannot read: " + text.error().message});
      continue;
    }
    documents.push_back({path.string(), std::move(text).value()});
  }
  if (!failed.errors.empty())
    return failed;
  return load_documents(documents);
}

}  // namespace fetchd::config
