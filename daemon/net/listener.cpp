#include "net/listener.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <deque>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "common/no_throw.h"

namespace fetchd::net {

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kReadChunk = std::size_t{16} * 1024;
// After a failed accept (the descriptor table is full, say): wait before trying again, so the loop
// does not spin on an error that persists.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(100);

// The completion of a spawned coroutine: an exception here is a bug; log it, never lose it.
auto log_end(std::string what) {
  return [what = std::move(what)](const std::exception_ptr& error) {
    if (!error)
      return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& exception) {
      spdlog::error("{} ended with an exception: {}", what, exception.what());
    }
  };
}

// Parks a coroutine until wake() (a timer that never expires, cancelled to wake the waiter).
asio::awaitable<void> park(asio::steady_timer& timer) {
  timer.expires_at(Clock::time_point::max());
  co_await timer.async_wait(kNoThrow);
}

}  // namespace

// ---- a session ---------------------------------------------------------------------------------

class Session final : public std::enable_shared_from_this<Session>, private Exchange {
 public:
  Session(Listener& listener, std::uint64_t id, Socket socket)
      : listener_(listener),
        id_(id),
        socket_(std::move(socket)),
        options_(listener.options()),
        reader_wake_(socket_.get_executor()),
        writer_wake_(socket_.get_executor()),
        idle_timer_(socket_.get_executor()),
        last_progress_(Clock::now()) {}

  // False when the protocol refused the connection.
  bool start() {
    auto accepted = listener_.protocol_.accept(socket_, id_);
    if (!accepted.conversation)
      return false;
    conversation_ = std::move(accepted.conversation);
    peer_ = std::move(accepted.peer);
    const auto executor = socket_.get_executor();
    const std::string who = options_.name + ": session " + std::to_string(id_);
    asio::co_spawn(executor, read_requests(shared_from_this()), log_end(who + " reader"));
    asio::co_spawn(executor, write_replies(shared_from_this()), log_end(who + " writer"));
    asio::co_spawn(executor, watch_idle(shared_from_this()), log_end(who + " idle timer"));
    return true;
  }

  // Nothing asked and not answered, nothing half received, nothing left to write: closing it loses
  // nothing but the connection.
  bool idle() const {
    return !closed_ && unanswered_ == 0 && replies_.empty() && !streaming_ && nothing_unwritten() &&
           in_.size() == consumed_;
  }
  Clock::time_point last_progress() const { return last_progress_; }

  // Idempotent. Pending operations end with operation_aborted; the coroutines see closed_ and end.
  void close(std::string_view why) {
    if (closed_)
      return;
    closed_ = true;
    spdlog::debug("{}: closing connection {} ({}): {}", options_.name, id_, peer_, why);
    std::error_code ignored;
    socket_.close(ignored);
    reader_wake_.cancel();
    writer_wake_.cancel();
    idle_timer_.cancel();
    if (!listener_.stopped_)
      listener_.forget(id_);
  }

 private:
  struct Slot {
    bool ready = false;
    std::string reply{};
    Pieces rest{};  // a streamed reply's pieces after `reply`
    bool live = false;
  };

  // Each holds the session alive (keep_alive) until it ends.
  asio::awaitable<void> read_requests(std::shared_ptr<Session> keep_alive);
  asio::awaitable<void> write_replies(std::shared_ptr<Session> keep_alive);
  asio::awaitable<void> watch_idle(std::shared_ptr<Session> keep_alive);
  bool serve_input();
  void end_of_requests();
  Reply reserve() override;
  StreamedReply reserve_streamed() override;
  LiveReply reserve_live() override;
  void end_input() override { end_of_requests(); }
  void fill(std::uint64_t sequence, std::string reply, Pieces rest, bool live);
  void move_ready_replies();
  std::size_t unwritten() const { return output_.size() + (writing_.size() - written_); }
  bool nothing_unwritten() const { return output_.empty() && writing_.size() == written_; }

  Listener& listener_;  // only used while open: the listener outlives every open session
  const std::uint64_t id_;
  Socket socket_;
  const ListenerOptions options_;
  std::unique_ptr<Conversation> conversation_{};
  std::string peer_{};
  asio::steady_timer reader_wake_;  // input not looked at: too many replies awaited
  asio::steady_timer writer_wake_;  // nothing to write
  asio::steady_timer idle_timer_;
  Clock::time_point last_progress_;
  bool closed_ = false;
  bool reading_done_ = false;  // end of input, or the protocol's last request: write, then close

