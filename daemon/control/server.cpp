#include "control/server.h"

#include <array>
#include <cstddef>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "control/commands.h"
#include "control/peer.h"
#include "control/protocol.h"

namespace fetchd::control {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kUseTuple = asio::experimental::as_tuple(asio::use_awaitable);
constexpr std::size_t kReadChunk = 16 * 1024;
// After a failed accept (the descriptor table is full, say): wait before trying again, so the loop
// does not spin on an error that persists.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);

// The completion of a spawned coroutine: an exception here is a bug; log it, never lose it.
auto log_end(std::string what) {
  return [what = std::move(what)](std::exception_ptr error) {
    if (!error)
      return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& exception) {
      spdlog::error("control: {} ended with an exception: {}", what, exception.what());
    }
  };
}

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

// Parks a coroutine until wake() (a timer that never expires, cancelled to wake the waiter).
asio::awaitable<void> park(asio::steady_timer& timer) {
  timer.expires_at(Clock::time_point::max());
  co_await timer.async_wait(kUseTuple);
}

}  // namespace

// ---- a session ---------------------------------------------------------------------------------

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server& server, std::uint64_t id, asio::local::stream_protocol::socket socket, Peer peer,
          bool admin)
      : server_(server),
        id_(id),
        socket_(std::move(socket)),
        peer_(std::move(peer)),
        context_{server.backend_, admin},
        max_unwritten_(server.options_.max_unwritten),
        idle_timeout_(server.options_.idle_timeout),
        reader_wake_(socket_.get_executor()),
        writer_wake_(socket_.get_executor()),
        idle_timer_(socket_.get_executor()),
        last_progress_(Clock::now()) {}

  void start() {
    const auto executor = socket_.get_executor();
    const std::string who = "session " + std::to_string(id_);
    asio::co_spawn(executor, read_requests(shared_from_this()), log_end(who + " reader"));
    asio::co_spawn(executor, write_replies(shared_from_this()), log_end(who + " writer"));
    asio::co_spawn(executor, watch_idle(shared_from_this()), log_end(who + " idle timer"));
  }

  // Idempotent. Pending operations end with operation_aborted; the coroutines see closed_ and end.
  void close(std::string_view why) {
    if (closed_)
      return;
    closed_ = true;
    spdlog::debug("control: closing connection {} (pid {}, uid {}): {}", id_, peer_.pid, peer_.uid,
                  why);
    std::error_code ignored;
    socket_.close(ignored);
    reader_wake_.cancel();
    writer_wake_.cancel();
    idle_timer_.cancel();
    if (!server_.stopped_)
      server_.forget(id_);
  }

 private:
  struct Slot {
    bool ready = false;
    std::string reply{};
  };

  // Each holds the session alive (keep_alive) until it ends.
  asio::awaitable<void> read_requests(std::shared_ptr<Session> keep_alive);
  asio::awaitable<void> write_replies(std::shared_ptr<Session> keep_alive);
  asio::awaitable<void> watch_idle(std::shared_ptr<Session> keep_alive);
  void handle_line(std::string_view line);
  void fill(std::uint64_t sequence, std::string reply);
  std::size_t unwritten() const { return output_.size() + (writing_.size() - written_); }

  Server& server_;  // only used while open: the server outlives every open session
  const std::uint64_t id_;
  asio::local::stream_protocol::socket socket_;
  const Peer peer_;
  Context context_;
  const std::size_t max_unwritten_;
  const std::chrono::milliseconds idle_timeout_;
  asio::steady_timer reader_wake_;  // reading paused: too many replies awaited
  asio::steady_timer writer_wake_;  // nothing to write
  asio::steady_timer idle_timer_;
  Clock::time_point last_progress_;
  bool closed_ = false;
  bool reading_done_ = false;  // end of input, or a request too large: write what is owed, close

  std::array<char, kReadChunk> chunk_;  // what a read fills
  std::string in_;                      // received bytes
  std::size_t consumed_ = 0;            // in_[0, consumed_) has been served as lines
  std::size_t scanned_ = 0;             // in_[consumed_, scanned_) holds no newline
  // Replies in request order; the front ones that are ready move to output_.
  std::deque<Slot> replies_;
  std::uint64_t first_sequence_ = 0;  // of replies_.front()
  std::uint64_t next_sequence_ = 0;
  std::size_t unanswered_ = 0;  // slots not yet ready
  std::string output_;          // ready replies not yet handed to a write
  std::string writing_;         // the write in progress
  std::size_t written_ = 0;     // bytes of writing_ already written
};

