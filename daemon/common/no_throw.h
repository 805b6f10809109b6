#pragma once

// The completion token of every co_await whose error is an outcome, not an exception: the
// operation's results come back as a tuple with the error_code first.

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

namespace fetchd {

inline constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);

}  // namespace fetchd