  std::array<char, kReadChunk> chunk_;  // what a read fills
  std::string in_;                      // received bytes
  std::size_t consumed_ = 0;            // in_[0, consumed_) has been consumed by the protocol
  // Replies in request order; the front ones that are ready move to output_.
  std::deque<Slot> replies_;
  std::uint64_t first_sequence_ = 0;  // of replies_.front()
  std::uint64_t next_sequence_ = 0;
  std::size_t unanswered_ = 0;  // slots not yet ready
  std::string output_;          // ready replies not yet handed to a write
  Pieces streaming_{};       // the streamed reply being written: output_ ends with its last piece
  bool live_ = false;        // streaming_ is a live reply's
  std::string writing_;      // the write in progress
  std::size_t written_ = 0;  // bytes of writing_ already written
};

asio::awaitable<void> Session::read_requests(std::shared_ptr<Session> /*keep_alive*/) {
  for (;;) {
    // What was received already is served first, pausing while too many replies are awaited.
    for (;;) {
      while (!closed_ && !reading_done_ && unanswered_ >= options_.max_awaited)
        co_await park(reader_wake_);
      if (closed_ || reading_done_)
        co_return;
      if (!serve_input())
        break;
    }
    auto [error, bytes] = co_await socket_.async_read_some(asio::buffer(chunk_), kNoThrow);
    if (closed_)
      co_return;
    if (error) {
      // End of input (or a reset): the replies owed are still written, then the writer closes.
      end_of_requests();
      co_return;
    }
    last_progress_ = Clock::now();
    in_.append(chunk_.data(), bytes);
  }
}

// One step of the protocol over the unconsumed input; false when it waits for more bytes.
bool Session::serve_input() {
  if (consumed_ == in_.size()) {
    in_.clear();
    consumed_ = 0;
    return false;
  }
  const auto step = conversation_->receive(std::string_view(in_).substr(consumed_), *this);
  if (closed_)
    return true;  // the reader sees closed_ and ends
  consumed_ += std::min(step.bytes, in_.size() - consumed_);
  if (step.last) {
    end_of_requests();
    return true;  // the reader sees reading_done_ and ends
  }
  if (step.bytes > 0)
    return true;
  in_.erase(0, consumed_);
  consumed_ = 0;
  return false;
}

void Session::end_of_requests() {
  reading_done_ = true;
  writer_wake_.cancel();
}

Reply Session::reserve() {
  const std::uint64_t sequence = next_sequence_++;
  replies_.push_back(Slot{});
  ++unanswered_;
  return [weak = weak_from_this(), sequence](std::string bytes) {
    if (const auto self = weak.lock())
      self->fill(sequence, std::move(bytes), {}, false);
  };
}

StreamedReply Session::reserve_streamed() {
  const std::uint64_t sequence = next_sequence_++;
  replies_.push_back(Slot{});
  ++unanswered_;
  return [weak = weak_from_this(), sequence](std::string head, Pieces rest) {
    if (const auto self = weak.lock())
      self->fill(sequence, std::move(head), std::move(rest), false);
  };
}

LiveReply Session::reserve_live() {
  const std::uint64_t sequence = next_sequence_++;
  replies_.push_back(Slot{});
  ++unanswered_;
  return [weak = weak_from_this(), sequence](std::string head, Pieces next) -> Wake {
    if (const auto self = weak.lock())
      self->fill(sequence, std::move(head), std::move(next), true);
    return [weak] {
      if (const auto self = weak.lock(); self && !self->closed_)
        self->writer_wake_.cancel();
    };
  };
}

void Session::fill(std::uint64_t sequence, std::string reply, Pieces rest, bool live) {
  if (closed_ || sequence < first_sequence_ || sequence - first_sequence_ >= replies_.size())
    return;
  Slot& slot = replies_[sequence - first_sequence_];
  if (slot.ready)
    return;  // answered twice: the first answer stands
  slot.ready = true;
  slot.reply = std::move(reply);
  slot.rest = std::move(rest);
  slot.live = live;
  --unanswered_;
  move_ready_replies();
  if (closed_)
    return;
  writer_wake_.cancel();
  if (unanswered_ < options_.max_awaited)
    reader_wake_.cancel();
}

// The front replies that are ready go to the output, up to a streamed one: the replies after it
// wait for its last piece.
void Session::move_ready_replies() {
  while (!streaming_ && !replies_.empty() && replies_.front().ready) {
    if (unwritten() >= options_.max_unwritten) {
      spdlog::info(
          "{}: connection {} ({}) does not read its replies ({} bytes unwritten), disconnecting",
          options_.name, id_, peer_, unwritten());
      return close("too many unwritten replies");
    }
    output_ += replies_.front().reply;
    streaming_ = std::move(replies_.front().rest);
    live_ = streaming_ && replies_.front().live;
    replies_.pop_front();
    ++first_sequence_;
  }
}

