#include "once/once.h"

#include <array>
#include <cstdio>
#include <exception>
#include <optional>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "config/duration.h"
#include "dns/resolver.h"
#include "http/fetch_json.h"
#include "http/fetcher.h"

namespace fetchd::once {

namespace {

struct Options {
  std::vector<http::Target> targets;
  bool json = false;
  bool help = false;  // --help: the usage on stdout, nothing fetched
  dns::ResolverOptions resolver;
};

// The --timeout value, in the configuration's syntax; an error message, or empty on success.
std::string read_timeout(const std::optional<std::string>& text, http::Target& target) {
  if (!text)
    return "--timeout needs a duration like 500ms, 10s";
  // fetchd(8) documents a number alone as seconds, so scripts may pass one.
  const bool seconds_only =
      !text->empty() && text->find_first_not_of("0123456789") == std::string::npos;
  const auto duration = config::parse_duration(seconds_only ? *text + "s" : *text);
  if (!duration) {
    return R"(--timeout: expected a duration like "10s", found ")" + *text +
           "\": " + duration.error().message;
  }
  if (duration->count() == 0)
    return "--timeout must be more than 0s";
  target.timeout = *duration;
  return {};
}

// Returns an error message, or empty on success.
std::string parse_args(const std::vector<std::string>& args, Options& options) {
  http::Target defaults;
  std::vector<std::string> urls;
  for (std::size_t i = 0; i < args.size(); ++i) {
    // "--timeout=2s" as "--timeout 2s", as curl and fetchctl take them.
    const auto equals = args[i].starts_with("--") ? args[i].find('=') : std::string::npos;
    const std::string arg = args[i].substr(0, equals);
    std::optional<std::string> attached;
    if (equals != std::string::npos)
      attached = args[i].substr(equals + 1);
    bool value_used = false;
    auto value = [&]() -> std::optional<std::string> {
      value_used = true;
      if (attached)
        return attached;
      if (i + 1 >= args.size())
        return std::nullopt;
      return args[++i];
    };
    if (arg == "--help" || arg == "-h") {
      options.help = true;
      return {};
    }
    if (arg == "--json") {
      options.json = true;
    } else if (arg == "--head") {
      defaults.method = http::Method::head;
    } else if (arg == "-k" || arg == "--insecure") {
      defaults.tls.verify_peer = false;
    } else if (arg == "-4") {
      defaults.family = http::AddressFamily::ipv4;
    } else if (arg == "-6") {
      defaults.family = http::AddressFamily::ipv6;
    } else if (arg == "--timeout") {
      if (auto error = read_timeout(value(), defaults); !error.empty())
        return error;
    } else if (arg == "--cacert") {
      const auto text = value();
      if (!text)
        return "--cacert needs a file";
      defaults.tls.ca_file = *text;
    } else if (arg == "--server-name") {
      const auto text = value();
      if (!text)
        return "--server-name needs a host name";
      defaults.tls.server_name = *text;
    } else if (arg == "--max-redirects" || arg == "-L") {
      const auto text = arg == "-L" ? std::optional<std::string>("10") : value();
      if (!text || text->empty() || text->find_first_not_of("0123456789") != std::string::npos) {
        return "--max-redirects needs a number";
      }
      defaults.max_redirects = std::stoi(*text);
    } else if (arg == "-H" || arg == "--header") {
      const auto text = value();
      const auto colon = text ? text->find(':') : std::string::npos;
      if (colon == std::string::npos)
        return "--header needs \"Name: value\"";
      auto field_value = text->substr(colon + 1);
      field_value.erase(0, field_value.find_first_not_of(" \t"));
      defaults.headers.push_back({text->substr(0, colon), field_value});
    } else if (arg == "--dns-server") {
      const auto text = value();
      if (!text)
        return "--dns-server needs an address";
      options.resolver.servers.push_back(*text);
    } else if (arg.starts_with("-")) {
      return "unknown option " + arg;
    } else {
      urls.push_back(arg);
    }
    if (attached && !value_used)
      return arg + " takes no value";
  }
  if (urls.empty())
    return "no URL given";
  for (const auto& url : urls) {
    auto parsed = http::parse_url(url);
    if (!parsed)
      return parsed.error().message;
    http::Target target = defaults;
    target.url = std::move(parsed).value();
    auto valid = http::validate(std::move(target));
    if (!valid)
      return valid.error().message;
    options.targets.push_back(std::move(valid).value());
  }
  return {};
}

std::string micros_text(const std::optional<std::chrono::microseconds>& duration) {
  if (!duration)
    return "-";
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%.1fms",
                static_cast<double>(duration->count()) / 1000.0);
  return text.data();
}

