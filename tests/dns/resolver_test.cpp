#include "dns/resolver.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include "support/dns_server.h"
#include "support/run_until.h"
#include "support/temp_dir.h"

namespace fetchd::dns {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

asio::ip::address ip(const char* text) {
  return asio::ip::make_address(text);
}

std::vector<asio::ip::address> sorted(std::vector<asio::ip::address> addresses) {
  std::sort(addresses.begin(), addresses.end());
  return addresses;
}

void rethrow(std::exception_ptr error) {
  if (error) {
    std::rethrow_exception(error);
  }
}

// The resolver and the test DNS server share one io_context, run on the test's thread.
class ResolverTest : public ::testing::Test {
 protected:
  // Only our server: no /etc/hosts, no resolv.conf servers (and so no search domains).
  ResolverOptions local_options() const {
    ResolverOptions options;
    options.servers = {dns_.address()};
    options.use_hosts_file = false;
    options.timeout = 2s;
    options.tries = 1;
    return options;
  }

  // Runs `body` (a callable returning asio::awaitable<void>) to completion, within `bound`.
  template <typename Body>
  bool run(Body body, Clock::duration bound = 10s) {
    bool finished = false;
    asio::co_spawn(io_, std::move(body), [&finished](std::exception_ptr error) {
      finished = true;
      rethrow(error);
    });
    return test::run_until(
        io_, [&finished] { return finished; }, bound);
  }

  asio::io_context io_;
  test::DnsServer dns_{io_.get_executor()};
};

TEST_F(ResolverTest, ResolvesTheAddressesOfTheWantedFamily) {
  dns_.add("dual.test", ip("192.0.2.1"));
  dns_.add("dual.test", ip("192.0.2.2"));
  dns_.add("dual.test", ip("2001:db8::1"));
  dns_.add("v4only.test", ip("192.0.2.9"));
  Resolver resolver(io_.get_executor(), local_options());

  Resolution v4, v6, any, v6_of_v4only;
  ASSERT_TRUE(run([&]() -> asio::awaitable<void> {
    v4 = co_await resolver.resolve("dual.test", Family::ipv4);
    EXPECT_TRUE(io_.get_executor().running_in_this_thread());  // resumed on the caller's executor
    v6 = co_await resolver.resolve("dual.test", Family::ipv6);
    any = co_await resolver.resolve("Dual.Test", Family::any);
    v6_of_v4only = co_await resolver.resolve("v4only.test", Family::ipv6);
  }));

  EXPECT_FALSE(v4.error) << v4.message;
  EXPECT_EQ(sorted(v4.addresses), (std::vector{ip("192.0.2.1"), ip("192.0.2.2")}));
  EXPECT_FALSE(v6.error) << v6.message;
  EXPECT_EQ(v6.addresses, (std::vector{ip("2001:db8::1")}));
  EXPECT_FALSE(any.error) << any.message;
  EXPECT_EQ(sorted(any.addresses),
            (std::vector{ip("192.0.2.1"), ip("192.0.2.2"), ip("2001:db8::1")}));
  EXPECT_EQ(v6_of_v4only.error, DnsError::not_found);
  EXPECT_TRUE(v6_of_v4only.addresses.empty());
}

TEST_F(ResolverTest, UnknownNameIsNotFoundWithoutWaitingForTheTimeout) {
  Resolver resolver(io_.get_executor(), local_options());
  Resolution result;
  Clock::duration took{};
  ASSERT_TRUE(run([&]() -> asio::awaitable<void> {
    const auto start = Clock::now();
    result = co_await resolver.resolve("missing.test", Family::any);
    took = Clock::now() - start;
  }));
  EXPECT_EQ(result.error, DnsError::not_found);
  EXPECT_EQ(result.message.rfind("missing.test: ", 0), 0u) << result.message;
  EXPECT_LT(took, 500ms);  // the timeout is 2 s
  EXPECT_GE(dns_.queries("missing.test"), 1u);
}

TEST_F(ResolverTest, SilentNameDelaysNoOtherLookup) {
  constexpr int names = 100;
  for (int i = 0; i < names; ++i) {
    dns_.add("host" + std::to_string(i) + ".test", asio::ip::address_v4(0x7f000100u + i));
  }
  dns_.add_silent("silent.test");
  Resolver resolver(io_.get_executor(), local_options());

  std::vector<Resolution> results(names);
  std::vector<Clock::duration> took(names);
  Resolution silent;
  Clock::duration silent_took{};
  int pending = names + 1;
  const auto start = Clock::now();
  // The silent lookup goes first, so that every other lookup is queued behind it if anything
  // serialises them.
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        silent = co_await resolver.resolve("silent.test", Family::any);
        silent_took = Clock::now() - start;
        --pending;
      },
      rethrow);
  for (int i = 0; i < names; ++i) {
    asio::co_spawn(
        io_,
        [&, i]() -> asio::awaitable<void> {
          results[i] = co_await resolver.resolve("host" + std::to_string(i) + ".test", Family::any);
          took[i] = Clock::now() - start;
          --pending;
        },
        rethrow);
  }
  ASSERT_TRUE(test::run_until(
      io_, [&] { return pending == 0; }, 10s));

  for (int i = 0; i < names; ++i) {
    EXPECT_FALSE(results[i].error) << results[i].message;
    EXPECT_EQ(results[i].addresses,
              (std::vector<asio::ip::address>{asio::ip::address_v4(0x7f000100u + i)}));
  }
  const Clock::duration slowest = *std::max_element(took.begin(), took.end());
  EXPECT_LT(slowest, 500ms);
  EXPECT_EQ(silent.error, DnsError::timeout) << silent.message;
  EXPECT_GE(silent_took, 1900ms);
  EXPECT_LT(silent_took, 5s);
  EXPECT_GE(dns_.queries("silent.test"), 1u);
  std::printf(
      "[ figures  ] %d lookups done within %.1f ms; the silent one timed out after %.0f ms\n",
      names, std::chrono::duration<double, std::milli>(slowest).count(),
      std::chrono::duration<double, std::milli>(silent_took).count());
}

