#pragma once

// Drives a test's io_context on the calling thread until a condition holds, with a deadline instead
// of a sleep.

#include <chrono>
#include <functional>

#include <asio/io_context.hpp>

namespace fetchd::test {

// Runs handlers one at a time until `done()` is true (checked before each). Returns false if the
// deadline passes first, or if the io_context runs out of work while `done()` is still false
// (nothing left could make it true). Restarts a stopped io_context, so it can be called repeatedly.
bool run_until(asio::io_context& io, const std::function<bool()>& done,
               std::chrono::steady_clock::duration timeout = std::chrono::seconds(10));

}  // namespace fetchd::test
