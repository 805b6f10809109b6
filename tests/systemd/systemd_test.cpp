// The daemon's systemd side (daemon/systemd/), tested against the real fetchd binary: a test-owned
// NOTIFY_SOCKET captures the notify sequence and the watchdog pings; systemd-socket-activate hands
// the daemon its control socket; JOURNAL_STREAM switches the log lines to "<N>" priorities.

#include "systemd/systemd.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "common/version.h"
#include "support/fetchd_process.h"
#include "support/process.h"
#include "support/temp_dir.h"

namespace fetchd {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::uint64_t monotonic_usec() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000u +
         static_cast<std::uint64_t>(now.tv_nsec) / 1'000u;
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// What systemd's side of NOTIFY_SOCKET sees: one datagram per sd_notify(), with the sender's pid.
class NotifySocket {
 public:
  struct Message {
    std::string text;
    pid_t sender = 0;
    Clock::time_point at{};
  };

  explicit NotifySocket(std::filesystem::path path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", path_.c_str());
    const int on = 1;
    if (fd_ < 0 || ::setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) != 0 ||
        ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0)
      throw std::system_error(errno, std::generic_category(), "notify socket");
  }
  ~NotifySocket() { ::close(fd_); }

  std::string env() const { return "NOTIFY_SOCKET=" + path_.string(); }

  // The next datagram within `timeout`.
  std::optional<Message> receive(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd ready{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&ready, 1, static_cast<int>(left.count()) + 1) <= 0) {
        if (Clock::now() >= deadline)
          return std::nullopt;
        continue;
      }
      char text[4096];
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
      iovec io{text, sizeof(text)};
      msghdr header{};
      header.msg_iov = &io;
      header.msg_iovlen = 1;
      header.msg_control = control;
      header.msg_controllen = sizeof(control);
      const ssize_t size = ::recvmsg(fd_, &header, MSG_DONTWAIT);
      if (size < 0)
        continue;
      Message message{std::string(text, static_cast<std::size_t>(size)), 0, Clock::now()};
      for (auto* cmsg = CMSG_FIRSTHDR(&header); cmsg != nullptr;
           cmsg = CMSG_NXTHDR(&header, cmsg)) {
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_CREDENTIALS) {
          ucred credentials{};
          std::memcpy(&credentials, CMSG_DATA(cmsg), sizeof(credentials));
          message.sender = credentials.pid;
        }
      }
      return message;
    }
  }

  // The next lifecycle message (READY/RELOADING/STOPPING), skipping watchdog pings and
  // STATUS-only refreshes (recorded in `skipped`).
  std::optional<Message> next_lifecycle(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      auto message = receive(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now() + 1ms));
      if (!message)
        return std::nullopt;
      if (message->text == "WATCHDOG=1" || starts_with(message->text, "STATUS=")) {
        skipped.push_back(*message);
        continue;
      }
      return message;
    }
    return std::nullopt;
  }

  std::vector<Message> skipped;

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

// Every systemd variable the test runner itself might have (it may run under systemd), removed.
std::vector<std::string> clean_env(std::vector<std::string> extra) {
  std::vector<std::string> env{"NOTIFY_SOCKET",  "WATCHDOG_USEC", "WATCHDOG_PID",
                               "LISTEN_FDS",     "LISTEN_PID",    "LISTEN_FDNAMES",
                               "JOURNAL_STREAM", "INVOCATION_ID"};
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// One request line over the control socket and its reply line ("" if it could not be had); every
// wait is bounded by SO_RCVTIMEO/SO_SNDTIMEO.
std::string control_request(const std::filesystem::path& socket, const std::string& request) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return "";
  const timeval limit{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", socket.c_str());
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
      ::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
    char buffer[512];
    while (reply.find('\n') == std::string::npos && reply.size() < 64 * 1024) {
      const ssize_t got = ::read(fd, buffer, sizeof(buffer));
      if (got <= 0)
        break;
      reply.append(buffer, static_cast<std::size_t>(got));
    }
  }
  ::close(fd);
  return reply;
}