TEST_F(ResolverTest, CancelledLookupCompletesAtOnce) {
  dns_.add_silent("silent.test");
  dns_.add("after.test", ip("192.0.2.7"));
  std::optional<Resolver> resolver(std::in_place, io_.get_executor(), local_options());

  // Cancel once the query has reached the server, i.e. while c-ares is waiting for the answer.
  asio::cancellation_signal cancel;
  Clock::time_point cancelled_at{};
  dns_.on_query([&](const std::string& name) {
    if (name == "silent.test" && cancelled_at == Clock::time_point{}) {
      cancelled_at = Clock::now();
      cancel.emit(asio::cancellation_type::terminal);
    }
  });
  Resolution result;
  Clock::time_point completed_at{};
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        result = co_await resolver->resolve("silent.test", Family::ipv4);
        completed_at = Clock::now();
      },
      asio::bind_cancellation_slot(cancel.slot(), rethrow));
  ASSERT_TRUE(test::run_until(
      io_, [&] { return completed_at != Clock::time_point{}; }, 1s));
  EXPECT_EQ(result.error, asio::error::operation_aborted) << result.message;
  EXPECT_LT(completed_at - cancelled_at, 50ms);

  // The abandoned c-ares query disturbs neither later lookups nor the resolver's destruction (its
  // callback then runs with ARES_EDESTRUCTION; ASan checks it touches nothing freed).
  Resolution after;
  ASSERT_TRUE(run([&]() -> asio::awaitable<void> {
    after = co_await resolver->resolve("after.test", Family::ipv4);
  }));
  EXPECT_FALSE(after.error) << after.message;
  EXPECT_EQ(after.addresses, (std::vector{ip("192.0.2.7")}));
  resolver.reset();
  dns_.stop();
  io_.restart();
  io_.run_for(5s);
  EXPECT_TRUE(io_.stopped()) << "work left behind by the destroyed resolver";
}

TEST_F(ResolverTest, AwaitableOrCancelsTheLosingLookup) {
  using namespace asio::experimental::awaitable_operators;
  dns_.add_silent("silent.test");
  Resolver resolver(io_.get_executor(), local_options());
  asio::steady_timer timer(io_);

  std::variant<Resolution, std::monostate> outcome;
  Clock::duration took{};
  ASSERT_TRUE(run([&]() -> asio::awaitable<void> {
    const auto start = Clock::now();
    timer.expires_after(100ms);
    outcome = co_await (resolver.resolve("silent.test", Family::any) ||
                        timer.async_wait(asio::use_awaitable));
    took = Clock::now() - start;
  }));
  EXPECT_EQ(outcome.index(), 1u);
  EXPECT_LT(took, 1s);  // not the 2 s timeout: `||` waits for the cancelled lookup to complete
}

TEST_F(ResolverTest, DestroyingTheResolverAbortsPendingLookups) {
  dns_.add_silent("silent.test");
  std::optional<Resolver> resolver(std::in_place, io_.get_executor(), local_options());
  dns_.on_query([&](const std::string&) { resolver.reset(); });

  Resolution result;
  ASSERT_TRUE(run(
      [&]() -> asio::awaitable<void> {
        result = co_await resolver->resolve("silent.test", Family::any);
      },
      1s));
  EXPECT_EQ(result.error, asio::error::operation_aborted) << result.message;
  EXPECT_EQ(result.message.rfind("silent.test: ", 0), 0u) << result.message;
}

