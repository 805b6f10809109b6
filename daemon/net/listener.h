#pragma once

// A stream listener that knows no protocol: the accept loop, one session per connection, and the
// limits every server on the loop needs (docs/control-protocol.md, "Limits"). Unix and TCP sockets
// alike (asio's generic stream protocol), so the control socket and an HTTP endpoint share it.
//
// A protocol plugs in with two small interfaces: a Protocol makes one Conversation per accepted
// connection, and the listener hands that Conversation the bytes received and not yet consumed.
// The Conversation frames them itself (a line, an HTTP request head, ...): it says how many bytes
// it consumed and whether to read on, and reserves one Reply per request, which it answers at once
// or later. The listener writes the replies in the order they were reserved, whatever order they
// are answered in.
//
// Limits per connection: at most `max_clients` sessions (the next connection gets the protocol's
// busy bytes and is closed); no read or write progress for `idle_timeout` while no reply is
// awaited → closed; a reply that finds `max_unwritten` bytes or more still unwritten closes the
// connection (a single larger reply is written when nothing else waits); at most `max_awaited`
// reserved replies unanswered — the input is not looked at until one is answered. The input
// itself is bounded by the protocol, which knows how long a request may be.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include <asio/awaitable.hpp>
#include <asio/basic_socket_acceptor.hpp>
#include <asio/generic/stream_protocol.hpp>
#include <asio/io_context.hpp>

namespace fetchd::net {

using Socket = asio::generic::stream_protocol::socket;

// Answers one reserved reply with the bytes to write; only the first call counts, and a call
// after the connection closed does nothing.
using Reply = std::function<void(std::string bytes)>;

// The rest of a reply too large to hold at once (a scrape of 100,000 targets): called for the next
// piece each time the previous one has been written, so the connection's pace bounds the memory
// and each call bounds the time the loop spends (keep pieces to tens of KiB). An empty piece is
// work done with nothing to write yet: the next call comes after the loop has run what else
// waits. Nullopt: the reply is complete. Dropped unfinished if the connection closes.
using Pieces = std::function<std::optional<std::string>()>;
// Answers one reserved reply with its first bytes and the pieces that follow them.
using StreamedReply = std::function<void(std::string head, Pieces rest)>;

// A reply without a planned end (a watch): `next` is called each time what it gave before has been
// written, and after each call of the wake function it is answered with. An empty piece means
// nothing to write yet: the writer waits for a wake. Nullopt ends it. It also ends, and the
// connection closes, at the end of the input: the client closing its side ends the stream. While
// it is written the connection is not idle unless bytes stay unwritten; wake() after the
// connection closed does nothing.
using Wake = std::function<void()>;
using LiveReply = std::function<Wake(std::string head, Pieces next)>;

// The listener's side of one connection, as its Conversation sees it.
class Exchange {
 public:
  // The next reply in request order: it is written after every reply reserved before it.
  virtual Reply reserve() = 0;
  // The same, for a reply written in pieces; replies after it wait until its last piece.
  virtual StreamedReply reserve_streamed() = 0;
  // The same, for a reply that lasts until its pieces or the client end it.
  virtual LiveReply reserve_live() = 0;
  // Reads no more, as Consumed::last does, from outside receive() (a protocol's own timer): the
  // replies reserved are written, then the connection closes.
  virtual void end_input() = 0;

 protected:
  ~Exchange() = default;
};

// What a Conversation did with the front of its input.
struct Consumed {
  std::size_t bytes = 0;  // consumed from the front; 0 (and not last): wait for more input
  bool last = false;      // read no more: the replies reserved are written, then it closes
};

// The protocol's side of one connection.
class Conversation {
 public:
  virtual ~Conversation() = default;
  // `input` holds every byte received and not yet consumed. Called again, with what is left,
  // while it consumes something; and again once more bytes arrive. At end of input the bytes
  // left unconsumed are dropped.
  virtual Consumed receive(std::string_view input, Exchange& exchange) = 0;
};

struct Accepted {
  std::unique_ptr<Conversation> conversation{};  // null: refused (closed without a word)
  std::string peer{};  // who it is, for the log ("pid 12, uid 0"; "127.0.0.1:40312")
};

class Protocol {
 public:
  // A new connection, already counted within max_clients. `id` names it in the log.
  virtual Accepted accept(Socket& socket, std::uint64_t id) = 0;
  // The bytes a connection over max_clients receives before it is closed.
  virtual std::string busy() = 0;

 protected:
  ~Protocol() = default;
};

struct ListenerOptions {
  std::string name{};  // log lines start "<name>: "
  std::size_t max_clients = 64;
  std::chrono::milliseconds idle_timeout{60'000};
  std::size_t max_unwritten = std::size_t{1024} * 1024;
  std::size_t max_awaited = 64;
  // At max_clients, close the connection idle longest (no request pending, nothing unwritten) to
  // admit the new one instead of refusing it: connections opened and held cannot lock out a
  // scraper. The busy reply is then only for when every connection is working.
  bool evict_idle = false;
};

class Session;

class Listener {
 public:
  // `protocol` outlives the listener.
  Listener(asio::io_context& loop, Protocol& protocol, ListenerOptions options);
  // As stop(). Destroy it after the loop has run out of work, or before the loop is destroyed.
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Serves on `fd`, a bound and listening stream socket (AF_UNIX, AF_INET or AF_INET6), owned
  // from now on: closed by stop(), and at once on an error. Connections wait in its backlog until
  // start().
  std::error_code adopt(int fd);
  // Starts accepting (on the loop, once it runs).
  void start();
  // Closes the listening socket and every session. Idempotent.
  void stop();

  std::size_t sessions() const { return sessions_.size(); }
  const ListenerOptions& options() const { return options_; }

 private:
  friend class Session;
  asio::awaitable<void> accept_connections();
  void refuse_busy(Socket& socket);
  // Closes the session idle longest; false when none is idle.
  bool evict_idle_session();
  void forget(std::uint64_t id) { sessions_.erase(id); }

  asio::io_context& loop_;
  Protocol& protocol_;
  const ListenerOptions options_;
  asio::basic_socket_acceptor<asio::generic::stream_protocol> acceptor_;
  bool stopped_ = false;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, std::shared_ptr<Session>> sessions_;
};

}  // namespace fetchd::net
