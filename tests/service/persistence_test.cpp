#include "service/persistence.h"

#include <thread>

#include <asio/post.hpp>
#include <gtest/gtest.h>

#include "support/temp_dir.h"

namespace fetchd::service {
namespace {

using namespace std::chrono_literals;

// stop() while the periodic check's expiry is already queued (cancel() cannot take it back): the
// check must not run and re-arm itself, or the loop never runs out of work and SIGTERM never
// ends the daemon (seen in CI: a stop that took 5 s under load).
TEST(Persistence, StopEndsTheChecksEvenWhenOneIsAlreadyDue) {
  test::TempDir dir("fetchd-persistence");
  asio::io_context loop;
  results::Feed feed;
  registry::Registry registry(feed, 10);
  state::RestoredResults nothing;
  Persistence persistence(loop, feed, registry,
                          std::make_unique<state::ResultsStore>(dir.path(), 1ms, nothing), 1ms);
  std::this_thread::sleep_for(20ms);
  asio::post(loop, [&] { persistence.stop(); });
  loop.run_for(500ms);
  EXPECT_TRUE(loop.stopped()) << "the loop still had work 500 ms after stop()";
}

}  // namespace
}  // namespace fetchd::service
