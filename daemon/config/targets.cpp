#include "config/targets.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <sys/stat.h>

#include "common/quote.h"
#include "common/read_file.h"
#include "config/expectations.h"
#include "config/labels.h"
#include "config/loader.h"

namespace fetchd::config {

namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr std::size_t kMaxNameLength = 128;
constexpr std::size_t kMaxLabels = 32;
constexpr std::size_t kMaxHeaders = 32;

constexpr milliseconds kMinInterval{100};
constexpr milliseconds kMaxInterval{24 * 3'600'000};
constexpr milliseconds kMinTimeout{10};
constexpr milliseconds kMaxTimeout{10 * 60'000};

// False (after an error) for `name` and `url` in the defaults.
bool identifies_a_target(Checker& check, const std::string& at, const TargetBeingRead& into,
                         std::string_view key) {
  if (!into.is_defaults)
    return true;
  check.fail(at, quote(key) + " cannot be set in defaults");
  return false;
}

void read_name(Checker& check, const json& member, const std::string& at, TargetBeingRead& into) {
  if (!identifies_a_target(check, at, into, "name"))
    return;
  const std::string* name = check.string(member, at, true);
  if (name == nullptr)
    return;
  if (!is_valid_target_name(*name)) {
    check.fail(at,
               "expected a name of letters, digits, '.', '_' and '-' (at most 128, not starting "
               "with '-'), found " +
                   found(member));
    return;
  }
  into.target.name = *name;
}

void read_url(Checker& check, const json& member, const std::string& at, TargetBeingRead& into) {
  if (!identifies_a_target(check, at, into, "url"))
    return;
  if (!member.is_string()) {
    check.fail(at, "expected a URL string, found " + found(member));
    return;
  }
  auto url = http::parse_url(member.get_ref<const std::string&>());
  if (!url) {
    check.fail(at, url.error().message);
    return;
  }
  into.target.fetch.url = std::move(url).value();
}

void read_interval(Checker& check, const json& member, const std::string& at,
                   TargetBeingRead& into) {
  if (auto d = check.duration(member, at, kMinInterval, kMaxInterval))
    into.target.interval = *d;
}

void read_timeout(Checker& check, const json& member, const std::string& at,
                  TargetBeingRead& into) {
  if (auto d = check.duration(member, at, kMinTimeout, kMaxTimeout))
    into.target.fetch.timeout = *d;
}

void read_method(Checker& check, const json& member, const std::string& at, TargetBeingRead& into) {
  constexpr std::array kMethods = {http::Method::get, http::Method::head, http::Method::post,
                                   http::Method::put};
  if (auto index = check.choice(member, at, {"GET", "HEAD", "POST", "PUT"}))
    into.target.fetch.method = kMethods.at(*index);
}

// Any text: a JSON or form body has its newlines (the length, not the bytes, frames it).
void read_body(Checker& check, const json& member, const std::string& at, TargetBeingRead& into) {
  if (!member.is_string()) {
    check.fail(at, "expected the body as a string, found " + found(member));
    return;
  }
  into.target.fetch.body = member.get<std::string>();
}

// Read when the configuration is (at start, and on the reload thread): a regular file (a FIFO
// would block the read) of at most http::kMaxRequestBody bytes.
void read_body_file(Checker& check, const json& member, const std::string& at,
                    TargetBeingRead& into) {
  if (into.from_control) {
    check.fail(at,
               "body_file is not accepted through the control socket (it would read a file of "
               "the daemon's disk); send the body itself as \"body\"");
    return;
  }
  const std::string* path = check.string(member, at, false);
  if (path == nullptr)
    return;
  struct stat info {};
  if (::stat(path->c_str(), &info) != 0) {
    check.fail(at, "cannot read body_file " + quote(*path) + ": " + std::strerror(errno));
    return;
  }
  if (!S_ISREG(info.st_mode)) {
    check.fail(at, "body_file " + quote(*path) + " is not a regular file");
    return;
  }
  if (static_cast<std::size_t>(info.st_size) > http::kMaxRequestBody) {
    check.fail(at, "body_file " + quote(*path) + " has " + std::to_string(info.st_size) +
                       " bytes; a request body may have at most 1 MiB");
    return;
  }
  auto text = read_file(*path);
  if (!text) {
    check.fail(at, "cannot read body_file " + quote(*path) + ": " + text.error().message);
    return;
  }
  into.target.fetch.body = std::move(text).value();
}

void read_headers(Checker& check, const json& member, const std::string& at,
                  TargetBeingRead& into) {
  if (!check.object(member, at))
    return;
  for (const auto& [name, header_value] : member.items())
    read_header(check, at + pointer_token(name), name, header_value, into.target.fetch.headers);
}

void read_labels(Checker& check, const json& member, const std::string& at, TargetBeingRead& into) {
  read_label_map(check, member, at, into.target.labels);
}

void read_enabled(Checker& check, const json& member, const std::string& at,
                  TargetBeingRead& into) {
  if (auto on = check.boolean(member, at))
    into.target.enabled = *on;
}

void read_verify(Checker& check, const json& member, const std::string& at, http::TlsOptions& tls) {
  if (auto on = check.boolean(member, at))
    tls.verify_peer = *on;
}

void read_ca_file(Checker& check, const json& member, const std::string& at,
                  http::TlsOptions& tls) {
  if (const auto* path = check.string(member, at, false))
    tls.ca_file = *path;
}

void read_server_name(Checker& check, const json& member, const std::string& at,
                      http::TlsOptions& tls) {
  const std::string* name = check.string(member, at, false);
  if (name == nullptr)
    return;
  http::Target probe;
  probe.tls.server_name = *name;
  auto valid = http::validate(std::move(probe));
  if (!valid) {
    check.fail(at, valid.error().message);
    return;
  }
  tls.server_name = *name;
}

constexpr std::array<KeyRule<http::TlsOptions>, 3> kTlsKeys = {{
    {"verify", read_verify, "check the server's certificate (default true)"},
    {"ca_file", read_ca_file, "PEM file of the CAs to trust instead of the system's"},
    {"server_name", read_server_name, "name for SNI and the certificate check instead of the host"},
}};

void read_tls(Checker& check, const json& member, const std::string& at, TargetBeingRead& into) {
  check.members(member, at, tls_keys(), into.target.fetch.tls);
}

void read_ip(Checker& check, const json& member, const std::string& at, TargetBeingRead& into) {
  if (auto index = check.choice(member, at, {"any", "ipv4", "ipv6"})) {
    constexpr std::array kFamilies = {http::AddressFamily::any, http::AddressFamily::ipv4,
                                      http::AddressFamily::ipv6};
    into.target.fetch.family = kFamilies[*index];
  }
}

void read_max_redirects(Checker& check, const json& member, const std::string& at,
                        TargetBeingRead& into) {
  if (auto n = check.integer(member, at, 0, 20))
    into.target.fetch.max_redirects = static_cast<int>(*n);
}

void read_max_body_bytes(Checker& check, const json& member, const std::string& at,
                         TargetBeingRead& into) {
  if (auto n = check.integer(member, at, 0, std::int64_t{64} * 1024 * 1024))
    into.target.fetch.max_body_bytes = static_cast<std::size_t>(*n);
}

void read_max_header_bytes(Checker& check, const json& member, const std::string& at,
                           TargetBeingRead& into) {
  if (auto n = check.integer(member, at, 1024, std::int64_t{1024} * 1024))
    into.target.fetch.max_header_bytes = static_cast<std::size_t>(*n);
}

template <int TargetConfig::*streak_field>
void read_streak(Checker& check, const json& member, const std::string& at, TargetBeingRead& into) {
  if (auto n = check.integer(member, at, 1, 100))
    into.target.*streak_field = static_cast<int>(*n);
}

void read_expect(Checker& check, const json& member, const std::string& at, TargetBeingRead& into) {
  read_expectations(check, member, at, into.target.expect);
}

constexpr std::array<KeyRule<TargetBeingRead>, 18> kTargetKeys = {{
    {"name", read_name, "unique name; from the URL's host when left out"},
    {"url", read_url, "the http:// or https:// URL to fetch"},
    {"interval", read_interval, "time between fetches"},
    {"timeout", read_timeout, "deadline of one whole fetch, redirects included"},
    {"method", read_method, R"("GET", "HEAD", "POST" or "PUT")"},
    {"headers", read_headers, "extra request headers, by name"},
    {"body", read_body, "the request body of a POST or PUT"},
    {"body_file", read_body_file, "a file whose contents are the request body"},
    {"labels", read_labels, "labels carried into results and metrics"},
    {"enabled", read_enabled, "false: defined, but not fetched"},
    {"tls", read_tls, "certificate checking: verify, ca_file, server_name"},
    {"ip", read_ip, R"(address family: "any", "ipv4" or "ipv6")"},
    {"max_redirects", read_max_redirects, "redirects followed; 0: a 3xx is the result"},
    {"max_body_bytes", read_max_body_bytes, "body bytes read at most"},
    {"max_header_bytes", read_max_header_bytes, "response header bytes accepted at most"},
    {"down_after", read_streak<&TargetConfig::down_after>, "failures in a row before DOWN"},
    {"up_after", read_streak<&TargetConfig::up_after>, "successes in a row before UP again"},
    {"expect", read_expect, "what a response must satisfy to count as a success"},
}};

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
    check.fail(pointer, R"(a body expectation needs a response body, which method "HEAD" has not)");
  }
  fetch.keep_body = target.expect.needs_body();
  auto valid = http::validate(fetch);
  if (!valid)
    check.fail(pointer, valid.error().message);
}