asio::awaitable<void> Session::read_requests(std::shared_ptr<Session> /*keep_alive*/) {
  for (;;) {
    // Serve the complete lines already received, pausing while too many replies are awaited.
    for (;;) {
      while (!closed_ && unanswered_ >= Server::kMaxAwaited)
        co_await park(reader_wake_);
      if (closed_)
        co_return;
      const auto newline = in_.find('\n', std::max(consumed_, scanned_));
      if (newline == std::string::npos) {
        in_.erase(0, consumed_);
        consumed_ = 0;
        scanned_ = in_.size();
        break;
      }
      handle_line(std::string_view(in_).substr(consumed_, newline - consumed_));
      consumed_ = newline + 1;
    }
    if (in_.size() >= kMaxRequestLine) {
      // The line cannot end within the limit: refuse it without reading the rest, then close.
      const auto reply =
          format_failure(nullptr, {std::string(code::request_too_large),
                                   "request line over " + std::to_string(kMaxRequestLine) +
                                       " bytes; closing the connection",
                                   {}});
      replies_.push_back(Slot{});
      ++unanswered_;
      fill(next_sequence_++, reply);
      reading_done_ = true;
      writer_wake_.cancel();
      co_return;
    }
    auto [error, bytes] = co_await socket_.async_read_some(asio::buffer(chunk_), kUseTuple);
    if (closed_)
      co_return;
    if (error) {
      // End of input (or a reset): the replies owed are still written, then the writer closes.
      reading_done_ = true;
      writer_wake_.cancel();
      co_return;
    }
    last_progress_ = Clock::now();
    in_.append(chunk_.data(), bytes);
  }
}

void Session::handle_line(std::string_view line) {
  if (is_blank(line))
    return;
  auto parsed = parse_request(line);
  const std::uint64_t sequence = next_sequence_++;
  replies_.push_back(Slot{});
  ++unanswered_;
  if (parsed.error)
    return fill(sequence, format_failure(parsed.request.id, *parsed.error));
  dispatch(parsed.request, context_,
           [weak = weak_from_this(), sequence, id = parsed.request.id](Outcome outcome) {
             const auto self = weak.lock();
             if (!self || self->closed_)
               return;
             self->fill(sequence, outcome.failure ? format_failure(id, *outcome.failure)
                                                  : format_result(id, outcome.result));
           });
}

void Session::fill(std::uint64_t sequence, std::string reply) {
  if (closed_ || sequence < first_sequence_ || sequence - first_sequence_ >= replies_.size())
    return;
  Slot& slot = replies_[sequence - first_sequence_];
  if (slot.ready)
    return;  // answered twice: the first answer stands
  slot.ready = true;
  slot.reply = std::move(reply);
  --unanswered_;
  while (!replies_.empty() && replies_.front().ready) {
    if (unwritten() >= max_unwritten_) {
      spdlog::info(
          "control: connection {} (pid {}, uid {}) does not read its replies ({} bytes "
          "unwritten), disconnecting",
          id_, peer_.pid, peer_.uid, unwritten());
      return close("too many unwritten replies");
    }
    output_ += replies_.front().reply;
    replies_.pop_front();
    ++first_sequence_;
  }
  writer_wake_.cancel();
  if (unanswered_ < Server::kMaxAwaited)
    reader_wake_.cancel();
}

asio::awaitable<void> Session::write_replies(std::shared_ptr<Session> /*keep_alive*/) {
  for (;;) {
    while (!closed_ && output_.empty()) {
      if (reading_done_ && replies_.empty()) {
        close("end of requests");
        co_return;
      }
      co_await park(writer_wake_);
    }
    if (closed_)
      co_return;
    writing_.swap(output_);
    output_.clear();
    written_ = 0;
    while (written_ < writing_.size()) {
      auto [error, bytes] = co_await socket_.async_write_some(
          asio::buffer(writing_.data() + written_, writing_.size() - written_), kUseTuple);
      if (closed_)
        co_return;
      if (error) {
        close("write failed: " + error.message());
        co_return;
      }
      written_ += bytes;
      last_progress_ = Clock::now();
    }
    written_ = 0;
    writing_.clear();
    if (writing_.capacity() > kReadChunk * 4)
      std::string().swap(writing_);  // a large reply's buffer is not kept for the session's life
  }
}