asio::awaitable<void> Session::write_replies(std::shared_ptr<Session> /*keep_alive*/) {
  for (;;) {
    while (!closed_ && output_.empty() && streaming_) {
      if (live_ && reading_done_) {
        close("end of input during a live reply");
        co_return;
      }
      // The streamed reply's next piece, now that the previous one is written. An empty piece is
      // work done with nothing to write yet: the loop runs what else waits before the next one
      // (a live reply waits for its wake).
      if (auto piece = streaming_()) {
        output_ = std::move(*piece);
        if (output_.empty() && live_)
          co_await park(writer_wake_);
        else if (output_.empty())
          co_await asio::post(socket_.get_executor(), asio::use_awaitable);
      } else {
        streaming_ = {};
        live_ = false;
        move_ready_replies();
      }
    }
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
          asio::buffer(writing_.data() + written_, writing_.size() - written_), kNoThrow);
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
  const auto timeout = options_.idle_timeout;
  for (;;) {
    idle_timer_.expires_at(last_progress_ + timeout);
    co_await idle_timer_.async_wait(kNoThrow);
    if (closed_)
      co_return;
    const auto now = Clock::now();
    if (now < last_progress_ + timeout)
      continue;
    if (unanswered_ > 0 || (live_ && nothing_unwritten())) {
      // The client waits for us (a reply that takes time, the next event of a live one): not
      // idle.
      last_progress_ = now;
      continue;
    }
    close("idle");
    co_return;
  }
}

// ---- the listener ------------------------------------------------------------------------------

Listener::Listener(asio::io_context& loop, Protocol& protocol, ListenerOptions options)
    : loop_(loop), protocol_(protocol), options_(std::move(options)), acceptor_(loop) {}

Listener::~Listener() {
  stop();
}

std::error_code Listener::adopt(int fd) {
  // The generic protocol needs the family and protocol that the socket was created with.
  int family = 0;
  int protocol = 0;
  socklen_t family_size = sizeof(family);
  socklen_t protocol_size = sizeof(protocol);
  if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &family_size) != 0 ||
      ::getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &protocol_size) != 0) {
    const std::error_code error(errno, std::system_category());
    ::close(fd);
    return error;
  }
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::error_code error;
  acceptor_.assign(asio::generic::stream_protocol(family, protocol), fd, error);
  if (error) {
    ::close(fd);
    return error;
  }
  return {};
}

void Listener::start() {
  asio::co_spawn(loop_, accept_connections(), log_end(options_.name + ": accept loop"));
}

void Listener::stop() {
  if (stopped_)
    return;
  stopped_ = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  auto sessions = std::move(sessions_);
  sessions_.clear();
  for (auto& [id, session] : sessions)
    session->close("fetchd is stopping");
}

asio::awaitable<void> Listener::accept_connections() {
  asio::steady_timer backoff(loop_);
  for (;;) {
    auto [error, socket] = co_await acceptor_.async_accept(kNoThrow);
    if (stopped_ || error == asio::error::operation_aborted)
      co_return;
    if (error) {
      spdlog::warn("{}: cannot accept a connection: {}; retrying in {} ms", options_.name,
                   error.message(), kAcceptBackoff.count());
      backoff.expires_after(kAcceptBackoff);
      co_await backoff.async_wait(kNoThrow);
      if (stopped_)
        co_return;
      continue;
    }
    if (sessions_.size() >= options_.max_clients &&
        !(options_.evict_idle && evict_idle_session())) {
      refuse_busy(socket);
      continue;
    }
    const std::uint64_t id = next_id_++;
    auto session = std::make_shared<Session>(*this, id, std::move(socket));
    sessions_.emplace(id, session);
    if (!session->start())
      sessions_.erase(id);
  }
}

bool Listener::evict_idle_session() {
  std::shared_ptr<Session> oldest;
  for (const auto& [id, session] : sessions_) {
    if (session->idle() && (!oldest || session->last_progress() < oldest->last_progress()))
      oldest = session;
  }
  if (!oldest)
    return false;
  oldest->close("evicted: the connection limit was reached and it was idle longest");
  return true;
}

void Listener::refuse_busy(Socket& socket) {
  const std::string bytes = protocol_.busy();
  // A new connection's send buffer is empty, so this small write completes at once; it never
  // blocks (MSG_DONTWAIT), and a failure only means the client is gone already.
  [[maybe_unused]] const auto sent =
      ::send(socket.native_handle(), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  spdlog::debug("{}: refused a connection: {} clients already", options_.name, sessions_.size());
}

}  // namespace fetchd::net