// The entry's own keys over the defaults; false after errors. `named` tells whether it has a name.
void refuse_two_bodies(Checker& check, const json& value, const std::string& pointer) {
  if (value.is_object() && value.contains("body") && value.contains("body_file"))
    check.fail(pointer, R"(give either "body" or "body_file", not both)");
}

bool read_entry_members(Checker& check, const json& value, const std::string& pointer,
                        TargetConfig& target, bool& named, bool from_control) {
  if (value.is_string()) {
    auto url = http::parse_url(value.get_ref<const std::string&>());
    if (!url) {
      check.fail(pointer, url.error().message);
      return false;
    }
    target.fetch.url = std::move(url).value();
    return true;
  }
  if (!value.is_object()) {
    check.fail(pointer, "expected a URL string or a target object, found " + found(value));
    return false;
  }
  TargetBeingRead into{target, false, from_control};
  refuse_two_bodies(check, value, pointer);
  check.members(value, pointer, target_keys(), into);
  if (!value.contains("url"))
    check.fail(pointer, "missing \"url\"");
  named = value.contains("name");
  return true;
}

}  // namespace

std::span<const KeyRule<TargetBeingRead>> target_keys() {
  return kTargetKeys;
}

std::span<const KeyRule<http::TlsOptions>> tls_keys() {
  return kTlsKeys;
}

