// The engine against a real nginx on loopback, over http and https.

#include <filesystem>
#include <optional>
#include <sys/resource.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <gtest/gtest.h>

#include "http/fetcher.h"
#include "support/nginx.h"
#include "support/run_until.h"
#include "support/test_pki.h"

namespace fetchd::http {
namespace {

using namespace std::chrono_literals;

class NginxFetchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { nginx_ = new test::NginxServer(); }
  static void TearDownTestSuite() {
    delete nginx_;
    nginx_ = nullptr;
  }

  Target target_for(const std::string& url) {
    auto target = make_target(url);
    EXPECT_TRUE(target) << target.error().message;
    target->tls.ca_file = test::test_pki().ca_cert;
    return *target;
  }

  std::vector<FetchResult> fetch_all(const std::vector<Target>& targets) {
    std::vector<std::optional<FetchResult>> slots(targets.size());
    std::size_t done = 0;
    for (std::size_t i = 0; i < targets.size(); ++i) {
      asio::co_spawn(io_, fetcher_.fetch(targets[i]),
                     [&, i](std::exception_ptr error, FetchResult result) {
                       if (error)
                         std::rethrow_exception(error);
                       slots[i] = std::move(result);
                       ++done;
                     });
    }
    EXPECT_TRUE(test::run_until(
        io_, [&] { return done == targets.size(); }, 60s));
    std::vector<FetchResult> results;
    for (auto& slot : slots)
      results.push_back(slot.value_or(FetchResult{}));
    return results;
  }

  FetchResult fetch(const Target& target) { return fetch_all({target}).at(0); }

  static test::NginxServer* nginx_;
  asio::io_context io_;
  dns::Resolver resolver_{io_.get_executor()};
  Fetcher fetcher_{resolver_};
};

test::NginxServer* NginxFetchTest::nginx_ = nullptr;

TEST_F(NginxFetchTest, FetchesThePageOverHttp) {
  const auto result = fetch(target_for(nginx_->url("/")));
  ASSERT_TRUE(result.ok()) << result.error().message;
  const Hop& hop = result.last();
  EXPECT_EQ(hop.status, 200);
  EXPECT_EQ(hop.reason, "OK");
  EXPECT_EQ(hop.body_bytes, test::NginxServer::kIndexSize);
  EXPECT_EQ(find_header(hop.headers, "content-length"), "1024");
  EXPECT_NE(find_header(hop.headers, "Server").value_or("").find("nginx"), std::string::npos);
  EXPECT_FALSE(hop.tls);
}

TEST_F(NginxFetchTest, FetchesThePageOverHttpsWithVerification) {
  const auto result = fetch(target_for(nginx_->url("/", true)));
  ASSERT_TRUE(result.ok()) << result.error().message;
  const Hop& hop = result.last();
  EXPECT_EQ(hop.status, 200);
  EXPECT_EQ(hop.body_bytes, test::NginxServer::kIndexSize);
  ASSERT_TRUE(hop.tls);
  EXPECT_FALSE(hop.tls->cipher.empty());
  ASSERT_TRUE(hop.timings.tls_handshake);
  EXPECT_GT(*hop.timings.tls_handshake, 0us);
}

TEST_F(NginxFetchTest, KeepsTheBodyWhenAskedAndTruncatesBigOnes) {
  auto index = target_for(nginx_->url("/index.html"));
  index.keep_body = true;
  auto big = target_for(nginx_->url("/big.bin", true));
  big.max_body_bytes = 100 * 1024;
  const auto results = fetch_all({index, big});
  ASSERT_TRUE(results[0].ok()) << results[0].error().message;
  EXPECT_EQ(results[0].last().body, test::NginxServer::index_html());
  ASSERT_TRUE(results[1].ok()) << results[1].error().message;
  EXPECT_TRUE(results[1].last().body_truncated);
  EXPECT_EQ(results[1].last().body_bytes, 100u * 1024);
}

TEST_F(NginxFetchTest, ReadsALargeBodyToTheEnd) {
  auto big = target_for(nginx_->url("/big.bin"));
  big.max_body_bytes = 4 * 1024 * 1024;
  const auto result = fetch(big);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.last().body_bytes, test::NginxServer::kBigSize);
  EXPECT_FALSE(result.last().body_truncated);
}

TEST_F(NginxFetchTest, HeadAndNoContent) {
  auto head = target_for(nginx_->url("/"));
  head.method = Method::head;
  const auto results = fetch_all({head, target_for(nginx_->url("/nocontent"))});
  ASSERT_TRUE(results[0].ok()) << results[0].error().message;
  EXPECT_EQ(results[0].last().body_bytes, 0u);
  EXPECT_EQ(find_header(results[0].last().headers, "Content-Length"), "1024");
  ASSERT_TRUE(results[1].ok()) << results[1].error().message;
  EXPECT_EQ(results[1].last().status, 204);
}

TEST_F(NginxFetchTest, FollowsNginxRedirect) {
  auto target = target_for(nginx_->url("/redirect"));
  target.max_redirects = 3;
  const auto result = fetch(target);
  ASSERT_TRUE(result.ok()) << result.error().message;
  ASSERT_EQ(result.hops.size(), 2u);
  EXPECT_EQ(result.hops[0].status, 302);
  EXPECT_EQ(result.last().status, 200);
  EXPECT_EQ(result.last().body_bytes, test::NginxServer::kIndexSize);
}

TEST_F(NginxFetchTest, ThousandConcurrentFetchesOverHttpAndHttps) {
  std::vector<Target> targets;
  for (int i = 0; i < 1000; ++i)
    targets.push_back(target_for(nginx_->url("/", i % 10 == 0)));
  const auto results = fetch_all(targets);
  for (std::size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].error().message;
    EXPECT_EQ(results[i].last().status, 200);
    EXPECT_EQ(results[i].last().body_bytes, test::NginxServer::kIndexSize);
  }
}

TEST_F(NginxFetchTest, RunningOutOfDescriptorsIsAResultNotACrash) {
  std::size_t open_now = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++open_now;
  }
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit tight = saved;
  tight.rlim_cur = open_now + 10;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
  std::vector<Target> targets(100, target_for(nginx_->url("/")));
  const auto results = fetch_all(targets);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);

  std::size_t ok = 0;
  std::size_t out_of_descriptors = 0;
  for (const auto& result : results) {
    if (result.ok()) {
      ++ok;
    } else if (result.error().error_class == ErrorClass::connect &&
               result.error().message.find("Too many open files") != std::string::npos) {
      ++out_of_descriptors;
    } else {
      ADD_FAILURE() << result.error().message;
    }
  }
  EXPECT_GT(ok, 0u);
  EXPECT_GT(out_of_descriptors, 0u);
  EXPECT_EQ(ok + out_of_descriptors, results.size());
}

}  // namespace
}  // namespace fetchd::http
