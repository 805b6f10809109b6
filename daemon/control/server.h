#pragma once

// The control socket server: the socket's file (created, or adopted from the service manager), the
// peer-credential admin decision, and the control protocol (control/session.h) served by a net
// listener on the daemon's loop, with its limits (net/listener.h): at most `max_clients`
// sessions, `idle_timeout`, `max_unwritten` bytes of unwritten replies, at most kMaxAwaited
// requests awaiting an asynchronous reply (fetch with wait, reload).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <asio/io_context.hpp>

#include "common/expected.h"
#include "control/backend.h"
#include "control/watch.h"
#include "net/listener.h"
#include "net/socket_file.h"

namespace fetchd::control {

struct ServerOptions {
  std::filesystem::path socket_path{};
  std::uint32_t socket_mode = 0660;
  std::string socket_group{};  // empty: the daemon's effective group
  std::string admin_group{};   // empty: the socket's group
  std::size_t max_clients = 64;
  std::chrono::milliseconds idle_timeout{60'000};
  std::size_t max_unwritten = std::size_t{1024} * 1024;
  std::size_t max_queued_events = kMaxQueuedEvents;  // per watch (watch.h)
};

class Server final : private net::Protocol {
 public:
  static constexpr std::size_t kMaxAwaited = 64;

  Server(asio::io_context& loop, Backend& backend, ServerOptions options);
  // Closes everything and removes the socket file (as stop()). Destroy it after the loop has run
  // out of work (in the daemon: after loop.run() returns).
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Resolves the groups and creates the listening socket file (see socket_file.h). An error says
  // why the daemon cannot start: another fetchd is live on the path, an unknown group, ...
  // Connections wait in the backlog until start().
  std::optional<Error> open();
  // Instead of open(): serves on `fd`, a Unix stream socket already bound and listening that
  // someone else created (systemd socket activation). The server owns the descriptor from now on
  // (closed even on error) but never removes the socket's file: whoever created it owns it.
  // socket_mode and socket_group do not apply (the creator set them: SocketMode=, SocketGroup=);
  // the admin group defaults to the group of the socket's file.
  std::optional<Error> adopt(int fd);
  // Starts accepting (on the loop, once it runs).
  void start();
  // Closes the listening socket and every session, and removes the socket file. Idempotent.
  void stop();

  std::size_t sessions() const { return listener_.sessions(); }

 private:
  std::optional<Error> resolve_admin(gid_t socket_gid);
  net::Accepted accept(net::Socket& socket, std::uint64_t id) override;
  std::string busy() override;

  Backend& backend_;
  WatchHub watches_;
  ServerOptions options_;
  net::Listener listener_;
  net::ListeningSocket file_{};
  bool file_created_ = false;
  bool adopted_ = false;
  std::string adopted_path_{};  // the adopted socket's bound path, for the log
  uid_t daemon_uid_ = 0;
  gid_t admin_gid_ = 0;
};

}  // namespace fetchd::control
