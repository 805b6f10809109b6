// fetchd: entry point. Picks the mode and wires the parts; nothing else knows about it.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include "common/plural.h"
#include "common/version.h"
#include "config/loader.h"
#include "control/server.h"
#include "metrics/loop_lag.h"
#include "metrics/scrape.h"
#include "once/once.h"
#include "service/service.h"
#include "systemd/systemd.h"
#include "web/server.h"

namespace {

using namespace fetchd;

// The control socket's FileDescriptorName= in fetchd.socket, the metrics listener's in
// fetchd-web.socket.
constexpr std::string_view kControlFdName = "control";
constexpr std::string_view kWebFdName = "web";

void print_usage(std::FILE* out) {
  std::fprintf(
      out,
      "fetchd %s — HTTP(S) probe daemon\n"
      "usage: fetchd [--config PATH]                run the daemon in the foreground\n"
      "       fetchd --check-config [--config PATH] validate the configuration, exit 0/1\n"
      "       fetchd once [options] URL...          fetch URLs once and print the headers\n"
      "       fetchd --version\n"
      "The configuration is PATH (default %s) plus conf.d/*.json beside it.\n"
      "Signals: SIGHUP reloads the configuration; SIGTERM and SIGINT stop.\n\n",
      kVersion, std::string(config::kDefaultConfigPath).c_str());
  once::print_usage(out);
}

std::size_t count_enabled(const config::Config& config) {
  return static_cast<std::size_t>(std::count_if(config.targets.begin(), config.targets.end(),
                                                [](const auto& target) { return target.enabled; }));
}

int check_config(const std::string& path) {
  const auto loaded = config::load_config(path);
  if (!loaded) {
    std::fputs(loaded.error_text().c_str(), stderr);
    std::fprintf(stderr, "fetchd: configuration %s is invalid (%s)\n", path.c_str(),
                 plural(loaded.errors.size(), "error").c_str());
    return 1;
  }
  std::printf("fetchd: configuration %s is valid: %s, %s (%zu enabled)\n", path.c_str(),
              plural(loaded.value->files.size(), "file").c_str(),
              plural(loaded.value->targets.size(), "target").c_str(), count_enabled(*loaded.value));
  return 0;
}

control::ServerOptions control_options(const config::Settings& settings) {
  control::ServerOptions options;
  options.socket_path = settings.control_socket;
  options.socket_mode = settings.socket_mode;
  options.socket_group = settings.socket_group;
  options.admin_group = settings.admin_group;
  options.max_clients = settings.max_clients;
  // For tests only (not an operator setting): a short idle timeout, so expiry can be tested fast.
  if (const char* idle = std::getenv("FETCHD_TEST_CONTROL_IDLE_MS"); idle != nullptr) {
    if (const long ms = std::strtol(idle, nullptr, 10); ms > 0)
      options.idle_timeout = std::chrono::milliseconds(ms);
  }
  return options;
}

web::ServerOptions web_options(const config::Settings& settings) {
  web::ServerOptions options;
  options.listen = settings.web_listen;
  options.max_clients = settings.web_max_clients;
  // For tests only (not an operator setting): a short request-head timeout.
  if (const char* head = std::getenv("FETCHD_TEST_WEB_HEAD_MS"); head != nullptr) {
    if (const long ms = std::strtol(head, nullptr, 10); ms > 0)
      options.head_timeout = std::chrono::milliseconds(ms);
  }
  return options;
}

std::string systemd_status(const status::Snapshot& snapshot) {
  const auto& counts = snapshot.targets;
  systemd::StatusCounts status{counts.total, counts.up, counts.down, counts.unknown,
                               snapshot.fetch_rate_per_s};
  if (const auto& reload = snapshot.last_reload) {
    status.last_reload_ok = reload->ok;
    status.last_reload_error = reload->errors;
  }
  return systemd::status_line(status);
}

// Foreground, systemd style: logs to stderr (to the journal with priorities under systemd); SIGHUP
// reloads; SIGTERM/SIGINT stop cleanly. Under systemd: Type=notify, watchdog, socket activation.
int run_daemon(const std::string& path) {
  spdlog::set_default_logger(systemd::make_logger("fetchd"));
  auto loaded = config::load_config(path);
  if (!loaded) {
    spdlog::critical("configuration {} is invalid:\n{}", path, loaded.error_text());
    return 1;
  }
  asio::io_context loop(1);
  bool running = false;
  try {
    const auto options = control_options(loaded.value->settings);
    const config::Settings loaded_settings = loaded.value->settings;
    service::Service service(loop, path, std::move(*loaded.value));
    control::Server control(loop, service, options);
    // The socket first: a second fetchd on the same socket must refuse before it fetches anything.
    // Socket activation: systemd created and owns the socket (requests wait in it while fetchd
    // starts), so it is adopted, never bound or removed here.
    // By name (FileDescriptorName=control in fetchd.socket), or the only one passed.
    const auto activated = systemd::listen_fds({kControlFdName, kWebFdName}, kControlFdName);
    const auto control_fd = activated.find(std::string(kControlFdName));
    if (control_fd != activated.end())
      spdlog::info("adopting the control socket passed by systemd (fd {})", control_fd->second);
    if (auto error =
            control_fd != activated.end() ? control.adopt(control_fd->second) : control.open()) {
      spdlog::critical("cannot start: {}", error->message);
      return 1;
    }
    // The metrics listener: the socket systemd passed (fetchd-web.socket) instead of web_listen.
    metrics::LoopLag loop_lag(loop.get_executor());
    bool loaded_and_started = false;
    web::Server web(
        loop,
        metrics::View{
            .registry = &service.registry(),
            .snapshot = [&service] { return service.snapshot(); },
            .settings = [&service]() -> const config::Settings& {
              return service.config().settings;
            },
            .control_clients = [&control] { return control.sessions(); },
            .loop_lag_seconds = [&loop_lag] { return loop_lag.max_seconds(); },
        },
        [&loaded_and_started] { return loaded_and_started; }, web_options(loaded_settings));
    const auto web_fd = activated.find(std::string(kWebFdName));
    if (web_fd != activated.end()) {
      spdlog::info("adopting the metrics socket passed by systemd (fd {})", web_fd->second);
      if (auto error = web.adopt(web_fd->second)) {
        spdlog::critical("cannot start: {}", *error);
        return 1;
      }
    } else if (auto error = web.open()) {
      spdlog::critical("cannot start: {}", *error);
      return 1;
    }
    if (web_fd == activated.end() && !loaded_settings.web_listen.empty()) {
      std::string addresses;
      for (const auto& address : loaded_settings.web_listen)
        addresses += (addresses.empty() ? "" : ", ") + address;
      spdlog::info("metrics: listening on {}", addresses);
      if (!loaded_settings.web_auth.enabled()) {
        for (const auto& address : web.reachable_from_other_machines()) {
          spdlog::warn(
              "metrics: {} is reachable from other machines and settings.web_auth_file "
              "is not set: anyone who can reach it can read the metrics",
              address);
        }
      }
    }
    service.start();
    loaded_and_started = true;
    control.start();
    web.start();
    loop_lag.start();
    systemd::Notifier notifier(loop, [&service] { return systemd_status(service.snapshot()); });
    service.on_reload([&notifier] { notifier.reloading(); },
                      [&notifier](const service::ReloadReport&) { notifier.reloaded(); });

    asio::signal_set stop_signals(loop, SIGTERM, SIGINT);
    asio::signal_set reload_signal(loop, SIGHUP);
    std::function<void()> wait_for_reload = [&] {
      reload_signal.async_wait([&](std::error_code ec, int) {
        if (ec)
          return;
        service.reload();
        wait_for_reload();
      });
    };
    wait_for_reload();
    stop_signals.async_wait([&](std::error_code ec, int signal) {
      if (ec)
        return;
      spdlog::info("signal {} received, stopping", signal);
      notifier.stopping();
      reload_signal.cancel();
      control.stop();
      web.stop();
      loop_lag.stop();
      service.shutdown();
    });
    // Ready once the signals are handled too: a reload may follow READY=1 at once.
    notifier.ready();
    running = true;
    loop.run();
    spdlog::info("fetchd stopped");
    return 0;
  } catch (const std::exception& error) {
    // Before the loop runs: StartupError (the state file) or a part that could not start (the
    // resolver, say). After: a bug that escaped the loop. Either way one line and exit 1.
    spdlog::critical("{}: {}", running ? "stopped by an unexpected error" : "cannot start",
                     error.what());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "once")
    return once::run({args.begin() + 1, args.end()});

  std::string config_path(config::kDefaultConfigPath);
  bool check_only = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--version") {
      std::printf("fetchd %s\n", kVersion);
      return 0;
    }
    if (args[i] == "--help" || args[i] == "-h") {
      print_usage(stdout);
      return 0;
    }
    const bool config_attached = args[i].starts_with("--config=");
    if (args[i] == "--check-config" || args[i] == "-t") {
      check_only = true;
    } else if ((args[i] == "--config" || args[i] == "-c") && i + 1 == args.size()) {
      std::fprintf(stderr, "fetchd: %s needs a PATH (the configuration file)\n", args[i].c_str());
      print_usage(stderr);
      return 2;
    } else if (args[i] == "--config" || args[i] == "-c" || config_attached) {
      // Absolute, so that status, logs and reloads name the same file whatever the reader's
      // working directory.
      std::error_code error;
      const std::filesystem::path given(config_attached ? args[i].substr(9) : args[++i]);
      const auto absolute = std::filesystem::absolute(given, error);
      config_path = (error ? given : absolute.lexically_normal()).string();
    } else {
      std::fprintf(stderr, "fetchd: unknown argument \"%s\"\n", args[i].c_str());
      print_usage(stderr);
      return 2;
    }
  }
  return check_only ? check_config(config_path) : run_daemon(config_path);
}
