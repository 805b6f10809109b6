#include "ctl/transport.h"

#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace fetchd::ctl {

namespace {

using Clock = std::chrono::steady_clock;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string system_error(int error) {
  return std::strerror(error);
}

std::string seconds_text(std::chrono::milliseconds duration) {
  const auto ms = duration.count();
  if (ms % 1000 == 0)
    return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

// What the operator should know when connect() is denied: the socket's owner, group and mode when
// it can be seen, and how to get access.
std::string permission_message(const std::string& path) {
  std::string text = "permission denied connecting to " + path;
  struct stat info {};
  std::string group = "fetchd";
  if (::stat(path.c_str(), &info) == 0) {
    std::array<char, 4096> buffer{};
    struct group entry {};
    struct group* found = nullptr;
    if (::getgrgid_r(info.st_gid, &entry, buffer.data(), buffer.size(), &found) == 0 &&
        found != nullptr)
      group = found->gr_name;
    else
      group = std::to_string(info.st_gid);
    std::array<char, 8> mode{};
    std::snprintf(mode.data(), mode.size(), "%04o", static_cast<unsigned>(info.st_mode & 07777));
    text += " (socket mode " + std::string(mode.data()) + ", group " + group + ")";
  } else {
    text += " (a directory on the way is not searchable by you)";
  }
  text += " — add yourself to group " + group + " (sudo usermod -aG " + group +
          " \"$USER\", then log in again), or check the mode of the socket and its directory";
  return text;
}

std::string connect_message(int error, const std::string& path, std::chrono::milliseconds timeout) {
  switch (error) {
    case ENOENT:
    case ENOTDIR:
      return "no fetchd control socket at " + path +
             " — is fetchd running? (systemctl status fetchd)";
    case EACCES:
    case EPERM:
      return permission_message(path);
    case ECONNREFUSED: {
      struct stat info {};
      if (::stat(path.c_str(), &info) == 0 && !S_ISSOCK(info.st_mode))
        return path + " is not a socket — check --socket or $FETCHD_SOCKET";
      return "connection refused at " + path +
             ": a stale socket, fetchd is not running (systemctl start fetchd)";
    }
    case EAGAIN:
      return "fetchd did not accept the connection within " + seconds_text(timeout) +
             " (its listen queue is full) — try again, or a longer --timeout";
    default:
      return "cannot connect to " + path + ": " + system_error(error);
  }
}

// Waits for `events` on `fd` until the deadline; false on timeout. A poll() failure returns true:
// the next read or write reports it.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0)
      return false;
    pollfd entry{.fd = fd, .events = events, .revents = 0};
    const int ready =
        ::poll(&entry, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 60'000)));
    if (ready > 0 || (ready < 0 && errno != EINTR))
      return true;
  }
}

}  // namespace

Expected<std::string> exchange(const std::string& socket_path, std::string_view request_line,
                               std::chrono::milliseconds timeout, std::size_t max_reply_bytes) {
  const auto deadline = Clock::now() + timeout;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof address.sun_path)
    return Error{"socket path " + socket_path + " is too long"};
  std::memcpy(address.sun_path, socket_path.data(), socket_path.size());

  Fd socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (socket.get() < 0)
    return Error{"cannot create a socket: " + system_error(errno)};

  // connect() on a Unix socket waits while the listener's queue is full, bounded by SO_SNDTIMEO.
  timeval send_timeout{.tv_sec = static_cast<time_t>(timeout.count() / 1000),
                       .tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  ::setsockopt(socket.get(), SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  if (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
    return Error{connect_message(errno, socket_path, timeout)};
  ::fcntl(socket.get(), F_SETFL, ::fcntl(socket.get(), F_GETFL) | O_NONBLOCK);

  std::string out(request_line);
  out += '\n';
  std::size_t sent = 0;
  bool write_failed = false;
  while (sent < out.size()) {
    const ssize_t count = ::send(socket.get(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (count > 0) {
      sent += static_cast<std::size_t>(count);
      continue;
    }
    if (count < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(socket.get(), POLLOUT, deadline))
        return Error{"fetchd did not take the request within " + seconds_text(timeout) +
                     " (--timeout to wait longer)"};
      continue;
    }
    // The daemon may have closed after sending a reply of its own (busy): read it below.
    write_failed = true;
    break;
  }

  std::string reply;
  std::array<char, 65536> buffer{};
  for (;;) {
    const ssize_t count = ::recv(socket.get(), buffer.data(), buffer.size(), 0);
    if (count > 0) {
      const auto newline =
          std::string_view(buffer.data(), static_cast<std::size_t>(count)).find('\n');
      reply.append(buffer.data(),
                   newline == std::string_view::npos ? static_cast<std::size_t>(count) : newline);
      if (reply.size() > max_reply_bytes)
        return Error{"the reply from fetchd is larger than " +
                     std::to_string(max_reply_bytes / (std::size_t{1024} * 1024)) +
                     " MiB, giving up"};
      if (newline != std::string_view::npos)
        return reply;
      continue;
    }
    if (count == 0) {
      if (write_failed && reply.empty())
        return Error{"fetchd closed the connection before taking the request"};
      return Error{reply.empty() ? "fetchd closed the connection without replying"
                                 : "fetchd closed the connection in the middle of its reply"};
    }
    if (errno == EAGAIN || errno == EINTR) {
      if (!wait_for(socket.get(), POLLIN, deadline))
        return Error{"no reply from fetchd within " + seconds_text(timeout) +
                     " (--timeout to wait longer)"};
      continue;
    }
    return Error{"reading the reply from fetchd: " + system_error(errno)};
  }
}

}  // namespace fetchd::ctl
