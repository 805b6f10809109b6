#pragma once

// The client side of a line protocol in tests (the control protocol, the listener's echo test):
// one connection, bytes out, reply lines in, each step a coroutine the test bounds with run().
// `Socket` is the stream socket type (a Unix or a TCP socket).

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/read_until.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <gtest/gtest.h>

#include "support/run_until.h"

namespace fetchd::test {

// Owned by the coroutines that use it.
template <class Socket>
struct LineConnection {
  explicit LineConnection(asio::io_context& io) : socket(io) {}
  Socket socket;
  std::string buffer;  // bytes read past the last line returned
};

template <class Socket>
asio::awaitable<std::error_code> connect_to(std::shared_ptr<LineConnection<Socket>> connection,
                                            typename Socket::endpoint_type endpoint) {
  auto [error] = co_await connection->socket.async_connect(
      endpoint, asio::experimental::as_tuple(asio::use_awaitable));
  co_return error;
}

template <class Socket>
asio::awaitable<std::error_code> send(std::shared_ptr<LineConnection<Socket>> connection,
                                      std::string bytes) {
  auto [error, written] = co_await asio::async_write(
      connection->socket, asio::buffer(bytes), asio::experimental::as_tuple(asio::use_awaitable));
  co_return error;
}

// The next line without its newline; nullopt at EOF or on an error.
template <class Socket>
asio::awaitable<std::optional<std::string>> read_line(
    std::shared_ptr<LineConnection<Socket>> connection) {
  auto [error, size] =
      co_await asio::async_read_until(connection->socket, asio::dynamic_buffer(connection->buffer),
                                      '\n', asio::experimental::as_tuple(asio::use_awaitable));
  if (error)
    co_return std::nullopt;
  std::string line = connection->buffer.substr(0, size - 1);
  connection->buffer.erase(0, size);
  co_return line;
}

// Runs `work` on `io` until it completes or `timeout` passes: nullopt then, a test failure.
template <class T>
std::optional<T> run(asio::io_context& io, asio::awaitable<T> work,
                     std::chrono::steady_clock::duration timeout = std::chrono::seconds(10)) {
  auto result = std::make_shared<std::optional<T>>();
  asio::co_spawn(io, std::move(work), [result](const std::exception_ptr& error, T value) {
    if (error)
      ADD_FAILURE() << "client coroutine threw";
    else
      *result = std::move(value);
  });
  if (!run_until(
          io, [&] { return result->has_value(); }, timeout))
    ADD_FAILURE() << "client did not finish in time";
  return *result;
}

}  // namespace fetchd::test