// One block per fetch, printed at once so concurrent fetches never interleave their lines.
void print_headers(const http::FetchResult& result) {
  std::string block;
  for (const auto& hop : result.hops) {
    const std::string& host = hop.url.host;
    if (hop.status != 0) {
      block += host + " header > HTTP/" + std::to_string(hop.version_major) + "." +
               std::to_string(hop.version_minor) + " " + std::to_string(hop.status) +
               (hop.reason.empty() ? "" : " " + hop.reason) + "\n";
      for (const auto& header : hop.headers) {
        block += host + " header > " + header.name + ": " + header.value + "\n";
      }
    }
    if (hop.error) {
      block += host + " error > " + std::string(http::to_string(hop.error.error_class)) + ": " +
               hop.error.message + "\n";
    }
  }
  std::fputs(block.c_str(), stdout);
  std::fflush(stdout);
}

void print_summary(const std::vector<http::Target>& targets,
                   const std::vector<http::FetchResult>& results) {
  std::printf("\n%-40s %-9s %6s %9s %9s %9s %9s %9s %9s\n", "URL", "OUTCOME", "STATUS", "DNS",
              "CONNECT", "TLS", "FIRSTBYTE", "TOTAL", "BODY");
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const auto& result = results[i];
    const auto& hop = result.last();
    std::printf("%-40s %-9s %6s %9s %9s %9s %9s %9s %9zu\n", targets[i].url.to_string().c_str(),
                std::string(http::to_string(hop.error.error_class)).c_str(),
                hop.status ? std::to_string(hop.status).c_str() : "-",
                micros_text(hop.timings.dns).c_str(), micros_text(hop.timings.connect).c_str(),
                micros_text(hop.timings.tls_handshake).c_str(),
                micros_text(hop.timings.first_byte).c_str(), micros_text(result.total).c_str(),
                hop.body_bytes);
  }
}

}  // namespace

void print_usage(std::FILE* out) {
  std::fputs(
      "usage: fetchd once [options] URL...\n"
      "  --json               print the results as a JSON array\n"
      "  --head               send HEAD instead of GET\n"
      "  --timeout DURATION   whole-fetch deadline (default 10s; 500ms, 10s, 1m)\n"
      "  -H, --header 'N: V'  add a request header (repeatable)\n"
      "  -L, --max-redirects N follow up to N redirects (-L: 10; default: none)\n"
      "  -k, --insecure       do not verify the server certificate\n"
      "  --cacert FILE        verify against this CA bundle instead of the system's\n"
      "  --server-name NAME   TLS server name (SNI and certificate check)\n"
      "  -4, -6               use only IPv4 / IPv6 addresses\n"
      "  --dns-server ADDR    ask this DNS server (repeatable; default: /etc/resolv.conf)\n",
      out);
}

int run(const std::vector<std::string>& args) {
  Options options;
  if (const auto error = parse_args(args, options); !error.empty()) {
    std::fprintf(stderr, "fetchd once: %s\n", error.c_str());
    print_usage(stderr);
    return 2;
  }
  if (options.help) {
    print_usage(stdout);
    return 0;
  }

  asio::io_context loop(1);
  dns::Resolver resolver(loop.get_executor(), options.resolver);
  http::Fetcher fetcher(resolver);
  std::vector<http::FetchResult> results(options.targets.size());
  for (std::size_t i = 0; i < options.targets.size(); ++i) {
    asio::co_spawn(
        loop, fetcher.fetch(options.targets[i]),
        [&results, &options, i](const std::exception_ptr& error, http::FetchResult result) {
          if (error)
            std::rethrow_exception(error);
          if (!options.json)
            print_headers(result);
          results[i] = std::move(result);
        });
  }
  loop.run();

  if (options.json) {
    auto list = nlohmann::json::array();
    for (const auto& result : results)
      list.push_back(http::to_json(result));
    std::printf("%s\n", list.dump(2).c_str());
  } else {
    print_summary(options.targets, results);
  }
  for (const auto& result : results) {
    if (!result.ok())
      return 1;
  }
  return 0;
}

}  // namespace fetchd::once
