// The engine with names resolved by a DNS server the test runs on loopback.

#include <optional>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include "http/fetcher.h"
#include "support/dns_server.h"
#include "support/run_until.h"
#include "support/scripted_server.h"

namespace fetchd::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class FetcherDnsTest : public ::testing::Test {
 protected:
  FetcherDnsTest() {
    for (int i = 0; i < 100; ++i) {
      dns_.add("host" + std::to_string(i) + ".fetchd.test", asio::ip::make_address("127.0.0.1"));
    }
    dns_.add_silent("stall.fetchd.test");
  }

  Target target_for(const std::string& host) {
    auto target = make_target("http://" + host + ":" + std::to_string(server_.port()) + "/");
    EXPECT_TRUE(target) << target.error().message;
    return *target;
  }

  // Starts a fetch and records when it finished.
  void start(Target target, std::optional<FetchResult>& slot, Clock::time_point& finished) {
    asio::co_spawn(io_, fetcher_.fetch(std::move(target)),
                   [&](std::exception_ptr error, FetchResult result) {
                     if (error)
                       std::rethrow_exception(error);
                     slot = std::move(result);
                     finished = Clock::now();
                   });
  }

  asio::io_context io_;
  test::DnsServer dns_{io_.get_executor()};
  test::ScriptedServer server_{io_.get_executor(),
                               test::respond_with("HTTP/1.1 204 No Content\r\n\r\n")};
  dns::Resolver resolver_{
      io_.get_executor(),
      {.servers = {dns_.address()}, .timeout = 1500ms, .tries = 1, .use_hosts_file = false}};
  Fetcher fetcher_{resolver_};
};

TEST_F(FetcherDnsTest, OneNameThatNeverResolvesDelaysNoOther) {
  std::optional<FetchResult> stalled;
  Clock::time_point stalled_finished;
  std::vector<std::optional<FetchResult>> results(100);
  std::vector<Clock::time_point> finished(100);
  const auto start_time = Clock::now();
  // The silent name goes first, so a resolver that serializes lookups would hold up all the rest.
  auto stall_target = target_for("stall.fetchd.test");
  stall_target.timeout = 5s;
  start(stall_target, stalled, stalled_finished);
  for (int i = 0; i < 100; ++i) {
    start(target_for("host" + std::to_string(i) + ".fetchd.test"), results[i], finished[i]);
  }
  ASSERT_TRUE(test::run_until(
      io_, [&] { return stalled.has_value(); }, 20s));

  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(results[i]) << i;
    ASSERT_TRUE(results[i]->ok()) << i << ": " << results[i]->error().message;
    EXPECT_TRUE(results[i]->last().timings.dns);
    // All hundred finished while the silent lookup was still waiting for its answer.
    EXPECT_LT(finished[i], stalled_finished - 1s) << i;
    EXPECT_LT(finished[i] - start_time, 1s) << i;
  }
  EXPECT_EQ(stalled->error().error_class, ErrorClass::dns) << stalled->error().message;
  EXPECT_GE(dns_.queries("stall.fetchd.test"), 1u);
  EXPECT_EQ(server_.connections(), 100u);
}

TEST_F(FetcherDnsTest, DeadlineBoundsASilentLookup) {
  std::optional<FetchResult> stalled;
  Clock::time_point finished;
  auto target = target_for("stall.fetchd.test");
  target.timeout = 300ms;
  start(target, stalled, finished);
  ASSERT_TRUE(test::run_until(
      io_, [&] { return stalled.has_value(); }, 10s));
  EXPECT_EQ(stalled->error().error_class, ErrorClass::timeout) << stalled->error().message;
  EXPECT_EQ(stalled->error().phase, Phase::resolve);
  EXPECT_LT(stalled->total, 1s);
}

TEST_F(FetcherDnsTest, NxdomainIsADnsErrorAtOnce) {
  std::optional<FetchResult> result;
  Clock::time_point finished;
  start(target_for("missing.fetchd.test"), result, finished);
  ASSERT_TRUE(test::run_until(
      io_, [&] { return result.has_value(); }, 10s));
  EXPECT_EQ(result->error().error_class, ErrorClass::dns);
  EXPECT_EQ(result->error().phase, Phase::resolve);
  EXPECT_NE(result->error().message.find("missing.fetchd.test"), std::string::npos)
      << result->error().message;
  EXPECT_LT(result->total, 500ms);
}

}  // namespace
}  // namespace fetchd::http
