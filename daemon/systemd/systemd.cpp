#include "systemd/systemd.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include "common/plural.h"

namespace fetchd::systemd {

namespace {

std::uint64_t monotonic_usec() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000u +
         static_cast<std::uint64_t>(now.tv_nsec) / 1'000u;
}

// STATUS= is one line: a newline would end the assignment and start another.
std::string one_line(std::string_view text) {
  const auto end = text.find('\n');
  return std::string(text.substr(0, end));
}

}  // namespace

// ---- notify ------------------------------------------------------------------------------------

Notifier::Notifier(asio::io_context& loop, std::function<std::string()> status,
                   std::chrono::milliseconds status_every)
    : status_(std::move(status)),
      status_every_(status_every),
      watchdog_timer_(loop),
      status_timer_(loop) {
  std::uint64_t usec = 0;
  // 0: keep WATCHDOG_USEC/WATCHDOG_PID, harmless (fetchd starts no children) and inspectable.
  if (::sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
    watchdog_every_ = std::chrono::microseconds(std::max<std::uint64_t>(usec / 2, 1));
}

void Notifier::send(const std::string& message) {
  // 0: never unset NOTIFY_SOCKET, or every later notification would be dropped.
  const int sent = ::sd_notify(0, message.c_str());
  if (sent < 0)
    spdlog::debug("sd_notify failed: {}", std::strerror(-sent));
}

void Notifier::ready() {
  if (stopping_ || started_)
    return;
  started_ = true;
  last_status_ = one_line(status_());
  send("READY=1\nSTATUS=" + last_status_);
  if (watchdog_every_) {
    spdlog::info("systemd watchdog: pinging every {} ms",
                 std::chrono::duration_cast<std::chrono::milliseconds>(*watchdog_every_).count());
    ping_watchdog();
  }
  status_timer_.expires_after(status_every_);
  status_timer_.async_wait([this](std::error_code ec) {
    if (!ec)
      refresh_status();
  });
}

void Notifier::reloading() {
  if (stopping_)
    return;
  last_status_ = "reloading the configuration";
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic_usec()) +
       "\nSTATUS=" + last_status_);
}

void Notifier::reloaded() {
  if (stopping_)
    return;
  last_status_ = one_line(status_());
  send("READY=1\nSTATUS=" + last_status_);
}

void Notifier::stopping() {
  if (stopping_)
    return;
  stopping_ = true;
  watchdog_timer_.cancel();
  status_timer_.cancel();
  send("STOPPING=1\nSTATUS=stopping");
}

void Notifier::ping_watchdog() {
  if (stopping_)
    return;
  send("WATCHDOG=1");
  watchdog_timer_.expires_after(*watchdog_every_);
  watchdog_timer_.async_wait([this](std::error_code ec) {
    if (!ec)
      ping_watchdog();
  });
}

void Notifier::refresh_status() {
  if (stopping_)
    return;
  // Sent only when it changed: systemd keeps the last one.
  if (auto status = one_line(status_()); status != last_status_) {
    last_status_ = std::move(status);
    send("STATUS=" + last_status_);
  }
  status_timer_.expires_after(status_every_);
  status_timer_.async_wait([this](std::error_code ec) {
    if (!ec)
      refresh_status();
  });
}

std::string status_line(const StatusCounts& counts) {
  std::string line =
      fmt::format("{}: {} up, {} down", plural(counts.total, "target"), counts.up, counts.down);
  if (counts.unknown > 0)
    line += fmt::format(", {} not yet fetched", counts.unknown);
  const double rate = counts.fetches_per_s;
  line += rate >= 10 || rate == 0 ? fmt::format(" · {:.0f} fetches/s", rate)
                                  : fmt::format(" · {:.1f} fetches/s", rate);
  if (counts.last_reload_ok) {
    line += *counts.last_reload_ok
                ? std::string(" · last reload ok")
                : " · last reload refused: " + one_line(counts.last_reload_error);
  }
  return line;
}

