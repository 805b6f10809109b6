#pragma once

// The control socket server: a Unix stream socket on the daemon's loop, one coroutine accepting and
// one session per connection (docs/control-protocol.md). Nothing here blocks the loop: reads and
// writes are asynchronous, every session's input and output are bounded, and a stuck client only
// ever holds its own session, until the idle timeout closes it.
//
// Limits per session: a request line of at most 64 KiB (longer: request_too_large, then close); at
// most `max_clients` sessions (the next connection gets one busy line and is closed); no read or
// write progress for `idle_timeout` while no reply is awaited → closed; at most 1 MiB of unwritten
// replies (a reply that finds that much still unwritten closes the connection; a single larger
// reply is written when nothing else waits); at most kMaxAwaited requests awaiting an asynchronous
// reply (fetch with wait, reload) — reading pauses until one is answered.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <asio/io_context.hpp>
#include <asio/local/stream_protocol.hpp>

#include "common/expected.h"
#include "control/backend.h"
#include "control/socket_file.h"

namespace fetchd::control {

struct ServerOptions {
  std::filesystem::path socket_path{};
  std::uint32_t socket_mode = 0660;
  std::string socket_group{};  // empty: the daemon's effective group
  std::string admin_group{};   // empty: the socket's group
  std::size_t max_clients = 64;
  std::chrono::milliseconds idle_timeout{60'000};
  std::size_t max_unwritten = 1024 * 1024;
};

class Session;

class Server {
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

  std::size_t sessions() const { return sessions_.size(); }

 private:
  friend class Session;
  std::optional<Error> resolve_admin(gid_t socket_gid);
  asio::awaitable<void> accept_connections();
  void refuse_busy(asio::local::stream_protocol::socket socket);
  void forget(std::uint64_t id) { sessions_.erase(id); }

  asio::io_context& loop_;
  Backend& backend_;
  ServerOptions options_;
  asio::local::stream_protocol::acceptor acceptor_;
  ListeningSocket file_{};
  bool file_created_ = false;
  bool adopted_ = false;
  std::string adopted_path_{};  // the adopted socket's bound path, for the log
  bool stopped_ = false;
  uid_t daemon_uid_ = 0;
  gid_t admin_gid_ = 0;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, std::shared_ptr<Session>> sessions_;
};

}  // namespace fetchd::control
