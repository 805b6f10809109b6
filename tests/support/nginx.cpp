#include "support/nginx.h"

#include <arpa/inet.h>
#include <array>
#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <system_error>
#include <unistd.h>
#include <vector>

#include "common/read_file.h"
#include "support/test_pki.h"

namespace fetchd::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kNginx = "/usr/sbin/nginx";
constexpr auto kStartTimeout = 10s;
constexpr auto kStopTimeout = 5s;
constexpr auto kNginxPollInterval = 10ms;
constexpr int kStartAttempts = 3;

[[noreturn]] void throw_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// A path as an nginx config string. Characters nginx would interpret are refused rather than
// escaped: they do not occur in the temp paths this fixture makes.
std::string quoted(const fs::path& path) {
  const std::string text = path.string();
  if (text.find_first_of("\"\\$") != std::string::npos) {
    throw std::runtime_error("nginx fixture: unusable path " + text);
  }
  return '"' + text + '"';
}

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// Two distinct ports free right now (both are bound at once, so they differ). Another process may
// take one before nginx binds it; the caller retries with fresh ports then.
std::array<std::uint16_t, 2> free_ports() {
  std::array<int, 2> sockets{};
  std::array<std::uint16_t, 2> ports{};
  for (std::size_t i = 0; i < sockets.size(); ++i) {
    sockets[i] = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address = loopback(0);
    socklen_t length = sizeof address;
    if (sockets[i] < 0 || ::bind(sockets[i], reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::getsockname(sockets[i], reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw_errno("nginx fixture: choosing a port");
    }
    ports[i] = ntohs(address.sin_port);
  }
  for (int socket : sockets) {
    ::close(socket);
  }
  return ports;
}

bool accepts_connections(std::uint16_t port) {
  const int socket = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (socket < 0) {
    throw_errno("nginx fixture: socket");
  }
  const sockaddr_in address = loopback(port);
  const bool connected =
      ::connect(socket, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  ::close(socket);
  return connected;
}

// Waits up to `timeout` for the process behind `pidfd` to exit; true if it has.
bool wait_for_exit(int pidfd, std::chrono::milliseconds timeout) {
  pollfd exited{pidfd, POLLIN, 0};
  int ready = 0;
  while ((ready = ::poll(&exited, 1, static_cast<int>(timeout.count()))) < 0 && errno == EINTR) {
  }
  return ready > 0;
}

std::string config(const fs::path& prefix, std::uint16_t http_port, std::uint16_t https_port) {
  const TestPki::Leaf& leaf = test_pki().valid;
  std::ostringstream out;
  out << "daemon off;\n"
         "master_process on;\n"
         "worker_processes 1;\n"
      // As root, the default worker user (nobody) could not enter the mode-0700 prefix.
      << (::geteuid() == 0 ? "user root;\n" : "")  //
      << "error_log " << quoted(prefix / "error.log") << ";\n"
      << "pid " << quoted(prefix / "nginx.pid") << ";\n"
      << "events { worker_connections 4096; }\n"
         "http {\n"
         // One line per request, "<epoch seconds.ms> <request URI>": what fetchd asked for and
         // when, for tests that count fetches from the server's side.
         "  log_format fetchd_test '$msec $request_uri';\n"
      << "  access_log " << quoted(prefix / "access.log")
      << " fetchd_test;\n"
         "  types { text/html html; }\n"
         "  default_type application/octet-stream;\n"
      << "  client_body_temp_path " << quoted(prefix / "tmp/client_body") << ";\n"
      << "  proxy_temp_path " << quoted(prefix / "tmp/proxy") << ";\n"
      << "  fastcgi_temp_path " << quoted(prefix / "tmp/fastcgi") << ";\n"
      << "  uwsgi_temp_path " << quoted(prefix / "tmp/uwsgi") << ";\n"
      << "  scgi_temp_path " << quoted(prefix / "tmp/scgi") << ";\n"
      << "  server {\n"
         "    listen 127.0.0.1:"
      << http_port << ";\n"
      << "    listen 127.0.0.1:" << https_port << " ssl;\n"
      << "    server_name localhost;\n"
      << "    ssl_certificate " << quoted(leaf.chain) << ";\n"
      << "    ssl_certificate_key " << quoted(leaf.key) << ";\n"
      << "    root " << quoted(prefix / "html") << ";\n"
      << "    location = /redirect { return 302 /; }\n"
         "    location = /nocontent { return 204; }\n"
         "  }\n"
         "}\n";
  return out.str();
}

}  // namespace

std::string NginxServer::index_html() {
  std::string page = "<!DOCTYPE html>\n<title>fetchd test</title>\n<p>";
  page.append(kIndexSize - page.size() - 5, 'x').append("</p>\n");
  return page;
}

std::string NginxServer::big_bin() {
  std::string bytes(kBigSize, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    // A period (251) that is no power of two, so misplaced chunks do not compare equal.
    bytes[i] = static_cast<char>(i % 251);
  }
  return bytes;
}

NginxServer::NginxServer() {
  const fs::path& prefix = prefix_.path();
  fs::create_directories(docroot());
  fs::create_directories(prefix / "tmp");
  write_file(docroot() / "index.html", index_html());
  write_file(docroot() / "big.bin", big_bin());
  for (int attempt = 1;; ++attempt) {
    const auto ports = free_ports();
    http_port_ = ports[0];
    https_port_ = ports[1];
    write_file(prefix / "nginx.conf", config(prefix, http_port_, https_port_));
    fs::remove(prefix / "error.log");
    bool started = false;
    try {
      started = start_once();
    } catch (...) {
      terminate();  // the destructor will not run
      throw;
    }
    if (started) {
      return;
    }
    terminate();
    const std::string log = read_file(prefix / "error.log").value_or("");
    if (attempt == kStartAttempts || log.find("Address already in use") == std::string::npos) {
      throw std::runtime_error("nginx did not start (attempt " + std::to_string(attempt) +
                               "); error.log:\n" + log);
    }
  }
}

NginxServer::~NginxServer() {
  terminate();
}

std::string NginxServer::url(std::string_view path, bool tls) const {
  return (tls ? "https://127.0.0.1:" + std::to_string(https_port_)
              : "http://127.0.0.1:" + std::to_string(http_port_)) +
         std::string(path);
}

bool NginxServer::start_once() {
  const fs::path& prefix = prefix_.path();
  std::vector<std::string> arguments{kNginx,
                                     "-e",
                                     (prefix / "error.log").string(),
                                     "-p",
                                     prefix.string() + "/",
                                     "-c",
                                     (prefix / "nginx.conf").string()};
  std::vector<char*> argv;
  for (auto& argument : arguments) {
    argv.push_back(argument.data());
  }
  argv.push_back(nullptr);

  int lifeline[2];
  if (::pipe2(lifeline, O_CLOEXEC) != 0) {
    throw_errno("nginx fixture: pipe");
  }
  lifeline_ = lifeline[1];

  // Between fork and exec only async-signal-safe calls: the test process may have threads.
  master_ = ::fork();
  if (master_ < 0) {
    ::close(lifeline[0]);
    throw_errno("nginx fixture: fork");
  }
  if (master_ == 0) {
    ::setpgid(0, 0);
    // Asio does not open sockets close-on-exec: without this, nginx would hold the test's sockets
    // open (and a peer would never see them close) for as long as it runs.
    ::close_range(3, ~0U, 0);
    ::execv(kNginx, argv.data());
    ::_exit(127);
  }
  // Also from here, so that the group exists before the watchdog joins it, whichever runs first.
  ::setpgid(master_, master_);

  // nginx's workers outlive a killed master (they are not told), so PR_SET_PDEATHSIG on the master
  // would not be enough. The watchdog waits for EOF on the lifeline, which comes when the test
  // process is gone however it died, and then kills the group. It sits in nginx's group, out of
  // reach of signals sent to the test's own group (a terminal's ^C).
  watchdog_ = ::fork();
  if (watchdog_ == 0) {
    ::setpgid(0, master_);
    ::dup2(lifeline[0], 3);
    ::close_range(4, ~0U, 0);
    char byte = 0;
    while (::read(3, &byte, 1) < 0 && errno == EINTR) {
    }
    // By id, not kill(0): had joining the group failed, 0 would be the test's own group.
    ::kill(-master_, SIGKILL);
    ::_exit(0);
  }
  ::close(lifeline[0]);
  if (watchdog_ < 0) {
    throw_errno("nginx fixture: fork");
  }

  // The raw syscall: glibc 2.36's <sys/pidfd.h> lacks extern "C", so pidfd_open() does not link.
  master_fd_ = static_cast<int>(::syscall(SYS_pidfd_open, master_, 0));
  if (master_fd_ < 0) {
    throw_errno("nginx fixture: pidfd_open");
  }
  // Ready when nginx has written its pid file (it does so after binding every listener) and both
  // ports accept connections; failed if it exits first.
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (wait_for_exit(master_fd_, kNginxPollInterval)) {
      return false;
    }
    if (read_file(prefix / "nginx.pid").value_or("") == std::to_string(master_) + "\n" &&
        accepts_connections(http_port_) && accepts_connections(https_port_)) {
      return true;
    }
  }
  return false;
}

void NginxServer::terminate() {
  if (master_ > 0) {
    ::kill(master_, SIGTERM);
    if (master_fd_ >= 0) {
      wait_for_exit(master_fd_, kStopTimeout);
    }
    // After a clean exit this finds at most the watchdog; after the timeout, everything. The master
    // is not reaped yet, so the group id cannot have been reused.
    ::kill(-master_, SIGKILL);
    ::waitpid(master_, nullptr, 0);
    master_ = -1;
  }
  if (watchdog_ > 0) {
    ::kill(watchdog_, SIGKILL);
    ::waitpid(watchdog_, nullptr, 0);
    watchdog_ = -1;
  }
  for (int* fd : {&master_fd_, &lifeline_}) {
    if (*fd >= 0) {
      ::close(*fd);
      *fd = -1;
    }
  }
}

}  // namespace fetchd::test