asio::awaitable<void> Session::watch_idle(std::shared_ptr<Session> /*keep_alive*/) {
  const auto timeout = idle_timeout_;
  for (;;) {
    idle_timer_.expires_at(last_progress_ + timeout);
    co_await idle_timer_.async_wait(kUseTuple);
    if (closed_)
      co_return;
    const auto now = Clock::now();
    if (now < last_progress_ + timeout)
      continue;
    if (unanswered_ > 0) {
      // The client waits for us (fetch with wait, reload): not idle.
      last_progress_ = now;
      continue;
    }
    close("idle");
    co_return;
  }
}

// ---- the server --------------------------------------------------------------------------------

Server::Server(asio::io_context& loop, Backend& backend, ServerOptions options)
    : loop_(loop), backend_(backend), options_(std::move(options)), acceptor_(loop) {}

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
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0 &&
      length > offsetof(sockaddr_un, sun_path) && address.sun_path[0] != '\0')
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
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::error_code error;
  acceptor_.assign(asio::local::stream_protocol(), fd, error);
  if (error) {
    ::close(fd);
    return Error{"control socket: adopting fd " + std::to_string(fd) + ": " + error.message()};
  }
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
  auto created = create_socket_file(
      {options_.socket_path, static_cast<mode_t>(options_.socket_mode), socket_gid, 0});
  if (!created)
    return created.error();
  file_ = *created;
  file_created_ = true;
  std::error_code error;
  acceptor_.assign(asio::local::stream_protocol(), file_.fd, error);
  if (error) {
    ::close(file_.fd);
    remove_socket_file(options_.socket_path, file_);
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
  asio::co_spawn(loop_, accept_connections(), log_end("accept loop"));
}

void Server::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  auto sessions = std::move(sessions_);
  sessions_.clear();
  for (auto& [id, session] : sessions)
    session->close("fetchd is stopping");
  if (file_created_) {
    remove_socket_file(options_.socket_path, file_);
    file_created_ = false;
  }
}

asio::awaitable<void> Server::accept_connections() {
  asio::steady_timer backoff(loop_);
  for (;;) {
    auto [error, socket] = co_await acceptor_.async_accept(kUseTuple);
    if (stopped_ || error == asio::error::operation_aborted)
      co_return;
    if (error) {
      spdlog::warn("control socket: cannot accept a connection: {}; retrying in {} ms",
                   error.message(), kAcceptBackoff.count());
      backoff.expires_after(kAcceptBackoff);
      co_await backoff.async_wait(kUseTuple);
      if (stopped_)
        co_return;
      continue;
    }
    if (sessions_.size() >= options_.max_clients) {
      refuse_busy(std::move(socket));
      continue;
    }
    auto peer = peer_of(socket.native_handle());
    if (!peer) {
      spdlog::warn("control socket: {}; closing the connection", peer.error().message);
      continue;
    }
    const bool admin = is_admin(*peer, daemon_uid_, admin_gid_);
    const std::uint64_t id = next_id_++;
    spdlog::debug("control: connection {} from pid {}, uid {}, gid {}{}", id, peer->pid, peer->uid,
                  peer->gid, admin ? " (admin)" : "");
    auto session = std::make_shared<Session>(*this, id, std::move(socket), std::move(*peer), admin);
    sessions_.emplace(id, session);
    session->start();
  }
}

void Server::refuse_busy(asio::local::stream_protocol::socket socket) {
  static const std::string line = format_failure(
      nullptr, {std::string(code::busy), "too many control connections; try again later", {}});
  // A new connection's send buffer is empty, so this small write completes at once; it never
  // blocks (MSG_DONTWAIT), and a failure only means the client is gone already.
  [[maybe_unused]] const auto sent =
      ::send(socket.native_handle(), line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  spdlog::debug("control: refused a connection: {} clients already", sessions_.size());
}

}  // namespace fetchd::control