// ---- socket activation -------------------------------------------------------------------------

namespace {

// Why systemd's descriptor `fd`, named `name`, is of no use; nullopt when it is.
std::optional<std::string> unusable(int fd, const std::string& name,
                                    std::initializer_list<std::string_view> known,
                                    const std::map<std::string, int>& taken) {
  if (std::find(known.begin(), known.end(), name) == known.end())
    return fmt::format("fd {} is named \"{}\", which fetchd does not use (FileDescriptorName=)", fd,
                       name);
  if (taken.contains(name))
    return fmt::format("fd {} is a second socket named \"{}\"", fd, name);
  if (::sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0)
    return fmt::format("fd {} (\"{}\") is not a listening stream socket", fd, name);
  return std::nullopt;
}

}  // namespace

std::map<std::string, int> listen_fds(std::initializer_list<std::string_view> known,
                                      std::string_view lone) {
  std::map<std::string, int> fds;
  char** names = nullptr;
  const int count = ::sd_listen_fds_with_names(1, &names);
  if (count < 0) {
    spdlog::warn("systemd socket activation: {}, ignoring", std::strerror(-count));
    return fds;
  }
  for (int i = 0; i < count; ++i) {
    const int fd = SD_LISTEN_FDS_START + i;
    std::string name = names != nullptr && names[i] != nullptr ? names[i] : "unknown";
    if (count == 1 && std::find(known.begin(), known.end(), name) == known.end())
      name = lone;
    if (const auto why = unusable(fd, name, known, fds)) {
      spdlog::warn("systemd socket activation: {}; closing it, ignoring", *why);
      ::close(fd);
      continue;
    }
    fds.emplace(std::move(name), fd);
  }
  if (names != nullptr) {
    for (int i = 0; i < count; ++i)
      std::free(names[i]);
    std::free(names);
  }
  return fds;
}

// ---- journald ----------------------------------------------------------------------------------

bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr)
    return false;
  std::uintmax_t device = 0;
  std::uintmax_t inode = 0;
  if (std::sscanf(stream, "%ju:%ju", &device, &inode) != 2)
    return false;
  struct stat err {};
  return ::fstat(STDERR_FILENO, &err) == 0 && static_cast<std::uintmax_t>(err.st_dev) == device &&
         static_cast<std::uintmax_t>(err.st_ino) == inode;
}

namespace {

// Each line of a message starts with "<N>", the syslog priority of its level, which journald
// strips and records. Every line, not only the first: journald makes each line its own entry, and
// a refused reload's error lines must show under `journalctl -p err` too.
class JournalFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const char* prefix = "<6>";
    switch (msg.level) {
      case spdlog::level::trace:
      case spdlog::level::debug:
        prefix = "<7>";
        break;
      case spdlog::level::warn:
        prefix = "<4>";
        break;
      case spdlog::level::err:
        prefix = "<3>";
        break;
      case spdlog::level::critical:
        prefix = "<2>";
        break;
      default:
        break;
    }
    std::string_view text(msg.payload.data(), msg.payload.size());
    while (!text.empty() && text.back() == '\n')
      text.remove_suffix(1);
    for (;;) {
      const auto end = text.find('\n');
      dest.append(prefix, prefix + 3);
      const auto line = text.substr(0, end);
      dest.append(line.data(), line.data() + line.size());
      dest.push_back('\n');
      if (end == std::string_view::npos)
        break;
      text.remove_prefix(end + 1);
    }
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JournalFormatter>();
  }
};

}  // namespace

std::shared_ptr<spdlog::logger> make_logger(const std::string& name) {
  auto logger = spdlog::stderr_color_mt(name);
  if (stderr_is_journal()) {
    logger->set_formatter(std::make_unique<JournalFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  }
  return logger;
}

}  // namespace fetchd::systemd
