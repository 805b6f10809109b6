#include "config/alerts.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <span>
#include <sys/stat.h>
#include <type_traits>

#include "common/quote.h"
#include "common/read_file.h"
#include "config/labels.h"
#include "config/loader.h"
#include "config/targets.h"

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

constexpr std::size_t kMaxRoutes = 32;
constexpr std::size_t kMaxArgs = 64;
constexpr std::size_t kMaxWebhookHeaders = 32;
constexpr std::size_t kMaxTemplateBytes = std::size_t{64} * 1024;

// A webhook or command being read: its route settings, and the target of the rest.
template <class Route>
void read_route_name(Checker& check, const json& member, const std::string& at, Route& route) {
  const std::string* name = check.string(member, at, false);
  if (name == nullptr)
    return;
  if (!is_valid_target_name(*name)) {
    check.fail(at, "expected a name of letters, digits, '.', '_' and '-' (at most 128), found " +
                       found(member));
    return;
  }
  route.route.name = *name;
}

void read_match_names(Checker& check, const json& member, const std::string& at,
                      RouteMatch& match) {
  if (!member.is_array() || member.empty()) {
    check.fail(at, "expected a non-empty array of target names, found " + found(member));
    return;
  }
  for (std::size_t i = 0; i < member.size(); ++i) {
    if (const std::string* name = check.string(member[i], at + "/" + std::to_string(i), false))
      match.names.push_back(*name);
  }
}

void read_match_labels(Checker& check, const json& member, const std::string& at,
                       RouteMatch& match) {
  read_label_map(check, member, at, match.labels);
}

void read_match_labels_regex(Checker& check, const json& member, const std::string& at,
                             RouteMatch& match) {
  if (!check.object(member, at))
    return;
  for (const auto& [label, pattern] : member.items()) {
    const std::string label_at = at + pointer_token(label);
    if (!is_label_name(label)) {
      check.fail(label_at, "expected a label name ([a-zA-Z_][a-zA-Z0-9_]*), found " + quote(label));
      continue;
    }
    const std::string* text = check.string(pattern, label_at, true);
    if (text == nullptr)
      continue;
    // Compiled alone first, so that an unbalanced pattern cannot change meaning when anchored.
    auto alone = BodyRegex::compile(*text);
    if (!alone) {
      check.fail(label_at,
                 "expected a regular expression (ECMAScript, no back-references), found " +
                     found(pattern) + ": " + alone.error().message);
      continue;
    }
    auto anchored = BodyRegex::compile("^(?:" + *text + ")$");
    if (anchored)
      match.labels_regex.insert_or_assign(label, std::move(anchored).value());
  }
}

constexpr std::array<KeyRule<RouteMatch>, 3> kMatchKeys = {{
    {"names", read_match_names, "the target is one of these"},
    {"labels", read_match_labels, "each label equals its value"},
    {"labels_regex", read_match_labels_regex, "each label fully matches its regex"},
}};

template <class Route>
void read_match(Checker& check, const json& member, const std::string& at, Route& route) {
  RouteMatch match;
  if (check.members(member, at, std::span<const KeyRule<RouteMatch>>(kMatchKeys), match))
    route.route.match = std::move(match);
}

template <class Route>
void read_repeat_interval(Checker& check, const json& member, const std::string& at, Route& route) {
  if (auto interval = check.duration(member, at, 1min, 7 * 24h))
    route.route.repeat_interval = *interval;
}

template <class Route>
void read_route_timeout(Checker& check, const json& member, const std::string& at, Route& route) {
  if (auto timeout = check.duration(member, at, 100ms, 10min))
    route.route.timeout = *timeout;
}

template <class Route>
void read_max_age(Checker& check, const json& member, const std::string& at, Route& route) {
  if (auto age = check.duration(member, at, 1min, 7 * 24h))
    route.route.max_age = *age;
}

void read_webhook_url(Checker& check, const json& member, const std::string& at,
                      WebhookConfig& webhook) {
  const std::string* text = check.string(member, at, false);
  if (text == nullptr)
    return;
  auto url = http::parse_url(*text);
  if (!url) {
    check.fail(at, url.error().message);
    return;
  }
  webhook.url = std::move(url).value();
}

void read_webhook_method(Checker& check, const json& member, const std::string& at,
                         WebhookConfig& webhook) {
  if (auto index = check.choice(member, at, {"POST", "PUT"}))
    webhook.method = *index == 0 ? http::Method::post : http::Method::put;
}

void read_webhook_headers(Checker& check, const json& member, const std::string& at,
                          WebhookConfig& webhook) {
  if (!check.object(member, at))
    return;
  for (const auto& [name, value] : member.items())
    read_header(check, at + pointer_token(name), name, value, webhook.headers);
}

void read_headers_file(Checker& check, const json& member, const std::string& at,
                       WebhookConfig& webhook) {
  if (const std::string* path = check.string(member, at, false))
    webhook.headers_file = *path;
}

