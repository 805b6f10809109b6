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
#include <utility>

namespace fetchd::ctl {

namespace {

using Clock = Connection::Clock;

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
  // Joining root (gid 0) to reach one socket would hand out far more than fetchctl: say what
  // to change on the daemon's side instead.
  if (group == "root" || group == "0") {
    text +=
        " — the socket belongs to group root: set settings.socket_group (e.g. \"fetchd\") "
        "in the daemon's configuration and add yourself to that group, or run fetchctl as "
        "root";
    return text;
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

Connection::Connection(int fd) : fd_(fd) {}

Connection::Connection(Connection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), pending_(std::move(other.pending_)) {}

Connection::~Connection() {
  if (fd_ >= 0)
    ::close(fd_);
}

Expected<Connection> Connection::open(const std::string& socket_path,
                                      std::chrono::milliseconds timeout) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof address.sun_path)
    return Error{"socket path " + socket_path + " is too long"};
  std::memcpy(address.sun_path, socket_path.data(), socket_path.size());

  Connection connection(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (connection.fd_ < 0)
    return Error{"cannot create a socket: " + system_error(errno)};

  // connect() on a Unix socket waits while the listener's queue is full, bounded by SO_SNDTIMEO.
  timeval send_timeout{.tv_sec = static_cast<time_t>(timeout.count() / 1000),
                       .tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  ::setsockopt(connection.fd_, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
  if (::connect(connection.fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
    return Error{connect_message(errno, socket_path, timeout)};
  ::fcntl(connection.fd_, F_SETFL, ::fcntl(connection.fd_, F_GETFL) | O_NONBLOCK);
  return connection;
}

Expected<bool> Connection::send_line(std::string_view line, Clock::time_point deadline) const {
  std::string out(line);
  out += '\n';
  std::size_t sent = 0;
  while (sent < out.size()) {
    const ssize_t count = ::send(fd_, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (count > 0) {
      sent += static_cast<std::size_t>(count);
      continue;
    }
    if (count < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(fd_, POLLOUT, deadline))
        return Error{"fetchd did not take the request in time"};
      continue;
    }
    // The daemon may have closed after sending a reply of its own (busy): the caller reads it.
    return false;
  }
  return true;
}

Expected<std::string, ReadFailure> Connection::read_line(Clock::time_point deadline,
                                                         std::size_t max_bytes) {
  std::array<char, 65536> buffer{};
  for (;;) {
    if (const auto newline = pending_.find('\n'); newline != std::string::npos) {
      std::string line = pending_.substr(0, newline);
      pending_.erase(0, newline + 1);
      return line;
    }
    if (pending_.size() > max_bytes) {
      return ReadFailure{ReadEnd::too_large,
                         "the reply from fetchd is larger than " +
                             std::to_string(max_bytes / (std::size_t{1024} * 1024)) +
                             " MiB, giving up"};
    }
    const ssize_t count = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (count > 0) {
      pending_.append(buffer.data(), static_cast<std::size_t>(count));
      continue;
    }
    if (count == 0) {
      return pending_.empty() ? ReadFailure{ReadEnd::closed, "fetchd closed the connection"}
                              : ReadFailure{ReadEnd::closed_mid_line,
                                            "fetchd closed the connection in the middle of a line"};
    }
    if (errno == EAGAIN || errno == EINTR) {
      if (!wait_for(fd_, POLLIN, deadline))
        return ReadFailure{ReadEnd::timeout, "nothing from fetchd in time"};
      continue;
    }
    return ReadFailure{ReadEnd::failed, "reading the reply from fetchd: " + system_error(errno)};
  }
}

Expected<std::string> exchange(const std::string& socket_path, std::string_view request_line,
                               std::chrono::milliseconds timeout, std::size_t max_reply_bytes) {
  const auto deadline = Clock::now() + timeout;
  auto connection = Connection::open(socket_path, timeout);
  if (!connection)
    return connection.error();
  const auto sent = connection->send_line(request_line, deadline);
  if (!sent) {
    return Error{"fetchd did not take the request within " + seconds_text(timeout) +
                 " (--timeout to wait longer)"};
  }
  auto reply = connection->read_line(deadline, max_reply_bytes);
  if (reply)
    return std::move(*reply);
  switch (reply.error().end) {
    case ReadEnd::timeout:
      return Error{"no reply from fetchd within " + seconds_text(timeout) +
                   " (--timeout to wait longer)"};
    case ReadEnd::closed:
      return Error{*sent ? "fetchd closed the connection without replying"
                         : "fetchd closed the connection before taking the request"};
    case ReadEnd::closed_mid_line:
      return Error{"fetchd closed the connection in the middle of its reply"};
    case ReadEnd::too_large:
    case ReadEnd::failed:
      break;
  }
  return Error{reply.error().message};
}

}  // namespace fetchd::ctl