void read_defaults(Checker& check, const json& value, const std::string& pointer,
                   Defaults& defaults) {
  TargetBeingRead into{defaults.target, true};
  refuse_two_bodies(check, value, pointer);
  check.members(value, pointer, target_keys(), into);
}

std::optional<TargetConfig> read_target_entry(Checker& check, const json& value,
                                              const Defaults& defaults, const std::string& pointer,
                                              bool from_control) {
  const std::size_t errors_before = check.error_count();
  TargetConfig target = defaults.target;
  target.name.clear();
  target.fetch.url = {};
  target.source_file = check.file();
  target.source_pointer = pointer;
  bool named = false;
  if (!read_entry_members(check, value, pointer, target, named, from_control))
    return std::nullopt;
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

void read_header(Checker& check, const std::string& at, const std::string& name, const json& value,
                 http::Headers& headers) {
  if (!value.is_string()) {
    check.fail(at, "expected a string, found " + found(value));
    return;
  }
  http::Target probe;
  probe.headers.push_back({name, value.get<std::string>()});
  if (auto valid = http::validate(std::move(probe)); !valid) {
    check.fail(at, valid.error().message);
    return;
  }
  auto same = std::find_if(headers.begin(), headers.end(),
                           [&](const auto& header) { return http::iequals(header.name, name); });
  if (same != headers.end())
    same->value = value.get<std::string>();
  else
    headers.push_back({name, value.get<std::string>()});
}

}  // namespace fetchd::config