void read_webhook_body(Checker& check, const json& member, const std::string& at,
                       WebhookConfig& webhook) {
  const std::string* text = check.string(member, at, false);
  if (text == nullptr)
    return;
  if (text->size() > kMaxTemplateBytes) {
    check.fail(at, "expected a body template of at most 64 KiB, found " +
                       std::to_string(text->size()) + " bytes");
    return;
  }
  // Escaping is settled in finish_webhook, once the Content-Type is known.
  auto parsed = BodyTemplate::parse(*text, BodyEscape::none);
  if (!parsed) {
    check.fail(at, parsed.error().message);
    return;
  }
  webhook.body = std::move(parsed).value();
}

constexpr std::array<KeyRule<WebhookConfig>, 10> kWebhookKeys = {{
    {"name", read_route_name<WebhookConfig>, "names the webhook in logs and metrics"},
    {"url", read_webhook_url, "where notifications are sent"},
    {"method", read_webhook_method, R"("POST" (default) or "PUT")"},
    {"headers", read_webhook_headers, "request headers, by name"},
    {"headers_file", read_headers_file, "a JSON file of more headers (secrets)"},
    {"body", read_webhook_body, "a template of the body; default: fetchd's JSON document"},
    {"match", read_match<WebhookConfig>, "which targets: names, labels, labels_regex"},
    {"repeat_interval", read_repeat_interval<WebhookConfig>, "repeat while DOWN this often"},
    {"timeout", read_route_timeout<WebhookConfig>, "of one delivery"},
    {"max_age", read_max_age<WebhookConfig>, "retry an undelivered notification this long"},
}};

// The headers of headers_file, read at every load (so a reload picks up a rotated secret):
// a regular file holding one JSON object of header names to strings.
void read_webhook_headers_file(Checker& check, const std::string& at, WebhookConfig& webhook) {
  const std::string& path = webhook.headers_file;
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    check.fail(at, "cannot read headers_file " + quote(path) + ": " + std::strerror(errno));
    return;
  }
  if (!S_ISREG(info.st_mode) || info.st_size > off_t{64} * 1024) {
    check.fail(at, "headers_file " + quote(path) + " is not a regular file of at most 64 KiB");
    return;
  }
  auto text = read_file(path);
  if (!text) {
    check.fail(at, "cannot read headers_file " + quote(path) + ": " + text.error().message);
    return;
  }
  const json document = json::parse(*text, nullptr, false);
  if (document.is_discarded() || !document.is_object()) {
    check.fail(at, "headers_file " + quote(path) +
                       " is not a JSON object of header names to values, like "
                       R"({"Authorization": "Bearer ..."})");
    return;
  }
  for (const auto& [name, value] : document.items()) {
    std::string where = at;
    where.append(" (in ").append(path).append(": ").append(name).append(")");
    read_header(check, where, name, value, webhook.headers);
  }
}

// The sample a template is filled with at load, to prove a JSON body stays JSON: text with
// characters that need escaping, for every field ({status} too: it is empty when no response came).
std::string sample_value(std::string_view field) {
  return "sample \"" + std::string(field) + "\"\n\\";
}

void finish_webhook(Checker& check, const std::string& at, WebhookConfig& webhook) {
  if (!webhook.headers_file.empty())
    read_webhook_headers_file(check, at + "/headers_file", webhook);
  if (webhook.headers.size() > kMaxWebhookHeaders)
    check.fail(at + "/headers",
               "expected at most 32 headers, found " + std::to_string(webhook.headers.size()));
  const auto given = http::find_header(webhook.headers, "Content-Type");
  if (!webhook.body) {
    if (given && escape_for_content_type(*given) != BodyEscape::json)
      check.fail(at + "/headers", "fetchd's default body is JSON, but Content-Type is " +
                                      quote(*given) + "; give a \"body\" template for it");
    webhook.content_type = "application/json";
    return;
  }
  // Without a Content-Type: JSON when the template is JSON, else plain text.
  std::string content_type;
  if (given) {
    content_type = std::string(*given);
  } else {
    auto as_json = BodyTemplate::parse(webhook.body->source(), BodyEscape::json);
    const bool is_json =
        as_json && !json::parse(as_json->render(sample_value), nullptr, false).is_discarded();
    content_type = is_json ? "application/json" : "text/plain; charset=utf-8";
  }
  auto body = BodyTemplate::parse(webhook.body->source(), escape_for_content_type(content_type));
  if (!body)
    return;
  if (body->escape() == BodyEscape::json) {
    try {
      [[maybe_unused]] const json parsed = json::parse(body->render(sample_value));
    } catch (const json::parse_error& error) {
      check.fail(at + "/body", "the body is sent as " + content_type +
                                   ", but once filled in it is not JSON: " + error.what() +
                                   " (placeholders belong inside JSON strings)");
      return;
    }
  }
  webhook.body = std::move(body).value();
  webhook.content_type = std::move(content_type);
  if (!given)
    webhook.headers.push_back({"Content-Type", webhook.content_type});
}

