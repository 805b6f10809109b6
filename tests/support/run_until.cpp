#include "support/run_until.h"

namespace fetchd::test {

bool run_until(asio::io_context& io, const std::function<bool()>& done,
               std::chrono::steady_clock::duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    if (io.stopped()) {
      io.restart();
    }
    if (io.run_one_until(deadline) == 0 && io.stopped()) {
      return done();
    }
  }
  return true;
}

}  // namespace fetchd::test
