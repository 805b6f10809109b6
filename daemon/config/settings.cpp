#include "config/settings.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <system_error>

#include <asio/ip/address.hpp>

#include "config/labels.h"

namespace fetchd::config {

namespace {

using nlohmann::json;

constexpr std::size_t kMaxSocketPath = 107;  // sun_path holds 108 bytes with the terminating NUL

bool is_group_name(std::string_view name) {
  if (name.empty() || name.size() > 32 || name[0] == '-')
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

bool is_port(std::string_view port) {
  if (port.empty() || port.size() > 5)
    return false;
  int number = 0;
  for (char c : port) {
    if (c < '0' || c > '9')
      return false;
    number = number * 10 + (c - '0');
  }
  return number >= 1 && number <= 65535;
}

// "192.0.2.1", "192.0.2.1:53", "2001:db8::1", "[2001:db8::1]:53".
bool is_dns_server(std::string_view text) {
  std::string_view address = text;
  std::optional<std::string_view> port;
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
    }
    v6 = true;
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    const auto colon = text.find(':');
    address = text.substr(0, colon);
    port = text.substr(colon + 1);
  } else if (text.find(':') != std::string_view::npos) {
    v6 = true;
  }
  if (port && !is_port(*port))
    return false;
  std::error_code error;
  if (v6) {
    (void)asio::ip::make_address_v6(std::string(address), error);
  } else {
    (void)asio::ip::make_address_v4(std::string(address), error);
  }
  return !error;
}

// "192.0.2.1:9516", "[2001:db8::1]:9516": an address and a port, both required.
bool is_listen_address(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || !is_port(text.substr(colon + 1)))
    return false;
  std::string_view address = text.substr(0, colon);
  std::error_code error;
  if (address.front() == '[' && address.back() == ']') {
    (void)asio::ip::make_address_v6(std::string(address.substr(1, address.size() - 2)), error);
  } else {
    (void)asio::ip::make_address_v4(std::string(address), error);
  }
  return !error;
}

bool is_octal_mode(const json& member) {
  if (!member.is_string())
    return false;
  const auto& text = member.get_ref<const std::string&>();
  if (text.size() < 3 || text.size() > 4 || (text.size() == 4 && text[0] != '0'))
    return false;
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '7'; });
}

void read_control_socket(Checker& check, const json& member, const std::string& at,
                         Settings& settings) {
  const std::string* path = check.string(member, at, false);
  if (path == nullptr)
    return;
  if (path->size() > kMaxSocketPath) {
    check.fail(at, "expected a socket path of at most 107 bytes, found " +
                       std::to_string(path->size()) + " bytes");
    return;
  }
  settings.control_socket = *path;
}