TEST_F(ResolverTest, TruncatedAnswerFallsBackToTcp) {
  // 40 AAAA records do not fit in 512 bytes: the server sets TC, and c-ares retries over TCP, where
  // nothing listens. The TCP connection attempt (a write wait) fails fast.
  for (int i = 1; i <= 40; ++i) {
    dns_.add("big.test", ip(("2001:db8::" + std::to_string(i)).c_str()));
  }
  Resolver resolver(io_.get_executor(), local_options());
  Resolution result;
  Clock::duration took{};
  ASSERT_TRUE(run([&]() -> asio::awaitable<void> {
    const auto start = Clock::now();
    result = co_await resolver.resolve("big.test", Family::ipv6);
    took = Clock::now() - start;
  }));
  EXPECT_EQ(result.error, DnsError::server_failure) << result.message;
  EXPECT_LT(took, 500ms);
}

TEST_F(ResolverTest, IpLiteralsNeedNoQuery) {
  Resolver resolver(io_.get_executor(), local_options());
  Resolution v4, v6, bracketed, v4_as_v6, v6_as_v4;
  ASSERT_TRUE(run([&]() -> asio::awaitable<void> {
    v4 = co_await resolver.resolve("127.0.0.1", Family::any);
    v6 = co_await resolver.resolve("::1", Family::any);
    bracketed = co_await resolver.resolve("[::1]", Family::ipv6);
    v4_as_v6 = co_await resolver.resolve("127.0.0.1", Family::ipv6);
    v6_as_v4 = co_await resolver.resolve("::1", Family::ipv4);
  }));
  EXPECT_EQ(v4.addresses, (std::vector{ip("127.0.0.1")}));
  EXPECT_EQ(v6.addresses, (std::vector{ip("::1")}));
  EXPECT_EQ(bracketed.addresses, (std::vector{ip("::1")}));
  EXPECT_EQ(v4_as_v6.error, DnsError::not_found);
  EXPECT_EQ(v6_as_v4.error, DnsError::not_found);
  EXPECT_EQ(dns_.total_queries(), 0u);
}

TEST_F(ResolverTest, LocalhostComesFromTheHostsFile) {
  ResolverOptions options = local_options();  // our server, in case /etc/hosts lacks the name
  options.use_hosts_file = true;
  Resolver resolver(io_.get_executor(), options);
  Resolution result;
  ASSERT_TRUE(run([&]() -> asio::awaitable<void> {
    result = co_await resolver.resolve("localhost", Family::ipv4);
  }));
  EXPECT_FALSE(result.error) << result.message;
  EXPECT_EQ(result.addresses, (std::vector{ip("127.0.0.1")}));
  EXPECT_EQ(dns_.queries("localhost"), 0u);
}

TEST_F(ResolverTest, InvalidNameIsBadName) {
  Resolver resolver(io_.get_executor(), local_options());
  Resolution double_dot, empty;
  ASSERT_TRUE(run([&]() -> asio::awaitable<void> {
    double_dot = co_await resolver.resolve("bad..name", Family::any);
    empty = co_await resolver.resolve("", Family::any);
  }));
  EXPECT_EQ(double_dot.error, DnsError::bad_name) << double_dot.message;
  EXPECT_EQ(empty.error, DnsError::bad_name) << empty.message;
  EXPECT_EQ(dns_.total_queries(), 0u);
}

// Lookups of a silent name, timed; the server is ours, the retry options come from `options`.
Clock::duration time_out_silent_lookup(asio::io_context& io, Resolver& resolver,
                                       Resolution& result) {
  bool finished = false;
  const auto start = Clock::now();
  Clock::duration took{};
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        result = co_await resolver.resolve("silent.test", Family::ipv4);
        took = Clock::now() - start;
        finished = true;
      },
      rethrow);
  EXPECT_TRUE(test::run_until(
      io, [&] { return finished; }, 20s));
  return took;
}

TEST_F(ResolverTest, ResolvConfTimeoutAndAttemptsApplyWhenNotConfigured) {
  dns_.add_silent("silent.test");
  const test::TempDir dir("resolver");
  test::write_file(dir.path() / "resolv.conf", "options timeout:1 attempts:1\n");
  ResolverOptions options = local_options();
  options.timeout.reset();
  options.tries.reset();
  options.resolv_conf = dir.path() / "resolv.conf";
  Resolver resolver(io_.get_executor(), options);
  EXPECT_EQ(resolver.retry().timeout, 1s);
  EXPECT_EQ(resolver.retry().attempts, 1);
  EXPECT_EQ(resolver.retry().source, options.resolv_conf.string());

  Resolution result;
  const auto took = time_out_silent_lookup(io_, resolver, result);
  EXPECT_EQ(result.error, DnsError::timeout) << result.message;
  // Once, after one timeout: not c-ares' own 5 s x 4 tries, nor the 2 s x 2 fetchd used to set.
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 1900ms);
  EXPECT_EQ(dns_.queries("silent.test"), 1u);
}

