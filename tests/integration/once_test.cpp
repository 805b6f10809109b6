// `fetchd once`, the real binary against a real nginx on loopback.

#include <cstdio>
#include <sys/wait.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/nginx.h"
#include "support/test_pki.h"

namespace fetchd {
namespace {

struct Run {
  int exit_status = -1;
  std::string out;
};

// Runs fetchd with the given arguments (already shell-quoted where needed); stderr is discarded.
Run run_fetchd(const std::string& args) {
  const std::string command = std::string(FETCHD_BINARY) + " " + args + " 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr)
    return {};
  Run run;
  char buffer[4096];
  std::size_t count = 0;
  while ((count = std::fread(buffer, 1, sizeof buffer, pipe)) > 0)
    run.out.append(buffer, count);
  const int status = pclose(pipe);
  run.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

class OnceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { nginx_ = new test::NginxServer(); }
  static void TearDownTestSuite() {
    delete nginx_;
    nginx_ = nullptr;
  }
  static test::NginxServer* nginx_;
};

test::NginxServer* OnceTest::nginx_ = nullptr;

TEST_F(OnceTest, PrintsEachHeaderLineThenASummary) {
  const auto run = run_fetchd("once --cacert " + test::test_pki().ca_cert + " " + nginx_->url("/") +
                              " " + nginx_->url("/", true));
  EXPECT_EQ(run.exit_status, 0) << run.out;
  EXPECT_NE(run.out.find("127.0.0.1 header > HTTP/1.1 200 OK\n"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("127.0.0.1 header > Content-Length: 1024\n"), std::string::npos);
  EXPECT_NE(run.out.find("127.0.0.1 header > Server: nginx"), std::string::npos);
  EXPECT_NE(run.out.find("OUTCOME"), std::string::npos);
  EXPECT_NE(run.out.find(nginx_->url("/", true)), std::string::npos);
}

TEST_F(OnceTest, JsonListsEveryResultAndExitStatusReportsFailures) {
  const std::uint16_t nginx_port = nginx_->http_port();
  const auto run = run_fetchd("once --json --timeout 5s " + nginx_->url("/nocontent") +
                              " http://127.0.0.1:1/ http://bad%host/");
  EXPECT_EQ(run.exit_status, 2) << "an invalid URL is a usage error";

  const auto mixed =
      run_fetchd("once --json --timeout 5s " + nginx_->url("/nocontent") + " http://127.0.0.1:1/");
  EXPECT_EQ(mixed.exit_status, 1);
  const auto results = nlohmann::json::parse(mixed.out);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0]["ok"], true);
  EXPECT_EQ(results[0]["status"], 204);
  EXPECT_EQ(results[0]["remote_address"], "127.0.0.1:" + std::to_string(nginx_port));
  EXPECT_TRUE(results[0]["timings_us"]["connect"].is_number());
  EXPECT_EQ(results[1]["ok"], false);
  EXPECT_EQ(results[1]["error"]["class"], "connect");
  EXPECT_EQ(results[1]["error"]["phase"], "connect");
}

TEST(OnceOptions, HelpExitsZeroOptionsTakeAttachedValuesAndConfigNeedsAPath) {
  const auto help = run_fetchd("once --help");
  EXPECT_EQ(help.exit_status, 0);
  EXPECT_EQ(help.out.rfind("usage: fetchd once", 0), 0u) << help.out;
  // "--timeout=0s" is read as "--timeout 0s" (and refused for its value, not as unknown).
  const std::string refused = std::string(FETCHD_BINARY) + " once --timeout=0s http://127.0.0.1:1/";
  FILE* pipe = popen((refused + " 2>&1").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[4096];
  std::string text;
  for (std::size_t got = 0; (got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;)
    text.append(buffer, got);
  pclose(pipe);
  EXPECT_NE(text.find("--timeout must be more than 0s"), std::string::npos) << text;
  EXPECT_EQ(run_fetchd("once --json=yes http://127.0.0.1:1/").exit_status, 2);
  EXPECT_EQ(run_fetchd("-c").exit_status, 2);
  EXPECT_EQ(run_fetchd("--check-config --config=/nonexistent/fetchd.json").exit_status, 1);
}

TEST_F(OnceTest, AllSucceededExitsZero) {
  const auto run = run_fetchd("once --json " + nginx_->url("/"));
  EXPECT_EQ(run.exit_status, 0) << run.out;
  EXPECT_EQ(nlohmann::json::parse(run.out).at(0)["body_bytes"], 1024);
}

}  // namespace
}  // namespace fetchd
