#include "net/socket_file.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace fetchd::net {

namespace {

std::string describe(const std::filesystem::path& path, const std::string& what, int error) {
  return what + " " + path.string() + ": " + std::strerror(error);
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0)
      ::close(fd);
  }
  int release() { return std::exchange(fd, -1); }
};

bool fill_address(const std::filesystem::path& path, sockaddr_un& address) {
  const std::string& text = path.native();
  if (text.empty() || text.size() >= sizeof address.sun_path)
    return false;
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, text.c_str(), text.size() + 1);
  return true;
}

// Whether something accepts connections on the socket file: connect() succeeds, or the backlog is
// full (EAGAIN). ECONNREFUSED is a stale file: its listener is gone.
Expected<bool> answers(const sockaddr_un& address, const std::filesystem::path& path) {
  Fd probe{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
  if (probe.fd < 0)
    return Error{std::string("socket: ") + std::strerror(errno)};
  if (::connect(probe.fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0)
    return true;
  if (errno == EAGAIN || errno == EINPROGRESS)
    return true;
  if (errno == ECONNREFUSED)
    return false;
  return Error{describe(path, "cannot check whether something listens on", errno)};
}

}  // namespace

Expected<ListeningSocket> create_socket_file(const SocketFileOptions& options) {
  const auto& path = options.path;
  sockaddr_un address{};
  if (!fill_address(path, address))
    return Error{"socket path \"" + path.string() + "\" is empty or longer than 107 bytes"};

  ListeningSocket created;
  if (const auto directory = path.parent_path(); !directory.empty()) {
    std::error_code error;
    created.created_directory = std::filesystem::create_directories(directory, error);
    if (error) {
      return Error{"cannot create the directory " + directory.string() +
                   " for the socket: " + error.message()};
    }
  }
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0) {
    if (!S_ISSOCK(existing.st_mode)) {
      return Error{path.string() +
                   " exists and is not a socket; refusing to replace it (remove it or choose "
                   "another path)"};
    }
    auto live = answers(address, path);
    if (!live)
      return live.error();
    if (*live) {
      return Error{"another process is listening on " + path.string() +
                   " (is fetchd already running?); refusing to start"};
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
      return Error{describe(path, "cannot remove the stale socket", errno)};
    created.replaced_stale = true;
  } else if (errno != ENOENT) {
    return Error{describe(path, "cannot inspect", errno)};
  }

  Fd socket{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
  if (socket.fd < 0)
    return Error{std::string("socket: ") + std::strerror(errno)};
  if (::bind(socket.fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    if (errno == EADDRINUSE)
      return Error{path.string() + " was created by another process meanwhile; refusing to start"};
    return Error{describe(path, "cannot create the socket", errno)};
  }
  // From here on the file is ours: remove it again on failure.
  auto fail = [&](const std::string& what, int error) -> Expected<ListeningSocket> {
    ::unlink(path.c_str());
    return Error{describe(path, what, error)};
  };
  if (::fchownat(AT_FDCWD, path.c_str(), static_cast<uid_t>(-1), options.group,
                 AT_SYMLINK_NOFOLLOW) != 0) {
    return fail("cannot give group " + std::to_string(options.group) + " to", errno);
  }
  if (::fchmodat(AT_FDCWD, path.c_str(), options.mode, 0) != 0)
    return fail("cannot set the mode of", errno);
  struct stat made {};
  if (::lstat(path.c_str(), &made) != 0)
    return fail("cannot inspect", errno);
  if (!S_ISSOCK(made.st_mode))
    return fail("was replaced while being created:", EEXIST);
  if (::listen(socket.fd, options.backlog > 0 ? options.backlog : SOMAXCONN) != 0)
    return fail("cannot listen on", errno);
  created.device = made.st_dev;
  created.inode = made.st_ino;
  created.fd = socket.release();
  return created;
}

bool remove_socket_file(const std::filesystem::path& path, const ListeningSocket& created) {
  struct stat now {};
  if (::lstat(path.c_str(), &now) != 0 || !S_ISSOCK(now.st_mode) || now.st_dev != created.device ||
      now.st_ino != created.inode) {
    return false;
  }
  return ::unlink(path.c_str()) == 0;
}

}  // namespace fetchd::net