void read_socket_mode(Checker& check, const json& member, const std::string& at,
                      Settings& settings) {
  if (!is_octal_mode(member)) {
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
}

template <std::string Settings::*group_field>
void read_group(Checker& check, const json& member, const std::string& at, Settings& settings) {
  const std::string* group = check.string(member, at, true);
  if (group == nullptr)
    return;
  if (!group->empty() && !is_group_name(*group)) {
    check.fail(at, "expected a group name or number, found " + found(member));
    return;
  }
  settings.*group_field = *group;
}

template <std::size_t Settings::*count_field, std::int64_t high>
void read_count(Checker& check, const json& member, const std::string& at, Settings& settings) {
  if (auto n = check.integer(member, at, 1, high))
    settings.*count_field = static_cast<std::size_t>(*n);
}

void read_state_dir(Checker& check, const json& member, const std::string& at, Settings& settings) {
  if (const auto* path = check.string(member, at, false))
    settings.state_dir = *path;
}

void read_log_level(Checker& check, const json& member, const std::string& at, Settings& settings) {
  if (auto index = check.choice(member, at, {"trace", "debug", "info", "warning", "error"})) {
    constexpr std::array kLevels = {LogLevel::trace, LogLevel::debug, LogLevel::info,
                                    LogLevel::warning, LogLevel::error};
    settings.log_level = kLevels[*index];
  }
}

void read_dns_servers(Checker& check, const json& member, const std::string& at,
                      Settings& settings) {
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

void read_dns_timeout(Checker& check, const json& member, const std::string& at,
                      Settings& settings) {
  using namespace std::chrono_literals;
  if (auto timeout = check.duration(member, at, 100ms, 30s))
    settings.dns_timeout = *timeout;
}

void read_results_flush(Checker& check, const json& member, const std::string& at,
                        Settings& settings) {
  using namespace std::chrono_literals;
  if (auto flush = check.duration(member, at, 10ms, 60s))
    settings.results_flush = *flush;
}

void read_dns_attempts(Checker& check, const json& member, const std::string& at,
                       Settings& settings) {
  if (auto attempts = check.integer(member, at, 1, 5))
    settings.dns_attempts = static_cast<int>(*attempts);
}

void read_web_listen(Checker& check, const json& member, const std::string& at,
                     Settings& settings) {
  if (!member.is_array()) {
    check.fail(at,
               "expected an array of listen addresses (\"127.0.0.1:9516\", \"[::1]:9516\" or "
               "a socket path), found " +
                   found(member));
    return;
  }
  std::vector<std::string> listens;
  for (std::size_t i = 0; i < member.size(); ++i) {
    const std::string item_at = at + "/" + std::to_string(i);
    const json& listen = member[i];
    const bool text = listen.is_string();
    const std::string value = text ? listen.get<std::string>() : std::string();
    if (text && value.starts_with("/")) {
      if (value.size() > kMaxSocketPath) {
        check.fail(item_at, "expected a socket path of at most 107 bytes, found " +
                                std::to_string(value.size()) + " bytes");
        continue;
      }
    } else if (!text || !is_listen_address(value)) {
      check.fail(item_at,
                 "expected an IP address with a port (\"127.0.0.1:9516\", \"[::1]:9516\") or an "
                 "absolute socket path, found " +
                     found(listen));
      continue;
    }
    if (std::find(listens.begin(), listens.end(), value) != listens.end()) {
      check.fail(item_at, "listed twice: " + found(listen));
      continue;
    }
    listens.push_back(value);
  }
  if (listens.size() == member.size())
    settings.web_listen = std::move(listens);
}

void read_instance_labels(Checker& check, const json& member, const std::string& at,
                          Settings& settings) {
  std::map<std::string, std::string> labels;
  read_label_map(check, member, at, labels);
  settings.instance_labels = std::move(labels);
}

void read_metrics_buckets(Checker& check, const json& member, const std::string& at,
                          Settings& settings) {
  constexpr std::size_t kMaxBuckets = 64;
  const auto fail = [&] {
    check.fail(at,
               "expected an array of at most 64 ascending positive numbers of seconds (empty: "
               "no histogram), found " +
                   found(member));
  };
  if (!member.is_array() || member.size() > kMaxBuckets)
    return fail();
  std::vector<double> bounds;
  for (const json& bound : member) {
    if (!bound.is_number() || bound.get<double>() <= 0 || !std::isfinite(bound.get<double>()) ||
        (!bounds.empty() && bound.get<double>() <= bounds.back()))
      return fail();
    bounds.push_back(bound.get<double>());
  }
  settings.metrics_buckets = std::move(bounds);
}

struct ShardBeingRead {
  std::optional<std::int64_t> index;
  std::optional<std::int64_t> count;
};

void read_shard(Checker& check, const json& member, const std::string& at, Settings& settings) {
  constexpr std::int64_t kMaxShards = 1'000'000;
  static constexpr std::array<KeyRule<ShardBeingRead>, 2> kShardKeys = {{
      {"index",
       [](Checker& c, const json& m, const std::string& p, ShardBeingRead& s) {
         s.index = c.integer(m, p, 0, kMaxShards - 1);
       },
       "this instance's shard, 0 to count-1"},
      {"count",
       [](Checker& c, const json& m, const std::string& p, ShardBeingRead& s) {
         s.count = c.integer(m, p, 1, kMaxShards);
       },
       "how many instances share the targets"},
  }};
  ShardBeingRead shard;
  const auto errors = check.error_count();
  if (!check.members(member, at, std::span<const KeyRule<ShardBeingRead>>(kShardKeys), shard) ||
      check.error_count() != errors)
    return;
  if (!shard.index || !shard.count) {
    check.fail(at, R"(expected both "index" and "count", e.g. {"index": 0, "count": 2})");
    return;
  }
  if (*shard.index >= *shard.count) {
    check.fail(at + "/index", "expected an index below count (" + std::to_string(*shard.count) +
                                  "), found " + std::to_string(*shard.index));
    return;
  }
  settings.shard = {static_cast<std::uint64_t>(*shard.index),
                    static_cast<std::uint64_t>(*shard.count)};
}

void read_web_auth_file(Checker& check, const json& member, const std::string& at,
                        Settings& settings) {
  if (const auto* path = check.string(member, at, true))
    settings.web_auth_file = *path;
}

constexpr std::array<KeyRule<Settings>, 20> kSettingsKeys = {{
    {"control_socket", read_control_socket, "path of the control socket"},
    {"socket_mode", read_socket_mode, "permission bits of the control socket, as an octal string"},
    {"socket_group", read_group<&Settings::socket_group>, "group of the control socket"},
    {"max_clients", read_count<&Settings::max_clients, 10'000>, "control connections at once"},
    {"admin_group", read_group<&Settings::admin_group>, "group that may use mutating commands"},
    {"state_dir", read_state_dir, "directory of the state file"},
    {"history_length", read_count<&Settings::history_length, 10'000>, "results kept per target"},
    {"uptime_days", read_count<&Settings::uptime_days, 366>, "days of daily uptime per target"},
    {"results_flush", read_results_flush, "how often results are synced to the state directory"},
    {"max_in_flight", read_count<&Settings::max_in_flight, 100'000>, "fetches at once, in all"},
    {"log_level", read_log_level, "trace, debug, info, warning or error"},
    {"dns_servers", read_dns_servers, "DNS servers to ask instead of resolv.conf's"},
    {"dns_timeout", read_dns_timeout, "DNS timeout per try, instead of resolv.conf's timeout"},
    {"dns_attempts", read_dns_attempts, "DNS tries per server, instead of resolv.conf's attempts"},
    {"web_listen", read_web_listen, "addresses of the metrics listener"},
    {"web_max_clients", read_count<&Settings::web_max_clients, 10'000>,
     "metrics connections at once"},
    {"web_auth_file", read_web_auth_file, "JSON file of the credentials /metrics asks for"},
    {"instance_labels", read_instance_labels, "labels added to every metrics series"},
    {"metrics_buckets", read_metrics_buckets, "bounds of the fetch duration histogram, seconds"},
    {"shard", read_shard, R"(this instance's share of the targets: {"index", "count"})"},
}};

}  // namespace

std::span<const KeyRule<Settings>> settings_keys() {
  return kSettingsKeys;
}

void read_settings(Checker& check, const json& value, const std::string& pointer,
                   Settings& settings) {
  check.members(value, pointer, settings_keys(), settings);
}

}  // namespace fetchd::config
