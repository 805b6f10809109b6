#include "support/scripted_server.h"

#include <array>
#include <exception>
#include <mutex>
#include <optional>
#include <set>
#include <system_error>
#include <utility>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/read.hpp>
#include <asio/read_until.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "common/no_throw.h"

namespace fetchd::test {
namespace {

using tcp = asio::ip::tcp;
constexpr std::size_t kMaxRequestHead = 64 * 1024;

// One accepted connection. The coroutine that serves it owns it; the server's registry points at it
// so that stop() can close the socket and cancel the timer under a suspended step.
struct Connection {
  explicit Connection(tcp::socket accepted)
      : socket(std::move(accepted)), timer(socket.get_executor()) {}

  tcp::socket socket;
  asio::steady_timer timer;
  std::optional<asio::ssl::stream<tcp::socket&>> tls;  // over `socket`, when the server has TLS
  std::string unread;  // received but not yet consumed by a ReadRequest
};

// A coroutine's exception is a fixture bug or an environment failure (e.g. out of fds): surface it
// from the executor's run() rather than lose it.
void rethrow_failure(std::exception_ptr failure) {
  if (failure) {
    std::rethrow_exception(failure);
  }
}

}  // namespace

struct detail::ScriptedServerState {
  ScriptedServerState(asio::any_io_executor executor, ScriptedServer::ScriptFor script_for_index,
                      asio::ssl::context* context)
      : script_for(std::move(script_for_index)), tls(context), acceptor(std::move(executor)) {}

  bool stopped() const {
    std::lock_guard lock(mutex);
    return is_stopped;
  }

  const ScriptedServer::ScriptFor script_for;
  asio::ssl::context* const tls;
  tcp::acceptor acceptor;