TEST_F(ResolverTest, ConfiguredRetryWinsOverResolvConf) {
  dns_.add_silent("silent.test");
  const test::TempDir dir("resolver");
  test::write_file(dir.path() / "resolv.conf", "options timeout:5 attempts:5\n");
  ResolverOptions options = local_options();
  options.timeout = 300ms;
  options.tries.reset();
  options.resolv_conf = dir.path() / "resolv.conf";
  Resolver resolver(io_.get_executor(), options);
  EXPECT_EQ(resolver.retry().timeout, 300ms);
  EXPECT_EQ(resolver.retry().attempts, 5);  // the file's, not overridden
  EXPECT_EQ(resolver.retry().source, "configuration");
}

// A lookup nobody waits for any more keeps nothing busy: the io_context runs out of work at once,
// not when c-ares would have given up (2 s here).
TEST_F(ResolverTest, AnAbandonedLookupLeavesNoWorkBehind) {
  dns_.add_silent("silent.test");
  Resolver resolver(io_.get_executor(), local_options());
  asio::cancellation_signal cancel;
  dns_.on_query([&](const std::string&) { cancel.emit(asio::cancellation_type::terminal); });
  Resolution result;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        result = co_await resolver.resolve("silent.test", Family::any);
        dns_.stop();
      },
      asio::bind_cancellation_slot(cancel.slot(), rethrow));
  const auto start = Clock::now();
  io_.run_for(5s);
  EXPECT_TRUE(io_.stopped());
  EXPECT_LT(Clock::now() - start, 1s);
  EXPECT_EQ(result.error, asio::error::operation_aborted) << result.message;
}

// c-ares 1.18 cancels all queries or none: a lookup abandoned beside one still waited for leaves
// the other to finish on its own.
TEST_F(ResolverTest, AbandoningOneLookupLeavesTheOthersToFinish) {
  dns_.add_silent("silent.test");
  dns_.add_silent("other.test");
  ResolverOptions options = local_options();
  options.timeout = 500ms;
  Resolver resolver(io_.get_executor(), options);
  asio::cancellation_signal cancel;
  int asked = 0;
  dns_.on_query([&](const std::string&) {
    if (++asked == 2)
      cancel.emit(asio::cancellation_type::terminal);
  });
  Resolution abandoned, waited;
  int pending = 2;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        waited = co_await resolver.resolve("other.test", Family::ipv4);
        --pending;
      },
      rethrow);
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        abandoned = co_await resolver.resolve("silent.test", Family::ipv4);
        --pending;
      },
      asio::bind_cancellation_slot(cancel.slot(), rethrow));
  ASSERT_TRUE(test::run_until(
      io_, [&] { return pending == 0; }, 10s));
  EXPECT_EQ(abandoned.error, asio::error::operation_aborted) << abandoned.message;
  EXPECT_EQ(waited.error, DnsError::timeout) << waited.message;
}

TEST_F(ResolverTest, CancelAllEndsEveryPendingLookupAtOnce) {
  constexpr int kLookups = 5;
  dns_.add_silent("silent.test");
  Resolver resolver(io_.get_executor(), local_options());
  int asked = 0;
  dns_.on_query([&](const std::string&) {
    if (++asked == kLookups)
      resolver.cancel_all();
  });
  std::vector<Resolution> results(kLookups);
  int pending = kLookups;
  for (auto& result : results) {
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          result = co_await resolver.resolve("silent.test", Family::ipv4);
          --pending;
        },
        rethrow);
  }
  const auto start = Clock::now();
  ASSERT_TRUE(test::run_until(
      io_, [&] { return pending == 0; }, 10s));
  EXPECT_LT(Clock::now() - start, 1s);
  for (const auto& result : results)
    EXPECT_EQ(result.error, asio::error::operation_aborted) << result.message;
}

TEST(ResolverErrorTest, ErrorsBelongToTheDnsCategory) {
  const std::error_code error = DnsError::timeout;
  EXPECT_STREQ(error.category().name(), "dns");
  EXPECT_EQ(error, make_error_code(DnsError::timeout));
  EXPECT_NE(error, make_error_code(DnsError::not_found));
  EXPECT_FALSE(error.message().empty());
}

TEST(ResolverErrorTest, InvalidServerListIsAStartUpFailure) {
  asio::io_context io;
  ResolverOptions options;
  options.servers = {"not an address"};
  EXPECT_THROW(Resolver(io.get_executor(), options), std::runtime_error);
}

}  // namespace
}  // namespace fetchd::dns