void read_argv(Checker& check, const json& member, const std::string& at, CommandConfig& command) {
  if (!member.is_array() || member.empty() || member.size() > kMaxArgs) {
    check.fail(at, R"(expected an array of 1 to 64 strings, the program first, like )"
                   R"(["/usr/local/bin/notify", "--urgent"], found )" +
                       found(member));
    return;
  }
  std::vector<std::string> argv;
  for (std::size_t i = 0; i < member.size(); ++i) {
    const std::string arg_at = at + "/" + std::to_string(i);
    if (!member[i].is_string()) {
      check.fail(arg_at, "expected a string, found " + found(member[i]));
      return;
    }
    std::string arg = member[i].get<std::string>();
    if (arg.find('\0') != std::string::npos) {
      check.fail(arg_at, "an argument cannot hold a NUL byte");
      return;
    }
    argv.push_back(std::move(arg));
  }
  if (!argv.front().starts_with('/')) {
    check.fail(at + "/0",
               "expected the program's absolute path (no shell and no PATH search), found " +
                   found(member[0]));
    return;
  }
  command.argv = std::move(argv);
}

constexpr std::array<KeyRule<CommandConfig>, 6> kCommandKeys = {{
    {"name", read_route_name<CommandConfig>, "names the command in logs and metrics"},
    {"argv", read_argv, "the program and its arguments (no shell)"},
    {"match", read_match<CommandConfig>, "which targets: names, labels, labels_regex"},
    {"repeat_interval", read_repeat_interval<CommandConfig>, "repeat while DOWN this often"},
    {"timeout", read_route_timeout<CommandConfig>, "killed (its process group) after this"},
    {"max_age", read_max_age<CommandConfig>, "retry a failed notification this long"},
}};

template <class Route, std::size_t N>
std::vector<Route> read_routes(Checker& check, const json& member, const std::string& at,
                               const std::array<KeyRule<Route>, N>& keys, std::string_view kind,
                               std::string_view required) {
  std::vector<Route> routes;
  if (!member.is_array() || member.size() > kMaxRoutes) {
    check.fail(
        at, "expected an array of at most 32 " + std::string(kind) + "s, found " + found(member));
    return routes;
  }
  for (std::size_t i = 0; i < member.size(); ++i) {
    const std::string route_at = at + "/" + std::to_string(i);
    Route route;
    if (!check.members(member[i], route_at, std::span<const KeyRule<Route>>(keys), route))
      continue;
    for (const std::string_view key : {std::string_view("name"), required}) {
      if (!member[i].contains(key))
        check.fail(route_at, "missing " + quote(key));
    }
    if constexpr (std::is_same_v<Route, WebhookConfig>) {
      if (member[i].contains("url"))
        finish_webhook(check, route_at, route);
    }
    const bool taken = std::any_of(routes.begin(), routes.end(), [&](const Route& other) {
      return other.route.name == route.route.name;
    });
    if (taken && !route.route.name.empty())
      check.fail(route_at + "/name",
                 "another " + std::string(kind) + " is named " + quote(route.route.name));
    routes.push_back(std::move(route));
  }
  return routes;
}

void read_webhooks(Checker& check, const json& member, const std::string& at,
                   AlertsConfig& alerts) {
  alerts.webhooks = read_routes(check, member, at, kWebhookKeys, "webhook", "url");
}

void read_commands(Checker& check, const json& member, const std::string& at,
                   AlertsConfig& alerts) {
  alerts.commands = read_routes(check, member, at, kCommandKeys, "command", "argv");
}

void read_storm_threshold(Checker& check, const json& member, const std::string& at,
                          AlertsConfig& alerts) {
  if (auto threshold = check.integer(member, at, 0, 1'000'000))
    alerts.storm_threshold = static_cast<std::size_t>(*threshold);
}

void read_max_commands(Checker& check, const json& member, const std::string& at,
                       AlertsConfig& alerts) {
  if (auto most = check.integer(member, at, 1, 64))
    alerts.max_commands = static_cast<std::size_t>(*most);
}

constexpr std::array<KeyRule<AlertsConfig>, 5> kAlertsKeys = {{
    {"alertmanager", read_alertmanager, "Prometheus Alertmanager: urls, resend_interval, labels"},
    {"webhooks", read_webhooks, "HTTP receivers of notifications, with body templates"},
    {"commands", read_commands, "programs run on notifications"},
    {"storm_threshold", read_storm_threshold, "more changes a minute: one summary (0: never)"},
    {"max_commands", read_max_commands, "notification commands running at once"},
}};

}  // namespace

void read_alerts(Checker& check, const json& member, const std::string& at, AlertsConfig& alerts) {
  check.members(member, at, std::span<const KeyRule<AlertsConfig>>(kAlertsKeys), alerts);
}

}  // namespace fetchd::config