class SystemdTest : public ::testing::Test {
 protected:
  std::filesystem::path socket_path() const { return dir_.path() / "fetchd.sock"; }
  std::filesystem::path config_path() const { return dir_.path() / "fetchd.json"; }
  std::filesystem::path log_path() const { return dir_.path() / "daemon.log"; }

  // One target that is DOWN at once (nothing listens on port 1), for a warning line.
  void write_config() const {
    test::write_file(config_path(),
                     R"({"settings": {"state_dir": ")" + (dir_.path() / "state").string() +
                         R"(", "control_socket": ")" + socket_path().string() +
                         R"("}, "defaults": {"interval": "200ms", "timeout": "2s"}, "targets": [)"
                         R"({"name": "closed", "url": "http://127.0.0.1:1/"}]})");
  }

  std::unique_ptr<test::ChildProcess> start(const std::vector<std::string>& env) {
    write_config();
    return std::make_unique<test::ChildProcess>(
        std::vector<std::string>{FETCHD_BINARY, "--config", config_path().string()}, log_path(),
        clean_env(env));
  }

  static void stop(test::ChildProcess& daemon) {
    const auto status = test::stop_daemon(daemon).exit_status;
    ASSERT_TRUE(status) << daemon.output();
    EXPECT_EQ(*status, 0) << daemon.output();
  }

  test::TempDir dir_{"fetchd-systemd"};
};

TEST_F(SystemdTest, NotifiesReadyReloadingAndStoppingInOrder) {
  NotifySocket notify(dir_.path() / "notify.sock");
  auto daemon = start({notify.env()});

  auto ready = notify.next_lifecycle(10s);
  ASSERT_TRUE(ready) << daemon->output();
  EXPECT_TRUE(starts_with(ready->text, "READY=1\nSTATUS=1 target: ")) << ready->text;
  EXPECT_EQ(ready->sender, daemon->pid());  // NotifyAccess=main accepts it
  // READY=1 only once the control socket listens and the configuration is in effect.
  EXPECT_TRUE(std::filesystem::exists(socket_path()));
  EXPECT_NE(daemon->output().find("fetchd started"), std::string::npos) << daemon->output();

  // A reload that applies.
  const auto before = monotonic_usec();
  daemon->signal(SIGHUP);
  auto reloading = notify.next_lifecycle(10s);
  const auto after = monotonic_usec();
  ASSERT_TRUE(reloading) << daemon->output();
  ASSERT_TRUE(starts_with(reloading->text, "RELOADING=1\nMONOTONIC_USEC=")) << reloading->text;
  const auto usec = std::stoull(reloading->text.substr(reloading->text.find('=', 12) + 1));
  EXPECT_GE(usec, before);
  EXPECT_LE(usec, after);
  auto reloaded = notify.next_lifecycle(10s);
  ASSERT_TRUE(reloaded) << daemon->output();
  EXPECT_TRUE(starts_with(reloaded->text, "READY=1\nSTATUS=1 target: ")) << reloaded->text;
  EXPECT_NE(reloaded->text.find("last reload ok"), std::string::npos) << reloaded->text;

  // A broken edit: refused, READY=1 again, and the status line says so.
  test::write_file(config_path(), "{\n  \"targets\": [ oops ]\n}");
  daemon->signal(SIGHUP);
  reloading = notify.next_lifecycle(10s);
  ASSERT_TRUE(reloading) << daemon->output();
  EXPECT_TRUE(starts_with(reloading->text, "RELOADING=1\nMONOTONIC_USEC=")) << reloading->text;
  reloaded = notify.next_lifecycle(10s);
  ASSERT_TRUE(reloaded) << daemon->output();
  EXPECT_TRUE(starts_with(reloaded->text, "READY=1\nSTATUS=")) << reloaded->text;
  EXPECT_NE(reloaded->text.find("last reload refused: "), std::string::npos) << reloaded->text;
  EXPECT_EQ(reloaded->text.find('\n', 8), std::string::npos) << "STATUS= is one line";

  daemon->signal(SIGTERM);
  auto stopping = notify.next_lifecycle(5s);
  ASSERT_TRUE(stopping) << daemon->output();
  EXPECT_TRUE(starts_with(stopping->text, "STOPPING=1")) << stopping->text;
  const auto status = daemon->wait_exit(5s);
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 0) << daemon->output();
  EXPECT_FALSE(notify.receive(0ms)) << "nothing after STOPPING=1";
  // Without a watchdog asked for, no pings.
  for (const auto& message : notify.skipped)
    EXPECT_NE(message.text, "WATCHDOG=1");
}

