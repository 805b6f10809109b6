#pragma once

// A loopback TCP (optionally TLS) server whose every connection plays a script of steps: read the
// request head, send bytes (all at once or one at a time), pause, close, reset, hang. It runs on
// the executor of the code under test (one thread), so a test drives both with one io_context.
//
//   ScriptedServer server(io.get_executor(), respond_with("HTTP/1.1 204 No Content\r\n\r\n"));
//   ... fetch server.url("/") ..., then server.requests() holds what the client sent.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <asio/any_io_executor.hpp>
#include <asio/ip/tcp.hpp>

namespace asio::ssl {
class context;
}

namespace fetchd::test {

namespace detail {
struct ScriptedServerState;
}

namespace step {
// Reads up to and including the next "\r\n\r\n" (at most 64 KiB) and records it in requests();
// bytes after it stay for the next ReadRequest (pipelining). EOF or an over-long head ends the
// script.
struct ReadRequest {};
// Reads exactly `bytes` more (a request body after its head) and appends them to the request last
// recorded; EOF first ends the script.
struct ReadBody {
  std::size_t bytes = 0;
};
struct Send {
  std::string bytes;
};
// One byte per write, `per_byte` apart (starting with the first byte): a drip-feeding server.
struct SendSlowly {
  std::string bytes;
  std::chrono::steady_clock::duration per_byte{};
};
struct Pause {
  std::chrono::steady_clock::duration duration{};
};
// Graceful end: TLS close_notify (if TLS), then FIN; the connection stays open, discarding what the
// client sends, until the client closes it (so unread client bytes never turn the FIN into a RST).
struct Close {};
// Abortive end: SO_LINGER 0 and close, so the client sees ECONNRESET.
struct Reset {};
// Sends nothing more and discards what arrives, until the client closes or the server stops.
struct Hang {};
}  // namespace step

using Step = std::variant<step::ReadRequest, step::ReadBody, step::Send, step::SendSlowly,
                          step::Pause, step::Close, step::Reset, step::Hang>;
// A script that runs out of steps ends as if it ended with step::Close. A TLS connection runs its
// script after the server-side handshake; a failed handshake ends the connection.
using Script = std::vector<Step>;

// ReadRequest, Send(bytes), Close.
Script respond_with(std::string bytes);

struct ServerOptions {
  bool ipv6 = false;                  // listen on [::1] instead of 127.0.0.1
  asio::ssl::context* tls = nullptr;  // server-side TLS context; must outlive the server
  int backlog = 4096;                 // tests open many connections at once
};

class ScriptedServer {
 public:
  // The script for the connection accepted `index`-th (from 0), e.g. to fail only the first.
  using ScriptFor = std::function<Script(std::size_t index)>;

  // Listens on an ephemeral loopback port at once (throws std::system_error if it cannot) and
  // accepts from then on as the executor runs. A failure the server does not expect (e.g. accept
  // hitting the fd limit) is thrown out of the executor's run().
  ScriptedServer(asio::any_io_executor executor, Script script, ServerOptions options = {});
  ScriptedServer(asio::any_io_executor executor, ScriptFor script_for, ServerOptions options = {});
  // Calls stop(). The io_context may be destroyed after the server, run or not in between.
  ~ScriptedServer();
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  std::uint16_t port() const { return endpoint_.port(); }
  const asio::ip::tcp::endpoint& endpoint() const { return endpoint_; }
  // "http://127.0.0.1:<port><path>" ("https" with TLS, "[::1]" with ipv6).
  std::string url(std::string_view path = "/") const;

  // These may be read from any thread.
  std::size_t connections() const;            // accepted so far
  std::size_t open_connections() const;       // accepted and whose script has not ended yet
  std::vector<std::string> requests() const;  // each request head read, in the order read

  // Closes the listener and every connection; each connection's coroutine then ends the next time
  // the executor runs. Idempotent. Call it on the executor's thread, or while nothing runs it.
  void stop();

 private:
  std::shared_ptr<detail::ScriptedServerState>
      state_;  // shared with the coroutines, which may outlive this object
  asio::ip::tcp::endpoint endpoint_;
  bool tls_;
};

}  // namespace fetchd::test
