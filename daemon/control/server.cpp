#include "control/server.h"

#include <cstddef>
#include <cstring>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "control/peer.h"
#include "control/session.h"

namespace fetchd::control {

Server::Server(asio::io_context& loop, Backend& backend, ServerOptions options)
    : backend_(backend),
      watches_(loop.get_executor(), backend, options.max_queued_events),
      options_(std::move(options)),
      listener_(loop, *this,
                {"control", options_.max_clients, options_.idle_timeout, options_.max_unwritten,
                 kMaxAwaited}) {}

Server::~Server() {
  stop();
}

// The admin group: admin_group if set, else the socket's group.
std::optional<Error> Server::resolve_admin(gid_t socket_gid) {
  admin_gid_ = socket_gid;
  if (!options_.admin_group.empty()) {
    auto resolved = resolve_group(options_.admin_group);
    if (!resolved)
      return Error{"admin_group: " + resolved.error().message};
    admin_gid_ = *resolved;
  }
  daemon_uid_ = ::geteuid();
  return std::nullopt;
}

std::optional<Error> Server::adopt(int fd) {
  sockaddr_un address{};
  socklen_t length = sizeof(address);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      address.sun_family != AF_UNIX) {
    ::close(fd);
    return Error{"control socket: fd " + std::to_string(fd) + " is not a Unix socket"};
  }
  if (length > offsetof(sockaddr_un, sun_path) && address.sun_path[0] != '\0')
    adopted_path_.assign(address.sun_path,
                         ::strnlen(address.sun_path, length - offsetof(sockaddr_un, sun_path)));
  else
    adopted_path_ = "fd " + std::to_string(fd);
  // The file's group, as systemd's SocketGroup= set it; the daemon's group for an unnamed socket.
  struct stat file {};
  const gid_t file_gid =
      !adopted_path_.empty() && adopted_path_[0] == '/' && ::stat(adopted_path_.c_str(), &file) == 0
          ? file.st_gid
          : ::getegid();
  if (auto error = resolve_admin(file_gid)) {
    ::close(fd);
    return error;
  }
  if (const auto error = listener_.adopt(fd))
    return Error{"control socket: adopting fd " + std::to_string(fd) + ": " + error.message()};
  adopted_ = true;
  return std::nullopt;
}

std::optional<Error> Server::open() {
  gid_t socket_gid = ::getegid();
  if (!options_.socket_group.empty()) {
    auto resolved = resolve_group(options_.socket_group);
    if (!resolved)
      return Error{"socket_group: " + resolved.error().message};
    socket_gid = *resolved;
  }
  if (auto error = resolve_admin(socket_gid))
    return error;
  auto created = net::create_socket_file(
      {options_.socket_path, static_cast<mode_t>(options_.socket_mode), socket_gid, 0});
  if (!created)
    return created.error();
  file_ = *created;
  file_created_ = true;
  if (const auto error = listener_.adopt(file_.fd)) {
    net::remove_socket_file(options_.socket_path, file_);
    file_created_ = false;
    return Error{"control socket: " + error.message()};
  }
  if (file_.created_directory)
    spdlog::info("created the directory {}", options_.socket_path.parent_path().string());
  if (file_.replaced_stale)
    spdlog::info("replaced the stale control socket {}", options_.socket_path.string());
  return std::nullopt;
}

void Server::start() {
  if (adopted_) {
    spdlog::info(
        "control socket {} adopted (created by the service manager; admin group {}, at "
        "most {} clients)",
        adopted_path_, admin_gid_, options_.max_clients);
    if (adopted_path_ != options_.socket_path.string())
      spdlog::warn("the adopted control socket {} is not the configured control_socket {}",
                   adopted_path_, options_.socket_path.string());
  } else {
    spdlog::info(
        "control socket {} (mode {:04o}, group {}, admin group {}, at most {} clients)",
        options_.socket_path.string(), options_.socket_mode,
        options_.socket_group.empty() ? std::string("the daemon's") : options_.socket_group,
        admin_gid_, options_.max_clients);
  }
  listener_.start();
}

void Server::stop() {
  listener_.stop();
  if (file_created_) {
    net::remove_socket_file(options_.socket_path, file_);
    file_created_ = false;
  }
}

net::Accepted Server::accept(net::Socket& socket, std::uint64_t id) {
  auto peer = peer_of(socket.native_handle());
  if (!peer) {
    spdlog::warn("control socket: {}; closing the connection", peer.error().message);
    return {};
  }
  const bool admin = is_admin(*peer, daemon_uid_, admin_gid_);
  spdlog::debug("control: connection {} from pid {}, uid {}, gid {}{}", id, peer->pid, peer->uid,
                peer->gid, admin ? " (admin)" : "");
  return {std::make_unique<Session>(backend_, watches_, admin),
          "pid " + std::to_string(peer->pid) + ", uid " + std::to_string(peer->uid)};
}

std::string Server::busy() {
  return busy_reply();
}

}  // namespace fetchd::control