// `fetchctl reload` (the control command) is a reload like SIGHUP for the service manager too.
TEST_F(SystemdTest, NotifiesAReloadAskedForOverTheControlSocket) {
  NotifySocket notify(dir_.path() / "notify.sock");
  auto daemon = start({notify.env()});
  ASSERT_TRUE(notify.next_lifecycle(10s)) << daemon->output();

  const auto reply = control_request(socket_path(), "{\"cmd\": \"reload\"}\n");
  EXPECT_NE(reply.find("\"ok\":true"), std::string::npos) << reply;
  auto reloading = notify.next_lifecycle(10s);
  ASSERT_TRUE(reloading) << daemon->output();
  EXPECT_TRUE(starts_with(reloading->text, "RELOADING=1\nMONOTONIC_USEC=")) << reloading->text;
  auto reloaded = notify.next_lifecycle(10s);
  ASSERT_TRUE(reloaded) << daemon->output();
  EXPECT_TRUE(starts_with(reloaded->text, "READY=1\nSTATUS=1 target: ")) << reloaded->text;
  EXPECT_NE(reloaded->text.find("last reload ok"), std::string::npos) << reloaded->text;
  stop(*daemon);
}

TEST_F(SystemdTest, PingsTheWatchdogAtHalfTheInterval) {
  NotifySocket notify(dir_.path() / "notify.sock");
  // WATCHDOG_PID left unset: any pid (the pid is only known after fork).
  auto daemon = start({notify.env(), "WATCHDOG_USEC=200000"});
  auto ready = notify.next_lifecycle(10s);
  ASSERT_TRUE(ready) << daemon->output();
  ASSERT_TRUE(starts_with(ready->text, "READY=1")) << ready->text;

  std::vector<Clock::time_point> pings;
  const auto deadline = Clock::now() + 1s;
  while (Clock::now() < deadline) {
    auto message = notify.receive(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
    if (message && message->text == "WATCHDOG=1") {
      EXPECT_EQ(message->sender, daemon->pid());
      pings.push_back(message->at);
    }
  }
  EXPECT_GE(pings.size(), 5u) << daemon->output();  // about every 100 ms
  for (std::size_t i = 1; i < pings.size(); ++i)
    EXPECT_LT(pings[i] - pings[i - 1], 200ms) << "ping " << i << " came after the limit";
  EXPECT_TRUE(daemon->wait_for_output("systemd watchdog: pinging every 100 ms", 1s))
      << daemon->output();
  stop(*daemon);
}

TEST_F(SystemdTest, NoWatchdogPingsWhenTheWatchdogIsAnotherProcess) {
  NotifySocket notify(dir_.path() / "notify.sock");
  auto daemon = start({notify.env(), "WATCHDOG_USEC=200000", "WATCHDOG_PID=1"});
  auto ready = notify.next_lifecycle(10s);
  ASSERT_TRUE(ready) << daemon->output();
  // Three would-be intervals without a ping.
  const auto deadline = Clock::now() + 300ms;
  while (Clock::now() < deadline) {
    auto message = notify.receive(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
    if (message) {
      EXPECT_NE(message->text, "WATCHDOG=1");
    }
  }
  stop(*daemon);
}

// A request over the socket systemd-socket-activate created and passed, while fetchd was not yet
// running: it waits in the socket, fetchd adopts it and answers, and leaves the file alone.
TEST_F(SystemdTest, AdoptsTheSocketSystemdPasses) {
  const std::filesystem::path activate = "/usr/bin/systemd-socket-activate";
  if (!std::filesystem::exists(activate))
    GTEST_SKIP() << activate << " is missing (package systemd)";
  write_config();
  test::ChildProcess daemon({activate.string(), "-l", socket_path().string(), FETCHD_BINARY,
                             "--config", config_path().string()},
                            log_path(), clean_env({}));
  ASSERT_TRUE(test::eventually([&] { return std::filesystem::exists(socket_path()); }, 10s))
      << daemon.output();

  // The file appears at bind(), a moment before listen(): until then a connect is refused.
  std::string reply;
  EXPECT_TRUE(test::eventually(
      [&] { return !(reply = control_request(socket_path(), "{\"cmd\": \"version\"}\n")).empty(); },
      10s));
  EXPECT_NE(reply.find(std::string("\"version\":\"") + kVersion + "\""), std::string::npos)
      << reply << daemon.output();

  EXPECT_TRUE(daemon.wait_for_output("adopting the control socket passed by systemd (fd 3)", 5s))
      << daemon.output();
  EXPECT_NE(daemon.output().find("control socket " + socket_path().string() + " adopted"),
            std::string::npos)
      << daemon.output();
  stop(daemon);
  // systemd owns the socket file: the daemon leaves it in place.
  EXPECT_TRUE(std::filesystem::exists(socket_path()));
}

// fetchd.socket names its socket (FileDescriptorName=control): adopted by that name.
TEST_F(SystemdTest, AdoptsTheSocketNamedControl) {
  const std::filesystem::path activate = "/usr/bin/systemd-socket-activate";
  if (!std::filesystem::exists(activate))
    GTEST_SKIP() << activate << " is missing (package systemd)";
  write_config();
  test::ChildProcess daemon({activate.string(), "-l", socket_path().string(), "--fdname=control",
                             FETCHD_BINARY, "--config", config_path().string()},
                            log_path(), clean_env({}));
  ASSERT_TRUE(test::eventually([&] { return std::filesystem::exists(socket_path()); }, 10s))
      << daemon.output();
  std::string reply;
  EXPECT_TRUE(test::eventually(
      [&] { return !(reply = control_request(socket_path(), "{\"cmd\": \"version\"}\n")).empty(); },
      10s));
  EXPECT_NE(reply.find("\"ok\":true"), std::string::npos) << reply << daemon.output();
  EXPECT_TRUE(daemon.wait_for_output("adopting the control socket passed by systemd (fd 3)", 5s))
      << daemon.output();
  EXPECT_EQ(daemon.output().find("systemd socket activation"), std::string::npos)
      << daemon.output();
  stop(daemon);
}

// A socket under a name fetchd has no use for is closed with a warning; the control socket
// beside it is served.
TEST_F(SystemdTest, ClosesAPassedSocketWithAnUnknownName) {
  const std::filesystem::path activate = "/usr/bin/systemd-socket-activate";
  if (!std::filesystem::exists(activate))
    GTEST_SKIP() << activate << " is missing (package systemd)";
  write_config();
  const auto other = dir_.path() / "other.sock";
  test::ChildProcess daemon(
      {activate.string(), "-l", socket_path().string(), "-l", other.string(),
       "--fdname=control:bogus", FETCHD_BINARY, "--config", config_path().string()},
      log_path(), clean_env({}));
  ASSERT_TRUE(test::eventually(
      [&] { return std::filesystem::exists(socket_path()) && std::filesystem::exists(other); },
      10s))
      << daemon.output();
  std::string reply;
  EXPECT_TRUE(test::eventually(
      [&] { return !(reply = control_request(socket_path(), "{\"cmd\": \"version\"}\n")).empty(); },
      10s));
  EXPECT_NE(reply.find("\"ok\":true"), std::string::npos) << reply << daemon.output();
  EXPECT_TRUE(daemon.wait_for_output(
      "fd 4 is named \"bogus\", which fetchd does not use (FileDescriptorName=); closing it, "
      "ignoring",
      5s))
      << daemon.output();
  EXPECT_NE(daemon.output().find("adopting the control socket passed by systemd (fd 3)"),
            std::string::npos)
      << daemon.output();
  // Closed: nothing listens on it any more.
  EXPECT_EQ(control_request(other, "{\"cmd\": \"version\"}\n"), "");
  stop(daemon);
}

TEST_F(SystemdTest, LogsPrioritiesWhenStderrIsTheJournal) {
  test::write_file(log_path(), "");
  struct stat log {};
  ASSERT_EQ(::stat(log_path().c_str(), &log), 0);
  auto daemon =
      start({"JOURNAL_STREAM=" + std::to_string(log.st_dev) + ":" + std::to_string(log.st_ino)});
  ASSERT_TRUE(daemon->wait_for_output("closed is DOWN", 10s)) << daemon->output();
  // A refused reload's errors, on the lines after the first, keep the error priority.
  test::write_file(config_path(), "{\n  \"targets\": [ oops ]\n}");
  daemon->signal(SIGHUP);
  ASSERT_TRUE(daemon->wait_for_output("<3>reload refused", 10s)) << daemon->output();
  ASSERT_TRUE(daemon->wait_for_output("<3>" + config_path().string() + ":2:", 5s))
      << daemon->output();
  stop(*daemon);
  const auto output = daemon->output();
  EXPECT_NE(output.find("<4>closed is DOWN: connect"), std::string::npos) << output;
  EXPECT_NE(output.find("<6>fetchd started"), std::string::npos) << output;
  // Every line carries its priority, and no timestamp (the journal has its own).
  std::size_t at = 0;
  while (at < output.size()) {
    const auto end = output.find('\n', at);
    const auto line = output.substr(at, end == std::string::npos ? end : end - at);
    EXPECT_TRUE(line.size() > 3 && line[0] == '<' && line[2] == '>') << line;
    at = end == std::string::npos ? output.size() : end + 1;
  }
}

TEST_F(SystemdTest, LogsPlainLinesWhenJournalStreamIsNotStderr) {
  auto daemon = start({"JOURNAL_STREAM=1:1", "INVOCATION_ID=0123456789abcdef0123456789abcdef"});
  ASSERT_TRUE(daemon->wait_for_output("closed is DOWN", 10s)) << daemon->output();
  stop(*daemon);
  const auto output = daemon->output();
  EXPECT_EQ(output.find("<4>"), std::string::npos) << output;
  EXPECT_NE(output.find(" warning closed is DOWN"), std::string::npos) << output;
}

TEST(SystemdStatusLine, SaysTargetsStatesRateAndLastReload) {
  systemd::StatusCounts counts{1204, 1190, 14, 0, 310.4};
  EXPECT_EQ(systemd::status_line(counts), "1204 targets: 1190 up, 14 down · 310 fetches/s");
  counts.last_reload_ok = true;
  EXPECT_EQ(systemd::status_line(counts),
            "1204 targets: 1190 up, 14 down · 310 fetches/s · last reload ok");
  counts = {3, 1, 0, 2, 0.25, false, "fetchd.json:2:15: /targets/0: expected a value\nmore"};
  EXPECT_EQ(systemd::status_line(counts),
            "3 targets: 1 up, 0 down, 2 not yet fetched · 0.2 fetches/s · last reload refused: "
            "fetchd.json:2:15: /targets/0: expected a value");
  EXPECT_EQ(systemd::status_line({1, 1, 0, 0, 0.5}), "1 target: 1 up, 0 down · 0.5 fetches/s");
}

}  // namespace
}  // namespace fetchd