  mutable std::mutex mutex;  // for the accessors, which tests may call from another thread
  bool is_stopped = false;
  std::size_t accepted = 0;
  std::vector<std::string> requests;
  std::set<Connection*> open;
};

namespace {

using State = detail::ScriptedServerState;

// Coroutine helpers take references: each is awaited at once by run_connection, whose frame owns
// the state and the connection for as long as they run.

asio::awaitable<bool> perform(State& state, Connection& connection, const step::ReadRequest&) {
  auto buffer = asio::dynamic_buffer(connection.unread, kMaxRequestHead);
  auto [error, head_size] =
      connection.tls
          ? co_await asio::async_read_until(*connection.tls, buffer, "\r\n\r\n", kNoThrow)
          : co_await asio::async_read_until(connection.socket, buffer, "\r\n\r\n", kNoThrow);
  if (error) {
    co_return false;
  }
  std::lock_guard lock(state.mutex);
  state.requests.push_back(connection.unread.substr(0, head_size));
  connection.unread.erase(0, head_size);
  co_return true;
}

asio::awaitable<bool> perform(State& state, Connection& connection, const step::ReadBody& body) {
  if (connection.unread.size() < body.bytes) {
    const std::size_t had = connection.unread.size();
    connection.unread.resize(body.bytes);
    auto buffer = asio::buffer(connection.unread.data() + had, body.bytes - had);
    auto [error, read] = connection.tls
                             ? co_await asio::async_read(*connection.tls, buffer, kNoThrow)
                             : co_await asio::async_read(connection.socket, buffer, kNoThrow);
    if (error)
      co_return false;
  }
  std::lock_guard lock(state.mutex);
  if (!state.requests.empty())
    state.requests.back() += connection.unread.substr(0, body.bytes);
  connection.unread.erase(0, body.bytes);
  co_return true;
}

asio::awaitable<bool> write(Connection& connection, asio::const_buffer bytes) {
  auto [error, written] = connection.tls
                              ? co_await asio::async_write(*connection.tls, bytes, kNoThrow)
                              : co_await asio::async_write(connection.socket, bytes, kNoThrow);
  co_return !error;
}

asio::awaitable<bool> wait(State& state, Connection& connection,
                           std::chrono::steady_clock::duration duration) {
  connection.timer.expires_after(duration);
  auto [error] = co_await connection.timer.async_wait(kNoThrow);
  co_return !error && !state.stopped();
}

asio::awaitable<bool> perform(State&, Connection& connection, const step::Send& send) {
  co_return co_await write(connection, asio::buffer(send.bytes));
}

asio::awaitable<bool> perform(State& state, Connection& connection, const step::SendSlowly& send) {
  for (const char& byte : send.bytes) {
    if (!co_await wait(state, connection, send.per_byte) ||
        !co_await write(connection, asio::buffer(&byte, 1))) {
      co_return false;
    }
  }
  co_return true;
}

asio::awaitable<bool> perform(State& state, Connection& connection, const step::Pause& pause) {
  co_return co_await wait(state, connection, pause.duration);
}

// Reads and discards until the client closes (or stop() closes the socket). Raw TCP even under
// TLS: nothing is sent any more, so the TLS state no longer matters.
asio::awaitable<void> discard_until_closed(Connection& connection) {
  std::array<char, 4096> scratch;
  for (;;) {
    auto [error, size] =
        co_await connection.socket.async_read_some(asio::buffer(scratch), kNoThrow);
    if (error) {
      co_return;
    }
  }
}

asio::awaitable<bool> perform(State&, Connection& connection, const step::Close&) {
  if (connection.tls) {
    // Sends close_notify, then waits for the client's close_notify or its EOF.
    co_await connection.tls->async_shutdown(kNoThrow);
  }
  std::error_code ignored;  // the client may be gone already; either way the FIN is ours to send
  connection.socket.shutdown(tcp::socket::shutdown_send, ignored);
  co_await discard_until_closed(connection);
  co_return false;
}

asio::awaitable<bool> perform(State&, Connection& connection, const step::Reset&) {
  std::error_code ignored;  // a socket the client already reset cannot be reset again
  connection.socket.set_option(asio::socket_base::linger(true, 0), ignored);
  connection.socket.close(ignored);
  co_return false;
}

asio::awaitable<bool> perform(State&, Connection& connection, const step::Hang&) {
  co_await discard_until_closed(connection);
  co_return false;
}

asio::awaitable<void> run_connection(std::shared_ptr<State> state,
                                     std::shared_ptr<Connection> connection, Script script) {
  // Registered here rather than at accept, and unregistered however the coroutine ends (including
  // destruction of its frame by the io_context's destructor), so that stop() never sees a
  // connection whose coroutine is gone.
  struct Registration {
    State& state;
    Connection* connection;
    Registration(State& server, Connection* accepted) : state(server), connection(accepted) {
      std::lock_guard lock(state.mutex);
      state.open.insert(connection);
    }
    ~Registration() {
      std::lock_guard lock(state.mutex);
      state.open.erase(connection);
    }
  } registration(*state, connection.get());

  if (state->stopped()) {
    co_return;  // stopped between accept and now: stop() did not see this connection
  }
  if (state->tls != nullptr) {
    connection->tls.emplace(connection->socket, *state->tls);
    auto [error] =
        co_await connection->tls->async_handshake(asio::ssl::stream_base::server, kNoThrow);
    if (error) {
      co_return;
    }
  }
  for (const Step& next : script) {
    if (state->stopped()) {
      co_return;
    }
    const bool more = co_await std::visit(
        [&](const auto& step) { return perform(*state, *connection, step); }, next);
    if (!more) {
      co_return;
    }
  }
  if (!state->stopped()) {
    co_await perform(*state, *connection, step::Close{});
  }
}

asio::awaitable<void> accept_connections(std::shared_ptr<State> state) {
  for (std::size_t index = 0;; ++index) {
    auto [error, socket] = co_await state->acceptor.async_accept(kNoThrow);
    if (state->stopped()) {
      co_return;
    }
    if (error == asio::error::connection_aborted) {
      continue;  // the client gave up while in the backlog
    }
    if (error) {
      throw std::system_error(error, "ScriptedServer accept");
    }
    {
      std::lock_guard lock(state->mutex);
      ++state->accepted;
    }
    asio::co_spawn(state->acceptor.get_executor(),
                   run_connection(state, std::make_shared<Connection>(std::move(socket)),
                                  state->script_for(index)),
                   rethrow_failure);
  }
}

}  // namespace

Script respond_with(std::string bytes) {
  return {step::ReadRequest{}, step::Send{std::move(bytes)}, step::Close{}};
}

ScriptedServer::ScriptedServer(asio::any_io_executor executor, Script script, ServerOptions options)
    : ScriptedServer(
          std::move(executor), [script = std::move(script)](std::size_t) { return script; },
          options) {}

ScriptedServer::ScriptedServer(asio::any_io_executor executor, ScriptFor script_for,
                               ServerOptions options)
    : state_(std::make_shared<detail::ScriptedServerState>(executor, std::move(script_for),
                                                           options.tls)),
      tls_(options.tls != nullptr) {
  const tcp::endpoint listen_on(options.ipv6 ? asio::ip::address(asio::ip::address_v6::loopback())
                                             : asio::ip::address(asio::ip::address_v4::loopback()),
                                0);
  auto& acceptor = state_->acceptor;
  acceptor.open(listen_on.protocol());
  acceptor.bind(listen_on);
  acceptor.listen(options.backlog);
  endpoint_ = acceptor.local_endpoint();
  asio::co_spawn(executor, accept_connections(state_), rethrow_failure);
}

ScriptedServer::~ScriptedServer() {
  stop();
}

std::string ScriptedServer::url(std::string_view path) const {
  const auto address = endpoint_.address();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return (tls_ ? "https://" : "http://") + host + ":" + std::to_string(port()) + std::string(path);
}

std::size_t ScriptedServer::connections() const {
  std::lock_guard lock(state_->mutex);
  return state_->accepted;
}

std::size_t ScriptedServer::open_connections() const {
  std::lock_guard lock(state_->mutex);
  return state_->open.size();
}

std::vector<std::string> ScriptedServer::requests() const {
  std::lock_guard lock(state_->mutex);
  return state_->requests;
}

void ScriptedServer::stop() {
  std::lock_guard lock(state_->mutex);
  state_->is_stopped = true;
  std::error_code ignored;  // closing what is already closed is fine
  state_->acceptor.close(ignored);
  for (Connection* connection : state_->open) {
    connection->socket.close(ignored);
    connection->timer.cancel();
  }
}

}  // namespace fetchd::test
