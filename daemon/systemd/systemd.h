#pragma once

// The daemon's side of systemd (libsystemd), wired in main.cpp only; nothing else knows systemd
// exists. Everything here is a no-op when not run by systemd: sd_notify() without NOTIFY_SOCKET
// sends nothing, no WATCHDOG_USEC means no watchdog, no LISTEN_FDS means no adopted socket, and
// logs stay plain stderr lines without JOURNAL_STREAM.
//
// Notify protocol (Type=notify; systemd 252 has no Type=notify-reload, but it and later versions
// both honour this): READY=1 with a STATUS= once the configuration is loaded and the control socket
// listens; STATUS= kept current; RELOADING=1 + MONOTONIC_USEC= when a reload starts and READY=1
// when it is applied or refused; STOPPING=1 on shutdown. WATCHDOG=1 every half WatchdogSec= from a
// timer on the event loop itself, so that a stuck loop stops the pings and gets restarted.

#include <chrono>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <spdlog/logger.h>

namespace fetchd::systemd {

class Notifier {
 public:
  // `status` makes the current STATUS= line; it is called on the loop.
  Notifier(asio::io_context& loop, std::function<std::string()> status,
           std::chrono::milliseconds status_every = std::chrono::seconds(5));
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // READY=1 + STATUS=, then starts the watchdog pings (if enabled) and the STATUS= refresh.
  void ready();
  // RELOADING=1 + MONOTONIC_USEC=<CLOCK_MONOTONIC µs> + STATUS=reloading the configuration.
  void reloading();
  // READY=1 + STATUS= after a reload (applied or refused; the status line says which).
  void reloaded();
  // STOPPING=1 + STATUS=stopping; stops the timers (so the loop can run out of work) and ignores
  // every later call.
  void stopping();

  // The watchdog ping interval (half WatchdogSec=), if the service manager asked for pings.
  std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_every_; }

 private:
  static void send(const std::string& message);
  void ping_watchdog();
  void refresh_status();

  std::function<std::string()> status_;
  std::chrono::milliseconds status_every_;
  std::optional<std::chrono::microseconds> watchdog_every_;
  asio::steady_timer watchdog_timer_;
  asio::steady_timer status_timer_;
  std::string last_status_{};
  bool started_ = false;
  bool stopping_ = false;
};

// The STATUS= line: "1204 targets: 1190 up, 14 down · 310 fetches/s · last reload ok". Unknown
// targets (not fetched yet) are counted when there are some; `last_reload` is empty before the
// first reload, else "ok" or the refusal's errors (the first line is shown).
struct StatusCounts {
  std::size_t total = 0, up = 0, down = 0, unknown = 0;
  double fetches_per_s = 0;
  std::optional<bool> last_reload_ok{};
  std::string last_reload_error{};
};
std::string status_line(const StatusCounts& counts);

// The listening stream sockets systemd passed (socket activation), by name (FileDescriptorName=),
// for the names in `known`. A lone socket under any other name is returned as `lone`, so that a
// socket unit without FileDescriptorName= (systemd names it after the unit) or
// systemd-socket-activate without --fdname ("unknown") still works. Every other descriptor passed
// (an unknown name, a second one of a name, not a listening stream socket) is logged as a warning
// and closed. The LISTEN_* variables are removed either way.
std::map<std::string, int> listen_fds(std::initializer_list<std::string_view> known,
                                      std::string_view lone);

// True when stderr is connected to the journal (JOURNAL_STREAM names stderr's device and inode).
bool stderr_is_journal();

// The daemon's logger on stderr: when stderr is the journal, each line (every line of a multi-line
// message) starts with a "<N>" syslog priority (journald parses it, so `journalctl -p warning`
// shows exactly the warnings and worse) and carries no timestamp (the journal has its own);
// otherwise timestamped lines.
std::shared_ptr<spdlog::logger> make_logger(const std::string& name);

}  // namespace fetchd::systemd
